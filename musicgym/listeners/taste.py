"""The DQN project's taste user: the state is the mean taste vector of the last few tracks played.

The reward for a track is its cosine similarity with that state, centred as the project did
(``cos - 0.5``). The user has no hidden part: the state is what the agent observes.
"""

from __future__ import annotations

import numpy as np


class TasteUser:
    """B users' recent-taste windows.

    Args:
        num: number of users B.
        dim: taste feature dimension (9).
        window: how many recent tracks make the state (5).
    """

    def __init__(self, num: int, dim: int, window: int = 5) -> None:
        self.window = window
        self.recent = np.zeros((num, window, dim), dtype=np.float32)
        self.count = np.zeros(num, dtype=np.int64)

    def start(self, rows: np.ndarray, vectors: np.ndarray) -> None:
        """Fill the window of `rows` with (R, window, dim) starting tracks."""
        self.recent[rows] = vectors
        self.count[rows] = self.window

    def state(self, rows: np.ndarray) -> np.ndarray:
        """(R, dim) mean taste vector of the window."""
        return self.recent[rows].mean(axis=1)

    def reward(self, rows: np.ndarray, vectors: np.ndarray) -> np.ndarray:
        """Cosine similarity of (R, dim) or (R, K, dim) track vectors with the state, minus 0.5."""
        s = self.state(rows)
        s = s / np.maximum(np.linalg.norm(s, axis=-1, keepdims=True), 1e-12)
        v = vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-12)
        cos = (v * (s if vectors.ndim == 2 else s[:, None, :])).sum(-1)
        return cos - 0.5

    def listen(self, rows: np.ndarray, vectors: np.ndarray) -> None:
        """Push (R, dim) played tracks into the window (the oldest drops out)."""
        slot = self.count[rows] % self.window
        self.recent[rows, slot] = vectors
        self.count[rows] += 1
