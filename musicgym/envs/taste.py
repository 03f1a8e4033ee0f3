"""``MusicGym/Taste-v0`` and ``MusicGym/TasteCatalog-v0``: the cosine-similarity taste env of the DQN project."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces

from musicgym.catalog import Catalog
from musicgym.checks import check_int
from musicgym.envs.base import MusicEnv, MusicVectorEnv
from musicgym.envs.core import SlateCore, shared_index
from musicgym.listeners import Listener, TasteUser

TASTE_DIM = 9


class TasteCore(SlateCore):
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
