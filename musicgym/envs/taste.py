"""``MusicGym/Taste-v0`` and ``MusicGym/TasteCatalog-v0``: the cosine-similarity taste env of the DQN project."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces

from musicgym.catalog import Catalog
from musicgym.envs.base import MusicEnv, MusicVectorEnv
from musicgym.envs.core import SlateCore, shared_index
from musicgym.listeners import TasteUser

TASTE_DIM = 9


class TasteCore(SlateCore):
    """Batched dynamics of Taste-v0 (see `TasteEnv` for the specification)."""

    PARAMS: ClassVar[dict[str, Any]] = {"action_mode": "candidates", "k": 20, "n_random": 5, "window": 5}
    COMPONENTS: ClassVar[tuple[str, ...]] = ("cosine",)

    def __init__(self, catalog: Catalog | str = "default", num: int = 1, **params: Any) -> None:
        super().__init__(catalog, num, **params)
        p = self.params
        self.catalog.require_features("MusicGym/Taste-v0")
        if not isinstance(p["window"], (int, np.integer)) or not 1 <= p["window"] < self.n_tracks:
            raise ValueError(f"window must be an integer from 1 to {self.n_tracks - 1}, got {p['window']!r}")
        self.taste = self.catalog.taste_features
        self._setup_actions(shared_index(self.catalog, "taste"))
        self.unit_taste = self.index.vectors  # the cosine index keeps unit-length rows
        self.user = TasteUser(self.num, TASTE_DIM, int(p["window"]))
        self.item_features = self.taste
        self.head_dim = TASTE_DIM
        genre = self.catalog.tracks["genre"].to_numpy()
        groups = [np.flatnonzero(genre == g) for g in np.unique(genre) if g]
        self._start_groups = [g for g in groups if len(g) >= p["window"]] or [np.arange(self.n_tracks)]
        dim = TASTE_DIM * (1 + self.k)
        self.observation_space = spaces.Box(0.0, 1.0, shape=(dim,), dtype=np.float32)

    def _reset_rows(self, rng: np.random.Generator, rows: np.ndarray) -> None:
        w = self.user.window
        start = np.empty((len(rows), w), dtype=np.int64)
        for i, g in enumerate(rng.integers(0, len(self._start_groups), size=len(rows))):
            start[i] = rng.choice(self._start_groups[g], size=w, replace=False)
        for j in range(w):
            self._push(rows, start[:, j])
        self.user.start(rows, self.taste[start])

    def _head(self, rows: np.ndarray) -> np.ndarray:
        """The taste state."""
        return self.user.state(rows)

    def _respond_one(self, rng: np.random.Generator, track: int) -> dict[str, Any]:
        # the batched path's own function, so that rewards agree to the last bit
        reward = float(self.user.reward(self._s0, self.unit_taste[track : track + 1])[0])
        self.user.listen_one(self.taste[track])
        return {"reward": reward, "cosine": reward + 0.5}

    def _respond(self, rng: np.random.Generator, rows: np.ndarray, tracks: np.ndarray) -> dict[str, np.ndarray]:
        reward = self.user.reward(rows, self.unit_taste[tracks])
        self.user.listen(rows, self.taste[tracks])
        return {"reward": reward.astype(np.float64), "cosine": reward + 0.5}

    def expected_reward(self, rows: np.ndarray, tracks: np.ndarray) -> np.ndarray:
        """The reward is deterministic given the state: cosine similarity minus 0.5."""
        return self.user.reward(rows, self.unit_taste[tracks]).astype(np.float64)

    def oracle_query(self, rows: np.ndarray) -> np.ndarray:
        """The taste state: its best cosine match is the greedy best track."""
        return self.user.state(rows)


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
    ``render_mode``.

    ## Version History
    * v0: initial version.
    """

    core_cls = TasteCore


class TasteVectorEnv(MusicVectorEnv):
    """Native batched `TasteEnv`: B sessions, one batched index call per step."""

    core_cls = TasteCore
