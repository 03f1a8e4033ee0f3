"""The batched core every MusicGym environment is built on.

A `Core` holds B listening sessions as numpy arrays and advances all of them at once; the single env
(`musicgym.envs.base.MusicEnv`) runs a core with B = 1 and the native vector env
(`musicgym.envs.base.MusicVectorEnv`) one with B = num_envs, so both have exactly the same dynamics.

One step follows RecSim's order: the listener's response to the chosen track -> the listener state
update -> the candidate update -> the observation. Every random draw comes from the
``np.random.Generator`` handed in by the env (its ``np_random``).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces

from musicgym.catalog import Catalog, load_catalog
from musicgym.index import CandidateIndex, rowwise_isin

ACTION_MODES = ("candidates", "catalog")


class Core:
    """Base class of a batched environment core.

    Subclasses set `PARAMS` (argument name -> default) and implement `_reset_rows`, `_respond`,
    `_update_candidates`, `observe`, `expected_reward` and `oracle`.

    Args:
        catalog: a `Catalog`, a path, or a preset name.
        num: number of sessions B.
        **params: the subclass's `PARAMS`; anything else is an error naming the accepted arguments.
    """

    PARAMS: ClassVar[dict[str, Any]] = {}
    #: names of the reward components reported in ``info["rewards"]``
    COMPONENTS: ClassVar[tuple[str, ...]] = ("reward",)
    #: reward given when an action would repeat a track already in the session (the step is spent,
    #: the track is not played again and the listener state does not change)
    REPEAT_PENALTY: ClassVar[float] = -1.0
    #: keys ``env.reset(options=...)`` accepts (see `apply_options`)
    RESET_OPTIONS: ClassVar[tuple[str, ...]] = ()

    def __init__(self, catalog: Catalog | str = "default", num: int = 1, **params: Any) -> None:
        unknown = sorted(set(params) - set(self.PARAMS))
        if unknown:
            raise TypeError(
                f"{type(self).__name__.removesuffix('Core')} env: unknown argument(s) {unknown}; "
                f"accepted: catalog, render_mode, {', '.join(self.PARAMS)}"
            )
        self.params = {**self.PARAMS, **params}
        if not isinstance(num, (int, np.integer)) or num < 1:
            raise ValueError(f"num_envs must be a positive integer, got {num!r}")
        self.catalog = load_catalog(catalog)
        self.num = int(num)
        self.n_tracks = len(self.catalog)
        mode = self.params.get("action_mode", "candidates")
        if mode not in ACTION_MODES:
            raise ValueError(f"action_mode must be one of {ACTION_MODES}, got {mode!r}")
        self.action_mode = mode
        # history[b, :length[b]] are the catalog rows played in session b, oldest first
        self._cap = 16
        self.history = np.full((self.num, self._cap), -1, dtype=np.int64)
        self.length = np.zeros(self.num, dtype=np.int64)
        self.candidates = np.zeros((self.num, 0), dtype=np.int64)
        # the best action now (for the current observation) and its expected reward, per session
        self.oracle_action = np.zeros(self.num, dtype=np.int64)
        self.oracle_reward = np.zeros(self.num)
        self._row0 = np.zeros(1, dtype=np.int64)
        #: keep oracle_action / oracle_reward / regret up to date (a training adapter that never reads
        #: them may switch this off: it saves the oracle's work on every step)
        self.track_oracle = True
        #: session 0 as a basic slice: the same (1, ...) shapes as ``_row0`` without fancy-index copies
        self._s0 = slice(0, 1)

    # ------------------------------------------------------------------ to implement
    n_actions: int
    observation_space: spaces.Box
    #: (N, d) features of every catalog track; in candidates mode the observation is
    #: ``[head (head_dim) | slot 1 features (d) | ... | slot k features (d)]``, in catalog mode ``[head]``
    item_features: np.ndarray
    head_dim: int
    index: CandidateIndex

    def _reset_rows(self, rng: np.random.Generator, rows: np.ndarray) -> None:
        raise NotImplementedError

    def _respond(self, rng: np.random.Generator, rows: np.ndarray, tracks: np.ndarray) -> dict[str, np.ndarray]:
        """Listener response to `tracks` and state update; returns reward components incl. ``reward``."""
        raise NotImplementedError

    def _update_candidates(self, rng: np.random.Generator, rows: np.ndarray) -> None:
        raise NotImplementedError

    def feedback_text(self, res: dict[str, Any]) -> str:
        """How the listener answered one step (a `step_one`-style result of Python scalars)."""
        if res["repeat"]:
            return "(repeat)"
        return f"reward {res['reward']:+.3f}"

    # ------------------------------------------------------------------ one-session fast path
    def step_one(self, rng: np.random.Generator, action: int) -> dict[str, Any] | None:
        """`step` for session 0 with Python scalars, or None where the batched `step` must run.

        A subclass that implements it must make exactly the random draws `step` makes, in the same
        order and shapes, so that the single env and the vector env stay interchangeable (a test
        compares them step by step). The result holds ``reward``, ``track``, ``regret``, ``repeat``,
        ``exhausted`` and the reward components, as Python numbers.
        """
        return None

    def observe_one(self) -> np.ndarray:
        """The observation of session 0."""
        return self.observe(self._row0)[0]

    def _push_one(self, track: int) -> None:
        length = int(self.length[0])
        if length + 1 > self._cap:
            self._push(self._row0, np.array([track]))
            return
        self.history[0, length] = track
        self.length[0] = length + 1

    def observe(self, rows: np.ndarray | None = None) -> np.ndarray:
        """(len(rows), obs_dim) float32 observations."""
        raise NotImplementedError

    def expected_reward(self, rows: np.ndarray, tracks: np.ndarray) -> np.ndarray:
        """Expected reward of playing `tracks` (one per row) now, given the hidden listener state."""
        raise NotImplementedError

    def oracle(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The best action now for each row given the hidden state, and its expected reward."""
        raise NotImplementedError

    # ------------------------------------------------------------------ shared mechanics
    def all_rows(self) -> np.ndarray:
        """Indices of every session."""
        return np.arange(self.num)

    def _push(self, rows: np.ndarray, tracks: np.ndarray) -> None:
        need = int(self.length[rows].max(initial=0)) + 1
        if need > self._cap:
            grow = max(need, 2 * self._cap)
            self.history = np.pad(self.history, ((0, 0), (0, grow - self._cap)), constant_values=-1)
            self._cap = grow
        self.history[rows, self.length[rows]] = tracks
        self.length[rows] += 1

    def reset(self, rng: np.random.Generator, rows: np.ndarray) -> None:
        """Start new sessions in `rows`."""
        self.history[rows] = -1
        self.length[rows] = 0
        self._reset_rows(rng, rows)
        self._update_candidates(rng, rows)
        if self.track_oracle:
            self.oracle_action[rows], self.oracle_reward[rows] = self.oracle(rows)

    def apply_options(self, rng: np.random.Generator, rows: np.ndarray, options: dict[str, Any]) -> None:
        """Apply ``env.reset(options=...)`` after `reset`.

        ``start_track`` (a catalog row) starts sessions `rows` from that track; the subclass's
        `_apply_user_options` sets the user's state; candidates and oracle are then recomputed.
        """
        unknown = sorted(set(options) - set(self.RESET_OPTIONS))
        if unknown:
            accepted = list(self.RESET_OPTIONS) or "none"
            raise ValueError(f"unknown reset option(s) {unknown}; this env accepts: {accepted}")
        if "start_track" in options:
            t = options["start_track"]
            if isinstance(t, bool) or not isinstance(t, (int, np.integer)) or not 0 <= t < self.n_tracks:
                raise ValueError(f"start_track must be a catalog row in [0, {self.n_tracks}), got {t!r}")
            self.history[rows, 0] = int(t)
        self._apply_user_options(rows, options)
        self._update_candidates(rng, rows)
        self.oracle_action[rows], self.oracle_reward[rows] = self.oracle(rows)

    def _apply_user_options(self, rows: np.ndarray, options: dict[str, Any]) -> None:
        """Set the hidden user's state from reset options (subclasses that accept any)."""

    def played(self, rows: np.ndarray) -> np.ndarray:
        """(len(rows), H) catalog rows played in each session, -1 padded to the longest of them."""
        return self.history[rows, : int(self.length[rows].max())]

    def exhausted(self, rows: np.ndarray) -> np.ndarray:
        """Sessions with no unplayed track left to offer (the episode terminates)."""
        if self.action_mode == "catalog":
            return self.length[rows] >= self.n_tracks
        return ~(self.candidates[rows] >= 0).any(1)

    def tracks_of(self, rows: np.ndarray, actions: np.ndarray) -> np.ndarray:
        """Catalog rows behind `actions` (slot indices, or catalog rows in catalog mode)."""
        if self.action_mode == "catalog":
            return actions.astype(np.int64)
        return self.candidates[rows, actions]

    def is_repeat(self, rows: np.ndarray, tracks: np.ndarray) -> np.ndarray:
        """Whether each track is already in its session (or is an empty slot, -1)."""
        if self.action_mode == "candidates":
            return tracks < 0  # candidate slots never hold played tracks: only an empty slot repeats
        return rowwise_isin(tracks[:, None], self.played(rows))[:, 0] | (tracks < 0)

    def action_mask(self, rows: np.ndarray) -> np.ndarray:
        """(len(rows), n_actions) bool: True where the action plays a track not yet in the session."""
        if self.action_mode == "catalog":
            mask = np.ones((len(rows), self.n_tracks), dtype=bool)
            for i, r in enumerate(rows):
                h = self.history[r, : self.length[r]]
                mask[i, h] = False
            return mask
        return self.candidates[rows] >= 0  # candidate slots never hold played tracks

    def step(self, rng: np.random.Generator, rows: np.ndarray, actions: np.ndarray) -> dict[str, np.ndarray]:
        """Advance sessions `rows` by one action each; returns reward, components and oracle figures."""
        actions = np.asarray(actions, dtype=np.int64)
        if actions.shape != rows.shape or actions.min(initial=0) < 0 or actions.max(initial=0) >= self.n_actions:
            bad = actions[(actions < 0) | (actions >= self.n_actions)] if actions.shape == rows.shape else actions
            raise ValueError(
                f"action out of range: {bad.tolist()[:5]}; the action space is Discrete({self.n_actions})"
                + (" (a candidate slot)" if self.action_mode == "candidates" else " (a catalog row)")
            )
        tracks = self.tracks_of(rows, actions)
        if self.track_oracle:
            oracle_reward = self.oracle_reward[rows]
            expected = self.expected_reward(rows, np.maximum(tracks, 0))
        else:
            oracle_reward = expected = np.full(len(rows), np.nan)
        repeat = self.is_repeat(rows, tracks)
        out: dict[str, np.ndarray] = {}
        fresh = ~repeat
        if fresh.all():
            out = self._respond(rng, rows, tracks)
            self._push(rows, tracks)
        else:
            # a repeat is penalised and changes nothing; every other session proceeds normally
            out = {"reward": np.full(len(rows), self.REPEAT_PENALTY, dtype=np.float64)}
            if fresh.any():
                part = self._respond(rng, rows[fresh], tracks[fresh])
                for key, val in part.items():
                    full = out.get(key)
                    if full is None:
                        full = np.zeros(len(rows), dtype=val.dtype)
                        out[key] = full
                    full[fresh] = val
                self._push(rows[fresh], tracks[fresh])
            expected = np.where(repeat, self.REPEAT_PENALTY, expected)
        self._update_candidates(rng, rows)
        if self.track_oracle:
            self.oracle_action[rows], self.oracle_reward[rows] = self.oracle(rows)
        out["repeat"] = repeat
        out["track"] = np.where(repeat, -1, tracks)
        out["regret"] = oracle_reward - expected
        return out


def best_slot(cand: np.ndarray, value: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The highest-valued non-empty slot per row and its value (0 where every slot is empty)."""
    value = np.where(cand >= 0, value, -np.inf)
    best = value.argmax(1)
    best_value = value[np.arange(len(cand)), best]
    return best, np.where(np.isfinite(best_value), best_value, 0.0).astype(np.float64)


class SlateCore(Core):
    """Base of the envs whose actions are k candidate slots or the whole catalog (Taste, Preference).

    Subclasses call `_setup_actions` with their shared index, and implement `expected_reward` for
    (R,) and (R, k) track arrays and `oracle_query` (the vector whose best inner-product / cosine
    match in the index is the best catalog track now).
    """

    TABLE_K: ClassVar[int] = 64

    def _setup_actions(self, index: CandidateIndex) -> None:
        self.index = index
        self.table = neighbour_table(index, self.TABLE_K)
        if self.action_mode == "candidates":
            self.k, self.n_random = validate_slots(self.params["k"], self.params["n_random"], self.n_tracks)
            self.n_actions = self.k
            self.candidates = np.full((self.num, self.k), -1, dtype=np.int64)
        else:
            self.k, self.n_random = 0, 0
            self.n_actions = self.n_tracks

    def oracle_query(self, rows: np.ndarray) -> np.ndarray:
        """(R, d) query for the exact catalog-mode oracle search."""
        raise NotImplementedError

    def _head(self, rows: np.ndarray) -> np.ndarray:
        """(R, head_dim) the part of the observation before the slots."""
        raise NotImplementedError

    def _respond_one(self, rng: np.random.Generator, track: int) -> dict[str, Any]:
        """`_respond` for session 0 and one track, with Python scalars."""
        raise NotImplementedError

    def observe(self, rows: np.ndarray | None = None) -> np.ndarray:
        """The head [+ every slot's item features, zeros for an empty slot]."""
        rows = self.all_rows() if rows is None else rows
        head = self._head(rows)
        if self.action_mode == "catalog":
            return head.astype(np.float32)
        cand = self.candidates[rows]
        feats = self.item_features[cand] * (cand >= 0)[:, :, None]
        return np.concatenate([head, feats.reshape(len(rows), -1)], axis=1, dtype=np.float32)

    def observe_one(self) -> np.ndarray:
        """The observation of session 0 (fast path)."""
        cand = self.candidates[0]
        if self.action_mode == "catalog" or cand.min() < 0:
            return self.observe(self._row0)[0]
        obs = np.empty(self.observation_space.shape[0], dtype=np.float32)
        obs[: self.head_dim] = self._head(self._s0)[0]
        obs[self.head_dim :] = self.item_features[cand].ravel()
        return obs

    def _random_one(self, rng: np.random.Generator, taken: set[int]) -> list[int]:
        """`random_fill` for one session: the same draws, as a list."""
        if not self.n_random:
            return []
        out = rng.integers(0, self.n_tracks, size=(1, self.n_random))[0]
        for _ in range(100):
            drawn = out.tolist()
            bad = [i for i, t in enumerate(drawn) if t in taken or t in drawn[:i]]
            if not bad:
                return out.tolist()
            out[bad] = rng.integers(0, self.n_tracks, size=len(bad))
        raise RuntimeError("could not draw distinct random tracks; the catalog is too small for this many slots")

    def step_one(self, rng: np.random.Generator, action: int) -> dict[str, Any] | None:
        """Scalar `step` of session 0 in candidates mode (see `Core.step_one`)."""
        if self.action_mode != "candidates":
            return None
        track = int(self.candidates[0, action])
        if track < 0:
            return None
        played = set(self.history[0, : int(self.length[0])].tolist())
        played.add(track)
        n_near = self.k - self.n_random
        near = [t for t in self.table[track].tolist() if t not in played][:n_near] if n_near else []
        if len(near) < n_near or self.n_tracks - len(played) - n_near < self.n_random:
            return None  # rare: the batched path searches the index / fills from what is left
        oracle_reward = float(self.oracle_reward[0])
        res = self._respond_one(rng, track)
        self._push_one(track)
        slate = np.array([near + self._random_one(rng, played.union(near))], dtype=np.int64)
        self.candidates[0] = rng.permuted(slate, axis=1)[0]
        value = self.expected_reward(self._s0, self.candidates[:1])[0]  # every slot is filled here
        best = int(value.argmax())
        self.oracle_action[0], self.oracle_reward[0] = best, value[best]
        res.update(track=track, regret=oracle_reward - res["reward"], repeat=False, exhausted=False)
        return res

    def _update_candidates(self, rng: np.random.Generator, rows: np.ndarray) -> None:
        if self.action_mode == "catalog":
            return
        current = self.history[rows, self.length[rows] - 1]
        hist = self.played(rows)
        self.candidates[rows] = nearest_plus_random(rng, self.index, self.table, current, hist, self.k, self.n_random)

    def oracle(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The greedy best unplayed slot, or (catalog mode) catalog track by exact index search."""
        if self.action_mode == "catalog":
            hist = self.played(rows)
            ids, _ = self.index.search(self.oracle_query(rows), 1, exclude=hist)
            best = ids[:, 0]
            return best, np.where(best >= 0, self.expected_reward(rows, np.maximum(best, 0)), 0.0)
        cand = self.candidates[rows]
        return best_slot(cand, self.expected_reward(rows, np.maximum(cand, 0)))


def validate_slots(k: Any, n_random: Any, n_tracks: int) -> tuple[int, int]:
    """Check the K (slots) and n_random arguments of a candidates-mode env."""
    if not isinstance(k, (int, np.integer)) or not 1 <= k <= n_tracks:
        raise ValueError(f"k (candidate slots) must be an integer from 1 to the catalog size {n_tracks}, got {k!r}")
    if not isinstance(n_random, (int, np.integer)) or not 0 <= n_random <= k:
        raise ValueError(f"n_random must be an integer from 0 to k={k}, got {n_random!r}")
    return int(k), int(n_random)


def unplayed_neighbours(
    index: CandidateIndex, table: np.ndarray, current: np.ndarray, history: np.ndarray, n: int
) -> np.ndarray:
    """The `n` nearest neighbours of each session's current track that it has not played yet.

    They come from the index's precomputed neighbour `table` (nearest first); for the sessions whose
    table row runs out, one batched search with per-row exclusion fills in.

    Args:
        index: the shared index `table` was built from.
        table: (N, T) neighbour table, ``index.neighbours(T)``.
        current: (B,) each session's current catalog row.
        history: (B, H) played rows per session (-1 padded).
        n: neighbours wanted per session.

    Returns:
        (B, n) catalog rows; -1 where the catalog has run out.
    """
    near = np.take(table, current, axis=0)
    ok = ~rowwise_isin(near, history)
    take = ok & (np.cumsum(ok, axis=1) <= n)
    short = take.sum(1) < n
    if not short.any():
        return near[take].reshape(len(current), n)
    out = np.full((len(current), n), -1, dtype=np.int64)
    full = ~short
    out[full] = near[full][take[full]].reshape(-1, n)
    r = np.flatnonzero(short)
    out[r], _ = index.search(index.vectors[current[r]], n, exclude=history[r])
    return out


def nearest_plus_random(
    rng: np.random.Generator,
    index: CandidateIndex,
    table: np.ndarray,
    current: np.ndarray,
    history: np.ndarray,
    k: int,
    n_random: int,
) -> np.ndarray:
    """The candidate rule of the slot-based envs; it never looks at the hidden user.

    For each session: the ``k - n_random`` tracks nearest to its last played track (see
    `unplayed_neighbours`), then ``n_random`` uniformly random catalog tracks for exploration, none of
    them already played or twice in the slate; the k slots are then shuffled by `rng`.

    Args:
        rng: the env's generator.
        index: the shared index to search.
        table: its neighbour table.
        current: (B,) each session's last played catalog row.
        history: (B, T) played rows per session (-1 padded), all excluded.
        k: slots per session.
        n_random: how many of them are random.

    Returns:
        (B, k) catalog rows; -1 where the catalog has run out.
    """
    n_near = k - n_random
    parts = []
    if n_near:
        parts.append(unplayed_neighbours(index, table, current, history, n_near))
    if n_random:
        taken = np.concatenate([history, *parts], axis=1) if parts else history
        if index.n - (taken >= 0).sum(1).max() >= n_random:
            parts.append(random_fill(rng, index.n, taken, n_random))
        else:  # nearly exhausted catalog: fill from what is left, in order
            rest, _ = index.search(index.vectors[current], n_random, exclude=taken)
            parts.append(rest)
    slate = np.concatenate(parts, axis=1) if len(parts) > 1 else parts[0]
    return rng.permuted(slate, axis=1)


def neighbour_table(index: CandidateIndex, width: int) -> np.ndarray:
    """The shared index's neighbour table of `width` columns (fewer for a tiny catalog)."""
    return index.neighbours(min(width, index.n - 1))


def random_fill(rng: np.random.Generator, n_tracks: int, taken: np.ndarray, width: int) -> np.ndarray:
    """(B, width) random catalog rows, distinct within a row and absent from that row of `taken`.

    Args:
        rng: the env's generator.
        n_tracks: catalog size.
        taken: (B, T) rows already used per session (-1 entries are ignored).
        width: how many to draw per row.
    """
    b = len(taken)
    out = rng.integers(0, n_tracks, size=(b, width))
    for _ in range(100):
        # bad: already taken, or equal to an earlier entry of the same row
        bad = rowwise_isin(out, taken) | np.triu(out[:, :, None] == out[:, None, :], 1).any(1)
        if not bad.any():
            return out
        out[bad] = rng.integers(0, n_tracks, size=int(bad.sum()))
    raise RuntimeError("could not draw distinct random tracks; the catalog is too small for this many slots")


def shared_index(catalog: Catalog, space: str) -> CandidateIndex:
    """The process-wide shared index of `catalog` in `space`."""
    return CandidateIndex.for_catalog(catalog, space)
