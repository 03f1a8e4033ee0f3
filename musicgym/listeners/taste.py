"""The DQN project's taste user: the state is the mean taste vector of the last few tracks played.

The reward for a track is its cosine similarity with that state, centred as the project did
(``cos - 0.5``). The user has no hidden part: the state is what the agent observes.
"""

from __future__ import annotations

import numpy as np


def unit(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.where(norm > 0, norm, 1.0)


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
        self._state = np.zeros((num, dim), dtype=np.float32)
        self._unit_state = np.zeros((num, dim), dtype=np.float32)

    def _refresh(self, rows: np.ndarray) -> None:
        self._state[rows] = self.recent[rows].mean(axis=1)
        self._unit_state[rows] = unit(self._state[rows])

    def start(self, rows: np.ndarray, vectors: np.ndarray) -> None:
        """Fill the window of `rows` with (R, window, dim) starting tracks."""
        self.recent[rows] = vectors
        self.count[rows] = self.window
        self._refresh(rows)

    def state(self, rows: np.ndarray) -> np.ndarray:
        """(R, dim) mean taste vector of the window."""
        return self._state[rows]

    def reward(self, rows: np.ndarray | slice, unit_vectors: np.ndarray) -> np.ndarray:
        """Cosine similarity with the state minus 0.5, for (R, dim) or (R, K, dim) unit-length track vectors."""
        s = self._unit_state[rows]
        if unit_vectors.ndim == 3:
            return np.einsum("rkd,rd->rk", unit_vectors, s) - 0.5
        return np.einsum("rd,rd->r", unit_vectors, s) - 0.5

    def listen(self, rows: np.ndarray, vectors: np.ndarray) -> None:
        """Push (R, dim) played tracks into the window (the oldest drops out)."""
        slot = self.count[rows] % self.window
        self.recent[rows, slot] = vectors
        self.count[rows] += 1
        self._refresh(rows)

    def listen_one(self, vector: np.ndarray) -> None:
        """`listen` for user 0 and one (dim,) track: the same arithmetic on views, without copies."""
        self.recent[0, int(self.count[0]) % self.window] = vector
        self.count[0] += 1
        state = self.recent[0:1].mean(axis=1)
        self._state[0:1] = state
        self._unit_state[0:1] = unit(state)
