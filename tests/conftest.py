"""Shared fixtures. The cache goes to a temporary folder so tests never touch the user's cache."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("MUSICGYM_CACHE", tempfile.mkdtemp(prefix="musicgym-test-cache-"))

# Under pytest-xdist every worker is a process of its own: one thread each for the BLAS/OpenMP pools
# (torch, faiss), set before either starts, and for the vector envs' kernels (`musicgym.envs.threads`).
# Else `-n 15` on a 16-core GPU machine runs 15 workers of 16 OpenMP threads each (SB3's agents use
# torch's default thread count); there the suite, which takes about 220 s on 2 cores with 2 workers, had
# not finished after 230 s.
if os.environ.get("PYTEST_XDIST_WORKER"):
    for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MUSICGYM_NUM_THREADS"):
        os.environ.setdefault(_var, "1")

#: Real public data beside the repo (../shared/data); tests that use it skip where it is absent.
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def shared(relative: str) -> Path:
    """Path of a file under ../shared/data, skipping the test if it is not there."""
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.skip(f"real data not available: {path}")
    return path


@pytest.fixture(scope="session")
def default_catalog():
    from musicgym.catalog import load_catalog

    return load_catalog("default")


@pytest.fixture(scope="session")
def small_catalog():
    from musicgym.catalog import synthetic

    return synthetic(2_000, seed=3)
