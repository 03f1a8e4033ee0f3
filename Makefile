# Two commands for a fresh machine (see README):
#   make demo   the main job: build the default catalog and its indexes, print a playlist
#   make test   the test suite
# Each creates .venv and installs what it needs. Torch: the CPU build torch==2.13.0 is tried first
# (on our machines it lies on disk, so nothing large is downloaded); elsewhere pip falls back to the
# normal torch that the project's `torch>=2.2` requirement selects.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0 || $(BIN)/python -m pip install --quiet "torch>=2.2"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/musicgym demo

test: $(STAMP)
	$(BIN)/ruff check musicgym agents experiments tests
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check musicgym agents experiments tests

bench: $(STAMP)
	$(BIN)/python experiments/bench_index.py

clean:
	rm -rf $(VENV) .pytest_cache
