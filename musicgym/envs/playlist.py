"""``MusicGym/Playlist-v0``: the simulated-listener POMDP of the PPO actor-critic project."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces
from sklearn.cluster import KMeans
from threadpoolctl import threadpool_limits

from musicgym.catalog import Catalog
from musicgym.envs.base import MusicEnv, MusicVectorEnv
from musicgym.envs.core import Core, best_slot, neighbour_table, shared_index, unplayed_neighbours
from musicgym.listeners import ClusterListener, ReplayListener

LATENT_DIM = 5
N_SLOTS = 4
TABLE_K = 16


@dataclass(frozen=True)
class PlaylistWorld:
    """What the Playlist env derives once per catalog: latents, clusters, proximity, neighbours."""

    latents: np.ndarray
    cluster: np.ndarray
    proximity: np.ndarray
    table: np.ndarray


_worlds: dict[tuple[str, int], PlaylistWorld] = {}


def playlist_world(catalog: Catalog, n_clusters: int = 20) -> PlaylistWorld:
    """Latents, k-means clusters (seeded), proximity scores and the neighbour table of `catalog`."""
    key = (catalog.fingerprint, n_clusters)
    if key not in _worlds:
        catalog.require_features("MusicGym/Playlist-v0")
        index = shared_index(catalog, "latent")
        z = index.vectors
        # one OpenMP thread: the clusters must not depend on how many threads a process happens to
        # use (FAISS changes the OpenMP thread count), or two processes would build different worlds
        with threadpool_limits(limits=1, user_api="openmp"):
            km = KMeans(n_clusters=n_clusters, n_init=4, random_state=0).fit(z)
        cluster = km.labels_.astype(np.int64)
        dist = np.linalg.norm(z - km.cluster_centers_[cluster], axis=1)
        dmax = np.zeros(n_clusters)
        np.maximum.at(dmax, cluster, dist)
        proximity = 1.0 - dist / np.where(dmax[cluster] > 0, dmax[cluster], 1.0)
        table = neighbour_table(index, TABLE_K)
        _worlds[key] = PlaylistWorld(z, cluster, proximity, table)
    return _worlds[key]


class PlaylistCore(Core):
    """Batched dynamics of Playlist-v0 (see `PlaylistEnv` for the specification)."""

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
    COMPONENTS: ClassVar[tuple[str, ...]] = ("percentage_listened", "liked", "interaction_score", "proximity_score")
    RESET_OPTIONS: ClassVar[tuple[str, ...]] = ("start_track",)

    def __init__(self, catalog: Catalog | str = "default", num: int = 1, **params: Any) -> None:
        super().__init__(catalog, num, **params)
        self.catalog.require_features("MusicGym/Playlist-v0")
        p = self.params
        if p["listener"] not in ("population", "fixed", "external", "replay"):
            raise ValueError(f"listener must be 'population', 'fixed', 'external' or 'replay', got {p['listener']!r}")
        self.external = p["listener"] == "external"
        self.replay = (ReplayListener.from_log(p["replay_log"], self.catalog, num=self.num)
                       if p["listener"] == "replay" else None)
        if p["replay_log"] is not None and self.replay is None:
            raise ValueError("replay_log is only read with listener='replay'")
        self._feedback: tuple[float, bool] | None = None
        if p["observation"] not in ("full", "latent"):
            raise ValueError(f"observation must be 'full' or 'latent', got {p['observation']!r}")
        if not isinstance(p["n_clusters"], (int, np.integer)) or not 1 <= p["n_clusters"] <= self.n_tracks:
            raise ValueError(f"n_clusters must be an integer from 1 to {self.n_tracks}, got {p['n_clusters']!r}")
        for name in ("mean_bounds", "sd_bounds"):
            lo, hi = p[name]
            if not 0 <= lo <= hi <= 1 or (name == "sd_bounds" and lo <= 0):
                raise ValueError(f"{name} must be (low, high) with 0 <= low <= high <= 1, got {p[name]!r}")
        if self.n_tracks <= N_SLOTS:
            raise ValueError(f"Playlist-v0 needs more than {N_SLOTS} tracks, the catalog has {self.n_tracks}")
        pl = p["playlist_length"]
        if isinstance(pl, bool) or not isinstance(pl, (int, np.integer)) or not 2 <= pl <= self.n_tracks:
            raise ValueError(f"playlist_length must be an integer from 2 to {self.n_tracks} (tracks in a playlist, "
                             f"the start track included), got {pl!r}")
        self.playlist_length = int(pl)
        self.world = playlist_world(self.catalog, int(p["n_clusters"]))
        self.index = shared_index(self.catalog, "latent")
        self.n_actions = N_SLOTS
        self.candidates = np.full((self.num, N_SLOTS), -1, dtype=np.int64)
        self.last_pct = np.zeros(self.num, dtype=np.float32)
        self.last_liked = np.zeros(self.num, dtype=np.float32)
        means = np.zeros((self.num, p["n_clusters"]))
        self.listener = ClusterListener(means, means.copy(), p["like_threshold"])
        # expected (listen + like) part of the reward per session and cluster, fixed within an episode
        self._cluster_value = np.zeros((self.num, p["n_clusters"]))
        dim = LATENT_DIM if p["observation"] == "latent" else LATENT_DIM + 2 + N_SLOTS * LATENT_DIM
        self.item_features = self.world.latents
        self.head_dim = LATENT_DIM if p["observation"] == "latent" else LATENT_DIM + 2
        self.observation_space = spaces.Box(0.0, 1.0, shape=(dim,), dtype=np.float32)
        w = p["reward_scale"]
        self._w_listen = w * p["interaction_weight"] * p["listen_weight"]
        self._w_like = w * p["interaction_weight"] * p["like_weight"]
        self._w_prox = w * p["proximity_weight"]
        self._prox_value = self._w_prox * self.world.proximity
        self._scalars: tuple[list, list, list] | None = None  # Python lists for step_one, built on first use
        self._obs_tracks: list[int] | None = None  # current + candidate tracks that step_one just set
        self.person = self.external or self.replay is not None
        if self.person:
            self._cluster_value[:] = np.nan  # a person's expected answers are unknown: no oracle, no regret
        if p["listener"] == "fixed":
            fixed = ClusterListener.sample(
                np.random.default_rng(p["listener_seed"]), 1, p["n_clusters"], p["mean_bounds"], p["sd_bounds"]
            )
            self.listener.means[:], self.listener.sds[:] = fixed
            self._set_cluster_value(self.all_rows())

    def _set_cluster_value(self, rows: np.ndarray) -> None:
        clusters = np.broadcast_to(np.arange(self.params["n_clusters"]), (len(rows), self.params["n_clusters"]))
        e_pct, p_like = self.listener.expected(rows, clusters)
        self._cluster_value[rows] = self._w_listen * e_pct + self._w_like * p_like

    def _reset_rows(self, rng: np.random.Generator, rows: np.ndarray) -> None:
        p = self.params
        if p["listener"] == "population":
            self.listener.means[rows], self.listener.sds[rows] = ClusterListener.sample(
                rng, len(rows), p["n_clusters"], p["mean_bounds"], p["sd_bounds"]
            )
            self._set_cluster_value(rows)
        self.last_pct[rows] = 0.0
        self.last_liked[rows] = 0.0
        if self.replay is not None:
            self._push(rows, self.replay.start(rng, rows))
            return
        self._push(rows, rng.integers(0, self.n_tracks, size=len(rows)))

    def _update_candidates(self, rng: np.random.Generator, rows: np.ndarray) -> None:
        if self.num == 1:  # one session (the single env): the neighbour table with Python lists
            self._obs_tracks = None  # set again below only if the fast path fills every slot
            length = int(self.length[0])
            current = int(self.history[0, length - 1])
            near = self._unplayed_near_one(current, set(self.history[0, :length].tolist()))
            if len(near) == N_SLOTS:
                self.candidates[0] = near
                self._obs_tracks = [current, *near]
                return
        current = self.history[rows, self.length[rows] - 1]
        hist = self.played(rows)
        self.candidates[rows] = unplayed_neighbours(self.index, self.world.table, current, hist, N_SLOTS)

    def observe(self, rows: np.ndarray | None = None) -> np.ndarray:
        """Current latent [+ last percentage listened, liked, the 4 candidates' latents]."""
        rows = self.all_rows() if rows is None else rows
        z = self.world.latents
        current = np.take(z, self.history[rows, self.length[rows] - 1], axis=0)
        if self.params["observation"] == "latent":
            return current
        obs = np.empty((len(rows), self.observation_space.shape[0]), dtype=np.float32)
        obs[:, :LATENT_DIM] = current
        obs[:, LATENT_DIM] = self.last_pct[rows]
        obs[:, LATENT_DIM + 1] = self.last_liked[rows]
        cand = self.candidates[rows]
        obs[:, LATENT_DIM + 2 :] = np.take(z, cand.ravel(), axis=0).reshape(len(rows), -1)
        empty = cand < 0
        if empty.any():
            obs[:, LATENT_DIM + 2 :] *= np.repeat(~empty, LATENT_DIM, axis=1)
        return obs

    def give_feedback(self, percentage_listened: float, liked: bool) -> None:
        """With ``listener="external"``: how the person answered the track the next `step` plays."""
        if not self.external:
            raise ValueError("give_feedback needs listener='external'")
        pct = float(percentage_listened)
        if not 0.0 <= pct <= 1.0:
            raise ValueError(f"percentage_listened must be in [0, 1], got {percentage_listened!r}")
        self._feedback = (pct, bool(liked))

    def _respond(self, rng: np.random.Generator, rows: np.ndarray, tracks: np.ndarray) -> dict[str, np.ndarray]:
        if self.external:
            if self._feedback is None or len(rows) != 1:
                raise ValueError("listener='external': call env.unwrapped.core.give_feedback(pct, liked) before step")
            pct, liked = np.array([self._feedback[0]]), np.array([self._feedback[1]])
            self._feedback = None
        elif self.replay is not None:
            pct, liked = self.replay.respond(rows, tracks)
        else:
            pct, liked = self.listener.respond(rng, rows, self.world.cluster[tracks])
        prox = self.world.proximity[tracks]
        p = self.params
        interaction = p["listen_weight"] * pct + p["like_weight"] * liked
        reward = self._w_listen * pct + self._w_like * liked + self._w_prox * prox
        if self.replay is not None:  # a track the person never answered: no reward, the replay ends
            reward = np.where(np.isnan(pct), 0.0, reward)
        self.last_pct[rows] = pct if self.replay is None else np.nan_to_num(pct)
        self.last_liked[rows] = liked
        return {
            "reward": reward,
            "percentage_listened": pct,
            "liked": liked.astype(np.float64),
            "interaction_score": interaction,
            "proximity_score": prox,
        }

    def _expected(self, rows: np.ndarray, tracks: np.ndarray) -> np.ndarray:
        r = rows if tracks.ndim == 1 else rows[:, None]
        return self._cluster_value[r, self.world.cluster[tracks]] + self._prox_value[tracks]

    def expected_reward(self, rows: np.ndarray, tracks: np.ndarray) -> np.ndarray:
        """Expected reward of each track under the hidden listener (mean of the clipped normal)."""
        return self._expected(rows, tracks)

    def oracle(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The slot with the highest expected reward under the hidden listener (NaN for a person)."""
        if self.person:
            return np.zeros(len(rows), dtype=np.int64), np.full(len(rows), np.nan)
        cand = self.candidates[rows]
        return best_slot(cand, self._expected(rows, np.maximum(cand, 0)))

    def _unplayed_near_one(self, current: int, played: set[int]) -> list[int]:
        """Up to 4 nearest unplayed neighbours of `current` from the neighbour table, as a list."""
        return [t for t in self.world.table[current].tolist() if t not in played][:N_SLOTS]

    def step_one(self, rng: np.random.Generator, action: int) -> dict[str, Any] | None:
        """Scalar `step` of session 0 (see `Core.step_one`): the same single normal draw.

        Works on Python lists (built on first use) so that a step costs a few microseconds; every
        value is the same float64 arithmetic as the batched path.
        """
        track = int(self.candidates[0, action])
        if track < 0 or self.person:
            return None
        length = int(self.length[0])
        played = set(self.history[0, :length].tolist())
        played.add(track)
        near = self._unplayed_near_one(track, played)
        if len(near) < N_SLOTS:
            return None  # the table ran out: the batched path searches the index
        if self._scalars is None:
            self._scalars = (self.world.cluster.tolist(), self._prox_value.tolist(), self.world.proximity.tolist())
        cluster, prox_value, proximity = self._scalars
        cluster_value = self._cluster_value[0].tolist()
        oracle_reward = float(self.oracle_reward[0])
        c = cluster[track]
        expected = cluster_value[c] + prox_value[track]
        m, sd = float(self.listener.means[0, c]), float(self.listener.sds[0, c])
        pct = min(1.0, max(0.0, m + sd * rng.standard_normal()))
        liked = pct > self.listener.like_threshold
        prox = proximity[track]
        p = self.params
        self.last_pct[0], self.last_liked[0] = pct, liked
        self._push_one(track)
        self.candidates[0] = near
        values = [cluster_value[cluster[t]] + prox_value[t] for t in near]
        best = max(range(N_SLOTS), key=values.__getitem__)  # the first best, as argmax
        self.oracle_action[0], self.oracle_reward[0] = best, values[best]
        self._obs_tracks = [track, *near]
        return {
            "reward": self._w_listen * pct + self._w_like * liked + self._w_prox * prox,
            "percentage_listened": pct,
            "liked": float(liked),
            "interaction_score": p["listen_weight"] * pct + p["like_weight"] * liked,
            "proximity_score": prox,
            "track": track,
            "regret": oracle_reward - expected,
            "repeat": False,
            "exhausted": length + 1 >= self.playlist_length,
        }

    def observe_one(self) -> np.ndarray:
        """The observation of session 0 (fast path right after `step_one`)."""
        tracks, self._obs_tracks = self._obs_tracks, None
        if tracks is None or self.params["observation"] == "latent":
            return self.observe(self._row0)[0]
        obs = np.empty(self.observation_space.shape[0], dtype=np.float32)
        z = self.world.latents.take(tracks, axis=0)  # take: 3x faster than fancy indexing with a list
        obs[:LATENT_DIM] = z[0]
        obs[LATENT_DIM] = self.last_pct[0]
        obs[LATENT_DIM + 1] = self.last_liked[0]
        obs[LATENT_DIM + 2 :] = z[1:].ravel()
        return obs

    def exhausted(self, rows: np.ndarray) -> np.ndarray:
        """The playlist is complete, no unplayed candidate is left, or (replay) the last track went unheard."""
        out = super().exhausted(rows) | (self.length[rows] >= self.playlist_length)
        return out | self.replay.missed[rows] if self.replay is not None else out

    def feedback_text(self, res: dict[str, Any]) -> str:
        """"listened 73%, liked" and the reward."""
        if res["repeat"]:
            return "(repeat)"
        liked = ", liked" if res["liked"] else ""
        return f"listened {res['percentage_listened']:.0%}{liked}  reward {res['reward']:.1f}"


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
    Bayesian posterior-greedy policy reaches). ``listener="external"``: a person answers (``musicgym
    play``): call ``env.unwrapped.core.give_feedback(percentage_listened, liked)`` before each step;
    the reward is computed from that answer as above, and ``oracle_reward`` / ``regret`` are NaN
    (a person's expected answers are unknown). ``env.reset(options={"start_track": row})`` starts
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
    ``catalog`` (a `Catalog`, a path or a preset, default "default"), ``listener``, ``observation``,
    ``n_clusters``, ``mean_bounds``, ``sd_bounds``, ``like_threshold``, ``listen_weight``,
    ``like_weight``, ``interaction_weight``, ``proximity_weight``, ``reward_scale``,
    ``listener_seed``, ``replay_log``, ``playlist_length`` (10), ``render_mode`` (``"ansi"`` or ``"human"``).

    ## Version History
    * v0: initial version (the 10-track end is a termination; the project's fixed listener is the default).
    """

    core_cls = PlaylistCore


class PlaylistVectorEnv(MusicVectorEnv):
    """Native batched `PlaylistEnv`: B sessions stepped with numpy and one neighbour-table lookup."""

    core_cls = PlaylistCore
