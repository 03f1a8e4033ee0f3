"""The PPO listener project's simulated listener: cluster-wise "percentage listened".

The catalog's tracks are grouped into clusters (k-means on VAE latents). A listener has, for each
cluster c, a mean m_c and a standard deviation s_c of the share of a track it listens to. Playing a
track of cluster c draws ``percentage_listened ~ N(m_c, s_c)`` clipped to [0, 1]; the track is liked
when that share exceeds ``like_threshold`` (0.6).

The bounds of m_c and s_c default to the spread of the project's own simulated listener
(its 20 cluster means span 0.44-0.84 and its standard deviations 0.05-0.15).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

_INV_SQRT_2PI = 1.0 / np.sqrt(2.0 * np.pi)


@dataclass
class ClusterListener:
    """B listeners' per-cluster listening distributions.

    Attributes:
        means: (B, n_clusters) mean percentage listened per cluster.
        sds: (B, n_clusters) standard deviation per cluster.
        like_threshold: a track is liked when its percentage listened exceeds this.
    """

    means: np.ndarray
    sds: np.ndarray
    like_threshold: float = 0.6

    @staticmethod
    def sample(
        rng: np.random.Generator,
        n: int,
        n_clusters: int,
        mean_bounds: tuple[float, float] = (0.4, 0.85),
        sd_bounds: tuple[float, float] = (0.05, 0.15),
    ) -> tuple[np.ndarray, np.ndarray]:
        """Draw `n` listeners: uniform means and standard deviations within the bounds."""
        means = rng.uniform(mean_bounds[0], mean_bounds[1], size=(n, n_clusters))
        sds = rng.uniform(sd_bounds[0], sd_bounds[1], size=(n, n_clusters))
        return means, sds

    def respond(
        self, rng: np.random.Generator, rows: np.ndarray, clusters: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Percentage listened and liked flag for listener `rows[i]` hearing a track of `clusters[i]`."""
        m = self.means[rows, clusters]
        s = self.sds[rows, clusters]
        pct = np.clip(m + s * rng.standard_normal(len(rows)), 0.0, 1.0)
        return pct, pct > self.like_threshold

    def expected(self, rows: np.ndarray, clusters: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """E[percentage listened] (of the clipped normal) and P(liked); `clusters` is (R,) or (R, K)."""
        r = rows if clusters.ndim == 1 else rows[:, None]
        m = self.means[r, clusters]
        s = self.sds[r, clusters]
        a, b = -m / s, (1.0 - m) / s
        pa, pb = ndtr(a), ndtr(b)
        phi_a = _INV_SQRT_2PI * np.exp(-0.5 * a * a)
        phi_b = _INV_SQRT_2PI * np.exp(-0.5 * b * b)
        # E[clip(X, 0, 1)] = m (Phi(b) - Phi(a)) + s (phi(a) - phi(b)) + (1 - Phi(b))
        e_pct = m * (pb - pa) + s * (phi_a - phi_b) + (1.0 - pb)
        p_like = 1.0 - ndtr((self.like_threshold - m) / s)
        return e_pct, p_like
