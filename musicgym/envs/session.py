"""``MusicGym/Session-v0`` and ``MusicGym/SessionCatalog-v0``: a listening session with a realistic listener."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, ClassVar

import numba
import numpy as np
from gymnasium import spaces
from numba.np.random import distributions

from musicgym.catalog import Catalog
from musicgym.checks import check_int
from musicgym.envs import draws, kernels, lookup, slates, threads
from musicgym.envs.base import MusicEnv, MusicVectorEnv
from musicgym.envs.core import Core, neighbour_table, no_free_track, random_fill, shared_index
from musicgym.envs.fused import FusedSteps
from musicgym.listeners import Listener
from musicgym.listeners import session as _sl
from musicgym.listeners.session import SessionListener
from musicgym.prefetch import AHEAD, prefetch

TASTE_DIM = 9
#: what the observation shows of each of the last tracks: the 9 taste features, the exclusive outcome
#: (skipped very early / early / before the end / played to the end), the fraction heard and the like
TRACK_DIM = TASTE_DIM + 4 + 2
#: the responses shown in ``info["rewards"]``: what a deployed recommender logs (the model's hidden
#: terms and the leave probability stay out of reach)
SHOWN = ("skip_1", "skip_2", "skip_3", "not_skipped", "fraction_heard", "minutes", "liked", "left")
TABLE_K = 64


def _lookup_arrays(catalog: Catalog, index: Any, table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The neighbour table and the taste features as the kernels read them (the same values; shared).

    The table as int32 where that copy takes at most `lookup.TABLE32_MAX_BYTES`, else `table` itself; the
    taste features in C order (`musicgym.envs.lookup`).
    """
    return lookup.table32(index, table), lookup.taste_c(catalog)


@numba.njit(cache=True, nogil=True, inline="always")
def _bit(t):
    """Track t's bit in a 1,024-bit filter (`_taken`): word, mask (a multiplicative hash of t)."""
    b = (np.uint64(t) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(54)
    return np.int64(b >> np.uint64(6)), np.uint64(1) << (b & np.uint64(63))


@numba.njit(cache=True, nogil=True, inline="always")
def _taken(t, bits, history, r, h, out, i, found):
    """Whether track t is among session r's first h plays or row i's first `found` slots.

    `bits` has the bit (`_bit`) of each of them set: most tracks are ruled out by their bit alone, the
    rest by the scan (no array views: the kernels loop over 1,024 rows).
    """
    w, m = _bit(t)
    if not bits[w] & m:
        return False
    for j in range(h):
        if history[r, j] == t:
            return True
    for j in range(found):
        if out[i, j] == t:
            return True
    return False


@numba.njit(cache=True, nogil=True)
def _near_and_recent(table, history, length, rows, n_near, n_recent, recent, out, short):  # noqa: D103
    """Per row: nearest unplayed neighbours of the current track, then of the tracks heard before it.

    The first n_near come from the current track's table row; then n_recent from the rows of the
    `recent` tracks before it (round robin, nearest first), none twice. Writes ``out[i, :n_near +
    n_recent]``; ``short[i]`` where the table ran out. Returns how many did.
    """
    n_short = 0
    width = table.shape[1]
    want = n_near + n_recent
    pos = np.zeros(max(recent, 1), dtype=np.int64)
    bits = np.zeros(16, dtype=np.uint64)
    for i in range(rows.shape[0]):
        r = rows[i]
        h = length[r]
        if i + AHEAD < rows.shape[0]:  # the table rows a later session starts from (`musicgym.prefetch`)
            ra = rows[i + AHEAD]
            ha = length[ra]
            for j in range(max(ha - 1 - recent, 0), ha):
                prefetch(table, history[ra, j], 0)
        bits[:] = 0
        for j in range(h):
            w, m = _bit(history[r, j])
            bits[w] |= m
        found = 0
        cur = history[r, h - 1]
        for j in range(width):
            if found == n_near:
                break
            t = np.int64(table[cur, j])
            if t < 0 or _taken(t, bits, history, r, h, out, i, found):
                continue
            out[i, found] = t
            w, m = _bit(t)
            bits[w] |= m
            found += 1
        sources = min(recent, h - 1)
        if sources == 0:  # the first step: neighbours of the current track again
            sources, first = 1, 1
        else:
            first = 2
        for s in range(sources):
            pos[s] = 0
        stalled = 0
        s = 0
        while found < want and stalled < sources:
            src = history[r, h - first - s] if first == 2 else cur
            placed = False
            while pos[s] < width:
                t = np.int64(table[src, pos[s]])
                pos[s] += 1
                if t < 0 or _taken(t, bits, history, r, h, out, i, found):
                    continue
                out[i, found] = t
                w, m = _bit(t)
                bits[w] |= m
                found += 1
                placed = True
                break
            stalled = 0 if placed else stalled + 1
            s = (s + 1) % sources
        short[i] = found < want
        n_short += found < want
    return n_short


@numba.njit(cache=True, nogil=True)
def _slate_head(table, history, length, rows, cfg, slate, ints):  # noqa: D103 (a kernel)
    # the slate's nearest and recent-neighbour slots (fused step and reset); rows the table could not
    # fill are flagged in ints[:, _I_SHORT] and counted (the caller fills them from the index)
    n = len(rows)
    n_near, n_recent = cfg[_C_NEAR], cfg[_C_RECENT]
    short = np.zeros(n, dtype=np.bool_)
    n_short = 0
    if n_near + n_recent:
        n_short = _near_and_recent(table, history, length, rows, n_near, n_recent, cfg[_C_SHOWN], slate, short)
    for i in range(n):
        ints[i, _I_SHORT] = 1 if short[i] else 0
    return n_short


@numba.njit(cache=True, nogil=True)
def _record(last, count, rows, tracks, taste, skip_1, skip_2, skip_3, fraction, liked):  # noqa: D103
    """Push each row's track and its response into the session's ring of the last tracks (TRACK_DIM wide)."""
    n = last.shape[1]
    for i in range(rows.shape[0]):
        r = rows[i]
        if i + AHEAD < rows.shape[0]:
            prefetch(taste, tracks[i + AHEAD], 0)
        slot = count[r] % n
        for m in range(TASTE_DIM):
            last[r, slot, m] = taste[tracks[i], m]
        code = 0 if skip_1[i] else (1 if skip_2[i] else (2 if skip_3[i] else 3))
        for m in range(4):
            last[r, slot, TASTE_DIM + m] = 1.0 if m == code else 0.0
        last[r, slot, TASTE_DIM + 4] = fraction[i]
        last[r, slot, TASTE_DIM + 5] = liked[i]
        count[r] += 1


@numba.njit(cache=True, nogil=True)
def _head(last, count, length, rows, limit, out, at):  # noqa: D103
    """Write the last tracks (most recent first; zeros before the session's start) and the position.

    Row ``rows[i]``'s go to ``out[at[i]]``.
    """
    n = last.shape[1]
    for i in range(rows.shape[0]):
        r = rows[i]
        o = at[i]
        c = count[r]
        for j in range(n):
            base = j * TRACK_DIM
            if j < c:
                slot = (c - 1 - j) % n
                for m in range(TRACK_DIM):
                    out[o, base + m] = last[r, slot, m]
            else:
                for m in range(TRACK_DIM):
                    out[o, base + m] = 0.0
        out[o, n * TRACK_DIM] = min(length[r] / limit, 1.0)



# ---------------------------------------------------------------------------------------------------- fused step
# One step of Session-v0 with its built-in listener in two kernel calls (`SessionCore.step`): the
# same kernels as the step by parts (`Core.step`), called in the same order from numba, with the
# generator's draws made in the kernels through `musicgym.envs.draws` (the same numbers as the NumPy
# calls of the step by parts). cfg holds the integer settings (`_C_*`); resp the listener's response
# columns (`musicgym.listeners.session._RESPONSE_COLUMNS`) and the regret; ints the track, whether
# terminated and two counts (`_I_*`).
(_C_NEAR, _C_RECENT, _C_SHOWN, _C_RANDOM, _C_INDEX_N, _C_MINUTES, _C_ORACLE, _C_LIMIT, _C_SCALE, _C_OBS,
 _C_HEAD, _C_N_TRACKS) = range(12)
_N_RESPONSE = len(_sl._RESPONSE_COLUMNS)
_R_REGRET = _N_RESPONSE
_I_TRACK, _I_TERMINATED, _I_SHORT, _I_TAKEN = range(4)
#: status of the fused kernels: done; an action is out of range or repeats (nothing done: take the step by
#: parts); a history is full (nothing done: grow it, call again); no distinct random tracks; selected and
#: drawn (`_select_and_draw`: the rows' work comes next)
_DONE, _BY_PARTS, _FULL, _NO_RANDOM, _DRAWN = 0, -2, -4, -6, -8


@numba.njit(cache=True, nogil=True, inline="always")
def _select_and_draw(rows, actions, ptrs, history, length, candidates, tracks, u):
    """The rows' tracks (into `tracks`) and their response draws (into `u`).

    Returns `_DRAWN`, or `_BY_PARTS` (an action out of range or a repeat) or `_FULL` (both before any
    change or draw).
    """
    n = rows.shape[0]
    repeat = np.empty(n, dtype=np.bool_)
    status = kernels.select(candidates, history, length, rows, actions, candidates.shape[1], False, tracks, repeat)
    if status != -1:
        return _BY_PARTS
    cap = history.shape[1]
    for i in range(n):
        if length[rows[i]] >= cap:
            return _FULL
    bg = draws.bitgen(ptrs)
    for i in range(n):
        for j in range(3):
            u[i, j] = draws.uniform(bg)
    return _DRAWN


@numba.njit(cache=True, nogil=True)
def _fused_respond(rows, actions, ptrs, cfg, sess_f, sess_i, buf_i, buf_w, buf_t, trk, decay, par, history, length,
                   candidates, oracle_reward, last, shown_count, table, taste, resp, ints, slate):
    """`_select_and_draw`, then `_respond_rows`: the step's first half.

    Returns `_BY_PARTS` or `_FULL` (nothing done), or `_respond_rows`'s return value.
    """
    n = rows.shape[0]
    tracks = np.empty(n, dtype=np.int64)
    u = np.empty((n, 3))
    status = _select_and_draw(rows, actions, ptrs, history, length, candidates, tracks, u)
    if status != _DRAWN:
        return status
    return _respond_rows(rows, tracks, u, cfg, sess_f, sess_i, buf_i, buf_w, buf_t, trk, decay, par, history,
                         length, oracle_reward, last, shown_count, table, taste, resp, ints, slate)


@numba.njit(cache=True, nogil=True, inline="always")  # inlined in the fused kernel; called alone on chunks
def _respond_rows(rows, tracks, u, cfg, sess_f, sess_i, buf_i, buf_w, buf_t, trk, decay, par, history, length,
                  oracle_reward, last, shown_count, table, taste, resp, ints, slate):
    """Respond, regret, update, push, record and the near part of the slate, for these rows (no draw).

    Returns the number of rows whose near part ran out of the table (0: all found; ``ints[:, _I_SHORT]``
    marks them), with ``ints[0, _I_TAKEN]`` the most tracks any of these rows has taken (played + near).
    Each row's work reads and writes that row's state only (`musicgym.envs.threads`).
    """
    n = rows.shape[0]
    trk_int = trk.view(np.int32)
    minutes = cfg[_C_MINUTES] != 0
    out = _sl._respond(rows, tracks, u, sess_f, sess_i, buf_i, buf_w, trk, trk_int, par, minutes)
    for i in range(n):  # the response's expected reward is `_expected`'s (the step by parts' regret)
        resp[i, _R_REGRET] = oracle_reward[rows[i]] - out[i, _sl._EXPECTED] if cfg[_C_ORACLE] else np.nan
    heard = np.empty(n)
    skipped = np.empty(n)
    left = np.empty(n, dtype=np.int64)
    for i in range(n):
        for j in range(_N_RESPONSE):
            resp[i, j] = out[i, j]
        heard[i] = out[i, 5]
        skipped[i] = out[i, 1]
        left[i] = np.int64(out[i, 7])
        ints[i, _I_TRACK] = tracks[i]
    _sl._hear(rows, tracks, heard, skipped, left, sess_f, sess_i, buf_i, buf_w, buf_t, trk_int, decay, par)
    kernels.push(history, length, rows, tracks)
    s1, s2, s3, frac, liked = (np.empty(n), np.empty(n), np.empty(n), np.empty(n), np.empty(n))
    for i in range(n):
        s1[i], s2[i], s3[i], frac[i], liked[i] = out[i, 0], out[i, 1], out[i, 2], out[i, 4], out[i, 6]
    _record(last, shown_count, rows, tracks, taste, s1, s2, s3, frac, liked)
    nn = cfg[_C_NEAR] + cfg[_C_RECENT]
    if n:
        ints[0, _I_TAKEN] = kernels.max_length(length, rows) + nn
    return _slate_head(table, history, length, rows, cfg, slate, ints)


@numba.njit(cache=True, nogil=True)
def _fused_finish(rows, ptrs, cfg, fill, stepping, split, sess_f, sess_i, buf_i, buf_w, trk, par, history, length,
                  candidates, oracle_action, oracle_reward, steps_taken, last, shown_count, taste, ints, slate, obs):
    """The slate's random part (if `fill`), its shuffle, (`stepping`) step counts and ends, then `_finish_rows`.

    Returns `_DONE`, or `_NO_RANDOM` where a random slot had no free track (`slates.complete_random`; nothing
    after the fill done). With `split` the caller runs `_finish_rows` (on chunks of the rows,
    `musicgym.envs.threads`).
    """
    n = rows.shape[0]
    k = slate.shape[1]
    nn = cfg[_C_NEAR] + cfg[_C_RECENT]
    n_random = cfg[_C_RANDOM]
    bg = draws.bitgen(ptrs)
    if fill and n_random:  # `random_fill`: draw all, then redraw every bad draw, up to 100 rounds, then complete
        n_index = cfg[_C_INDEX_N]
        for i in range(n):
            for j in range(nn, k):
                slate[i, j] = draws.below(bg, n_index)
        rand = slate[:, nn:]  # the draws, in place
        bad = np.empty((n, n_random), dtype=np.bool_)
        row_bad = np.empty(n, dtype=np.bool_)
        for i in range(n):
            row_bad[i] = _bad_random(i, rows[i], history, length, slate, nn, rand, bad)
        if not _random_rounds(bg, rows, history, length, slate, nn, rand, bad, row_bad, n_index):
            return _NO_RANDOM
    for i in range(n):
        draws.shuffle_row(bg, slate[i])
        r = rows[i]
        for j in range(k):
            candidates[r, j] = slate[i, j]
    if stepping:
        _step_ends(rows, cfg, sess_i, length, candidates, steps_taken, ints)
    if not split:
        _finish_rows(rows, cfg, sess_f, sess_i, buf_i, buf_w, trk, par, length, candidates, oracle_action,
                     oracle_reward, last, shown_count, taste, obs, np.arange(n))
    return _DONE


@numba.njit(cache=True, nogil=True, inline="always")
def _step_ends(rows, cfg, sess_i, length, candidates, steps_taken, ints):
    """Count the rows' step; ``ints[:, _I_TERMINATED]``: the listener left, or the session ended (`kernels.ended`)."""
    n = rows.shape[0]
    ended = np.empty(n, dtype=np.bool_)
    kernels.ended(candidates, length, rows, False, cfg[_C_N_TRACKS], cfg[_C_LIMIT], ended)
    for i in range(n):
        r = rows[i]
        steps_taken[r] += 1
        ints[i, _I_TERMINATED] = 1 if (ended[i] or sess_i[r, _sl._SI_LEFT] != 0) else 0


@numba.njit(cache=True, nogil=True, inline="always")  # inlined in the fused kernel; called alone on chunks
def _finish_rows(rows, cfg, sess_f, sess_i, buf_i, buf_w, trk, par, length, candidates, oracle_action, oracle_reward,
                 last, shown_count, taste, obs, at):
    """The greedy oracle over the rows' new slates and (``cfg[_C_OBS]``) their observations (no draw).

    Row ``rows[i]``'s observation goes to ``obs[at[i]]``.

    Each row's work reads and writes that row's state only (`musicgym.envs.threads`).
    """
    n = rows.shape[0]
    k = candidates.shape[1]
    if cfg[_C_ORACLE]:
        tracks = np.empty((n, k), dtype=np.int64)
        kernels.slot_tracks(candidates, rows, tracks)
        value = _sl._expected(rows, tracks, sess_f, sess_i, buf_i, buf_w, trk, trk.view(np.int32), par,
                              cfg[_C_MINUTES] != 0, False)
        kernels.best_slot(candidates, rows, value.reshape(n, k), oracle_action, oracle_reward)
    if cfg[_C_OBS]:
        _head(last, shown_count, length, rows, float(cfg[_C_SCALE]), obs, at)
        kernels.slot_features_at(taste, candidates, rows, obs, cfg[_C_HEAD], at)


# ---------------------------------------------------------------------------------------------- threaded step
# A large batch's step (`SessionCore._step_split`) in four parts, the same numbers as `_fused_respond` and
# `_fused_finish`: (1, this thread) every draw before the responses: the tracks' response draws and the
# random slots' first draws (`random_fill` draws those first, in this order); (2, threads) the
# responses, the slates' near parts and which random draws are bad (`_respond_check`); (3, this thread)
# the redraws of the bad ones and the shuffles' draws (`_redraw_and_shuffle_draws`); (4, threads) the
# shuffles, the new slates, the ends, the oracle and the observations (`_shuffle_and_finish`).


@numba.njit(cache=True, nogil=True)
def _draw_split(rows, actions, ptrs, history, length, candidates, tracks, u, n_index, rand):
    """`_select_and_draw`, then (where `rand` has columns) the random slots' first draws into `rand`."""
    status = _select_and_draw(rows, actions, ptrs, history, length, candidates, tracks, u)
    if status != _DRAWN:
        return status
    bg = draws.bitgen(ptrs)
    for i in range(rand.shape[0]):
        for j in range(rand.shape[1]):
            rand[i, j] = draws.below(bg, n_index)
    return _DRAWN


@numba.njit(cache=True, nogil=True, inline="always")
def _bad_random(i, r, history, length, slate, nn, rand, bad):
    """Mark row i's bad random draws (`random_fill`'s test): played, in the near part, or a repeat of an earlier one.

    Returns whether any is bad.
    """
    any_bad = False
    for j in range(rand.shape[1]):
        t = rand[i, j]
        b = kernels._in_prefix(t, history[r], length[r]) or kernels._in_prefix(t, slate[i], nn)
        if not b:
            for m in range(j):
                if rand[i, m] == t:
                    b = True
                    break
        bad[i, j] = b
        any_bad |= b
    return any_bad


@numba.njit(cache=True, nogil=True, inline="always")
def _random_rounds(bg, rows, history, length, slate, nn, rand, bad, row_bad, n_index):
    """`random_fill` after its first draws' test (`_bad_random`'s `bad`, `row_bad`): the redraws, then the completion.

    Up to 100 rounds redraw every bad draw (row by row) and test the rows redrawn (no other row's test can
    change); then `slates.complete_random`. Returns False where a random slot has no free track.
    """
    for it in range(100):
        if it:
            for i in range(rows.shape[0]):
                if row_bad[i]:
                    row_bad[i] = _bad_random(i, rows[i], history, length, slate, nn, rand, bad)
        if not row_bad.any():
            return True
        for i in range(rows.shape[0]):
            if row_bad[i]:
                for j in range(rand.shape[1]):
                    if bad[i, j]:
                        rand[i, j] = draws.below(bg, n_index)
    return slates.complete_random(bg, rand, history, length, rows, slate[:, :nn].copy(), n_index)


@numba.njit(cache=True, nogil=True)
def _respond_check(rows, tracks, u, cfg, sess_f, sess_i, buf_i, buf_w, buf_t, trk, decay, par, history, length,
                   oracle_reward, last, shown_count, table, taste, resp, ints, slate, rand, bad):
    """`_respond_rows`, then which random draws are bad (rows whose near part ran out are left to the caller)."""
    n_short = _respond_rows(rows, tracks, u, cfg, sess_f, sess_i, buf_i, buf_w, buf_t, trk, decay, par, history,
                            length, oracle_reward, last, shown_count, table, taste, resp, ints, slate)
    nn = cfg[_C_NEAR] + cfg[_C_RECENT]
    for i in range(rows.shape[0]):
        if ints[i, _I_SHORT] == 0:
            _bad_random(i, rows[i], history, length, slate, nn, rand, bad)
    return n_short


@numba.njit(cache=True, nogil=True)
def _redraw_and_shuffle_draws(rows, ptrs, cfg, history, length, ints, slate, rand, bad, swaps):
    """`random_fill`'s rounds from the first draws' test, then every shuffle's draws into `swaps`.

    Where `rand` has columns: the rows whose near part came from the index are tested first, then
    `_random_rounds`, then `rand` goes into the slates' random part. Row i's shuffle is ``rng.shuffle``'s:
    ``swaps[i, s]`` is the draw in [0, k - 1 - s]. Returns `_DONE` or `_NO_RANDOM`.
    """
    n = rows.shape[0]
    nn = cfg[_C_NEAR] + cfg[_C_RECENT]
    bg = draws.bitgen(ptrs)
    if rand.shape[1]:
        row_bad = np.zeros(n, dtype=np.bool_)
        for i in range(n):
            if ints[i, _I_SHORT] != 0:
                row_bad[i] = _bad_random(i, rows[i], history, length, slate, nn, rand, bad)
            else:
                for j in range(rand.shape[1]):
                    row_bad[i] |= bad[i, j]
        if not _random_rounds(bg, rows, history, length, slate, nn, rand, bad, row_bad, cfg[_C_INDEX_N]):
            return _NO_RANDOM
        slate[:, nn:] = rand
    for i in range(n):
        draws.shuffle_draws(bg, swaps[i])
    return _DONE


@numba.njit(cache=True, nogil=True)
def _shuffle_and_finish(rows, swaps, cfg, sess_f, sess_i, buf_i, buf_w, trk, par, length, candidates,
                        oracle_action, oracle_reward, steps_taken, last, shown_count, taste, ints, slate, obs, at):
    """The shuffles (`swaps`: `_redraw_and_shuffle_draws`'), the new slates, step counts and ends, `_finish_rows`."""
    n = rows.shape[0]
    k = slate.shape[1]
    for i in range(n):
        draws.apply_shuffle(slate[i], swaps[i])
        r = rows[i]
        for j in range(k):
            candidates[r, j] = slate[i, j]
    _step_ends(rows, cfg, sess_i, length, candidates, steps_taken, ints)
    _finish_rows(rows, cfg, sess_f, sess_i, buf_i, buf_w, trk, par, length, candidates, oracle_action, oracle_reward,
                 last, shown_count, taste, obs, at)


@numba.njit(cache=True, nogil=True)
def _pairwise_sum(a):
    """NumPy's pairwise summation of a contiguous float64 row (``a.sum()``, the same rounding)."""
    n = a.shape[0]
    if n < 8:
        res = 0.0
        for i in range(n):
            res += a[i]
        return res
    if n <= 128:
        r = a[:8].copy()
        i = 8
        while i < n - (n % 8):
            for j in range(8):
                r[j] += a[i + j]
            i += 8
        res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
        while i < n:
            res += a[i]
            i += 1
        return res
    n2 = n // 2
    n2 -= n2 % 8
    return _pairwise_sum(a[:n2]) + _pairwise_sum(a[n2:])


@numba.njit(cache=True, nogil=True)
def _fused_reset(rows, ptrs, cfg, centres, genre_counts, genre_prior, log_share, first_track, source_playlist,
                 sess_f, sess_i, buf_i, buf_w, buf_t, trk, decay, par, history, length, steps_taken, last, shown_count,
                 table, taste, ints, slate):
    """`SessionCore.reset` with the built-in listener up to the slate's near part: the same draws in the same order.

    `SessionListener.sample`, its start track, `SessionListener.start`, the start's record and the near part
    of the slate (`_fused_respond`'s return value and ``ints``); `_fused_finish` does the rest.
    """
    n = rows.shape[0]
    bg = draws.bitgen(ptrs)
    d = centres.shape[1]
    n_genres = genre_counts.shape[1]
    # SessionListener.sample: the source playlists, then u, v, the taste noise and the genre mixes
    src = np.empty(n, dtype=np.int64)
    for i in range(n):
        src[i] = draws.below(bg, centres.shape[0])
    z_u = np.empty(n)
    z_v = np.empty(n)
    for i in range(n):
        z_u[i] = distributions.random_standard_normal(bg)
    for i in range(n):
        z_v[i] = distributions.random_standard_normal(bg)
    noise = np.empty((n, d))
    for i in range(n):
        for m in range(d):
            noise[i, m] = distributions.random_standard_normal(bg)
    g = np.empty((n, n_genres))
    for i in range(n):
        for m in range(n_genres):
            g[i, m] = distributions.random_standard_gamma(bg, np.float64(genre_counts[src[i], m]) + genre_prior[m])
    for i in range(n):
        r = rows[i]
        source_playlist[r] = src[i]
        total = _pairwise_sum(g[i])
        sess_f[r, _sl._SF_U] = par[_sl._P_USD] * z_u[i]
        sess_f[r, _sl._SF_TIME] = 0.0
        sess_f[r, _sl._SF_MOOD] = 0.0
        sess_f[r, _sl._SF_LEAVE] = par[_sl._P_LSD] * z_v[i]
        for m in range(d):
            sess_f[r, _sl._SF_CENTRE + m] = np.float64(centres[src[i], m]) + par[_sl._P_NOISE] * noise[i, m]
        for m in range(n_genres):
            x = math.log(max(g[i, m] / total, 1e-300)) - log_share[m]
            sess_f[r, _sl._SF_CENTRE + d + m] = min(max(x, -4.0), 4.0)
        sess_i[r, _sl._SI_POS] = 0
        sess_i[r, _sl._SI_PREV] = -1
        sess_i[r, _sl._SI_LEFT] = 0
        buf_i[r] = -1
        buf_w[r] = 0.0
        # Core.reset: an empty session, then the start track (the first of the source playlist)
        history[r] = -1
        length[r] = 0
        steps_taken[r] = 0
        shown_count[r] = 0
    start = np.empty(n, dtype=np.int64)
    heard = np.empty(n)
    for i in range(n):
        start[i] = first_track[src[i]]
        heard[i] = np.float64(trk[start[i], _sl._T_MINUTES])
    kernels.push(history, length, rows, start)
    zeros, ones = np.zeros(n), np.ones(n)
    _sl._hear(rows, start, heard, zeros, np.zeros(n, dtype=np.int64), sess_f, sess_i, buf_i, buf_w, buf_t,
              trk.view(np.int32), decay, par)
    _record(last, shown_count, rows, start, taste, zeros, zeros, zeros, ones, zeros)
    ints[0, _I_TAKEN] = 1 + cfg[_C_NEAR] + cfg[_C_RECENT]
    return _slate_head(table, history, length, rows, cfg, slate, ints)


def _nothing() -> None:
    """Nothing to run beside (`threads.run_beside`)."""


class SessionCore(FusedSteps, Core):
    """Batched dynamics of Session-v0 (see `SessionEnv` for the specification)."""

    ENV_ID: ClassVar[str] = "MusicGym/Session-v0"
    PARAMS: ClassVar[dict[str, Any]] = {
        "action_mode": "candidates",
        "k": 20,
        "n_recent": 5,
        "n_random": 4,
        "shown_tracks": 5,
        "listener": "session",
        "reward": "minutes",
        "listener_params": None,
    }
    LISTENERS: ClassVar[dict[str, str]] = {"session": "_session_listener"}
    LISTENER_PARAMS: ClassVar[tuple[str, ...]] = ("reward", "listener_params")
    RESET_OPTIONS: ClassVar[tuple[str, ...]] = ()
    STATE: ClassVar[tuple[str, ...]] = (*Core.STATE, "last", "shown_count")
    #: the position shown is the session length over this (the registered truncation)
    POSITION_SCALE: ClassVar[int] = 50

    def __init__(self, catalog: Catalog | str = "default", num: int = 1, **params: Any) -> None:
        super().__init__(catalog, num, **params)
        p = self.params
        self.n_shown = check_int("shown_tracks", p["shown_tracks"], 1, 50)
        self.index = shared_index(self.catalog, "taste")
        self.table = neighbour_table(self.index, TABLE_K)
        self.item_features = self.catalog.taste_features
        # what the kernels read: the same values, laid out for them
        self._table_k, self.taste = _lookup_arrays(self.catalog, self.index, self.table)
        self.components = tuple(c for c in SHOWN if c in self.listener.components) or self.components
        # checked in both modes (catalog mode does not use them, but a bad value is still a mistake)
        k = check_int("k", p["k"], 1, self.n_tracks if self.action_mode == "candidates" else None,
                      what="candidate slots")
        n_recent = check_int("n_recent", p["n_recent"], 0, k, hi_name="k")
        n_random = check_int("n_random", p["n_random"], 0, k - n_recent, hi_name="k - n_recent")
        if self.action_mode == "candidates":
            self.k, self.n_recent, self.n_random = k, n_recent, n_random
            self.n_actions = self.k
            self.candidates = np.full((self.num, self.k), -1, dtype=np.int64)
        else:
            self.k = self.n_recent = self.n_random = 0
            self.n_actions = self.n_tracks
        self.head_dim = self.n_shown * TRACK_DIM + 1
        self.last = np.zeros((self.num, self.n_shown, TRACK_DIM), dtype=np.float32)
        self.shown_count = np.zeros(self.num, dtype=np.int64)
        dim = self.head_dim + self.k * TASTE_DIM
        self.observation_space = spaces.Box(0.0, 1.0, shape=(dim,), dtype=np.float32)
        # the fused step and reset (`_fused_respond`, `_fused_reset`, `_fused_finish`): candidates mode with the
        # built-in listener
        self._fused = self.action_mode == "candidates" and type(self.listener) is SessionListener
        self._cfg = np.zeros(12, dtype=np.int64)
        n_near = self.k - self.n_recent - self.n_random
        self._cfg[[_C_NEAR, _C_RECENT, _C_SHOWN, _C_RANDOM, _C_INDEX_N, _C_SCALE, _C_HEAD, _C_N_TRACKS]] = (
            n_near, self.n_recent, self.n_shown, self.n_random, self.index.n, self.POSITION_SCALE, self.head_dim,
            self.n_tracks)
        if self._fused:
            self._cfg[_C_MINUTES] = self.listener.reward == "minutes"
        self._no_obs = np.empty((0, dim), dtype=np.float32)
        self._first_track: np.ndarray | None = None  # the first track of each source playlist

    def make_planner(self, horizon: int | None) -> Any:
        """Rollouts with fresh draws (the listener's answers are random).

        Every candidate, 4 rollouts per action, 10 steps deep. Catalog mode: the 5 best tracks by
        immediate expected reward, 2 rollouts, 5 steps (each rollout step's greedy oracle scores the
        whole catalog: the candidates-mode settings took about 25 s per episode on 20,000 tracks,
        these about 16 times less).
        """
        from musicgym.envs.planner import RolloutPlanner

        horizon = 50 if horizon is None else horizon
        if self.action_mode == "catalog":
            return RolloutPlanner(self, horizon, width=5, common_random=False, n_rollouts=2, depth=5)
        return RolloutPlanner(self, horizon, common_random=False, n_rollouts=4, depth=10)

    def _session_listener(self) -> Listener:
        return SessionListener(params=self.params["listener_params"], reward=self.params["reward"])

    # ------------------------------------------------------------------ dynamics
    def reset(self, rng: np.random.Generator, rows: np.ndarray) -> None:
        """New listeners and sessions; the start tracks count as heard to the end (as the listener hears them)."""
        if self._fused and self.listener.start_from_taste and self._reset_fused(rng, rows):
            return
        self.shown_count[rows] = 0
        super().reset(rng, rows)

    def _reset_fused(self, rng: np.random.Generator, rows: np.ndarray) -> bool:
        """`reset` by `_fused_reset`; False (nothing done) where it must go by parts."""
        ptrs = self._pointers(rng)
        if ptrs is None:
            return False
        rows = np.asarray(rows, dtype=np.int64)
        cfg = self._cfg
        cfg[_C_OBS] = 0
        parts = threads.chunks(rows.shape[0])
        self._reset_draw(rows, ptrs, cfg, split=len(parts) > 1)
        if len(parts) > 1:  # the oracle in threads (`musicgym.envs.threads`)
            self._rows_in_threads(rows, cfg, self._no_obs, parts)
        return True

    def _reset_draw(self, rows: np.ndarray, ptrs: np.ndarray, cfg: np.ndarray, split: bool) -> None:
        """`_fused_reset`, then `_finish_draws`: every draw of the reset (with `split`, not `_finish_rows`)."""
        n = rows.shape[0]
        ints = np.empty((n, 4), dtype=np.int64)
        slate = np.empty((n, self.k), dtype=np.int64)
        cfg[_C_ORACLE] = self.track_oracle
        lis = self.listener
        pop = lis.pop
        if self._first_track is None:
            self._first_track = np.array([p[0] for p in pop.playlists], dtype=np.int64)
        n_short = _fused_reset(rows, ptrs, cfg, pop.centres, pop.genre_counts, lis._genre_prior, lis._log_share,
                               self._first_track, lis.source_playlist, lis._sess_f, lis._sess_i, lis._buf_i,
                               lis._buf_w, lis._buf_t, lis._trk, lis._table, lis._par, self.history, self.length,
                               self.steps_taken, self.last, self.shown_count, self._table_k, self.taste, ints, slate)
        self._finish_draws(rows, ptrs, cfg, n_short, ints, slate, self._no_obs, stepping=False, split=split)

    def _reset_rows(self, rows: np.ndarray) -> None:
        length = self.length[rows]
        for j in range(int(length.max(initial=0))):  # the start tracks: chosen by the listener, heard in full
            sub = rows[length > j]
            t = self.history[sub, j]
            ones, zeros = np.ones(len(sub)), np.zeros(len(sub))
            _record(self.last, self.shown_count, sub, t, self.taste, zeros, zeros, zeros, ones, zeros)

    def _record(self, rows: np.ndarray, tracks: np.ndarray, response: dict[str, np.ndarray]) -> None:
        try:
            cols = [np.asarray(response[k], dtype=np.float64) for k in ("skip_1", "skip_2", "skip_3",
                                                                        "fraction_heard", "liked")]
        except KeyError as e:
            raise ValueError(f"Session-v0 observes each track's outcome: the listener {type(self.listener).__name__}"
                             f".respond must return {e.args[0]!r}") from None
        _record(self.last, self.shown_count, rows, tracks, self.taste, *cols)

    def _step_fused(self, rng: np.random.Generator, rows: np.ndarray, actions: np.ndarray, ptrs: np.ndarray,
                    obs: np.ndarray | None) -> dict[str, np.ndarray] | None:
        """The step by `_fused_respond` and `_fused_finish` (the observation into `obs`); None: go by parts.

        A large batch goes by `_step_split` (chunks of the rows in threads).
        """
        n = rows.shape[0]
        cfg = self._cfg
        cfg[_C_OBS] = obs is not None
        obs = self._no_obs if obs is None else obs
        if len(threads.chunks(n)) > 1:
            return self._step_split(rows, actions, ptrs, obs, np.arange(n))
        resp = np.empty((n, _N_RESPONSE + 1))
        ints = np.empty((n, 4), dtype=np.int64)
        slate = np.empty((n, self.k), dtype=np.int64)
        cfg[_C_ORACLE] = self.track_oracle
        cfg[_C_LIMIT] = self.length_limit
        lis = self.listener
        while True:
            status = _fused_respond(rows, actions, ptrs, cfg, lis._sess_f, lis._sess_i, lis._buf_i, lis._buf_w,
                                    lis._buf_t, lis._trk, lis._table, lis._par, self.history, self.length,
                                    self.candidates, self.oracle_reward, self.last, self.shown_count, self._table_k,
                                    self.taste, resp, ints, slate)
            if status != _FULL:
                break
            self._grow_history()
        if status == _BY_PARTS:
            return None
        self._finish_draws(rows, ptrs, cfg, status, ints, slate, obs, stepping=True, split=False)
        return self._step_out(resp, ints)

    def step_reset_observe(self, rng: np.random.Generator, rows: np.ndarray, actions: np.ndarray,
                           done: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """`Core.step_reset_observe`; a large batch with the reset of `done` beside the step's last part.

        Every draw is made in this thread, in the order of the step, then the reset (`_step_split`,
        `_reset_draw`), so the trajectories are those of `step`, `reset` and `observe` called in turn. The
        reset and the oracle and observations of its rows run in this thread while the other threads
        finish the stepped rows (`threads.run_beside`): they touch no row of each other's.
        """
        ptrs = self._pointers(rng) if self._fused and self.listener.start_from_taste else None
        actions = np.asarray(actions, dtype=np.int64)
        if ptrs is None or actions.shape != rows.shape or len(threads.chunks(rows.shape[0])) == 1 or not done.size:
            return super().step_reset_observe(rng, rows, actions, done)
        obs = np.empty((self.num, self.observation_space.shape[0]), dtype=np.float32)
        self._cfg[_C_OBS] = 1
        reset_cfg = self._cfg.copy()  # the reset's own: the other threads read self._cfg meanwhile
        done = np.asarray(done, dtype=np.int64)

        def reset() -> None:
            self._reset_draw(done, ptrs, reset_cfg, split=True)
            self._oracle_and_obs(done, reset_cfg, obs, done)

        out = self._step_split(rows, actions, ptrs, obs, rows, beside=reset)
        if out is None:  # nothing done: by parts
            return super().step_reset_observe(rng, rows, actions, done)
        return out, obs

    def _step_split(self, rows: np.ndarray, actions: np.ndarray, ptrs: np.ndarray, obs: np.ndarray, at: np.ndarray,
                    beside: Callable[[], None] | None = None) -> dict[str, np.ndarray] | None:
        """The step of a large batch, its rows' work on pieces of them in threads; None (nothing done): by parts.

        The same numbers as `_fused_respond` and `_fused_finish` (see "threaded step" above the kernels).
        Row ``rows[i]``'s observation goes to ``obs[at[i]]`` (where ``self._cfg[_C_OBS]``); `beside` runs in
        this thread during the last part, after every draw of the step.
        """
        n = rows.shape[0]
        cfg = self._cfg
        cfg[_C_ORACLE] = self.track_oracle
        cfg[_C_LIMIT] = self.length_limit
        tracks = np.empty(n, dtype=np.int64)
        u = np.empty((n, 3))
        while True:
            # the random slots are drawn (`random_fill`) unless too few tracks are left: then the index gives them
            taken = kernels.max_length(self.length, rows) + 1 + self.k - self.n_random
            fill = self.n_random > 0 and self.index.n - taken >= self.n_random
            rand = np.empty((n, self.n_random if fill else 0), dtype=np.int64)
            status = _draw_split(rows, actions, ptrs, self.history, self.length, self.candidates, tracks, u,
                                 self.index.n, rand)
            if status != _FULL:
                break
            self._grow_history()
        if status == _BY_PARTS:
            return None
        resp = np.empty((n, _N_RESPONSE + 1))
        ints = np.empty((n, 4), dtype=np.int64)
        slate = np.empty((n, self.k), dtype=np.int64)
        bad = np.empty(rand.shape, dtype=np.bool_)
        lis = self.listener

        def respond(p: slice) -> int:
            return _respond_check(rows[p], tracks[p], u[p], cfg, lis._sess_f, lis._sess_i, lis._buf_i, lis._buf_w,
                                  lis._buf_t, lis._trk, lis._table, lis._par, self.history, self.length,
                                  self.oracle_reward, self.last, self.shown_count, self._table_k, self.taste, resp[p],
                                  ints[p], slate[p], rand[p], bad[p])

        pieces = threads.pieces(n)
        n_short = sum(threads.run_beside(_nothing, respond, pieces))
        ints[0, _I_TAKEN] = max(int(ints[p.start, _I_TAKEN]) for p in pieces)
        if n_short or (self.n_random and not fill):
            self._finish_by_index(rows, ints, slate)
        swaps = np.empty((n, max(self.k - 1, 0)), dtype=np.int64)
        if _redraw_and_shuffle_draws(rows, ptrs, cfg, self.history, self.length, ints, slate, rand, bad,
                                     swaps) == _NO_RANDOM:
            raise no_free_track(self.index.n, self.k, self.n_random)

        def finish(p: slice) -> None:
            _shuffle_and_finish(rows[p], swaps[p], cfg, lis._sess_f, lis._sess_i, lis._buf_i, lis._buf_w, lis._trk,
                                lis._par, self.length, self.candidates, self.oracle_action, self.oracle_reward,
                                self.steps_taken, self.last, self.shown_count, self.taste, ints[p], slate[p], obs,
                                at[p])

        threads.run_beside(beside or _nothing, finish, threads.pieces(n))
        return self._step_out(resp, ints)

    @staticmethod
    def _step_out(resp: np.ndarray, ints: np.ndarray) -> dict[str, np.ndarray]:
        """`step`'s answer from the fused kernels' response columns and ints."""
        out = {name: resp[:, j] for j, name in enumerate(_sl._RESPONSE_COLUMNS)}
        out["repeat"] = np.zeros(resp.shape[0], dtype=np.bool_)
        out["track"] = ints[:, _I_TRACK]
        out["regret"] = resp[:, _R_REGRET]
        out["terminated"] = ints[:, _I_TERMINATED] != 0
        return out

    def _finish_draws(self, rows: np.ndarray, ptrs: np.ndarray, cfg: np.ndarray, n_short: int, ints: np.ndarray,
                      slate: np.ndarray, obs: np.ndarray, stepping: bool, split: bool) -> None:
        """`_fused_finish`, after the index searches the slate may need (`_finish_by_index`): the slates' draws.

        With `split`, the oracle and observations (`_finish_rows`) are left to the caller.
        """
        fill = True
        if n_short or (self.n_random and self.index.n - int(ints[0, _I_TAKEN]) < self.n_random):
            fill = self._finish_by_index(rows, ints, slate)
        lis = self.listener
        status = _fused_finish(rows, ptrs, cfg, fill, stepping, split, lis._sess_f, lis._sess_i, lis._buf_i,
                               lis._buf_w, lis._trk, lis._par, self.history, self.length, self.candidates,
                               self.oracle_action, self.oracle_reward, self.steps_taken, self.last, self.shown_count,
                               self.taste, ints, slate, obs)
        if status == _NO_RANDOM:
            raise no_free_track(self.index.n, self.k, self.n_random)

    def _oracle_and_obs(self, rows: np.ndarray, cfg: np.ndarray, obs: np.ndarray, at: np.ndarray) -> None:
        """`_finish_rows` (the kernel) on these rows: the oracle and (``cfg[_C_OBS]``) observations into ``obs[at]``."""
        lis = self.listener
        _finish_rows(rows, cfg, lis._sess_f, lis._sess_i, lis._buf_i, lis._buf_w, lis._trk, lis._par, self.length,
                     self.candidates, self.oracle_action, self.oracle_reward, self.last, self.shown_count, self.taste,
                     obs, at)

    def _rows_in_threads(self, rows: np.ndarray, cfg: np.ndarray, obs: np.ndarray, parts: list[slice]) -> None:
        """`_finish_rows` on the chunks `parts` of `rows` in threads; row ``rows[i]``'s observation into ``obs[i]``."""
        at = np.arange(rows.shape[0])
        threads.run(lambda p: self._oracle_and_obs(rows[p], cfg, obs, at[p]), parts)

    def _finish_by_index(self, rows: np.ndarray, ints: np.ndarray, slate: np.ndarray) -> bool:
        """The slate's parts that need an index search (as `_update_candidates`); False if the random part did."""
        nn = self.k - self.n_random
        short = ints[:, _I_SHORT] != 0
        if short.any():  # the table ran out (a long session on a small catalog): search the index
            r = rows[short]
            played = self.history[r, : kernels.max_length(self.length, r)]
            current = kernels.current_tracks(self.history, self.length, r)
            slate[short, :nn], _ = self.index.search(self.index.vectors[current], nn, exclude=played)
        fill = True
        if self.n_random and self.index.n - int(ints[0, _I_TAKEN]) < self.n_random:
            taken = np.concatenate([self.history[rows, : kernels.max_length(self.length, rows)], slate[:, :nn]],
                                   axis=1)
            current = kernels.current_tracks(self.history, self.length, rows)
            slate[:, nn:] = self.index.search(self.index.vectors[current], self.n_random, exclude=taken)[0]
            fill = False
        return fill

    def _update_candidates(self, rng: np.random.Generator, rows: np.ndarray) -> None:
        if self.action_mode == "catalog":
            return
        n_near = self.k - self.n_recent - self.n_random
        nn = n_near + self.n_recent
        near = np.full((len(rows), nn), -1, dtype=np.int64)
        short = np.empty(len(rows), dtype=np.bool_)
        if nn and _near_and_recent(self._table_k, self.history, self.length, rows, n_near, self.n_recent,
                                   self.n_shown, near, short):
            r = rows[short]  # the table ran out (a long session on a small catalog): search the index
            played = self.history[r, : kernels.max_length(self.length, r)]
            current = kernels.current_tracks(self.history, self.length, r)
            near[short], _ = self.index.search(self.index.vectors[current], nn, exclude=played)
        parts = [near]
        if self.n_random:
            most_taken = kernels.max_length(self.length, rows) + nn
            if self.index.n - most_taken >= self.n_random:
                parts.append(random_fill(rng, self.index.n, self.history, self.length, rows, near, self.n_random))
            else:
                taken = np.concatenate([self.history[rows, : kernels.max_length(self.length, rows)], near], axis=1)
                current = kernels.current_tracks(self.history, self.length, rows)
                parts.append(self.index.search(self.index.vectors[current], self.n_random, exclude=taken)[0])
        slate = np.concatenate(parts, axis=1) if len(parts) > 1 else near
        self.candidates[rows] = rng.permuted(slate, axis=1)

    def observe(self, rows: np.ndarray | None = None) -> np.ndarray:
        """The last tracks with their outcomes, the position, and (candidates mode) the slots' features."""
        rows = self.all_rows() if rows is None else rows
        obs = np.empty((len(rows), self.observation_space.shape[0]), dtype=np.float32)

        def write(sub: np.ndarray, out: np.ndarray) -> None:
            _head(self.last, self.shown_count, self.length, sub, float(self.POSITION_SCALE), out,
                  np.arange(len(sub)))
            if self.action_mode == "candidates":
                kernels.slot_features(self.taste, self.candidates, sub, out, self.head_dim)

        parts = threads.chunks(len(rows))
        if len(parts) == 1:
            write(rows, obs)
        else:  # chunks of the rows in threads (`musicgym.envs.threads`)
            threads.run(lambda p: write(rows[p], obs[p]), parts)
        return obs


class SessionEnv(MusicEnv):
    """A listening session: keep a hidden listener listening, learning their taste from their skips.

    ## Description
    One streaming session on the shared catalog with the realistic listener of
    `musicgym.listeners.SessionListener`, calibrated to the skip behaviour of Spotify's Music Streaming
    Sessions Dataset (MSSD; Brost et al., WWW 2019) and to Last.fm-1K session lengths (``musicgym
    realism`` reports how well). A new listener is drawn every episode from a population prior
    fitted on the catalog's playlists, so the listener's taste is hidden and must be inferred from
    how they answer: a POMDP. Each track is skipped very early, early, before its end, or played to
    the end; the listener tires of an artist or genre heard too often (ACT-R satiation), may enjoy a
    replay after a while (mere exposure), skips more after a skip (mood), and leaves with a hazard
    that grows with recent skips.

    ## Action Space
    ``action_mode="candidates"`` (``Session-v0``): ``Discrete(k)`` (k = 20) slots from the shared FAISS
    taste index (cosine over the 9 taste features): the ``k - n_recent - n_random`` nearest unplayed
    neighbours of the current track, ``n_recent`` (5) nearest unplayed neighbours of the tracks heard
    before it (the last ``shown_tracks``, round robin), and ``n_random`` (4) random unplayed tracks
    (the explore share), shuffled by the env's RNG. ``action_mode="catalog"`` (``SessionCatalog-v0``):
    ``Discrete(N)``, any catalog track; a track already in the session is penalised with -1 and
    changes nothing (masked in ``info["action_mask"]`` / ``action_masks()``).

    ## Observation Space
    ``Box(0, 1, (shown_tracks * 15 + 1 + k * 9,), float32)``: for each of the last ``shown_tracks``
    (5) tracks, most recent first (zeros before the session began): its 9 taste features, its outcome
    one-hot (skipped very early, early, before the end, played to the end), the fraction heard and
    the like flag; then the session's length over 50; then (candidates mode) the slots' taste
    features (zeros for an empty slot). Never the listener's taste, offset or leave propensity.

    ## Rewards
    The minutes of the track heard (``reward="minutes"``; ``"fraction"``: the fraction heard). A skipped
    track earns little, and a listener who leaves earns nothing more: an agent trades a safe track now
    against a longer session. ``info["rewards"]`` holds the outcome flags, ``fraction_heard``,
    ``minutes``, ``liked`` and ``left``.

    ## Starting State
    A new listener; the session starts with the first track of the listener's source playlist (the
    track they chose, as MSSD sessions start), heard to the end.

    ## Episode End
    Termination when the listener leaves (after that track's response); truncation after 50 tracks
    (``max_episode_steps=50``). Termination also if no unplayed candidate is left.

    ## Info
    ``track``, ``candidates``, ``history``, ``rewards`` (above), ``action_mask``, ``repeat``,
    ``oracle_action`` / ``oracle_reward`` (the candidate of highest expected reward under the hidden
    listener now: expected minutes over the four outcomes) and ``regret``.

    ## Arguments
    ``catalog``, ``action_mode``, ``k`` (20), ``n_recent`` (5), ``n_random`` (4), ``shown_tracks`` (5),
    ``listener`` (``"session"``: `SessionListener` with ``reward`` and ``listener_params``, a
    `SessionParams`, a dict of parameters or the path of a calibration JSON from ``musicgym
    calibrate``; or a `musicgym.listeners.Listener` whose ``respond`` returns the outcome flags,
    ``fraction_heard`` and ``liked``), ``reward`` (``"minutes"``), ``render_mode``.

    ## Version History
    * v0: initial version.
    * v0 (unreleased revision): retrieval ties broken by exact score then track id, identical on every CPU
      (the taste neighbour table had come in FAISS's float32 order, which depends on the CPU's BLAS
      kernel).
    * v0 (unreleased revision): the listener's exp is `musicgym.vexp.exp` (the same bits on every machine,
      where the C library's could differ between versions): probabilities change in the last bit at most
      (1 ulp of the exp), so no draw's outcome changes except one within 1e-16 of a cut (the golden
      trajectories are unchanged).
    """

    core_cls = SessionCore


class SessionVectorEnv(MusicVectorEnv):
    """Native batched `SessionEnv`: B sessions, numba kernels for the listener and the candidates.

    With B >= 512 the listener's responses, the greedy oracle and the observations run on pieces of the
    sessions in a few threads (`musicgym.set_num_threads`, ``MUSICGYM_NUM_THREADS``; default: the CPUs,
    at most 8), and (next-step autoreset) the sessions that ended reset beside them; the draws stay in
    one thread, in order, so a seed gives the same trajectories with any number.
    """

    core_cls = SessionCore
