"""The candidate rule of the slot-based envs (`musicgym.envs.core.nearest_plus_random`) in one numba kernel.

For the fused steps: the same kernels as `nearest_plus_random` (`kernels.unplayed_near`,
`kernels.bad_draws`), with its draws made through `musicgym.envs.draws`, so the slates and the
generator's state are those of the NumPy version. Where that version would search the index (a
neighbour table that runs out, a catalog nearly played through) the kernel returns `BY_PARTS` before
any draw: the caller then takes `nearest_plus_random` itself.

`random_fill`'s completion is written here once (`completion_bounds`, `complete`; `complete_random` draws
for it in a kernel): where 100 rounds of redraws leave bad random tracks (a small catalog nearly played
through), each bad entry, in C order, takes the `pick`-th free track of its row (ascending catalog row;
free: not played, not among the row's taken tracks, not another entry of the row), `pick` one draw
``rng.integers(0, n_free)``. The 100 rounds before it are unchanged, so every slate they gave is too.
"""

from __future__ import annotations

import numba
import numpy as np

from musicgym.envs import draws, kernels

#: status: the slates are written; the caller must take `nearest_plus_random` (nothing drawn, nothing
#: written); a bad random track had no free track to take its place (`random_fill`'s ValueError)
DONE, BY_PARTS, NO_RANDOM = 0, -3, -6


@numba.njit(cache=True, nogil=True)
def fill_slates(bg, table, history, length, rows, n_tracks, n_random, candidates):
    """Write ``candidates[rows] = nearest_plus_random(...)`` (k = ``candidates.shape[1]``), drawing from `bg`.

    Returns `DONE`, `BY_PARTS` or `NO_RANDOM` (`complete_random` found no free track).
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
        if not ok and not complete_random(bg, rand, history, length, rows, near, n_tracks):
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


@numba.njit(cache=True, nogil=True)
def _free_tracks(r, i, rand, keep, history, length, taken, n_tracks, free):
    """Mark in `free` (N,) the tracks free for row i (session r): not played, not taken, not a kept entry.

    Returns their count.
    """
    free[:] = True
    for j in range(length[r]):
        free[history[r, j]] = False
    for m in range(taken.shape[1]):
        if taken[i, m] >= 0:
            free[taken[i, m]] = False
    for j in range(rand.shape[1]):
        if keep[i, j]:
            free[rand[i, j]] = False
    return np.int64(free.sum())


@numba.njit(cache=True, nogil=True)
def completion_bounds(rand, history, length, rows, taken, n_tracks):
    """`random_fill`'s completion, before its draws: (bad, bounds).

    bad (R, w): the entries of `rand` to replace (`kernels.bad_draws`); bounds (number of bad entries,):
    for each, in C order, how many tracks are free for it (its draw is ``rng.integers(0, bound)``; 0: none).
    """
    bad = kernels.bad_draws(rand, history, length, rows, taken)
    bounds = np.empty(np.int64(bad.sum()), dtype=np.int64)
    free = np.empty(n_tracks, dtype=np.bool_)
    keep = ~bad
    e = 0
    for i in range(rows.shape[0]):
        n_free = -1
        for j in range(rand.shape[1]):
            if bad[i, j]:
                if n_free < 0:
                    n_free = _free_tracks(rows[i], i, rand, keep, history, length, taken, n_tracks, free)
                bounds[e] = max(n_free, 0)
                n_free -= 1
                e += 1
    return bad, bounds


@numba.njit(cache=True, nogil=True)
def complete(rand, bad, history, length, rows, taken, n_tracks, picks):
    """Replace the `bad` entries of `rand` in C order, each by the ``picks[e]``-th free track of its row.

    The picks are draws below `completion_bounds`' bounds; a track taken leaves the row's free ones.
    """
    free = np.empty(n_tracks, dtype=np.bool_)
    keep = ~bad
    e = 0
    for i in range(rows.shape[0]):
        filled = False
        for j in range(rand.shape[1]):
            if not bad[i, j]:
                continue
            if not filled:
                _free_tracks(rows[i], i, rand, keep, history, length, taken, n_tracks, free)
                filled = True
            left = picks[e]
            for t in range(n_tracks):
                if free[t]:
                    if left == 0:
                        rand[i, j] = t
                        free[t] = False
                        break
                    left -= 1
            e += 1


@numba.njit(cache=True, nogil=True)
def complete_random(bg, rand, history, length, rows, taken, n_tracks):
    """`random_fill`'s completion in a kernel, drawing from `bg`.

    Returns False (nothing drawn, nothing written) where a bad entry has no free track.
    """
    bad, bounds = completion_bounds(rand, history, length, rows, taken, n_tracks)
    for e in range(bounds.shape[0]):
        if bounds[e] == 0:
            return False
    picks = np.empty(bounds.shape[0], dtype=np.int64)
    for e in range(bounds.shape[0]):
        picks[e] = draws.below(bg, bounds[e])
    complete(rand, bad, history, length, rows, taken, n_tracks, picks)
    return True
