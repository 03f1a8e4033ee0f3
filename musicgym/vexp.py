"""An exp for the numba kernels that vectorises and gives the same bits on every machine.

``exp(x)`` is e**x for x in [-700, 700], within 1 unit in the last place of the C library's `math.exp`
on [-40, 40] (where the kernels clip their arguments; about 10% of the values differ from it there) and 2
beyond (tests/test_vexp.py).
It is plain arithmetic, with no branch and no call, so a kernel's loop of exps vectorises (numba has no
vector math library here: a loop of `math.exp` calls the C library once per element, about 8 ns each),
and its result depends on no C library version. The method is the usual one:

* k = round(x / ln 2), by adding 1.5 * 2**52 (the sum's last bits are k; no float-to-integer
  conversion, which AVX2 lacks for 64-bit integers);
* r = x - k ln 2, with ln 2 split in two (Cody and Waite) so that k * `_LN2_HI` is exact: |r| <= ln(2)/2;
* e**r by its Taylor polynomial of degree 13 (the first term left out is below 1e-17 of the result),
  summed by Estrin's scheme;
* times 2**k, built from k's bits as a float64 exponent.

Only IEEE additions and multiplications in a fixed order: numba compiles them without contraction
into fused multiply-adds (no fastmath), so every CPU rounds them alike.
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

_LOG2E = 1.4426950408889634
_SHIFTER = 6755399441055744.0  # 1.5 * 2**52: x + _SHIFTER rounds x to an integer held in the low bits
_LN2_HI = 6.93147180369123816490e-01  # ln 2's leading 32 bits (fdlibm): k * _LN2_HI is exact for |k| < 2**20
_LN2_LO = 1.90821492927058770002e-10  # ln 2 - _LN2_HI
#: 1 / n! for n = 2..13, the coefficients of P in `exp`
_C = tuple(1.0 / float(np.prod(np.arange(1, n + 1, dtype=np.float64))) for n in range(2, 14))


@intrinsic
def _as_int64(typingctx, x):
    """The bits of a float64 as an int64 (a bitcast: no value changes)."""
    if not isinstance(x, types.Float) or x.bitwidth != 64:
        return None

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(x), codegen


@intrinsic
def _as_float64(typingctx, i):
    """The float64 whose bits are those of an int64 (a bitcast)."""
    if not isinstance(i, types.Integer) or i.bitwidth != 64:
        return None

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(i), codegen


@numba.njit(cache=True, nogil=True, inline="always")
def exp(x):
    """e**x for x in [-700, 700] (module docstring): within 1-2 ulp, identical on every CPU, vectorises."""
    t = x * _LOG2E + _SHIFTER
    k = t - _SHIFTER  # round(x / ln 2), as a float
    r = (x - k * _LN2_HI) - k * _LN2_LO
    # e**r = 1 + (r + r**2 P(r)), P by Estrin's scheme (pairs, then pairs of pairs): a dependency chain of
    # about 6 multiply-adds, not Horner's 13, so that a kernel computing one exp at a time (a response)
    # waits less on it; the small terms are summed first, the 1 last
    r2 = r * r
    r4 = r2 * r2
    q0 = _C[0] + _C[1] * r
    q1 = _C[2] + _C[3] * r
    q2 = _C[4] + _C[5] * r
    q3 = _C[6] + _C[7] * r
    q4 = _C[8] + _C[9] * r
    q5 = _C[10] + _C[11] * r
    big_p = ((q0 + q1 * r2) + (q2 + q3 * r2) * r4) + (q4 + q5 * r2) * (r4 * r4)
    p = 1.0 + (r + r2 * big_p)
    # 2**k: k is the low bits of t (t - _SHIFTER's bits; |k| < 2**31), shifted into the exponent field
    ki = _as_int64(t) - _as_int64(_SHIFTER)
    return p * _as_float64((ki + np.int64(1023)) << np.int64(52))
