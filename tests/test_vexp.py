"""`musicgym.vexp.exp`: e**x within 1 ulp over the range the kernels use (2 to +-700), with no call to the C library."""

import math
import re

import numba
import numpy as np

from musicgym.vexp import exp


@numba.njit(cache=False)
def _exp_all(x):
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        out[i] = exp(x[i])
    return out


def _ulps(a, b):
    return np.abs(a.view(np.int64) - b.view(np.int64))


def test_exp_is_within_one_ulp_of_the_c_library_where_the_kernels_use_it_and_two_beyond():
    # (measured: 1 ulp at most on [-40, 40], where about 10% of the values differ from the C library's)
    rng = np.random.default_rng(0)
    x = np.concatenate([np.linspace(-40.0, 40.0, 400_001), [0.0, -0.0, 1e-300, -1e-300, 0.5 * math.log(2),
                                                            -0.5 * math.log(2)]])
    wide = rng.uniform(-700.0, 700.0, 100_000)
    for xs, most in ((x, 1), (wide, 2)):
        got = _exp_all(xs)
        want = np.array([math.exp(v) for v in xs])
        err = _ulps(got, want)
        assert err.max() <= most, (xs[err.argmax()], got[err.argmax()], want[err.argmax()])
    assert _exp_all(np.array([0.0]))[0] == 1.0


def test_a_loop_of_exps_is_vector_arithmetic_with_no_exp_call():
    # the point of the module: `math.exp` in this loop compiles to a call of llvm.exp.f64 per element
    _exp_all(np.zeros(8))  # compiled here: under pytest-xdist the other test may run in another process
    ir = _exp_all.inspect_llvm(_exp_all.signatures[0])
    assert "llvm.exp" not in ir and "@exp" not in ir
    assert re.search(r"<\d+ x double>", ir)  # vectorised (the width is the CPU's)
    # and no multiply-add is fused (on a CPU with FMA, contraction would round differently from one without)
    asm = _exp_all.inspect_asm(_exp_all.signatures[0])
    assert "vfmadd" not in asm and "vfnmadd" not in asm and "vfmsub" not in asm
