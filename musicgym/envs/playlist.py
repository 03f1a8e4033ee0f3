"""``MusicGym/Playlist-v0``: the simulated-listener POMDP of the PPO actor-critic project."""

from __future__ import annotations

import weakref
from typing import Any, ClassVar

import numba
import numpy as np
from gymnasium import spaces
from numba.np.random import distributions

from musicgym.catalog import Catalog
from musicgym.checks import check_choice, check_int
from musicgym.envs import draws, kernels
from musicgym.envs.base import MusicEnv, MusicVectorEnv
from musicgym.envs.core import Core, fill_short_rows, neighbour_table, shared_index, unplayed_neighbours
from musicgym.envs.fused import FusedSteps
from musicgym.listeners import ClusterListener, Listener, PersonListener, ReplayListener
from musicgym.listeners import cluster as _cl

LATENT_DIM = 5
N_SLOTS = 4
TABLE_K = 16


@numba.njit(cache=True, nogil=True)
def record_feedback(last_pct, last_liked, rows, pct, liked):  # noqa: D103 (a kernel)
    """Keep each row's percentage listened (0 for an unanswered NaN) and like for the observation."""
    for i in range(rows.shape[0]):
        last_pct[rows[i]] = 0.0 if np.isnan(pct[i]) else pct[i]
        last_liked[rows[i]] = liked[i]


@numba.njit(cache=True, nogil=True)
def playlist_head(latents, history, length, rows, last_pct, last_liked, out):  # noqa: D103 (a kernel)
    """Write the current track's latent, the last percentage listened and like into ``out[i, :7]``."""
    for i in range(rows.shape[0]):
        r = rows[i]
        t = history[r, length[r] - 1]
        for m in range(LATENT_DIM):
            out[i, m] = latents[t, m]
        out[i, LATENT_DIM] = last_pct[r]
        out[i, LATENT_DIM + 1] = last_liked[r]


# ---------------------------------------------------------------------------------------------------- fused step
# One step (or reset) of Playlist-v0 with its built-in `ClusterListener` in one kernel call: the same
# kernels as the step by parts (`Core.step`, `Core.reset`), called in the same order from numba, with
# the generator's draws made through `musicgym.envs.draws` (the same numbers as the NumPy calls of the
# step by parts). cfg holds the integer settings (`_C_*`), par the listener's float ones (`_P_*`); resp
# the reward, the listener's components (`ClusterListener.components`) and the regret; tracks the tracks
# played; flags whether each repeats (never here), whether its episode terminated and whether its
# neighbour table ran out (`_F_*`).
_C_LIMIT, _C_ORACLE, _C_OBS, _C_LATENT, _C_N_TRACKS = range(5)
_P_THRESHOLD, _P_W_LISTEN, _P_W_LIKE, _P_W_PROX, _P_LISTEN, _P_LIKE = range(6)
_R_REGRET = 1 + len(ClusterListener.components)
_F_REPEAT, _F_TERMINATED, _F_SHORT = range(3)
#: status of the fused kernels besides a count of rows whose neighbour table ran out (0: done): an action
#: is out of range or an empty slot (nothing done: take the step by parts); a history is full (nothing
#: done: grow it, call again)
_BY_PARTS, _FULL = -2, -4


@numba.njit(cache=True, nogil=True)
def _near_slots(table, history, length, rows, candidates, flags):  # noqa: D103 (a kernel)
    # `_update_candidates` from the neighbour table; rows it could not fill are marked for an index search
    near = np.empty((rows.shape[0], N_SLOTS), dtype=np.int64)
    short = np.empty(rows.shape[0], dtype=np.bool_)
    n_short = kernels.unplayed_near(table, history, length, rows, N_SLOTS, near, short)
    for i in range(rows.shape[0]):
        flags[_F_SHORT, i] = short[i]
        for s in range(N_SLOTS):
            candidates[rows[i], s] = near[i, s]
    return n_short


@numba.njit(cache=True, nogil=True)
def _fused_finish(rows, cfg, par, stepping, cluster, proximity, cluster_value, history, length, candidates,
                  oracle_action, oracle_reward, last_pct, last_liked, latents, flags, obs):  # noqa: D103
    """The step's (or reset's) end once the candidates are known: the oracle, termination and observation."""
    n = rows.shape[0]
    if cfg[_C_ORACLE]:
        tracks = np.empty((n, N_SLOTS), dtype=np.int64)
        kernels.slot_tracks(candidates, rows, tracks)
        value = np.empty((n, N_SLOTS))
        _cl._expected(cluster_value, par[_P_W_PROX], proximity, cluster, rows, tracks, value)
        kernels.best_slot(candidates, rows, value, oracle_action, oracle_reward)
    if stepping:
        kernels.ended(candidates, length, rows, False, cfg[_C_N_TRACKS], cfg[_C_LIMIT], flags[_F_TERMINATED])
    if cfg[_C_OBS]:
        if cfg[_C_LATENT]:
            for i in range(n):
                t = history[rows[i], length[rows[i]] - 1]
                for m in range(LATENT_DIM):
                    obs[i, m] = latents[t, m]
        else:
            playlist_head(latents, history, length, rows, last_pct, last_liked, obs)
            kernels.slot_features(latents, candidates, rows, obs, LATENT_DIM + 2)


@numba.njit(cache=True, nogil=True)
def _fused_step(rows, actions, ptrs, cfg, par, means, sds, cluster, proximity, cluster_value, history, length,
                steps_taken, candidates, oracle_action, oracle_reward, last_pct, last_liked, table, latents, resp,
                tracks, flags, obs):  # noqa: D103 (a kernel)
    """`Core.step` (and `observe` into `obs` where ``cfg[_C_OBS]``) for actions that all play a track.

    Returns `_BY_PARTS` or `_FULL` (nothing done, nothing drawn), or the number of rows whose neighbour
    table ran out (``flags[_F_SHORT]`` marks them: their candidates come from an index search, then
    `_fused_finish`); 0: the step is done.
    """
    n = rows.shape[0]
    for i in range(n):
        a = actions[i]
        if a < 0 or a >= N_SLOTS or candidates[rows[i], a] < 0:
            return _BY_PARTS
        tracks[i] = candidates[rows[i], a]
        if length[rows[i]] >= history.shape[1]:
            return _FULL
    regret = resp[_R_REGRET]
    if cfg[_C_ORACLE]:
        _cl._expected(cluster_value, par[_P_W_PROX], proximity, cluster, rows, tracks, regret)
        for i in range(n):
            regret[i] = oracle_reward[rows[i]] - regret[i]
    else:
        regret[:] = np.nan
    bg = draws.bitgen(ptrs)
    z = np.empty(n)
    for i in range(n):
        z[i] = distributions.random_standard_normal(bg)
    _cl._respond(means, sds, cluster, rows, tracks, z, par[_P_THRESHOLD], par[_P_W_LISTEN], par[_P_W_LIKE],
                 par[_P_W_PROX], par[_P_LISTEN], par[_P_LIKE], proximity, resp[:_R_REGRET])
    kernels.push(history, length, rows, tracks)
    record_feedback(last_pct, last_liked, rows, resp[1], resp[2])
    for i in range(n):
        flags[_F_REPEAT, i] = False
    n_short = _near_slots(table, history, length, rows, candidates, flags)
    for i in range(n):
        steps_taken[rows[i]] += 1
    if n_short == 0:
        _fused_finish(rows, cfg, par, True, cluster, proximity, cluster_value, history, length, candidates,
                      oracle_action, oracle_reward, last_pct, last_liked, latents, flags, obs)
    return n_short


@numba.njit(cache=True, nogil=True)
def _fused_reset(rows, ptrs, cfg, par, cluster, proximity, cluster_value, history, length, steps_taken,
                 candidates, oracle_action, oracle_reward, last_pct, last_liked, table, latents, flags,
                 obs):  # noqa: D103 (a kernel)
    """`Core.reset` after the listener's draw (and `observe` into `obs`); returns the count of short rows."""
    bg = draws.bitgen(ptrs)
    for i in range(rows.shape[0]):
        r = rows[i]
        history[r, :] = -1
        length[r] = 0
        steps_taken[r] = 0
    start = np.empty(rows.shape[0], dtype=np.int64)
    for i in range(rows.shape[0]):
        start[i] = draws.below(bg, cfg[_C_N_TRACKS])
    kernels.push(history, length, rows, start)
    for i in range(rows.shape[0]):
        last_pct[rows[i]] = 0.0
        last_liked[rows[i]] = 0.0
    n_short = _near_slots(table, history, length, rows, candidates, flags)
    if n_short == 0:
        _fused_finish(rows, cfg, par, False, cluster, proximity, cluster_value, history, length, candidates,
                      oracle_action, oracle_reward, last_pct, last_liked, latents, flags, obs)
    return n_short


class TrackRecords:
    """What the fused kernels read of each catalog track, in one 32-byte record per track (one cache line).

    ``latents`` (N, 5) float32, ``cluster`` (N,) int32 and ``proximity`` (N,) float64 are views of the
    records: the same values as the index's latents and the `ClusterWorld`'s arrays, but a step reads
    one cache line per track where separate arrays cost three (the vector env's step is bound by these
    random reads on a large catalog). Shared by the cores of a process (`track_records`).
    """

    def __init__(self, latents: np.ndarray, world: _cl.ClusterWorld) -> None:
        n = len(latents)
        self.sources = (latents, world)  # kept alive: the cache is keyed by their ids
        raw = np.zeros(n * 32 + 64, dtype=np.uint8)
        start = -raw.ctypes.data % 64
        buf = raw[start : start + n * 32]
        self.latents = buf.view(np.float32).reshape(n, 8)[:, :LATENT_DIM]
        self.cluster = buf.view(np.int32).reshape(n, 8)[:, 5]
        self.proximity = buf.view(np.float64).reshape(n, 4)[:, 3]
        self.latents[:] = latents
        self.cluster[:] = world.cluster
        self.proximity[:] = world.proximity


_records: weakref.WeakValueDictionary[tuple[int, int], TrackRecords] = weakref.WeakValueDictionary()


def track_records(latents: np.ndarray, world: _cl.ClusterWorld) -> TrackRecords:
    """The process's shared `TrackRecords` of these latents and this clustering."""
    key = (id(latents), id(world))
    rec = _records.get(key)
    if rec is None:
        rec = _records[key] = TrackRecords(latents, world)
    return rec


class PlaylistCore(FusedSteps, Core):
    """Batched dynamics of Playlist-v0 (see `PlaylistEnv` for the specification)."""

    ENV_ID: ClassVar[str] = "MusicGym/Playlist-v0"
    PARAMS: ClassVar[dict[str, Any]] = {
        "listener": "fixed",
        "observation": "full",
        "n_clusters": 20,
        "mean_bounds": (0.4, 0.85),
        "sd_bounds": (0.05, 0.15),
        "like_threshold": 0.6,
        "listen_weight": 100.0,
        "like_weight": 50.0,
        "interaction_weight": 0.8,
        "proximity_weight": 0.2,
        "reward_scale": 1.0,
        "listener_seed": 0,
        "replay_log": None,
        "playlist_length": 10,
    }
    LISTENERS: ClassVar[dict[str, str]] = {
        "fixed": "_fixed_listener",
        "population": "_population_listener",
        "external": "_person_listener",
        "replay": "_replay_listener",
    }
    LISTENER_PARAMS: ClassVar[tuple[str, ...]] = tuple(
        k for k in PARAMS if k not in ("listener", "observation", "playlist_length")
    )
    RESET_OPTIONS: ClassVar[tuple[str, ...]] = ("start_track",)
    STATE: ClassVar[tuple[str, ...]] = (*Core.STATE, "last_pct", "last_liked")
    REWARD_PARAMS: ClassVar[tuple[str, ...]] = (
        "listen_weight", "like_weight", "interaction_weight", "proximity_weight", "reward_scale"
    )  # fmt: skip

    def __init__(self, catalog: Catalog | str = "default", num: int = 1, **params: Any) -> None:
        p = {**self.PARAMS, **params}
        if p["replay_log"] is not None and p["listener"] != "replay":
            raise ValueError("replay_log is only read with listener='replay'")
        self.observation_mode = check_choice("observation", p["observation"], ("full", "latent"))
        super().__init__(catalog, num, **params)
        if self.n_tracks <= N_SLOTS:
            raise ValueError(f"Playlist-v0 needs more than {N_SLOTS} tracks, the catalog has {self.n_tracks}")
        self.playlist_length = check_int("playlist_length", p["playlist_length"], 2, self.n_tracks,
                                         what="tracks in a playlist, the start track included")
        self.length_limit = self.playlist_length
        self.index = shared_index(self.catalog, "latent")
        self.latents = self.index.vectors
        self.table = neighbour_table(self.index, TABLE_K)
        self.n_actions = N_SLOTS
        self.candidates = np.full((self.num, N_SLOTS), -1, dtype=np.int64)
        self.last_pct = np.zeros(self.num, dtype=np.float32)
        self.last_liked = np.zeros(self.num, dtype=np.float32)
        dim = LATENT_DIM if self.observation_mode == "latent" else LATENT_DIM + 2 + N_SLOTS * LATENT_DIM
        self.item_features = self.latents
        self.head_dim = LATENT_DIM if self.observation_mode == "latent" else LATENT_DIM + 2
        self.observation_space = spaces.Box(0.0, 1.0, shape=(dim,), dtype=np.float32)
        # the fused step and reset (`_fused_step`, `_fused_reset`): with the built-in listener
        self._fused = type(self.listener) is ClusterListener
        self._cfg = np.zeros(5, dtype=np.int64)
        self._cfg[[_C_LATENT, _C_N_TRACKS]] = self.observation_mode == "latent", self.n_tracks
        self._no_obs = np.empty((0, dim), dtype=np.float32)
        if self._fused:
            lis = self.listener
            self._rec = track_records(self.latents, lis.reward.world)
            self._par = np.array([lis.like_threshold, lis.reward.w_listen, lis.reward.w_like, lis.reward.w_prox,
                                  lis.reward.listen_weight, lis.reward.like_weight])

    # ------------------------------------------------------------------ the listener shortcuts
    def _reward_kwargs(self) -> dict[str, Any]:
        return {k: self.params[k] for k in self.REWARD_PARAMS} | {"n_clusters": self.params["n_clusters"]}

    def _cluster_listener(self, population: bool) -> Listener:
        p = self.params
        return ClusterListener(population=population, mean_bounds=p["mean_bounds"], sd_bounds=p["sd_bounds"],
                               like_threshold=p["like_threshold"], seed=p["listener_seed"], **self._reward_kwargs())

    def _fixed_listener(self) -> Listener:
        return self._cluster_listener(population=False)

    def _population_listener(self) -> Listener:
        return self._cluster_listener(population=True)

    def _person_listener(self) -> Listener:
        return PersonListener(**self._reward_kwargs())

    def _replay_listener(self) -> Listener:
        return ReplayListener(self.params["replay_log"], **self._reward_kwargs())

    def _min_tracks(self) -> tuple[int, str]:
        return N_SLOTS + 1, f"its {N_SLOTS} candidate slots"

    def make_planner(self, horizon: int | None) -> Any:
        """Exact search with a stationary listener (`ExactPathPlanner`), else rollouts to the playlist's end."""
        from musicgym.envs.planner import ExactPathPlanner, RolloutPlanner

        if self.listener.stationary:
            return ExactPathPlanner(self)
        return RolloutPlanner(self, self.playlist_length - 1 if horizon is None else horizon)

    # ------------------------------------------------------------------ dynamics
    def reset(self, rng: np.random.Generator, rows: np.ndarray) -> None:
        """`Core.reset`; in one kernel call with the built-in listener (`_fused_reset`)."""
        ptrs = self._pointers(rng) if self._fused else None
        if ptrs is None:
            super().reset(rng, rows)
            return
        lis = self.listener
        lis.sample(rng, rows)
        flags = np.empty((3, len(rows)), dtype=np.bool_)
        cfg = self._cfg
        cfg[_C_ORACLE], cfg[_C_OBS], cfg[_C_LIMIT] = self.track_oracle, False, self.length_limit
        rec = self._rec
        n_short = _fused_reset(rows, ptrs, cfg, self._par, rec.cluster, rec.proximity, lis.cluster_value,
                               self.history, self.length, self.steps_taken, self.candidates, self.oracle_action,
                               self.oracle_reward, self.last_pct, self.last_liked, self.table, rec.latents, flags,
                               self._no_obs)
        if n_short:
            self._finish_short(rows, flags, self._no_obs, stepping=False)

    def _step_fused(self, rng: np.random.Generator, rows: np.ndarray, actions: np.ndarray, ptrs: np.ndarray,
                    obs: np.ndarray | None) -> dict[str, np.ndarray] | None:
        """The step by `_fused_step` (the observation into `obs`); None (nothing done): go by parts."""
        n = rows.shape[0]
        resp = np.empty((_R_REGRET + 1, n))
        track = np.empty(n, dtype=np.int64)
        flags = np.empty((3, n), dtype=np.bool_)
        cfg = self._cfg
        cfg[_C_ORACLE], cfg[_C_OBS], cfg[_C_LIMIT] = self.track_oracle, obs is not None, self.length_limit
        obs = self._no_obs if obs is None else obs
        lis, rec = self.listener, self._rec
        while True:
            status = _fused_step(rows, actions, ptrs, cfg, self._par, lis.means, lis.sds, rec.cluster, rec.proximity,
                                 lis.cluster_value, self.history, self.length, self.steps_taken, self.candidates,
                                 self.oracle_action, self.oracle_reward, self.last_pct, self.last_liked, self.table,
                                 rec.latents, resp, track, flags, obs)
            if status != _FULL:
                break
            self._grow_history()
        if status == _BY_PARTS:
            return None
        if status:
            self._finish_short(rows, flags, obs, stepping=True)
        out = {"reward": resp[0]}
        for j, name in enumerate(ClusterListener.components, 1):
            out[name] = resp[j]
        out.update(repeat=flags[_F_REPEAT], track=track, regret=resp[_R_REGRET], terminated=flags[_F_TERMINATED])
        return out

    def _finish_short(self, rows: np.ndarray, flags: np.ndarray, obs: np.ndarray, stepping: bool) -> None:
        """Candidates by an index search where the neighbour table ran out, then `_fused_finish`."""
        short = rows[flags[_F_SHORT]]
        self.candidates[short] = fill_short_rows(self.index, self.history, self.length, short, N_SLOTS)
        lis, rec = self.listener, self._rec
        _fused_finish(rows, self._cfg, self._par, stepping, rec.cluster, rec.proximity, lis.cluster_value, self.history,
                      self.length, self.candidates, self.oracle_action, self.oracle_reward, self.last_pct,
                      self.last_liked, rec.latents, flags, obs)

    def _reset_rows(self, rows: np.ndarray) -> None:
        self.last_pct[rows] = 0.0
        self.last_liked[rows] = 0.0

    def _record(self, rows: np.ndarray, tracks: np.ndarray, response: dict[str, np.ndarray]) -> None:
        try:
            pct, liked = response["percentage_listened"], response["liked"]
        except KeyError as e:
            raise ValueError(f"Playlist-v0 observes the last percentage listened and like: the listener "
                             f"{type(self.listener).__name__}.respond must return {e.args[0]!r}") from None
        record_feedback(self.last_pct, self.last_liked, rows, np.asarray(pct, dtype=np.float64),
                        np.asarray(liked, dtype=np.float64))

    def _update_candidates(self, rng: np.random.Generator, rows: np.ndarray) -> None:
        self.candidates[rows] = unplayed_neighbours(self.index, self.table, self.history, self.length, rows, N_SLOTS)

    def observe(self, rows: np.ndarray | None = None) -> np.ndarray:
        """Current latent [+ last percentage listened, liked, the 4 candidates' latents]."""
        rows = self.all_rows() if rows is None else rows
        if self.observation_mode == "latent":
            return np.take(self.latents, kernels.current_tracks(self.history, self.length, rows), axis=0)
        obs = np.empty((len(rows), self.observation_space.shape[0]), dtype=np.float32)
        latents = self._rec.latents if self._fused else self.latents  # the same values, fewer cache misses
        playlist_head(latents, self.history, self.length, rows, self.last_pct, self.last_liked, obs)
        kernels.slot_features(latents, self.candidates, rows, obs, LATENT_DIM + 2)
        return obs


class PlaylistEnv(MusicEnv):
    """A simulated listener hears a playlist built one nearest-neighbour track at a time.

    ## Description
    The setting of the PPO actor-critic project (a POMDP): every track is a point in the 5-D latent
    space of a VAE over its 11 audio features (scaled to [0, 1]). Tracks are clustered with k-means
    (k = 20). A hidden listener has, per cluster, a mean and a standard deviation of the share of a
    track it listens to; the agent only sees how much of each played track was heard and whether it
    was liked, and must steer the playlist toward the clusters this listener enjoys.

    ## Action Space
    ``Discrete(4)``: play one of the 4 nearest neighbours (in latent space, closest first) of the
    current track, excluding every track already in the playlist (and so the last 3 played). They
    come from a precomputed 16-neighbour table of the shared FAISS index; a batched search fills in
    when the table runs out. Slots never hold played tracks, so no action repeats a track; an empty
    slot (-1, only if the catalog runs out) is masked and, if taken, penalised with reward -1.

    ## Observation Space
    ``Box(0, 1, (27,), float32)``: the current track's latent (5), the last percentage listened and
    liked flag (2; 0 at the start), and the 4 candidates' latents (20; zeros for an empty slot).
    With ``observation="latent"``: only the current track's latent, ``Box(0, 1, (5,))``, as the project.

    ## Rewards
    Playing track t of cluster c draws ``percentage_listened ~ N(m_c, s_c)`` clipped to [0, 1];
    ``liked = percentage_listened > 0.6``. As in the project's data::

        interaction_score = 100 * percentage_listened + 50 * liked
        proximity_score   = 1 - distance(t, centroid_c) / max distance in cluster c   (closest ~1, farthest 0)
        reward            = 0.8 * interaction_score + 0.2 * proximity_score            (0 .. 120.2)

    All weights are arguments; ``reward_scale`` multiplies the reward (e.g. 0.01 for a 0..1.2 range).
    ``info["rewards"]`` holds the four components.

    ## Starting State
    A uniformly random catalog track. With ``listener="fixed"`` (default, as the project had) one
    simulated listener, drawn once with ``listener_seed`` (m_c ~ U(0.4, 0.85), s_c ~ U(0.05, 0.15)
    per cluster, the spread of the project's own), hears every episode: the agent can learn its
    taste across episodes. ``listener="population"`` goes further: each episode draws a new listener
    from the same distribution, so a policy must infer the taste within one playlist from the
    feedback in the observation (a harder POMDP: ``experiments/playlist_ceiling.py`` shows what a
    Bayesian posterior-greedy policy reaches). ``listener=PersonListener()`` (or ``"external"``): a person
    answers (``musicgym play``): call ``person.answer(percentage_listened, liked)`` on the listener
    object before each step; the reward is computed from that answer as above, and ``oracle_reward``
    / ``regret`` are NaN (a person's expected answers are unknown). ``env.reset(options={"start_track": row})`` starts
    from a chosen track. ``listener="replay"`` with ``replay_log=`` (a ``musicgym play`` log, or a
    list of them): each episode replays one logged session (drawn with the env's RNG) from its
    starting track; a track the person answered in that session gets that answer, and the first
    track they never heard ends the episode (terminated, reward 0, ``percentage_listened`` NaN):
    the replay method of off-policy evaluation. Oracle and regret are NaN here too.

    ## Episode End
    Termination when the playlist is complete: ``playlist_length`` (10) tracks, the start track and 9
    picks, as in the project. The playlist's end is part of the task, so it is a termination, not a
    time-limit truncation (a learner must not bootstrap past it); there is no time limit (pass
    ``max_episode_steps`` to ``gym.make`` to add one). Termination also if no unplayed candidate is left.

    ## Info
    ``track``, ``candidates``, ``history``, ``rewards``, ``action_mask``, ``repeat``,
    ``oracle_action`` / ``oracle_reward`` (the slot with the highest expected reward under the hidden
    listener now, and that expected reward) and ``regret`` (the oracle's expected reward minus that of
    the action just taken, before it was taken).

    ## Arguments
    ``catalog`` (a `Catalog`, a path or a preset, default "default"); ``listener``: a
    `musicgym.listeners.Listener` object (its ``respond`` must return ``percentage_listened`` and
    ``liked``, which the observation shows) or the name of a built-in one (``"fixed"``,
    ``"population"``, ``"external"``, ``"replay"``); ``observation``; the built-in listeners'
    ``n_clusters``, ``mean_bounds``, ``sd_bounds``, ``like_threshold``, ``listen_weight``,
    ``like_weight``, ``interaction_weight``, ``proximity_weight``, ``reward_scale``,
    ``listener_seed``, ``replay_log`` (set them on the object instead when passing one);
    ``playlist_length`` (10), ``render_mode`` (``"ansi"`` or ``"human"``).

    ## Version History
    * v0: initial version (the 10-track end is a termination; the project's fixed listener is the default).
    * v0 (unreleased revision): retrieval ties broken by exact score then track id, identical on every CPU
      (the latent neighbour table had come in FAISS's float32 order, which depends on the CPU's BLAS
      kernel).
    """

    core_cls = PlaylistCore


class PlaylistVectorEnv(MusicVectorEnv):
    """Native batched `PlaylistEnv`: B sessions stepped with numpy and one neighbour-table lookup."""

    core_cls = PlaylistCore
