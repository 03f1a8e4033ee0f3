"""The DQN project's taste user: the state is the mean taste vector of the last few tracks played.

The reward for a track is its cosine similarity with that state, centred as the project did
(``cos - 0.5``). The user has no hidden part: the state is what the agent observes (`observe`).
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

from musicgym.catalog import Catalog
from musicgym.checks import check_int
from musicgym.listeners.base import Listener

TASTE_DIM = 9


@numba.njit(cache=True, nogil=True)
def _push_window(recent, count, state, unit_state, taste, rows, tracks, window):  # noqa: D103 (a kernel)
    """Push each row's track into its window and recompute the window's mean and its unit vector."""
    d = recent.shape[2]
    for i in range(rows.shape[0]):
        r = rows[i]
        slot = count[r] % window
        for m in range(d):
            recent[r, slot, m] = taste[tracks[i], m]
        count[r] += 1
        _refresh_row(recent, state, unit_state, r, window)


@numba.njit(cache=True, nogil=True)
def _refresh_row(recent, state, unit_state, r, window):  # noqa: D103 (a kernel)
    d = recent.shape[2]
    sq = np.float32(0.0)
    for m in range(d):
        acc = np.float32(0.0)
        for j in range(window):
            acc += recent[r, j, m]
        v = acc / np.float32(window)
        state[r, m] = v
        sq += v * v
    norm = np.sqrt(sq)
    for m in range(d):
        unit_state[r, m] = state[r, m] / norm if norm > 0 else state[r, m]


@numba.njit(cache=True, nogil=True)
def _cosine(unit_state, unit_taste, rows, tracks, out):  # noqa: D103 (a kernel)
    """Cosine of each row's state with its (R,) or (R, K) tracks, minus 0.5, as float64, into `out`."""
    flat_t = tracks.reshape(rows.shape[0], -1)
    flat_o = out.reshape(rows.shape[0], -1)
    d = unit_state.shape[1]
    for i in range(rows.shape[0]):
        r = rows[i]
        for j in range(flat_t.shape[1]):
            t = flat_t[i, j]
            acc = np.float32(0.0)
            for m in range(d):
                acc += unit_taste[t, m] * unit_state[r, m]
            flat_o[i, j] = np.float64(acc - np.float32(0.5))


def unit(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.where(norm > 0, norm, 1.0)


class TasteUser(Listener):
    """Listeners whose taste is the mean of the 9 taste features of their last `window` tracks.

    Args:
        window: how many recent tracks make the state (5).
    """

    components = ("cosine",)
    state_attributes = ("recent", "count", "_state", "_unit_state")
    observation_dim = TASTE_DIM

    def __init__(self, window: int = 5) -> None:
        self.window = check_int("window", window, 1, None)

    def setup(self, catalog: Catalog, num: int) -> None:
        """The catalog's taste features and their unit vectors (the shared cosine index's rows)."""
        from musicgym.index import CandidateIndex

        super().setup(catalog, num)
        catalog.require_features("MusicGym/Taste-v0")
        if self.window >= len(catalog):
            raise ValueError(f"window must be an integer from 1 to {len(catalog) - 1}, got {self.window}")
        self.taste = catalog.taste_features
        self.index = CandidateIndex.for_catalog(catalog, "taste")
        self.unit_taste = self.index.vectors  # the cosine index keeps unit-length rows
        self.recent = np.zeros((self.num, self.window, TASTE_DIM), dtype=np.float32)
        self.count = np.zeros(self.num, dtype=np.int64)
        self._state = np.zeros((self.num, TASTE_DIM), dtype=np.float32)
        self._unit_state = np.zeros((self.num, TASTE_DIM), dtype=np.float32)

    def start(self, rows: np.ndarray, tracks: np.ndarray) -> None:
        """Fill the window of `rows` with their (R, window) starting tracks (as if heard in order)."""
        self.count[rows] = 0
        for j in range(max(0, tracks.shape[1] - self.window), tracks.shape[1]):
            _push_window(self.recent, self.count, self._state, self._unit_state, self.taste, rows,
                         np.ascontiguousarray(tracks[:, j]), self.window)

    def observe(self, rows: np.ndarray) -> np.ndarray:
        """(R, 9) mean taste vector of the window."""
        return self._state[rows]

    def respond(self, rng: np.random.Generator, rows: np.ndarray, tracks: np.ndarray) -> dict[str, np.ndarray]:
        """Cosine similarity with the state minus 0.5."""
        reward = np.empty(len(rows))
        _cosine(self._unit_state, self.unit_taste, rows, tracks, reward)
        return {"reward": reward, "cosine": reward + 0.5}

    def update(self, rows: np.ndarray, tracks: np.ndarray, response: dict[str, np.ndarray]) -> None:
        """Push the played tracks into the window (the oldest drops out)."""
        _push_window(self.recent, self.count, self._state, self._unit_state, self.taste, rows, tracks, self.window)

    def expected_reward(self, rows: np.ndarray, tracks: np.ndarray) -> np.ndarray:
        """The reward is deterministic given the state: cosine similarity minus 0.5."""
        tracks = np.ascontiguousarray(tracks, dtype=np.int64)
        out = np.empty(tracks.shape)
        _cosine(self._unit_state, self.unit_taste, rows, tracks, out)
        return out

    def best_tracks(self, rows: np.ndarray, exclude: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The state's best cosine match in the shared taste index (exact search), played tracks excluded."""
        ids, _ = self.index.search(self._state[rows], 1, exclude=exclude)
        best = ids[:, 0]
        return best, np.where(best >= 0, self.expected_reward(rows, np.maximum(best, 0)), 0.0)

    def feedback_text(self, response: dict[str, Any]) -> str:
        """The reward."""
        return f"reward {response['reward']:+.3f}"
