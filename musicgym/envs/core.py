"""The batched core every MusicGym environment is built on.

A `Core` holds B listening sessions as numpy arrays and advances all of them at once; the single env
(`musicgym.envs.base.MusicEnv`) runs a core with B = 1 and the native vector env
(`musicgym.envs.base.MusicVectorEnv`) one with B = num_envs, so both have exactly the same dynamics.

One step follows RecSim's order: the listener's response to the chosen track -> the listener state
update -> the candidate update -> the observation. Every random draw comes from the
``np.random.Generator`` handed in by the env (its ``np_random``).
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces

from musicgym.catalog import Catalog, load_catalog
from musicgym.checks import check_int
from musicgym.envs import kernels, slates
from musicgym.index import CandidateIndex
from musicgym.listeners.base import Listener

ACTION_MODES = ("candidates", "catalog")


def resolve_catalog(catalog: Any) -> Catalog:
    """`catalog` as a `Catalog`: a Catalog, a non-empty path or preset name, or a list of paths."""
    if isinstance(catalog, Catalog):
        return catalog
    if isinstance(catalog, (str, os.PathLike)):
        if not str(catalog).strip():
            raise ValueError("catalog must be a Catalog, a file or folder path, or a preset name; got an empty string")
        return load_catalog(catalog)
    if isinstance(catalog, (list, tuple)) and catalog and all(isinstance(c, (str, os.PathLike)) for c in catalog):
        return load_catalog(list(catalog))
    raise TypeError(f"catalog must be a Catalog, a path, a preset name or a list of paths, got {catalog!r} "
                    f"({type(catalog).__name__})")


class Core:
    """The batched dynamics of one env: B sessions as numpy arrays, one `Listener` for all of them.

    One step follows RecSim's order: the listener's response to the chosen track and the listener
    state update (`Listener.respond`, `Listener.update`) -> the session's history -> the candidate
    update -> the greedy oracle -> the observation. Every random draw comes from the generator the env
    hands in. A subclass is one environment: it sets `PARAMS` (its arguments and defaults), names its
    listeners (`LISTENERS`), and implements `_start_tracks`, `_update_candidates` and `observe`.

    Args:
        catalog: a `Catalog`, a path, or a preset name.
        num: number of sessions B.
        **params: the subclass's `PARAMS`; anything else is a TypeError naming the accepted arguments.
    """

    PARAMS: ClassVar[dict[str, Any]] = {}
    #: listener shortcut names -> the method that builds that listener from the params
    LISTENERS: ClassVar[dict[str, str]] = {}
    #: params that only configure the built-in listeners (refused beside a listener object)
    LISTENER_PARAMS: ClassVar[tuple[str, ...]] = ()
    #: reward given when an action would repeat a track already in the session (the step is spent,
    #: the track is not played again and the listener state does not change)
    REPEAT_PENALTY: ClassVar[float] = -1.0
    #: keys ``env.reset(options=...)`` accepts besides the listener's own (see `apply_options`)
    RESET_OPTIONS: ClassVar[tuple[str, ...]] = ()
    #: the core's per-session arrays besides the history (a snapshot saves them; subclasses add theirs)
    STATE: ClassVar[tuple[str, ...]] = ("length", "steps_taken", "candidates", "oracle_action", "oracle_reward")
    #: the env id named when the catalog lacks the audio features the env needs
    ENV_ID: ClassVar[str] = "MusicGym"

    # ------------------------------------------------------------------ to implement
    n_actions: int
    observation_space: spaces.Box
    #: (N, d) features of every catalog track; in candidates mode the observation is
    #: ``[head (head_dim) | slot 1 features (d) | ... | slot k features (d)]``, in catalog mode ``[head]``
    item_features: np.ndarray
    head_dim: int
    index: CandidateIndex

    def __init__(self, catalog: Any = "default", num: int = 1, **params: Any) -> None:
        unknown = sorted(set(params) - set(self.PARAMS))
        if unknown:
            raise TypeError(
                f"{self.env_name} env: unknown argument(s) {unknown}; "
                f"accepted: catalog, render_mode, {', '.join(self.PARAMS)}"
            )
        self.params = {**self.PARAMS, **params}
        if isinstance(num, (bool, np.bool_)) or not isinstance(num, (int, np.integer)) or num < 1:
            raise ValueError(f"num_envs must be a positive integer, got {num!r}")
        self.catalog = resolve_catalog(catalog)
        self.num = int(num)
        self.n_tracks = len(self.catalog)
        mode = self.params.get("action_mode", "candidates")
        if mode not in ACTION_MODES:
            raise ValueError(f"action_mode must be one of {ACTION_MODES}, got {mode!r}")
        self.action_mode = mode
        self.catalog.require_features(self.ENV_ID)
        need, what = self._min_tracks()
        self.catalog.require_tracks(need, f"{self.ENV_ID} with {what}" if what else self.ENV_ID)
        self.listener = self._make_listener()
        self.listener.setup(self.catalog, self.num)
        self.components: tuple[str, ...] = tuple(self.listener.components)
        self._listener_may_leave = type(self.listener).is_terminal is not Listener.is_terminal
        # history[b, :length[b]] are the catalog rows played in session b, oldest first
        self._cap = 16
        self.history = np.full((self.num, self._cap), -1, dtype=np.int64)
        self.length = np.zeros(self.num, dtype=np.int64)
        #: steps taken in each session's episode (a repeat is a step too)
        self.steps_taken = np.zeros(self.num, dtype=np.int64)
        self.candidates = np.zeros((self.num, 0), dtype=np.int64)
        # the best action now (for the current observation) and its expected reward, per session
        self.oracle_action = np.zeros(self.num, dtype=np.int64)
        self.oracle_reward = np.zeros(self.num)
        #: keep oracle_action / oracle_reward / regret up to date (a training loop that never reads
        #: them may switch this off with the vector env's ``oracle=False``: it saves work on every step)
        self.track_oracle = True
        #: the episode terminates once a session holds this many tracks (Playlist-v0's playlist length)
        self.length_limit = np.iinfo(np.int64).max

    @property
    def env_name(self) -> str:
        """The env's name for messages (``Playlist``)."""
        return type(self).__name__.removesuffix("Core")

    def _min_tracks(self) -> tuple[int, str]:
        """The fewest catalog tracks the env's arguments need, and the arguments that ask for them."""
        k = self.params.get("k")
        if self.action_mode == "candidates" and isinstance(k, (int, np.integer)) and not isinstance(k, bool):
            return max(2, int(k) + 1), f"k={k} candidate slots"
        return 2, ""

    # ------------------------------------------------------------------ the listener
    def _make_listener(self) -> Listener:
        """The listener object passed as ``listener=``, or the built-in one its shortcut name stands for."""
        value = self.params["listener"]
        if isinstance(value, Listener):
            changed = [k for k in self.LISTENER_PARAMS if self.params[k] != self.PARAMS[k]]
            if changed:
                raise TypeError(f"{self.env_name} env: {changed} configure the built-in listeners only; with "
                                f"listener={type(value).__name__}(...) set them on your listener object")
            return value
        names = tuple(self.LISTENERS)
        if not isinstance(value, str) or value not in self.LISTENERS:
            listed = ", ".join(repr(n) for n in names[:-1]) + f" or {names[-1]!r}" if len(names) > 1 else repr(names[0])
            raise ValueError(f"listener must be {listed} or a musicgym.listeners.Listener, got {value!r}")
        return getattr(self, self.LISTENERS[value])()

    # ------------------------------------------------------------------ to implement
    def _start_tracks(self, rng: np.random.Generator, rows: np.ndarray) -> np.ndarray:
        """(R,) or (R, S) tracks each new session starts with (drawn after the listener)."""
        if len(rows) == 1:  # the same number as a sized draw, at a quarter of the cost
            return np.array([rng.integers(0, self.n_tracks)])
        return rng.integers(0, self.n_tracks, size=len(rows))

    def _reset_rows(self, rows: np.ndarray) -> None:
        """Reset the env's own per-session state (e.g. the last feedback shown)."""

    def _record(self, rows: np.ndarray, tracks: np.ndarray, response: dict[str, np.ndarray]) -> None:
        """Keep what the observation shows of a response (e.g. the last percentage listened)."""

    def _update_candidates(self, rng: np.random.Generator, rows: np.ndarray) -> None:
        raise NotImplementedError

    def observe(self, rows: np.ndarray | None = None) -> np.ndarray:
        """(len(rows), obs_dim) float32 observations."""
        raise NotImplementedError

    # ------------------------------------------------------------------ shared mechanics
    def all_rows(self) -> np.ndarray:
        """Indices of every session."""
        return np.arange(self.num)

    def _push(self, rows: np.ndarray, tracks: np.ndarray) -> None:
        tracks = np.ascontiguousarray(tracks, dtype=np.int64)
        if not kernels.push(self.history, self.length, rows, tracks):  # a history is full: grow all of them
            self._grow_history()
            kernels.push(self.history, self.length, rows, tracks)

    def _grow_history(self) -> None:
        """Double every session's history capacity."""
        self._cap *= 2
        self.history = np.pad(self.history, ((0, 0), (0, self._cap - self.history.shape[1])), constant_values=-1)

    def reset(self, rng: np.random.Generator, rows: np.ndarray) -> None:
        """Start new sessions in `rows`: new listeners, then the starting tracks."""
        self.history[rows] = -1
        self.length[rows] = 0
        self.steps_taken[rows] = 0
        self.listener.sample(rng, rows)
        start = self.listener.initial_tracks(rows)
        if start is None:
            start = self._start_tracks(rng, rows)
        start = np.asarray(start, dtype=np.int64).reshape(len(rows), -1)
        for j in range(start.shape[1]):
            self._push(rows, start[:, j])
        self.listener.start(rows, start)
        self._reset_rows(rows)
        self._update_candidates(rng, rows)
        self._update_oracle(rows)

    def state_dict(self) -> dict[str, Any]:
        """A snapshot of every session: history, the core's arrays and the listener's state (copies)."""
        out: dict[str, Any] = {"history": self.history.copy()}
        out.update({k: np.array(getattr(self, k), copy=True) for k in self.STATE})
        out["listener"] = self.listener.state_dict()
        return out

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a `state_dict` snapshot of a core with the same catalog, arguments and sessions."""
        history = np.asarray(state["history"], dtype=np.int64)
        if history.shape[0] != self.num:
            raise ValueError(f"snapshot of {history.shape[0]} sessions, this env has {self.num}")
        self.history, self._cap = history.copy(), history.shape[1]
        for k in self.STATE:
            value = np.asarray(state[k])
            current = getattr(self, k)
            if value.shape != np.shape(current):
                raise ValueError(f"snapshot: {k} has shape {value.shape}, expected {np.shape(current)}")
            current[...] = value
        self.listener.load_state_dict(state["listener"])

    def copy_sessions(self, src: Core, src_row: int, rows: np.ndarray) -> None:
        """Make sessions `rows` copies of session `src_row` of `src` (a core of the same env and catalog)."""
        if src.history.shape[1] > self._cap:
            self._cap = src.history.shape[1]
            self.history = np.full((self.num, self._cap), -1, dtype=np.int64)
        self.history[rows] = -1
        self.history[rows, : src.history.shape[1]] = src.history[src_row]
        for k in self.STATE:
            getattr(self, k)[rows] = getattr(src, k)[src_row]
        for k in self.listener.state_attributes:
            getattr(self.listener, k)[rows] = getattr(src.listener, k)[src_row]

    def make_planner(self, horizon: int | None) -> Any:
        """The planner of this env (`musicgym.envs.planner`); `horizon`: steps per episode (the time limit)."""
        from musicgym.envs.planner import RolloutPlanner

        if horizon is None:
            raise ValueError(f"{self.env_name} env: plan=True needs plan_horizon (the episode's steps, e.g. the "
                             "id's max_episode_steps)")
        return RolloutPlanner(self, horizon)

    def reset_options(self) -> tuple[str, ...]:
        """The keys ``env.reset(options=...)`` accepts: the env's and its listener's."""
        return (*self.RESET_OPTIONS, *self.listener.reset_options)

    def apply_options(self, rng: np.random.Generator, rows: np.ndarray, options: dict[str, Any]) -> None:
        """Apply ``env.reset(options=...)`` after `reset`.

        ``start_track`` (a catalog row) starts sessions `rows` from that track; the listener's options
        (`Listener.set_options`) set its state; candidates and oracle are then recomputed.
        """
        accepted = self.reset_options()
        unknown = sorted(set(options) - set(accepted))
        if unknown:
            raise ValueError(f"unknown reset option(s) {unknown}; this env accepts: {list(accepted) or 'none'}")
        if "start_track" in options:
            t = options["start_track"]
            if isinstance(t, (bool, np.bool_)) or not isinstance(t, (int, np.integer)) or not 0 <= t < self.n_tracks:
                raise ValueError(f"start_track must be a catalog row in [0, {self.n_tracks}), got {t!r}")
            self.history[rows, 0] = int(t)
        self.listener.set_options(rows, {k: v for k, v in options.items() if k in self.listener.reset_options})
        self._update_candidates(rng, rows)
        self._update_oracle(rows)

    def played(self, rows: np.ndarray) -> np.ndarray:
        """(len(rows), H) catalog rows played in each session, -1 padded to the longest of them."""
        return self.history[rows, : kernels.max_length(self.length, rows)]

    def terminated(self, rows: np.ndarray) -> np.ndarray:
        """Sessions whose episode has ended: nothing left, `length_limit` tracks played, or the listener left."""
        out = np.empty(rows.shape[0], dtype=np.bool_)
        kernels.ended(self.candidates, self.length, rows, self.action_mode == "catalog", self.n_tracks,
                      self.length_limit, out)
        if self._listener_may_leave:
            out |= self.listener.is_terminal(rows)
        return out

    def select(self, rows: np.ndarray, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
        """The catalog rows behind `actions`, whether each repeats a track of its session, and whether any does.

        Actions are slots (or catalog rows in catalog mode); an empty slot (-1) counts as a repeat. An
        action outside the action space is a ValueError.
        """
        actions = np.asarray(actions, dtype=np.int64)
        tracks = np.empty(rows.shape[0], dtype=np.int64)
        repeat = np.empty(rows.shape[0], dtype=np.bool_)
        status = -3 if actions.shape != rows.shape else kernels.select(
            self.candidates, self.history, self.length, rows, actions, self.n_actions,
            self.action_mode == "catalog", tracks, repeat)  # fmt: skip
        if status >= 0 or status == -3:
            shown = actions[(actions < 0) | (actions >= self.n_actions)] if status >= 0 else actions
            raise ValueError(
                f"action out of range: {shown.tolist()[:5]}; the action space is Discrete({self.n_actions})"
                + (" (a candidate slot)" if self.action_mode == "candidates" else " (a catalog row)")
            )
        return tracks, repeat, status == -2

    def action_mask(self, rows: np.ndarray) -> np.ndarray:
        """(len(rows), n_actions) bool: True where the action plays a track not yet in the session."""
        if self.action_mode == "catalog":
            return kernels.action_mask(self.history, self.length, rows, self.n_tracks)
        return self.candidates[rows] >= 0  # candidate slots never hold played tracks

    def expected_reward(self, rows: np.ndarray, tracks: np.ndarray) -> np.ndarray:
        """Expected reward of playing `tracks` (one per row, or (R, K)) now, given the hidden listener."""
        return self.listener.expected_reward(rows, tracks)

    def oracle(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The greedy best action now for each row given the hidden listener, and its expected reward."""
        self._update_oracle(rows, force=True)
        return self.oracle_action[rows], self.oracle_reward[rows]

    def _update_oracle(self, rows: np.ndarray, force: bool = False) -> None:
        if not (self.track_oracle or force):
            return
        if not self.listener.has_expectation:
            self.oracle_action[rows], self.oracle_reward[rows] = 0, np.nan
        elif self.action_mode == "catalog":
            self.oracle_action[rows], self.oracle_reward[rows] = self.listener.best_tracks(rows, self.played(rows))
        else:
            tracks = np.empty((rows.shape[0], self.candidates.shape[1]), dtype=np.int64)
            kernels.slot_tracks(self.candidates, rows, tracks)
            value = self.listener.expected_reward(rows, tracks)
            kernels.best_slot(self.candidates, rows, np.asarray(value, dtype=np.float64), self.oracle_action,
                              self.oracle_reward)

    def step_observe(self, rng: np.random.Generator, rows: np.ndarray,
                     actions: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """`step`, then `observe` of the same rows (a subclass may do both at once)."""
        out = self.step(rng, rows, actions)
        return out, self.observe(rows)

    def step_reset_observe(self, rng: np.random.Generator, rows: np.ndarray, actions: np.ndarray,
                           done: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """`step` of `rows`, then `reset` of `done` (other rows), then `observe` of every session (in row order).

        The vector env's step where some sessions ended at the last step. A subclass may do it faster; the
        trajectories must stay those of the three calls in turn.
        """
        out = self.step(rng, rows, actions)
        self.reset(rng, done)
        return out, self.observe(self.all_rows())

    def step(self, rng: np.random.Generator, rows: np.ndarray, actions: np.ndarray) -> dict[str, np.ndarray]:
        """Advance sessions `rows` by one action each.

        Returns:
            (R,) arrays: ``reward``, the listener's components, ``repeat``, ``track`` (-1 for a
            repeat), ``regret`` (the greedy oracle's expected reward minus the action's, NaN where
            unknown or the oracle is off) and ``terminated``.
        """
        tracks, repeat, any_repeat = self.select(rows, actions)
        if self.track_oracle and self.listener.has_expectation:
            oracle_reward = self.oracle_reward[rows]
            expected = self.listener.expected_reward(rows, np.maximum(tracks, 0) if any_repeat else tracks)
        else:
            oracle_reward = expected = np.full(len(rows), np.nan)
        if not any_repeat:
            out = self.listener.respond(rng, rows, tracks)
            self.listener.update(rows, tracks, out)
            self._push(rows, tracks)
            self._record(rows, tracks, out)
        else:
            # a repeat is penalised and changes nothing; every other session proceeds normally
            out = {"reward": np.full(len(rows), self.REPEAT_PENALTY, dtype=np.float64)}
            fresh = ~repeat
            if fresh.any():
                rf, tf = rows[fresh], tracks[fresh]
                part = self.listener.respond(rng, rf, tf)
                self.listener.update(rf, tf, part)
                for key, val in part.items():
                    val = np.asarray(val)
                    full = out.get(key)
                    if full is None:
                        full = np.zeros(len(rows), dtype=val.dtype)
                        out[key] = full
                    full[fresh] = val
                self._push(rf, tf)
                self._record(rf, tf, part)
            expected = np.where(repeat, self.REPEAT_PENALTY, expected)
            tracks = np.where(repeat, -1, tracks)
        self._update_candidates(rng, rows)
        self._update_oracle(rows)
        self.steps_taken[rows] += 1
        out["repeat"] = repeat
        out["track"] = tracks
        out["regret"] = oracle_reward - expected
        out["terminated"] = self.terminated(rows)
        return out


class SlateCore(Core):
    """Base of the envs whose actions are k candidate slots or the whole catalog (Taste, Preference).

    Subclasses call `_setup_actions` with their shared index and implement `_head` (the part of the
    observation before the slots).
    """

    TABLE_K: ClassVar[int] = 64

    def _setup_actions(self, index: CandidateIndex) -> None:
        self.index = index
        self.table = neighbour_table(index, self.TABLE_K)
        if self.action_mode == "candidates":
            self.k, self.n_random = validate_slots(self.params["k"], self.params["n_random"], self.n_tracks)
            self.n_actions = self.k
            self.candidates = np.full((self.num, self.k), -1, dtype=np.int64)
        else:  # catalog mode has no slots, but a bad k or n_random is still an error, not ignored (any
            # catalog size: the slots are not filled here)
            validate_slots(self.params["k"], self.params["n_random"], None)
            self.k, self.n_random = 0, 0
            self.n_actions = self.n_tracks

    def _head(self, rows: np.ndarray) -> np.ndarray:
        """(R, head_dim) the part of the observation before the slots."""
        raise NotImplementedError

    def observe(self, rows: np.ndarray | None = None) -> np.ndarray:
        """The head [+ every slot's item features, zeros for an empty slot]."""
        rows = self.all_rows() if rows is None else rows
        head = self._head(rows)
        if self.action_mode == "catalog":
            return head.astype(np.float32)
        obs = np.empty((len(rows), self.observation_space.shape[0]), dtype=np.float32)
        obs[:, : self.head_dim] = head
        kernels.slot_features(self.item_features, self.candidates, rows, obs, self.head_dim)
        return obs

    def _update_candidates(self, rng: np.random.Generator, rows: np.ndarray) -> None:
        if self.action_mode == "catalog":
            return
        self.candidates[rows] = nearest_plus_random(rng, self.index, self.table, self.history, self.length, rows,
                                                    self.k, self.n_random)


def validate_slots(k: Any, n_random: Any, n_tracks: int | None) -> tuple[int, int]:
    """Check the K (slots, at most `n_tracks` where given) and n_random arguments."""
    k = check_int("k", k, 1, n_tracks, what="candidate slots")
    return k, check_int("n_random", n_random, 0, k, hi_name="k")


def unplayed_neighbours(
    index: CandidateIndex, table: np.ndarray, history: np.ndarray, length: np.ndarray, rows: np.ndarray, n: int
) -> np.ndarray:
    """The `n` nearest neighbours of each session's current track that it has not played yet.

    They come from the index's precomputed neighbour `table` (nearest first); for the sessions whose
    table row runs out, one batched search with per-row exclusion fills in.

    Args:
        index: the shared index `table` was built from.
        table: (N, T) neighbour table, ``index.neighbours(T)``.
        history: (B, H) played rows per session (-1 padded); the current track is the last one.
        length: (B,) tracks played per session.
        rows: (R,) the sessions concerned.
        n: neighbours wanted per session.

    Returns:
        (R, n) catalog rows; -1 where the catalog has run out.
    """
    out = np.empty((len(rows), n), dtype=np.int64)
    short = np.empty(len(rows), dtype=np.bool_)
    if kernels.unplayed_near(table, history, length, rows, n, out, short):
        out[short] = fill_short_rows(index, history, length, rows[short], n)
    return out


def fill_short_rows(index: CandidateIndex, history: np.ndarray, length: np.ndarray, rows: np.ndarray,
                    n: int) -> np.ndarray:
    """(R, n) the `n` nearest unplayed tracks of sessions `rows` by an index search (where the table ran out)."""
    current = kernels.current_tracks(history, length, rows)
    played = history[rows, : int(length[rows].max())]
    return index.search(index.vectors[current], n, exclude=played)[0]


def nearest_plus_random(
    rng: np.random.Generator,
    index: CandidateIndex,
    table: np.ndarray,
    history: np.ndarray,
    length: np.ndarray,
    rows: np.ndarray,
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
        history: (B, H) played rows per session (-1 padded), all excluded.
        length: (B,) tracks played per session.
        rows: (R,) the sessions concerned.
        k: slots per session.
        n_random: how many of them are random.

    Returns:
        (R, k) catalog rows; -1 where the catalog has run out.
    """
    n_near = k - n_random
    near = unplayed_neighbours(index, table, history, length, rows, n_near) if n_near else np.zeros((len(rows), 0),
                                                                                                    dtype=np.int64)
    if not n_random:
        return rng.permuted(near, axis=1)
    most_taken = kernels.max_length(length, rows) + n_near
    if most_taken > index.n - n_random:  # only near the catalog's end: count exactly
        most_taken = int((length[rows] + (near >= 0).sum(1)).max())
    if index.n - most_taken >= n_random:
        rand = random_fill(rng, index.n, history, length, rows, near, n_random)
    else:  # nearly exhausted catalog: fill from what is left, in order
        taken = np.concatenate([history[rows, : int(length[rows].max())], near], axis=1)
        rand, _ = index.search(index.vectors[kernels.current_tracks(history, length, rows)], n_random, exclude=taken)
    slate = np.concatenate([near, rand], axis=1) if n_near else rand
    return rng.permuted(slate, axis=1)


def neighbour_table(index: CandidateIndex, width: int) -> np.ndarray:
    """The shared index's neighbour table of `width` columns (fewer for a tiny catalog)."""
    return index.neighbours(min(width, index.n - 1))


def random_fill(
    rng: np.random.Generator, n_tracks: int, history: np.ndarray, length: np.ndarray, rows: np.ndarray,
    taken: np.ndarray, width: int,
) -> np.ndarray:
    """(R, width) random catalog rows, distinct within a row, not played and absent from that row of `taken`.

    Draws all, then redraws every bad draw, up to 100 rounds; what is still bad then (a small catalog
    nearly played through) is completed exactly (`slates.completion_bounds`: one draw per entry among the
    tracks free for it), as the fused kernels do (`slates.complete_random`).

    Args:
        rng: the env's generator.
        n_tracks: catalog size.
        history: (B, H) played rows per session.
        length: (B,) tracks played per session.
        rows: (R,) the sessions concerned.
        taken: (R, T) rows already used per session besides its history (-1 entries are ignored).
        width: how many to draw per row.
    """
    out = rng.integers(0, n_tracks, size=(len(rows), width))
    for _ in range(100):
        # bad: already played or taken, or equal to an earlier entry of the same row
        bad = kernels.bad_draws(out, history, length, rows, taken)
        if not bad.any():
            return out
        out[bad] = rng.integers(0, n_tracks, size=int(bad.sum()))
    # still bad after 100 rounds (a small catalog nearly played through): complete exactly, one draw each
    bad, bounds = slates.completion_bounds(out, history, length, rows, taken, n_tracks)
    if (bounds == 0).any():
        raise no_free_track(n_tracks, taken.shape[1] + width, width)
    picks = np.array([rng.integers(0, b) for b in bounds.tolist()], dtype=np.int64)
    slates.complete(out, bad, history, length, rows, taken, n_tracks, picks)
    return out


def no_free_track(n_tracks: int, k: int, n_random: int) -> ValueError:
    """The error where a random slot has no free track left (the callers' counts rule it out)."""
    return ValueError(f"no free track left for a random slot: a catalog of {n_tracks} tracks, k={k}, "
                      f"n_random={n_random}")


def shared_index(catalog: Catalog, space: str) -> CandidateIndex:
    """The process-wide shared index of `catalog` in `space`."""
    return CandidateIndex.for_catalog(catalog, space)
