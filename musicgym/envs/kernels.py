"""Numba kernels of the batched core: per-session bookkeeping that is cheap at B = 1 and at B = 1,024.

Each kernel loops over the sessions ``rows`` of a batch, so one compiled function serves the single
env (B = 1, where a numba call costs about half a microsecond against a few microseconds for each
numpy call on tiny arrays) and the vector env. None of them draws random numbers: every draw stays a
numpy ``Generator`` call in the core, so the streams (and the trajectories) are NumPy's. The kernels
only index and compare integers or copy floats, so their results are exactly those of the numpy
expressions they replace.

Compiled code is cached on disk (numba's ``cache=True``: beside this file, or in numba's user cache
folder where that is read-only).
"""

from __future__ import annotations

import numba
import numpy as np

from musicgym.prefetch import AHEAD, prefetch

_JIT = {"cache": True, "nogil": True}


@numba.njit(**_JIT)
def _in_prefix(value: int, row: np.ndarray, n: int) -> bool:
    # no early exit: on the short histories of a session, a mispredicted branch per entry costs more
    # than comparing them all (a third faster in `unplayed_near`)
    hit = False
    for j in range(n):
        hit |= row[j] == value
    return hit


@numba.njit(**_JIT)
def push(history: np.ndarray, length: np.ndarray, rows: np.ndarray, tracks: np.ndarray) -> bool:
    """Append ``tracks[i]`` to the history of session ``rows[i]``; False (nothing written) if one is full."""
    cap = history.shape[1]
    for i in range(rows.shape[0]):
        if length[rows[i]] >= cap:
            return False
    for i in range(rows.shape[0]):
        r = rows[i]
        history[r, length[r]] = tracks[i]
        length[r] += 1
    return True


@numba.njit(**_JIT)
def select(candidates: np.ndarray, history: np.ndarray, length: np.ndarray, rows: np.ndarray,
           actions: np.ndarray, n_actions: int, catalog_mode: bool, tracks: np.ndarray, repeat: np.ndarray) -> int:
    """Tracks behind `actions` and whether each repeats a played track (or is an empty slot).

    Returns the index of the first out-of-range action (nothing written), else -1 if no action
    repeats, -2 if some do.
    """
    for i in range(rows.shape[0]):
        a = actions[i]
        if a < 0 or a >= n_actions:
            return i
    any_repeat = False
    for i in range(rows.shape[0]):
        r = rows[i]
        if catalog_mode:
            t = actions[i]
            tracks[i] = t
            repeat[i] = _in_prefix(t, history[r], length[r])
        else:
            t = candidates[r, actions[i]]
            tracks[i] = t
            repeat[i] = t < 0
        any_repeat |= repeat[i]
    return -2 if any_repeat else -1


@numba.njit(**_JIT)
def current_tracks(history: np.ndarray, length: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """(R,) the last track played in each session."""
    out = np.empty(rows.shape[0], dtype=np.int64)
    for i in range(rows.shape[0]):
        r = rows[i]
        out[i] = history[r, length[r] - 1]
    return out


@numba.njit(**_JIT)
def unplayed_near(table: np.ndarray, history: np.ndarray, length: np.ndarray, rows: np.ndarray,
                  n: int, out: np.ndarray, short: np.ndarray) -> int:
    """The first `n` neighbours (from the neighbour `table`) of each session's last track not yet played.

    Writes them to ``out[i, :n]``, marks ``short[i]`` where the table row ran out (those rows are left
    for an index search) and returns how many did. (Kernels write into arrays they are given: a numba
    function that returns a new array costs about a microsecond more per call.)
    """
    n_short = 0
    width = table.shape[1]
    for i in range(rows.shape[0]):
        r = rows[i]
        h = length[r]
        near = table[history[r, h - 1]]
        found = 0
        for j in range(width):
            t = near[j]
            if t < 0 or _in_prefix(t, history[r], h):
                continue
            out[i, found] = t
            found += 1
            if found == n:
                break
        short[i] = found < n
        n_short += found < n
    return n_short


@numba.njit(**_JIT)
def bad_draws(draws: np.ndarray, history: np.ndarray, length: np.ndarray, rows: np.ndarray,
              taken: np.ndarray) -> np.ndarray:
    """(R, w) bool: draws already played, among the row's `taken` tracks (R, T; -1 ignored), or repeated in the row."""
    bad = np.zeros(draws.shape, dtype=np.bool_)
    for i in range(rows.shape[0]):
        r = rows[i]
        for j in range(draws.shape[1]):
            t = draws[i, j]
            if _in_prefix(t, history[r], length[r]):
                bad[i, j] = True
                continue
            for m in range(taken.shape[1]):
                if taken[i, m] == t:
                    bad[i, j] = True
                    break
            if bad[i, j]:
                continue
            for m in range(j):
                if draws[i, m] == t:
                    bad[i, j] = True
                    break
    return bad


@numba.njit(**_JIT)
def action_mask(history: np.ndarray, length: np.ndarray, rows: np.ndarray, n_tracks: int) -> np.ndarray:
    """Catalog mode: (R, N) True where the track has not been played in the session."""
    mask = np.ones((rows.shape[0], n_tracks), dtype=np.bool_)
    for i in range(rows.shape[0]):
        r = rows[i]
        for j in range(length[r]):
            mask[i, history[r, j]] = False
    return mask


@numba.njit(**_JIT)
def slot_features(item_features: np.ndarray, candidates: np.ndarray, rows: np.ndarray, out: np.ndarray,
                  offset: int) -> None:
    """Write each row's candidate slots' features (zeros for an empty slot) into ``out[i, offset:]``."""
    slot_features_at(item_features, candidates, rows, out, offset, np.arange(rows.shape[0]))


@numba.njit(**_JIT)
def slot_features_at(item_features: np.ndarray, candidates: np.ndarray, rows: np.ndarray, out: np.ndarray,
                     offset: int, at: np.ndarray) -> None:
    """`slot_features`, row ``rows[i]``'s into ``out[at[i], offset:]``."""
    d = item_features.shape[1]
    n = rows.shape[0]
    for i in range(n):
        r = rows[i]
        if i + AHEAD < n:  # a later session's slots (`musicgym.prefetch`); a row may span two lines
            for s in range(candidates.shape[1]):
                t = candidates[rows[i + AHEAD], s]
                if t >= 0:
                    prefetch(item_features, t, 0)
                    prefetch(item_features, t, d - 1)
        o = at[i]
        col = offset
        for s in range(candidates.shape[1]):
            t = candidates[r, s]
            if t < 0:
                for m in range(d):
                    out[o, col + m] = 0.0
            else:
                for m in range(d):
                    out[o, col + m] = item_features[t, m]
            col += d


@numba.njit(**_JIT)
def slot_tracks(candidates: np.ndarray, rows: np.ndarray, out: np.ndarray) -> None:
    """Write the sessions' (R, k) candidate tracks into `out`, empty slots (-1) as track 0 (value ignored)."""
    for i in range(rows.shape[0]):
        for s in range(candidates.shape[1]):
            out[i, s] = max(candidates[rows[i], s], 0)


@numba.njit(**_JIT)
def best_slot(candidates: np.ndarray, rows: np.ndarray, value: np.ndarray, best: np.ndarray,
              best_value: np.ndarray) -> None:
    """Write each session's first highest-valued non-empty slot and its value into `best`, `best_value`.

    Session ``rows[i]`` gets ``best[rows[i]]`` and ``best_value[rows[i]]`` (slot 0 and value 0 where all
    its slots are empty).
    """
    for i in range(rows.shape[0]):
        r = rows[i]
        top = -np.inf
        arg = 0
        for s in range(candidates.shape[1]):
            if candidates[r, s] >= 0 and value[i, s] > top:
                top = value[i, s]
                arg = s
        best[r] = arg
        best_value[r] = top if np.isfinite(top) else 0.0


@numba.njit(**_JIT)
def ended(candidates: np.ndarray, length: np.ndarray, rows: np.ndarray, catalog_mode: bool, n_tracks: int,
          length_limit: int, out: np.ndarray) -> None:
    """(R,) sessions that hold `length_limit` tracks or have nothing left to offer.

    Nothing left: every candidate slot is empty, or (catalog mode) the whole catalog has been played.
    The answer goes to `out`.
    """
    for i in range(rows.shape[0]):
        r = rows[i]
        out[i] = False
        if length[r] >= length_limit or (catalog_mode and length[r] >= n_tracks):
            out[i] = True
        elif not catalog_mode:
            empty = True
            for s in range(candidates.shape[1]):
                if candidates[r, s] >= 0:
                    empty = False
                    break
            out[i] = empty


@numba.njit(**_JIT)
def max_length(length: np.ndarray, rows: np.ndarray) -> int:
    """The longest history among `rows` (0 for no rows)."""
    out = 0
    for i in range(rows.shape[0]):
        out = max(out, length[rows[i]])
    return out
