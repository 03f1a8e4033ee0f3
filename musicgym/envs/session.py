"""``MusicGym/Session-v0`` and ``MusicGym/SessionCatalog-v0``: a listening session with a realistic listener."""

from __future__ import annotations

from typing import Any, ClassVar

import numba
import numpy as np
from gymnasium import spaces

from musicgym.catalog import Catalog
from musicgym.checks import check_int
from musicgym.envs import kernels
from musicgym.envs.base import MusicEnv, MusicVectorEnv
from musicgym.envs.core import Core, neighbour_table, random_fill, shared_index
from musicgym.listeners import Listener
from musicgym.listeners.session import SessionListener

TASTE_DIM = 9
#: what the observation shows of each of the last tracks: the 9 taste features, the exclusive outcome
#: (skipped very early / early / before the end / played to the end), the fraction heard and the like
TRACK_DIM = TASTE_DIM + 4 + 2
#: the responses shown in ``info["rewards"]``: what a deployed recommender logs (the model's hidden
#: terms and the leave probability stay out of reach)
SHOWN = ("skip_1", "skip_2", "skip_3", "not_skipped", "fraction_heard", "minutes", "liked", "left")
TABLE_K = 64


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
    for i in range(rows.shape[0]):
        r = rows[i]
        h = length[r]
        found = 0
        cur = history[r, h - 1]
        for j in range(width):
            if found == n_near:
                break
            t = table[cur, j]
            if t < 0 or kernels._in_prefix(t, history[r], h) or kernels._in_prefix(t, out[i], found):
                continue
            out[i, found] = t
            found += 1
        sources = min(recent, h - 1)
        if sources == 0:  # the first step: neighbours of the current track again
            sources, first = 1, 1
        else:
            first = 2
        pos = np.zeros(sources, dtype=np.int64)
        stalled = 0
        s = 0
        while found < want and stalled < sources:
            src = history[r, h - first - s] if first == 2 else cur
            placed = False
            while pos[s] < width:
                t = table[src, pos[s]]
                pos[s] += 1
                if t < 0 or kernels._in_prefix(t, history[r], h) or kernels._in_prefix(t, out[i], found):
                    continue
                out[i, found] = t
                found += 1
                placed = True
                break
            stalled = 0 if placed else stalled + 1
            s = (s + 1) % sources
        short[i] = found < want
        n_short += found < want
    return n_short


@numba.njit(cache=True, nogil=True)
def _record(last, count, rows, tracks, taste, skip_1, skip_2, skip_3, fraction, liked):  # noqa: D103
    """Push each row's track and its response into the session's ring of the last tracks (TRACK_DIM wide)."""
    n = last.shape[1]
    for i in range(rows.shape[0]):
        r = rows[i]
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
def _head(last, count, length, rows, limit, out):  # noqa: D103
    """Write the last tracks (most recent first; zeros before the session's start) and the position."""
    n = last.shape[1]
    for i in range(rows.shape[0]):
        r = rows[i]
        c = count[r]
        for j in range(n):
            base = j * TRACK_DIM
            if j < c:
                slot = (c - 1 - j) % n
                for m in range(TRACK_DIM):
                    out[i, base + m] = last[r, slot, m]
            else:
                for m in range(TRACK_DIM):
                    out[i, base + m] = 0.0
        out[i, n * TRACK_DIM] = min(length[r] / limit, 1.0)


class SessionCore(Core):
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
        self.taste = self.catalog.taste_features
        self.item_features = self.taste
        self.components = tuple(c for c in SHOWN if c in self.listener.components) or self.components
        if self.action_mode == "candidates":
            self.k = check_int("k", p["k"], 1, self.n_tracks, what="candidate slots")
            self.n_recent = check_int("n_recent", p["n_recent"], 0, self.k, hi_name="k")
            self.n_random = check_int("n_random", p["n_random"], 0, self.k - self.n_recent, hi_name="k - n_recent")
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
        self.shown_count[rows] = 0
        super().reset(rng, rows)

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

    def _update_candidates(self, rng: np.random.Generator, rows: np.ndarray) -> None:
        if self.action_mode == "catalog":
            return
        n_near = self.k - self.n_recent - self.n_random
        nn = n_near + self.n_recent
        near = np.full((len(rows), nn), -1, dtype=np.int64)
        short = np.empty(len(rows), dtype=np.bool_)
        if nn and _near_and_recent(self.table, self.history, self.length, rows, n_near, self.n_recent,
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
        _head(self.last, self.shown_count, self.length, rows, float(self.POSITION_SCALE), obs)
        if self.action_mode == "candidates":
            kernels.slot_features(self.item_features, self.candidates, rows, obs, self.head_dim)
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
    """

    core_cls = SessionCore


class SessionVectorEnv(MusicVectorEnv):
    """Native batched `SessionEnv`: B sessions, numba kernels for the listener and the candidates."""

    core_cls = SessionCore
