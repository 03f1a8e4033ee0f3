"""Software prefetch for the numba kernels' scattered reads: a hint to the CPU that changes no value.

``prefetch(a, i, j)`` asks for the cache line holding ``a[i, j]`` (a 2-D array; i, j in range) to be
loaded. A kernel that loops over sessions asks for the rows a later session will read (its candidates'
track rows, its current track's neighbour row) while it works on this one, so that the cache misses
of many sessions overlap instead of queueing one after another: at 1,024 sessions on a 100k-track
catalog the step reads tables larger than the per-core cache, and waits on memory more than it computes.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

#: how many sessions ahead the kernels prefetch (enough to cover a miss to memory at a few hundred ns
#: of work per session; more only evicts what is still needed)
AHEAD = 4


@intrinsic
def prefetch(typingctx, arr, row, col):
    """Prefetch the cache line of ``arr[row, col]`` for reading (no bounds check: pass valid indices)."""
    if not isinstance(arr, types.Array) or arr.ndim != 2 or not all(
            isinstance(x, types.Integer) for x in (row, col)):
        return None

    def codegen(context, builder, sig, args):
        aryty = sig.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        idx = [context.cast(builder, args[k], sig.args[k], types.intp) for k in (1, 2)]
        ptr = cgutils.get_item_pointer2(context, builder, ary.data, cgutils.unpack_tuple(builder, ary.shape),
                                        cgutils.unpack_tuple(builder, ary.strides), aryty.layout, idx)
        i8p, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]),
                                            "llvm.prefetch.p0i8")
        # read (0), keep in every cache level (3), data cache (1)
        builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return types.void(arr, row, col), codegen
