"""`musicgym.prefetch`: a hint that compiles into the kernels and changes no value."""

import numba
import numpy as np
import pytest

from musicgym.prefetch import prefetch


@numba.njit(cache=False)
def _gather_sum(a, idx, ahead):
    s = 0.0
    for i in range(idx.shape[0]):
        if ahead and i + ahead < idx.shape[0]:
            prefetch(a, idx[i + ahead], 0)
            prefetch(a, idx[i + ahead], a.shape[1] - 1)
        for m in range(a.shape[1]):
            s += a[idx[i], m]
    return s


@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.int64])
def test_prefetch_changes_no_value(dtype):
    rng = np.random.default_rng(0)
    a = (rng.random((5_000, 9)) * 100).astype(dtype)
    idx = rng.integers(0, len(a), 2_000)
    assert _gather_sum(a, idx, 4) == _gather_sum(a, idx, 0) == pytest.approx(float(a[idx].astype(np.float64).sum()))


def test_prefetch_works_on_strided_views():
    a = np.arange(60, dtype=np.float64).reshape(10, 6)[:, ::2]
    assert _gather_sum(a, np.array([3, 1, 7, 0]), 2) == float(a[[3, 1, 7, 0]].sum())


def test_prefetch_takes_only_2d_arrays():
    @numba.njit(cache=False)
    def bad(a):
        prefetch(a, 0, 0)

    with pytest.raises(numba.core.errors.TypingError):
        bad(np.zeros(3))
