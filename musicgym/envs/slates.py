"""The candidate rule of the slot-based envs (`musicgym.envs.core.nearest_plus_random`) in one numba kernel.

For the fused steps: the same kernels as `nearest_plus_random` (`kernels.unplayed_near`,
`kernels.bad_draws`), with its draws made through `musicgym.envs.draws`, so the slates and the
generator's state are those of the NumPy version. Where that version would search the index (a
neighbour table that runs out, a catalog nearly played through) the kernel returns `BY_PARTS` before
any draw: the caller then takes `nearest_plus_random` itself.
"""

from __future__ import annotations

import numba
import numpy as np

from musicgym.envs import draws, kernels

#: status: the slates are written; the caller must take `nearest_plus_random` (nothing drawn, nothing
#: written); 100 rounds of redraws left a bad random track (`random_fill`'s RuntimeError)
DONE, BY_PARTS, NO_RANDOM = 0, -3, -6


@numba.njit(cache=True, nogil=True)
def fill_slates(bg, table, history, length, rows, n_tracks, n_random, candidates):
    """Write ``candidates[rows] = nearest_plus_random(...)`` (k = ``candidates.shape[1]``), drawing from `bg`.

    Returns `DONE`, `BY_PARTS` or `NO_RANDOM`.
    """
    n = rows.shape[0]
    k = candidates.shape[1]
    n_near = k - n_random
    near = np.empty((n, n_near), dtype=np.int64)
    if n_near:
        short = np.empty(n, dtype=np.bool_)
        if kernels.unplayed_near(table, history, length, rows, n_near, near, short):
            return BY_PARTS
    slate = np.empty((n, k), dtype=np.int64)
    if n_random:
        if kernels.max_length(length, rows) + n_near > n_tracks - n_random:
            return BY_PARTS  # near the catalog's end: `nearest_plus_random` counts exactly, may search
        # `random_fill`: draw all, then redraw every bad draw (in C order), up to 100 rounds
        rand = np.empty((n, n_random), dtype=np.int64)
        for i in range(n):
            for j in range(n_random):
                rand[i, j] = draws.below(bg, n_tracks)
        ok = False
        for _ in range(100):
            bad = kernels.bad_draws(rand, history, length, rows, near)
            if not bad.any():
                ok = True
                break
            for i in range(n):
                for j in range(n_random):
                    if bad[i, j]:
                        rand[i, j] = draws.below(bg, n_tracks)
        if not ok:
            return NO_RANDOM
        for i in range(n):
            for j in range(n_random):
                slate[i, n_near + j] = rand[i, j]
    for i in range(n):  # `rng.permuted(slate, axis=1)`
        for j in range(n_near):
            slate[i, j] = near[i, j]
        draws.shuffle_row(bg, slate[i])
        r = rows[i]
        for j in range(k):
            candidates[r, j] = slate[i, j]
    return DONE
