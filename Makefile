# Two commands for a fresh machine (see README):
#   make leaderboard   the main job: the quick leaderboard on the embedded catalog (under 10 minutes on 2 cores)
#   make test          the test suite without the slow tests (what .ci/run runs; make test-all: all)
# Also: make demo (a random episode on every env), make bench (speed benchmarks).
# Each creates .venv and installs what it needs. Torch: the CPU build torch==2.13.0 is tried first
# (on our machines it lies on disk, so nothing large is downloaded); elsewhere pip falls back to the
# normal torch that the project's `torch>=2.2` requirement selects.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: leaderboard demo test test-all lint bench clean clean-kernels

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0 || $(BIN)/python -m pip install --quiet "torch>=2.2"
	$(BIN)/python -m pip install --quiet -e ".[dev,ray]"
	touch $(STAMP)

leaderboard: $(STAMP)
	$(BIN)/musicgym leaderboard --preset quick

demo: $(STAMP)
	$(BIN)/musicgym demo

# the suite without the tests marked slow, on every core (pytest-xdist); test-all runs the slow ones too
test: $(STAMP)
	$(BIN)/ruff check musicgym agents experiments tests
	$(BIN)/python -m pytest -q -n auto -m "not slow"

test-all: $(STAMP)
	$(BIN)/ruff check musicgym agents experiments tests
	$(BIN)/python -m pytest -q -n auto

lint: $(STAMP)
	$(BIN)/ruff check musicgym agents experiments tests

bench: $(STAMP)
	$(BIN)/musicgym bench

clean:
	rm -rf $(VENV) .pytest_cache

# numba's compiled-kernel caches (README, Development: a kernel's cache does not notice a change in another file)
clean-kernels:
	find musicgym agents experiments -name '*.nbi' -delete -o -name '*.nbc' -delete
