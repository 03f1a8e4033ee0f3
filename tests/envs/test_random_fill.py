"""The random slots of the slot-based envs on a small catalog nearly played through (`core.random_fill`).

`random_fill` draws the random slots by rejection: draw all, redraw every bad draw (played, in the slate,
or twice in the row), up to 100 rounds. On a 300-track catalog with a handful of tracks left free that
could fail, and Taste-v0, Preference-v0 and Session-v0 raised RuntimeError ("could not draw distinct
random tracks") some 260 steps into an episode without a time limit (every seed tried, e.g. seed 0:
Taste-v0 at step 270, Preference-v0 at 268, Session-v0 with a listener who never leaves at 258). What the
100 rounds leave bad is now completed exactly: one draw per bad entry among the tracks free for it.
"""

from __future__ import annotations

import numba
import numpy as np
import pytest

import musicgym  # noqa: F401
from musicgym.envs import draws, slates
from musicgym.envs.core import random_fill
from musicgym.envs.preference import PreferenceEnv
from musicgym.envs.session import SessionEnv
from musicgym.envs.taste import TasteEnv
from tests.envs import lockstep

#: a Session-v0 listener who never leaves: sessions run until the catalog is played through
STAYS = {"listener_params": {"leave_base": -700.0, "leave_sd": 0.0, "leave_skip": 0.0, "leave_position": 0.0}}


@numba.njit
def _complete_random(ptrs, rand, history, length, rows, taken, n_tracks):
    return slates.complete_random(draws.bitgen(ptrs), rand, history, length, rows, taken, n_tracks)


@pytest.fixture
def completions(monkeypatch):
    """Counts the calls of `random_fill`'s completion (by parts; the fused kernels call it inside numba)."""
    return lockstep.counting_completions(monkeypatch)


@pytest.mark.parametrize(("cls", "kwargs", "fused"), [
    (TasteEnv, {}, True), (TasteEnv, {}, False), (PreferenceEnv, {}, False), (SessionEnv, STAYS, True),
    (SessionEnv, STAYS, False),
])
def test_small_catalog_plays_through_without_error(cls, kwargs, fused, completions):
    env = cls(catalog="synthetic-300", **kwargs)  # no time limit
    assert getattr(env.core, "_fused", False) or not fused  # the fused step where it has one
    env.core._fused = fused
    _, info = env.reset(seed=0)
    rng = np.random.default_rng(0)
    n_tracks = env.core.n_tracks
    for _ in range(2 * n_tracks):
        history = info["history"]
        slots = info["candidates"][info["candidates"] >= 0]
        assert len(np.unique(slots)) == len(slots)  # distinct
        assert not np.isin(slots, history).any()  # unplayed
        assert len(slots) == min(env.core.k, n_tracks - len(history))
        _, _, terminated, truncated, info = env.step(int(rng.integers(env.action_space.n)))
        assert not truncated
        if terminated:
            break
    assert terminated and len(info["history"]) >= n_tracks - 1
    if not fused:
        assert completions  # it went through the completion (where it raised before)


def _case(seed=0, n_tracks=40, rows=3, width=5, n_near=4):
    """A batch whose histories leave few tracks free, with draws of which many are bad."""
    g = np.random.default_rng(seed)
    history = np.full((rows + 2, n_tracks), -1, dtype=np.int64)
    length = np.zeros(rows + 2, dtype=np.int64)
    sel = np.array([3, 0, 4][:rows], dtype=np.int64)
    taken = np.empty((rows, n_near), dtype=np.int64)
    for i, r in enumerate(sel):
        perm = g.permutation(n_tracks)
        played = n_tracks - n_near - width - i  # row i: exactly `width + i` free
        history[r, :played] = perm[:played]
        length[r] = played
        taken[i] = perm[played:played + n_near]
    taken[0, 0] = -1  # -1 is ignored: one more free track in row 0
    return history, length, sel, taken


def test_completion_draws_as_the_kernel():
    history, length, rows, taken = _case()
    n_tracks, width = history.shape[1], 5
    for seed in range(20):
        rng, twin = np.random.default_rng(seed), np.random.default_rng(seed)
        rand = rng.integers(0, n_tracks, size=(len(rows), width))
        got = rand.copy()
        bad, bounds = slates.completion_bounds(got, history, length, rows, taken, n_tracks)
        assert bad.any() and (bounds > 0).all()
        picks = np.array([rng.integers(0, b) for b in bounds.tolist()], dtype=np.int64)
        slates.complete(got, bad, history, length, rows, taken, n_tracks, picks)

        want = twin.integers(0, n_tracks, size=(len(rows), width))
        assert _complete_random(draws.pointers(twin), want, history, length, rows, taken, n_tracks)
        np.testing.assert_array_equal(got, want)
        assert rng.random() == twin.random()  # the generator left in the same state
        np.testing.assert_array_equal(got[~bad], rand[~bad])  # the good draws kept
        assert not slates.completion_bounds(got, history, length, rows, taken, n_tracks)[0].any()
        for i, r in enumerate(rows):
            assert len(set(got[i])) == width
            assert not set(got[i]) & (set(history[r, :length[r]]) | set(taken[i]))


def test_completion_takes_the_free_tracks_in_order():
    """Every entry bad: the picks index the free tracks (ascending), each taken one leaving the row's free ones."""
    history = np.array([[0, 2, 4, 6, -1]], dtype=np.int64)
    length = np.array([4], dtype=np.int64)
    rows = np.zeros(1, dtype=np.int64)
    taken = np.array([[8, -1]], dtype=np.int64)
    rand = np.array([[0, 2, 8]], dtype=np.int64)  # played, played, taken: free 1, 3, 5, 7, 9
    bad, bounds = slates.completion_bounds(rand, history, length, rows, taken, 10)
    assert bad.all()
    np.testing.assert_array_equal(bounds, [5, 4, 3])
    slates.complete(rand, bad, history, length, rows, taken, 10, np.array([4, 0, 1]))
    np.testing.assert_array_equal(rand, [[9, 1, 5]])


def test_completion_counts_the_kept_entries_and_duplicates():
    history = np.array([[0, 1]], dtype=np.int64)
    length = np.array([2], dtype=np.int64)
    rows = np.zeros(1, dtype=np.int64)
    taken = np.zeros((1, 0), dtype=np.int64)
    rand = np.array([[3, 3, 1, 2]], dtype=np.int64)  # kept 3; a duplicate and a played one: free 2, 4, 5
    bad, bounds = slates.completion_bounds(rand, history, length, rows, taken, 6)
    np.testing.assert_array_equal(bad, [[False, True, True, False]])  # 2 is kept too: free 4, 5
    np.testing.assert_array_equal(bounds, [2, 1])
    slates.complete(rand, bad, history, length, rows, taken, 6, np.array([1, 0]))
    np.testing.assert_array_equal(rand, [[3, 5, 4, 2]])


def test_no_free_track_is_a_clear_error():
    """The envs' counts rule it out; `random_fill` itself names the catalog size, k and n_random."""
    n_tracks = 6
    history = np.array([[0, 1, 2, 3]], dtype=np.int64)
    length = np.array([4], dtype=np.int64)
    taken = np.array([[4]], dtype=np.int64)  # one free track (5) for two random slots
    with pytest.raises(ValueError, match="catalog of 6 tracks, k=3, n_random=2"):
        random_fill(np.random.default_rng(0), n_tracks, history, length, np.zeros(1, dtype=np.int64), taken, 2)
