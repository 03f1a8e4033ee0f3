"""The PPO listener project's simulated listener: cluster-wise "percentage listened".

The catalog's tracks are grouped into clusters (k-means on VAE latents, `cluster_world`). A listener
has, for each cluster c, a mean m_c and a standard deviation s_c of the share of a track it listens
to. Playing a track of cluster c draws ``percentage_listened ~ N(m_c, s_c)`` clipped to [0, 1]; the
track is liked when that share exceeds ``like_threshold`` (0.6). The reward is the project's
(`PlaylistReward`): ``0.8 * (100 * listened + 50 * liked) + 0.2 * proximity`` (proximity of the track
to its cluster's centroid).

The bounds of m_c and s_c default to the spread of the project's own simulated listener (its 20
cluster means span 0.44-0.84 and its standard deviations 0.05-0.15). ``population=False`` (the
project's setting) keeps one listener, drawn once with ``seed``, for every episode;
``population=True`` draws a new one from the same distribution at every reset.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any, ClassVar

import numba
import numpy as np
from scipy.special import ndtr
from sklearn.cluster import KMeans
from threadpoolctl import threadpool_limits

from musicgym.catalog import Catalog
from musicgym.checks import check_bounds, check_int, check_number
from musicgym.listeners.base import Listener

log = logging.getLogger(__name__)

_INV_SQRT_2PI = 1.0 / np.sqrt(2.0 * np.pi)


@numba.njit(cache=True, nogil=True)
def _reward(w_listen, w_like, w_prox, listen_weight, like_weight, proximity, tracks, pct, liked,  # noqa: D103
            reward, like_f, interaction, prox):
    """Reward, liked (0/1), interaction score and proximity per row (numpy's order of float64 operations)."""
    n = tracks.shape[0]
    for i in range(n):
        p = proximity[tracks[i]]
        like = 1.0 if liked[i] else 0.0
        reward[i] = w_listen * pct[i] + w_like * like + w_prox * p
        like_f[i] = like
        interaction[i] = listen_weight * pct[i] + like_weight * like
        prox[i] = p


@numba.njit(cache=True, nogil=True)
def _respond(means, sds, cluster, rows, tracks, z, like_threshold, w_listen, w_like, w_prox, listen_weight,
             like_weight, proximity, out):  # noqa: D103 (a kernel)
    """Percentage listened clip(m + s z, 0, 1), liked flag, and `_reward`'s figures per row, into `out`.

    ``out`` is (5, R): reward, percentage listened, liked, interaction score, proximity.
    """
    n = rows.shape[0]
    pct = out[1]
    liked = np.empty(n, dtype=np.bool_)
    for i in range(n):
        c = cluster[tracks[i]]
        x = means[rows[i], c] + sds[rows[i], c] * z[i]
        x = min(max(x, 0.0), 1.0)
        pct[i] = x
        liked[i] = x > like_threshold
    _reward(w_listen, w_like, w_prox, listen_weight, like_weight, proximity, tracks, pct, liked, out[0], out[2],
            out[3], out[4])


@numba.njit(cache=True, nogil=True)
def _expected(cluster_value, w_prox, proximity, cluster, rows, tracks, out):  # noqa: D103 (a kernel)
    """cluster_value[row, cluster[track]] + w_prox * proximity[track] for (R,) or (R, K) tracks, into `out`.

    (The same float64 operations as ``cluster_value[...] + prox_value[track]``: numba does not fuse them.)
    """
    flat_t = tracks.reshape(rows.shape[0], -1)
    flat_o = out.reshape(rows.shape[0], -1)
    for i in range(rows.shape[0]):
        for j in range(flat_t.shape[1]):
            t = flat_t[i, j]
            flat_o[i, j] = cluster_value[rows[i], cluster[t]] + w_prox * proximity[t]


def expected_listening(m: np.ndarray, s: np.ndarray, like_threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """E[clip(X, 0, 1)] and P(X > like_threshold) for X ~ N(m, s): a cluster's expected answer."""
    a, b = -m / s, (1.0 - m) / s
    pa, pb = ndtr(a), ndtr(b)
    phi_a = _INV_SQRT_2PI * np.exp(-0.5 * a * a)
    phi_b = _INV_SQRT_2PI * np.exp(-0.5 * b * b)
    # E[clip(X, 0, 1)] = m (Phi(b) - Phi(a)) + s (phi(a) - phi(b)) + (1 - Phi(b))
    e_pct = m * (pb - pa) + s * (phi_a - phi_b) + (1.0 - pb)
    p_like = 1.0 - ndtr((like_threshold - m) / s)
    return e_pct, p_like


@dataclass(frozen=True)
class ClusterWorld:
    """What the cluster listeners derive once per catalog: k-means clusters of the latents and proximity."""

    cluster: np.ndarray
    proximity: np.ndarray


_worlds: dict[tuple[str, int], ClusterWorld] = {}


def cluster_world(catalog: Catalog, n_clusters: int = 20) -> ClusterWorld:
    """k-means clusters (seeded) of `catalog`'s VAE latents and each track's proximity to its centroid.

    Kept per process and in the user cache directory (keyed by the catalog's fingerprint, `n_clusters`
    and the scikit-learn version that ran k-means), so later processes skip the k-means fit.
    """
    key = (catalog.fingerprint, n_clusters)
    if key not in _worlds:
        _worlds[key] = _cached_world(catalog, n_clusters)
    return _worlds[key]


def _cached_world(catalog: Catalog, n_clusters: int) -> ClusterWorld:
    import sklearn

    from musicgym.paths import cache_dir

    path = cache_dir() / f"clusters-{catalog.fingerprint}-{n_clusters}-sklearn{sklearn.__version__}.npz"
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as f:
                cluster, proximity = f["cluster"], f["proximity"]
            if cluster.shape != (len(catalog),) or proximity.shape != (len(catalog),) or cluster.dtype != np.int64:
                raise ValueError(f"holds arrays of shapes {cluster.shape}, {proximity.shape}")
            return ClusterWorld(cluster, proximity)
        except (OSError, ValueError, KeyError) as e:
            log.warning("ignoring cached clusters %s: %s", path, e)
    world = _fit_world(catalog, n_clusters)
    try:
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp.npz")
        np.savez(tmp, cluster=world.cluster, proximity=world.proximity)
        tmp.replace(path)
    except OSError as e:  # a read-only cache costs time, not results
        log.warning("could not cache the clusters at %s: %s", path, e)
    return world


def _fit_world(catalog: Catalog, n_clusters: int) -> ClusterWorld:
    """k-means (seeded, one OpenMP thread) of the catalog's VAE latents and the proximities."""
    from musicgym.index import CandidateIndex

    catalog.require_features("MusicGym/Playlist-v0")
    z = CandidateIndex.for_catalog(catalog, "latent").vectors
    # one OpenMP thread: the clusters must not depend on how many threads a process happens to
    # use (FAISS changes the OpenMP thread count), or two processes would build different worlds
    with threadpool_limits(limits=1, user_api="openmp"):
        km = KMeans(n_clusters=n_clusters, n_init=4, random_state=0).fit(z)
    cluster = km.labels_.astype(np.int64)
    dist = np.linalg.norm(z - km.cluster_centers_[cluster], axis=1)
    dmax = np.zeros(n_clusters)
    np.maximum.at(dmax, cluster, dist)
    proximity = 1.0 - dist / np.where(dmax[cluster] > 0, dmax[cluster], 1.0)
    return ClusterWorld(cluster, proximity)


class PlaylistReward:
    """Playlist-v0's reward from a response (the PPO project's data).

    ::

        interaction_score = listen_weight * percentage_listened + like_weight * liked
        reward = reward_scale * (interaction_weight * interaction_score + proximity_weight * proximity)

    Args:
        listen_weight, like_weight, interaction_weight, proximity_weight, reward_scale: the weights
            (defaults 100, 50, 0.8, 0.2, 1).
        n_clusters: clusters of the catalog's latents, for the proximity term.
    """

    COMPONENTS: ClassVar[tuple[str, ...]] = ("percentage_listened", "liked", "interaction_score", "proximity_score")

    def __init__(self, listen_weight: float = 100.0, like_weight: float = 50.0, interaction_weight: float = 0.8,
                 proximity_weight: float = 0.2, reward_scale: float = 1.0, n_clusters: int = 20) -> None:
        for name, value in (("listen_weight", listen_weight), ("like_weight", like_weight),
                            ("interaction_weight", interaction_weight), ("proximity_weight", proximity_weight),
                            ("reward_scale", reward_scale)):
            check_number(name, value)
        check_number("reward_scale", reward_scale, 0.0, lo_open=True)  # 0 would make every reward 0
        self.listen_weight, self.like_weight = float(listen_weight), float(like_weight)
        w = float(reward_scale)
        self.w_listen = w * interaction_weight * listen_weight
        self.w_like = w * interaction_weight * like_weight
        self.w_prox = w * proximity_weight
        self.n_clusters = n_clusters

    def setup(self, catalog: Catalog) -> None:
        """Cluster the catalog (shared per catalog) for the proximity term."""
        self.world = cluster_world(catalog, self.n_clusters)
        self.prox_value = self.w_prox * self.world.proximity

    def __call__(self, tracks: np.ndarray, pct: np.ndarray, liked: np.ndarray) -> dict[str, np.ndarray]:
        """The reward and its components for (R,) `tracks` answered with (R,) `pct`, `liked`."""
        out = np.empty((4, len(tracks)))
        _reward(self.w_listen, self.w_like, self.w_prox, self.listen_weight, self.like_weight, self.world.proximity,
                tracks, np.asarray(pct, dtype=np.float64), np.asarray(liked, dtype=np.bool_), *out)
        return {
            "reward": out[0],
            "percentage_listened": pct,
            "liked": out[1],
            "interaction_score": out[2],
            "proximity_score": out[3],
        }

    @staticmethod
    def text(response: dict[str, Any]) -> str:
        """"listened 73%, liked" and the reward."""
        liked = ", liked" if response["liked"] else ""
        return f"listened {response['percentage_listened']:.0%}{liked}  reward {response['reward']:.1f}"


class ClusterListener(Listener):
    """Listeners who rate each k-means cluster of the catalog with a mean share listened (module docstring).

    Args:
        population: False: one fixed listener (drawn once with `seed`) hears every episode; True: a new
            listener is drawn at every reset from the env's generator.
        n_clusters: k-means clusters of the VAE latents (20).
        mean_bounds: (low, high) of the uniform draw of each cluster's mean share listened.
        sd_bounds: (low, high) of the uniform draw of each cluster's standard deviation.
        like_threshold: a track is liked when its share listened exceeds this.
        seed: seed of the fixed listener (``population=False``).
        **reward: the `PlaylistReward` weights.
    """

    components = PlaylistReward.COMPONENTS
    state_attributes = ("means", "sds", "cluster_value")
    stationary = True

    def __init__(self, population: bool = False, n_clusters: int = 20, mean_bounds: tuple[float, float] = (0.4, 0.85),
                 sd_bounds: tuple[float, float] = (0.05, 0.15), like_threshold: float = 0.6, seed: int = 0,
                 **reward: Any) -> None:
        if not isinstance(population, (bool, np.bool_)):
            raise TypeError(f"population must be True or False, got {population!r}")
        self.population = bool(population)
        self.n_clusters = check_int("n_clusters", n_clusters, 1, None)
        self.mean_bounds = check_bounds("mean_bounds", mean_bounds, 0.0, 1.0)
        self.sd_bounds = check_bounds("sd_bounds", sd_bounds, 0.0, 1.0, positive_low=True)
        # a share of the track listened: outside [0, 1] every track (or none) would be liked
        self.like_threshold = check_number("like_threshold", like_threshold, 0.0, 1.0)
        self.seed = check_int("listener_seed", seed, 0, None)
        self.reward = PlaylistReward(n_clusters=self.n_clusters, **reward)

    def setup(self, catalog: Catalog, num: int) -> None:
        """Cluster the catalog; with ``population=False`` draw the fixed listener."""
        super().setup(catalog, num)
        if self.n_clusters > len(catalog):
            raise ValueError(f"n_clusters must be an integer from 1 to {len(catalog)}, got {self.n_clusters}")
        self.reward.setup(catalog)
        self.cluster = self.reward.world.cluster
        self.means = np.zeros((self.num, self.n_clusters))
        self.sds = np.zeros((self.num, self.n_clusters))
        #: expected (listen + like) part of the reward per session and cluster, fixed within an episode
        self.cluster_value = np.zeros((self.num, self.n_clusters))
        if not self.population:
            self.means[:], self.sds[:] = self.draw(np.random.default_rng(self.seed), 1)
            self._set_cluster_value(np.arange(self.num))

    def draw(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        """`n` listeners: uniform means and standard deviations within the bounds."""
        means = rng.uniform(self.mean_bounds[0], self.mean_bounds[1], size=(n, self.n_clusters))
        sds = rng.uniform(self.sd_bounds[0], self.sd_bounds[1], size=(n, self.n_clusters))
        return means, sds

    def _set_cluster_value(self, rows: np.ndarray) -> None:
        clusters = np.broadcast_to(np.arange(self.n_clusters), (len(rows), self.n_clusters))
        e_pct, p_like = self.expected_response(rows, clusters)
        self.cluster_value[rows] = self.reward.w_listen * e_pct + self.reward.w_like * p_like

    def sample(self, rng: np.random.Generator, rows: np.ndarray) -> None:
        """``population=True``: draw new listeners for `rows`."""
        if self.population:
            self.means[rows], self.sds[rows] = self.draw(rng, len(rows))
            self._set_cluster_value(rows)

    def respond(self, rng: np.random.Generator, rows: np.ndarray, tracks: np.ndarray) -> dict[str, np.ndarray]:
        """Percentage listened ~ N(m_c, s_c) clipped to [0, 1], liked above the threshold, and the reward."""
        w = self.reward
        out = np.empty((5, len(rows)))
        _respond(self.means, self.sds, self.cluster, rows, tracks, rng.standard_normal(len(rows)), self.like_threshold,
                 w.w_listen, w.w_like, w.w_prox, w.listen_weight, w.like_weight, w.world.proximity, out)
        return {"reward": out[0], "percentage_listened": out[1], "liked": out[2], "interaction_score": out[3],
                "proximity_score": out[4]}

    def expected_response(self, rows: np.ndarray, clusters: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """E[percentage listened] (of the clipped normal) and P(liked); `clusters` is (R,) or (R, K)."""
        r = rows if clusters.ndim == 1 else rows[:, None]
        return expected_listening(self.means[r, clusters], self.sds[r, clusters], self.like_threshold)

    def expected_reward(self, rows: np.ndarray, tracks: np.ndarray) -> np.ndarray:
        """Expected reward of each track under the hidden listener (mean of the clipped normal)."""
        tracks = np.ascontiguousarray(tracks, dtype=np.int64)
        out = np.empty(tracks.shape)
        _expected(self.cluster_value, self.reward.w_prox, self.reward.world.proximity, self.cluster, rows, tracks, out)
        return out

    def feedback_text(self, response: dict[str, Any]) -> str:
        """"listened 73%, liked" and the reward."""
        return PlaylistReward.text(response)
