"""Shared fixtures. The cache goes to a temporary folder so tests never touch the user's cache."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("MUSICGYM_CACHE", tempfile.mkdtemp(prefix="musicgym-test-cache-"))

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
