"""The AH-DQN project's virtual user: preferences over 21 binary song attributes.

A user's preference vector p has one weight in [-1, 1] per attribute, drawn uniformly at reset. The
reward of a song with attribute vector a (0/1) is the dot product ``p . a`` divided by ``scale``
(default 5, about the number of attributes a song has, so rewards mostly lie in [-1, 1]); ranking
songs by reward is ranking them by inner product, which the shared attributes index does exactly.
After a song the user rewarded positively, preferences drift toward that song:
``p <- (1 - drift) p + drift a`` (the project's online mode, where the listener updates preferences).
"""

from __future__ import annotations

import numpy as np


class PreferenceUser:
    """B users' attribute preferences.

    Args:
        num: number of users B.
        dim: number of attributes (21).
        drift: rate at which preferences move toward a positively rewarded song.
        scale: the dot product is divided by this.
    """

    def __init__(self, num: int, dim: int, drift: float = 0.05, scale: float = 5.0) -> None:
        if not 0.0 <= drift <= 1.0:
            raise ValueError(f"drift must be in [0, 1], got {drift}")
        if not scale > 0:
            raise ValueError(f"reward scale must be positive, got {scale}")
        self.drift = drift
        self.scale = float(scale)
        self.prefs = np.zeros((num, dim), dtype=np.float32)

    def sample(self, rng: np.random.Generator, rows: np.ndarray) -> None:
        """Draw new preferences for `rows`, uniform in [-1, 1]."""
        self.prefs[rows] = rng.uniform(-1.0, 1.0, size=(len(rows), self.prefs.shape[1]))

    def reward(self, rows: np.ndarray, attrs: np.ndarray) -> np.ndarray:
        """``p . a / scale`` for (R, dim) or (R, K, dim) songs."""
        p = self.prefs[rows] if attrs.ndim == 2 else self.prefs[rows][:, None, :]
        return (attrs * p).sum(-1) / self.scale

    def update(self, rows: np.ndarray, attrs: np.ndarray, rewards: np.ndarray) -> None:
        """Drift toward the songs that got a positive reward."""
        pos = rewards > 0
        if pos.any():
            r = rows[pos]
            self.prefs[r] = (1.0 - self.drift) * self.prefs[r] + self.drift * attrs[pos]
