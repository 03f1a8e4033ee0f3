"""The kernels' draws (`musicgym.envs.draws`) are NumPy's: the same numbers, and the generator left in the same state."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from musicgym.envs import draws


@numba.njit
def _below(ptrs, n, out):
    bg = draws.bitgen(ptrs)
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = draws.below(bg, n)


@numba.njit
def _uniform(ptrs, out):
    bg = draws.bitgen(ptrs)
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = draws.uniform(bg)


@numba.njit
def _permuted(ptrs, x):
    bg = draws.bitgen(ptrs)
    for i in range(x.shape[0]):
        draws.shuffle_row(bg, x[i])


@numba.njit
def _permuted_later(ptrs, x):
    bg = draws.bitgen(ptrs)
    swaps = np.empty((x.shape[0], x.shape[1] - 1), dtype=np.int64)
    for i in range(x.shape[0]):  # every row's draws first, then the shuffles (as a threaded step does)
        draws.shuffle_draws(bg, swaps[i])
    for i in range(x.shape[0]):
        draws.apply_shuffle(x[i], swaps[i])


BIT_GENERATORS = (np.random.PCG64, np.random.PCG64DXSM, np.random.MT19937, np.random.Philox, np.random.SFC64)


@pytest.mark.parametrize("bit_generator", BIT_GENERATORS)
@pytest.mark.parametrize("n", [1, 2, 7, 20_000, 100_000, 2**32 - 1, 2**32, 2**32 + 1, 2**40 + 3])
def test_draws_match_numpy(bit_generator, n):
    ours, theirs = np.random.Generator(bit_generator(7)), np.random.Generator(bit_generator(7))
    for g in (ours, theirs):  # leave a buffered 32-bit half behind, as an env's earlier draws may
        g.integers(0, 5)
    ptrs = draws.pointers(ours)
    got = np.empty((3, 5), dtype=np.int64)
    _below(ptrs, n, got)
    np.testing.assert_array_equal(got, theirs.integers(0, n, size=(3, 5)))
    u = np.empty((4, 3))
    _uniform(ptrs, u)
    np.testing.assert_array_equal(u, theirs.random((4, 3)))
    x = np.arange(60).reshape(3, 20)
    want = theirs.permuted(x, axis=1)
    _permuted(ptrs, x)
    np.testing.assert_array_equal(x, want)
    x = np.arange(60).reshape(3, 20)
    want = theirs.permuted(x, axis=1)
    _permuted_later(ptrs, x)
    np.testing.assert_array_equal(x, want)
    np.testing.assert_array_equal(ours.integers(0, 1000, size=9), theirs.integers(0, 1000, size=9))  # same state
    np.testing.assert_array_equal(ours.random(9), theirs.random(9))


def test_pointers_need_a_ctypes_interface():
    class Plain:
        bit_generator = object()

    assert draws.pointers(Plain()) is None


@numba.njit
def _choice(ptrs, n, out):
    bg = draws.bitgen(ptrs)
    for i in range(out.shape[0]):
        draws.choice_distinct(bg, n, out[i])


@pytest.mark.parametrize("bit_generator", BIT_GENERATORS)
@pytest.mark.parametrize(("n", "size"), [(1, 1), (5, 5), (6, 5), (40, 5), (3_000, 5), (10_000, 300),
                                         (100_000, 5), (100_000, 2_000), (2**33, 3)])
def test_choice_distinct_matches_numpy(bit_generator, n, size):
    assert draws.floyd_applies(n, size)
    ours, theirs = np.random.Generator(bit_generator(11)), np.random.Generator(bit_generator(11))
    for g in (ours, theirs):
        g.integers(0, 5)
    got = np.empty((20, size), dtype=np.int64)
    _choice(draws.pointers(ours), n, got)
    want = np.stack([theirs.choice(n, size=size, replace=False) for _ in range(20)])
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(ours.integers(0, 1000, size=9), theirs.integers(0, 1000, size=9))  # same state


def test_floyd_applies_where_numpy_takes_it():
    assert draws.floyd_applies(10_000, 10_000) and draws.floyd_applies(100_000, 2_000)
    assert not draws.floyd_applies(100_000, 2_001) and not draws.floyd_applies(5, 6)
    assert not draws.floyd_applies(5, 0)
