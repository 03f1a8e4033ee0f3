"""``MusicGym/Taste-v0`` and ``MusicGym/TasteCatalog-v0``: the cosine-similarity taste env of the DQN project."""

from __future__ import annotations

from typing import Any, ClassVar

import numba
import numpy as np
from gymnasium import spaces

from musicgym.catalog import Catalog
from musicgym.checks import check_int
from musicgym.envs import draws, kernels, lookup, slates
from musicgym.envs.base import MusicEnv, MusicVectorEnv
from musicgym.envs.core import SlateCore, no_free_track, shared_index
from musicgym.envs.fused import FusedSteps
from musicgym.listeners import Listener, TasteUser
from musicgym.listeners import taste as _tl

TASTE_DIM = 9

# ---------------------------------------------------------------------------------------------------- fused step
# One step (or reset) of Taste-v0 in candidates mode with its built-in `TasteUser` in one kernel call:
# the same kernels as the step by parts (`Core.step`, `Core.reset`), called in the same order from numba,
# with the generator's draws made through `musicgym.envs.draws` (the same numbers as the NumPy calls of
# the step by parts). cfg holds the integer settings (`_C_*`); resp the reward, the cosine and the regret
# (`_R_*`); flags whether each step terminated.
_C_ORACLE, _C_OBS, _C_WINDOW, _C_RANDOM, _C_INDEX_N, _C_N_TRACKS, _C_LIMIT = range(7)
_R_REWARD, _R_COSINE, _R_REGRET = range(3)
#: status of the fused kernels besides `slates`' (DONE, BY_PARTS: the slates by `nearest_plus_random`, then
#: `_fused_finish`; NO_RANDOM): an action is out of range or an empty slot (nothing done: take the step by
#: parts); a history is full (nothing done: grow it, call again)
_STEP_BY_PARTS, _FULL = -2, -4


@numba.njit(cache=True, nogil=True)
def _fused_finish(rows, cfg, stepping, history, length, steps_taken, candidates, oracle_action, oracle_reward,
                  state, unit_state, taste, unit_taste, terminated, obs):  # noqa: D103 (a kernel)
    """The step's (or reset's) end once the slates are known: the oracle, (`stepping`) step counts and ends, obs."""
    n = rows.shape[0]
    if cfg[_C_ORACLE]:
        tracks = np.empty((n, candidates.shape[1]), dtype=np.int64)
        kernels.slot_tracks(candidates, rows, tracks)
        value = np.empty((n, candidates.shape[1]))
        _tl._cosine(unit_state, unit_taste, rows, tracks, value)
        kernels.best_slot(candidates, rows, value, oracle_action, oracle_reward)
    if stepping:
        for i in range(n):
            steps_taken[rows[i]] += 1
        kernels.ended(candidates, length, rows, False, cfg[_C_N_TRACKS], cfg[_C_LIMIT], terminated)
    if cfg[_C_OBS]:
        for i in range(n):
            for m in range(TASTE_DIM):
                obs[i, m] = state[rows[i], m]
        kernels.slot_features(taste, candidates, rows, obs, TASTE_DIM)


@numba.njit(cache=True, nogil=True)
def _fused_step(rows, actions, ptrs, cfg, history, length, steps_taken, candidates, oracle_action, oracle_reward,
                recent, count, state, unit_state, taste, unit_taste, table, resp, tracks, terminated,
                obs):  # noqa: D103 (a kernel)
    """`Core.step` (and `observe` into `obs` where ``cfg[_C_OBS]``) for actions that all play a track.

    Returns `_STEP_BY_PARTS` or `_FULL` (nothing done, nothing drawn), or the slates' status: `slates.DONE`
    (the step is done), `slates.BY_PARTS` (the caller makes the slates, then `_fused_finish`) or
    `slates.NO_RANDOM`.
    """
    n = rows.shape[0]
    repeat = np.empty(n, dtype=np.bool_)
    if kernels.select(candidates, history, length, rows, actions, candidates.shape[1], False, tracks, repeat) != -1:
        return _STEP_BY_PARTS
    for i in range(n):
        if length[rows[i]] >= history.shape[1]:
            return _FULL
    regret = resp[_R_REGRET]
    if cfg[_C_ORACLE]:
        _tl._cosine(unit_state, unit_taste, rows, tracks, regret)
        for i in range(n):
            regret[i] = oracle_reward[rows[i]] - regret[i]
    else:
        regret[:] = np.nan
    reward = resp[_R_REWARD]
    _tl._cosine(unit_state, unit_taste, rows, tracks, reward)
    for i in range(n):
        resp[_R_COSINE, i] = reward[i] + 0.5
    _tl._push_window(recent, count, state, unit_state, taste, rows, tracks, cfg[_C_WINDOW])
    kernels.push(history, length, rows, tracks)
    status = slates.fill_slates(draws.bitgen(ptrs), table, history, length, rows, cfg[_C_INDEX_N],
                                cfg[_C_RANDOM], candidates)
    if status == slates.DONE:
        _fused_finish(rows, cfg, True, history, length, steps_taken, candidates, oracle_action, oracle_reward,
                      state, unit_state, taste, unit_taste, terminated, obs)
    return status


@numba.njit(cache=True, nogil=True)
def _fused_reset(rows, ptrs, cfg, group_rows, group_start, history, length, steps_taken, candidates, oracle_action,
                 oracle_reward, recent, count, state, unit_state, taste, unit_taste, table, obs):  # noqa: D103
    """`Core.reset` (the start tracks by `TasteCore._start_tracks`'s draws); returns the slates' status.

    The start groups are ``group_rows[group_start[g]:group_start[g + 1]]``; each must take Floyd's
    algorithm in ``rng.choice`` (`draws.floyd_applies`) and the history must hold `window` tracks.
    """
    n = rows.shape[0]
    window = cfg[_C_WINDOW]
    for i in range(n):
        r = rows[i]
        history[r, :] = -1
        length[r] = 0
        steps_taken[r] = 0
    bg = draws.bitgen(ptrs)
    group = np.empty(n, dtype=np.int64)
    for i in range(n):
        group[i] = draws.below(bg, group_start.shape[0] - 1)
    start = np.empty((window, n), dtype=np.int64)  # column j: each row's j-th start track
    pick = np.empty(window, dtype=np.int64)
    for i in range(n):
        lo = group_start[group[i]]
        draws.choice_distinct(bg, group_start[group[i] + 1] - lo, pick)
        for j in range(window):
            start[j, i] = group_rows[lo + pick[j]]
    for j in range(window):
        kernels.push(history, length, rows, start[j])
    for i in range(n):  # `TasteUser.start`
        count[rows[i]] = 0
    for j in range(window):
        _tl._push_window(recent, count, state, unit_state, taste, rows, start[j], window)
    status = slates.fill_slates(bg, table, history, length, rows, cfg[_C_INDEX_N], cfg[_C_RANDOM],
                                candidates)
    if status == slates.DONE:
        _fused_finish(rows, cfg, False, history, length, steps_taken, candidates, oracle_action, oracle_reward,
                      state, unit_state, taste, unit_taste, np.empty(0, dtype=np.bool_), obs)
    return status


class TasteCore(FusedSteps, SlateCore):
    """Batched dynamics of Taste-v0 (see `TasteEnv` for the specification)."""

    ENV_ID: ClassVar[str] = "MusicGym/Taste-v0"
    PARAMS: ClassVar[dict[str, Any]] = {
        "action_mode": "candidates", "k": 20, "n_random": 5, "window": 5, "listener": "taste",
    }  # fmt: skip
    LISTENERS: ClassVar[dict[str, str]] = {"taste": "_taste_listener"}
    LISTENER_PARAMS: ClassVar[tuple[str, ...]] = ()

    def __init__(self, catalog: Catalog | str = "default", num: int = 1, **params: Any) -> None:
        p = {**self.PARAMS, **params}
        self.window = check_int("window", p["window"], 1, None)
        super().__init__(catalog, num, **params)
        if self.window >= self.n_tracks:
            raise ValueError(f"window must be an integer from 1 to {self.n_tracks - 1}, got {self.window}")
        if self.listener.observation_dim != TASTE_DIM:
            raise ValueError(f"Taste-v0 observes the listener's taste state: {type(self.listener).__name__}.observe "
                             f"must give {TASTE_DIM} values (observation_dim), not {self.listener.observation_dim}")
        self._setup_actions(shared_index(self.catalog, "taste"))
        self.item_features = self.catalog.taste_features
        self.head_dim = TASTE_DIM
        genre = self.catalog.tracks["genre"].to_numpy()
        groups = [np.flatnonzero(genre == g) for g in np.unique(genre) if g]
        self._start_groups = [g for g in groups if len(g) >= self.window] or [np.arange(self.n_tracks)]
        dim = TASTE_DIM * (1 + self.k)
        self.observation_space = spaces.Box(0.0, 1.0, shape=(dim,), dtype=np.float32)
        # the fused step and reset (`_fused_step`, `_fused_reset`): candidates mode with the built-in listener;
        # the kernels read the taste features in C order and the table as int32 (the same values)
        self._fused = self.action_mode == "candidates" and type(self.listener) is TasteUser
        if self._fused:
            self._taste_c = lookup.taste_c(self.catalog)
            self._table_k = lookup.table32(self.index, self.table)  # int32 up to lookup.TABLE32_MAX_BYTES
        self._cfg = np.zeros(7, dtype=np.int64)
        self._cfg[[_C_WINDOW, _C_RANDOM, _C_INDEX_N, _C_N_TRACKS]] = (self.window, self.n_random, self.index.n,
                                                                       self.n_tracks)
        self._no_obs = np.empty((0, dim), dtype=np.float32)
        self._group_rows = np.concatenate(self._start_groups).astype(np.int64)
        self._group_start = np.cumsum([0, *map(len, self._start_groups)]).astype(np.int64)
        #: `_fused_reset` applies: every start group draws by Floyd's algorithm
        self._fused_reset_ok = all(draws.floyd_applies(len(g), self.window) for g in self._start_groups)

    def _min_tracks(self) -> tuple[int, str]:
        need, what = super()._min_tracks()
        w = self.params["window"]
        if isinstance(w, (int, np.integer)) and not isinstance(w, bool) and w + 1 > need:
            return int(w) + 1, f"window={w}"
        return need, what

    def _taste_listener(self) -> Listener:
        return TasteUser(self.window)

    def _start_tracks(self, rng: np.random.Generator, rows: np.ndarray) -> np.ndarray:
        """`window` distinct tracks of one random genre per session."""
        start = np.empty((len(rows), self.window), dtype=np.int64)
        for i, g in enumerate(rng.integers(0, len(self._start_groups), size=len(rows))):
            start[i] = rng.choice(self._start_groups[g], size=self.window, replace=False)
        return start

    def _head(self, rows: np.ndarray) -> np.ndarray:
        """The taste state (the listener's observable state)."""
        return self.listener.observe(rows)

    # ------------------------------------------------------------------ the fused step and reset
    def _set_cfg(self, obs: bool) -> None:
        cfg = self._cfg
        cfg[_C_ORACLE], cfg[_C_OBS], cfg[_C_LIMIT] = self.track_oracle, obs, self.length_limit

    def reset(self, rng: np.random.Generator, rows: np.ndarray) -> None:
        """`Core.reset`; in one kernel call with the built-in listener (`_fused_reset`)."""
        ptrs = self._pointers(rng) if self._fused and self._fused_reset_ok else None
        if ptrs is None or self.window > self.history.shape[1]:
            super().reset(rng, rows)
            return
        rows = np.asarray(rows, dtype=np.int64)
        self._set_cfg(False)
        lis = self.listener
        status = _fused_reset(rows, ptrs, self._cfg, self._group_rows, self._group_start, self.history, self.length,
                              self.steps_taken, self.candidates, self.oracle_action, self.oracle_reward, lis.recent,
                              lis.count, lis._state, lis._unit_state, self._taste_c, lis.unit_taste, self._table_k,
                              self._no_obs)
        self._after_slates(rng, rows, status, False, np.empty(0, dtype=np.bool_), self._no_obs)

    def _step_fused(self, rng: np.random.Generator, rows: np.ndarray, actions: np.ndarray, ptrs: np.ndarray,
                    obs: np.ndarray | None) -> dict[str, np.ndarray] | None:
        """The step by `_fused_step` (the observation into `obs`); None (nothing done): go by parts."""
        n = rows.shape[0]
        resp = np.empty((3, n))
        track = np.empty(n, dtype=np.int64)
        terminated = np.empty(n, dtype=np.bool_)
        self._set_cfg(obs is not None)
        obs = self._no_obs if obs is None else obs
        lis = self.listener
        while True:
            status = _fused_step(rows, actions, ptrs, self._cfg, self.history, self.length, self.steps_taken,
                                 self.candidates, self.oracle_action, self.oracle_reward, lis.recent, lis.count,
                                 lis._state, lis._unit_state, self._taste_c, lis.unit_taste, self._table_k, resp,
                                 track, terminated, obs)
            if status != _FULL:
                break
            self._grow_history()
        if status == _STEP_BY_PARTS:
            return None
        self._after_slates(rng, rows, status, True, terminated, obs)
        return {"reward": resp[_R_REWARD], "cosine": resp[_R_COSINE], "repeat": np.zeros(n, dtype=np.bool_),
                "track": track, "regret": resp[_R_REGRET], "terminated": terminated}

    def _after_slates(self, rng: np.random.Generator, rows: np.ndarray, status: int, stepping: bool,
                      terminated: np.ndarray, obs: np.ndarray) -> None:
        """Where the kernel left the slates to `nearest_plus_random` (`slates.BY_PARTS`): them, then `_fused_finish`."""
        if status == slates.NO_RANDOM:
            raise no_free_track(self.index.n, self.k, self.n_random)
        if status == slates.BY_PARTS:
            self._update_candidates(rng, rows)
            lis = self.listener
            _fused_finish(rows, self._cfg, stepping, self.history, self.length, self.steps_taken, self.candidates,
                          self.oracle_action, self.oracle_reward, lis._state, lis._unit_state, self._taste_c,
                          lis.unit_taste, terminated, obs)


class TasteEnv(MusicEnv):
    """Recommend tracks that match a listener's current taste: the mean of the last 5 tracks.

    ## Description
    The setting of the DQN project: a listener's taste is the mean of the 9 taste features of the
    last 5 tracks played; a recommendation is rewarded by its cosine similarity with that taste, and
    the played track then becomes part of it, so the taste drifts with what is played.

    ## Action Space
    ``action_mode="candidates"`` (default, ``Taste-v0``): ``Discrete(k)`` (k = 20) slots, filled by a
    rule that never looks at the reward: the ``k - n_random`` tracks most similar (cosine, shared
    FAISS index, from its precomputed 64-neighbour table) to the last track played, plus
    ``n_random`` = 5 random catalog tracks for exploration, none already played, in an order
    shuffled by the env's RNG.
    ``action_mode="catalog"`` (``TasteCatalog-v0``, the project's own setting): ``Discrete(N)``, any
    catalog track. Playing a track already in the episode (only possible in catalog mode, masked in
    ``info["action_mask"]`` and ``action_masks()``) is penalised with reward -1 and changes nothing.

    ## Observation Space
    The taste state (9 features, each min-max scaled to [0, 1] over the catalog, so loudness and
    tempo do not dominate cosines), then in candidates mode the k slots' taste vectors (zeros for an
    empty slot): ``Box(0, 1, (9 * (1 + k),), float32)``; in catalog mode ``Box(0, 1, (9,))``.

    ## Rewards
    ``cosine(track, state) - 0.5`` (centred as the project did): in [-0.5, 0.5].
    ``info["rewards"]["cosine"]`` is the uncentred similarity.

    ## Starting State
    5 distinct tracks drawn from one random genre of the catalog (from the whole catalog if it has
    no genres) are played; the state is their mean.

    ## Episode End
    Truncation after 50 steps (``max_episode_steps=50``); termination if no unplayed track is left.

    ## Info
    ``track``, ``candidates``, ``history``, ``rewards``, ``action_mask``, ``repeat``,
    ``oracle_action`` / ``oracle_reward`` (the greedy best: the most similar unplayed slot, or
    catalog track found by exact search of the shared index), ``regret``.

    ## Arguments
    ``catalog``, ``action_mode``, ``k``, ``n_random``, ``window`` (tracks in the taste state, 5),
    ``listener`` (``"taste"``, the `TasteUser`, or a `musicgym.listeners.Listener` whose ``observe``
    gives the 9-feature taste state the observation shows), ``render_mode``.

    ## Version History
    * v0: initial version.
    * v0 (unreleased revision): retrieval ties broken by exact score then track id, identical on every CPU
      (the taste neighbour table had come in FAISS's float32 order, which depends on the CPU's BLAS
      kernel).
    """

    core_cls = TasteCore


class TasteVectorEnv(MusicVectorEnv):
    """Native batched `TasteEnv`: B sessions, one batched index call per step."""

    core_cls = TasteCore
