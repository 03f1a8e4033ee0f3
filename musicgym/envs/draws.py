"""NumPy ``Generator`` draws inside numba kernels: the same numbers, in the same order, as NumPy's methods.

A numba kernel that receives a ``np.random.Generator`` pays about 50 us to unbox it, more than a whole
step of the single env. Instead the kernels here take the generator's bit generator as four addresses
(`pointers`: its state and its ``next_uint64`` / ``next_uint32`` / ``next_double`` functions, from
NumPy's documented ``bit_generator.ctypes`` interface) and call those functions, so every draw advances
the env's own generator exactly as the NumPy method it replaces would:

* `uniform` is ``rng.random()`` (and ``rng.random(shape)`` draws them in C order);
* `below` is ``rng.integers(0, n)`` (and ``rng.integers(0, n, size=...)`` draws them in C order):
  NumPy's Lemire rejection on 32-bit draws for n <= 2**32, on 64-bit ones above;
* `shuffle_row` is one row of ``rng.permuted(x, axis=1)`` (rows in C order), i.e. ``rng.shuffle(row)``
  (`shuffle_draws` makes its draws, `apply_shuffle` applies them);
* `choice_distinct` is ``rng.choice(n, size, replace=False)`` where NumPy takes Floyd's algorithm
  (`floyd_applies`).

The algorithms are numba's translations of NumPy's C code (``numba.np.random.random_methods``), run on
a bit generator built from the addresses (`bitgen`); ``tests/envs/test_draws.py`` checks them against
NumPy draw for draw.
"""

from __future__ import annotations

import ctypes

import numba
import numpy as np
from numba.core import cgutils, types
from numba.extending import intrinsic
from numba.np.random import random_methods
from numba.np.random.generator_core import next_double

_JIT = {"cache": True, "nogil": True}
_BITGEN = types.NumPyRandomBitGeneratorType("bit_generator")


def pointers(rng: np.random.Generator) -> np.ndarray | None:
    """(4,) uint64: the addresses the kernels draw from (`bitgen`); None if the generator has no ctypes interface.

    The addresses stay valid while ``rng.bit_generator`` is alive: keep a reference to it beside them.
    """
    try:
        c = rng.bit_generator.ctypes
    except AttributeError:
        return None
    address = [ctypes.cast(f, ctypes.c_void_p).value for f in (c.next_uint64, c.next_uint32, c.next_double)]
    return np.array([c.state_address, *address], dtype=np.uint64)


@intrinsic
def _make_bitgen(typingctx, state, f64, f32, fdouble):
    sig = _BITGEN(types.uint64, types.uint64, types.uint64, types.uint64)

    def codegen(context, builder, signature, args):
        bg = cgutils.create_struct_proxy(_BITGEN)(context, builder)
        bg.parent = cgutils.get_null_value(bg.parent.type)
        bg.state_address = args[0]
        bg.state = args[0]
        bg.fnptr_next_uint64 = args[1]
        bg.fnptr_next_uint32 = args[2]
        bg.fnptr_next_double = args[3]
        bg.bit_generator = cgutils.get_null_value(bg.bit_generator.type)
        return bg._getvalue()

    return sig, codegen


@numba.njit(**_JIT, inline="always")
def bitgen(ptrs):
    """The bit generator behind `pointers` (a value the draw functions below take)."""
    return _make_bitgen(ptrs[0], ptrs[1], ptrs[2], ptrs[3])


@numba.njit(**_JIT, inline="always")
def uniform(bg):
    """``rng.random()``."""
    return next_double(bg)


@numba.njit(**_JIT)
def below(bg, n):
    """``rng.integers(0, n)`` for n >= 1 (NumPy's ``random_bounded_uint64_fill``, one value)."""
    rng = np.uint64(n - 1)
    if rng == 0:
        return 0
    if rng <= np.uint64(0xFFFFFFFF):
        if rng == np.uint64(0xFFFFFFFF):
            return np.int64(random_methods.next_uint32(bg))
        return np.int64(random_methods.buffered_bounded_lemire_uint32(bg, rng))
    return np.int64(random_methods.bounded_lemire_uint64(bg, rng))


@numba.njit(**_JIT)
def shuffle_row(bg, row):
    """Shuffle a 1-D array in place as ``rng.shuffle`` does (one row of ``rng.permuted(x, axis=1)``)."""
    for i in range(row.shape[0] - 1, 0, -1):
        j = np.int64(random_methods.random_interval(bg, np.uint64(i)))
        if i == j:
            continue
        t = row[j]
        row[j] = row[i]
        row[i] = t


@numba.njit(**_JIT)
def shuffle_draws(bg, out):
    """The draws `shuffle_row` makes for a row of ``len(out) + 1`` items, into `out` (``out[s]`` in [0, len(out) - s]).

    With `apply_shuffle` (which draws nothing) the shuffle can be applied later, elsewhere (e.g. in another
    thread), after the generator has moved on.
    """
    m = out.shape[0]
    for s in range(m):
        out[s] = np.int64(random_methods.random_interval(bg, np.uint64(m - s)))


@numba.njit(**_JIT)
def apply_shuffle(row, swaps):
    """Shuffle `row` in place as `shuffle_row` would have with the draws `swaps` (from `shuffle_draws`)."""
    m = swaps.shape[0]
    for s in range(m):
        i = m - s
        j = swaps[s]
        if i == j:
            continue
        t = row[j]
        row[j] = row[i]
        row[i] = t


def floyd_applies(n: int, size: int) -> bool:
    """Whether ``rng.choice(n, size, replace=False)`` draws by Floyd's algorithm (`choice_distinct`).

    NumPy shuffles the tail of ``arange(n)`` instead where n > 10,000 and size > n // 50.
    """
    return 1 <= size <= n and not (n > 10_000 and size > n // 50)


@numba.njit(**_JIT)
def choice_distinct(bg, n, out):
    """``rng.choice(n, size=len(out), replace=False)`` into `out`, where `floyd_applies`.

    NumPy's Floyd's algorithm (a draw in [0, j] for each j of the last len(out) of range(n); j itself where
    the draw was taken before), then the shuffle of the result (``_shuffle_int``: a draw in [0, i] for i
    from len(out) - 1 down to 1).
    """
    size = out.shape[0]
    for j in range(n - size, n):
        val = below(bg, j + 1)
        taken = False
        for m in range(j - n + size):
            if out[m] == val:
                taken = True
                break
        out[j - n + size] = j if taken else val
    for i in range(size - 1, 0, -1):
        j = below(bg, i + 1)
        t = out[j]
        out[j] = out[i]
        out[i] = t
