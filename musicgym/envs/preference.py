"""``MusicGym/Preference-v0``: the feature-preference world model of the AH-DQN project."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces

from musicgym.catalog import ATTRIBUTE_NAMES, Catalog
from musicgym.checks import check_bool
from musicgym.envs.base import MusicEnv, MusicVectorEnv
from musicgym.envs.core import SlateCore, shared_index
from musicgym.listeners import Listener, PreferenceUser

N_ATTR = len(ATTRIBUTE_NAMES)
RECENT = 5


class PreferenceCore(SlateCore):
    """Batched dynamics of Preference-v0 (see `PreferenceEnv` for the specification)."""

    ENV_ID: ClassVar[str] = "MusicGym/Preference-v0"
    PARAMS: ClassVar[dict[str, Any]] = {
        "action_mode": "candidates",
        "k": 20,
        "n_random": 5,
        "observe_preferences": True,
        "drift": 0.05,
        "reward_scale": 5.0,
        "listener": "preference",
    }
    LISTENERS: ClassVar[dict[str, str]] = {"preference": "_preference_listener"}
    LISTENER_PARAMS: ClassVar[tuple[str, ...]] = ("drift", "reward_scale")
    RESET_OPTIONS: ClassVar[tuple[str, ...]] = ("start_track",)
    STATE: ClassVar[tuple[str, ...]] = (*SlateCore.STATE, "last_reward")

    def __init__(self, catalog: Catalog | str = "default", num: int = 1, **params: Any) -> None:
        p = {**self.PARAMS, **params}
        self.observe_preferences = check_bool("observe_preferences", p["observe_preferences"])
        super().__init__(catalog, num, **params)
        if self.observe_preferences and self.listener.observation_dim != N_ATTR:
            raise ValueError(f"Preference-v0 with observe_preferences=True shows the listener's preferences: "
                             f"{type(self.listener).__name__}.observe must give {N_ATTR} values, not "
                             f"{self.listener.observation_dim}")
        self.attrs = self.catalog.attributes
        self._setup_actions(shared_index(self.catalog, "attributes"))
        self.last_reward = np.zeros(self.num, dtype=np.float32)
        self.item_features = self.attrs
        self.head_dim = N_ATTR if self.observe_preferences else N_ATTR + 1
        if self.observe_preferences:
            low, high = [-1.0] * N_ATTR, [1.0] * N_ATTR
        else:
            r_low, r_high = self.listener.reward_range
            low, high = [0.0] * N_ATTR + [r_low], [1.0] * N_ATTR + [r_high]
        low, high = np.array(low + [0.0] * N_ATTR * self.k), np.array(high + [1.0] * N_ATTR * self.k)
        self.observation_space = spaces.Box(low.astype(np.float32), high.astype(np.float32), dtype=np.float32)

    def _preference_listener(self) -> Listener:
        return PreferenceUser(drift=self.params["drift"], scale=self.params["reward_scale"])

    def _recent_attrs(self, rows: np.ndarray) -> np.ndarray:
        """Mean attributes of each session's last 5 tracks (observed when preferences are hidden)."""
        length = self.length[rows]
        lo = np.maximum(length - RECENT, 0)
        cols = lo[:, None] + np.arange(RECENT)[None, :]
        valid = cols < length[:, None]
        tracks = self.history[rows[:, None], np.minimum(cols, self._cap - 1)]
        a = self.attrs[np.maximum(tracks, 0)] * valid[:, :, None]
        return a.sum(1) / valid.sum(1, keepdims=True)

    def _reset_rows(self, rows: np.ndarray) -> None:
        self.last_reward[rows] = 0.0

    def _record(self, rows: np.ndarray, tracks: np.ndarray, response: dict[str, np.ndarray]) -> None:
        self.last_reward[rows] = response["reward"]

    def _head(self, rows: np.ndarray) -> np.ndarray:
        """Preferences, or (hidden preferences) the last 5 songs' mean attributes and the last reward."""
        if self.observe_preferences:
            return self.listener.observe(rows)
        return np.concatenate([self._recent_attrs(rows), self.last_reward[rows, None]], axis=1)


class PreferenceEnv(MusicEnv):
    """Build a playlist for a virtual user with preferences over 21 binary song attributes.

    ## Description
    The world model of the AH-DQN project: every song is described by 21 binary attributes (6
    decades, 6 genres, 9 moods and styles; the rules are in `musicgym.catalog.attributes`). A virtual
    user weighs each attribute in [-1, 1]; a song's reward is the dot product of those weights and
    its attributes. After each song the user liked (positive reward) the weights drift toward that
    song's attributes, as in the project's online mode.

    ## Action Space
    ``action_mode="candidates"`` (default): ``Discrete(k)`` (k = 20) slots: the ``k - n_random``
    songs with the highest attribute inner product with the last song played (shared FAISS
    attributes index and its 64-neighbour table; the rule never reads the hidden preferences), plus
    ``n_random`` = 5 random catalog songs, none already played, shuffled by the env's RNG. ``action_mode="catalog"``
    (``PreferenceCatalog-v0``): ``Discrete(N)``, any catalog song. A repeat (catalog mode only;
    masked in ``info["action_mask"]`` / ``action_masks()``) is penalised with -1 and changes nothing.

    ## Observation Space
    The user's current preferences (21, in [-1, 1]), as the project observed them; with
    ``observe_preferences=False`` instead the mean attributes of the last 5 songs and the last reward
    (22): a POMDP. In candidates mode the k slots' attributes follow (21 each, zeros if empty).

    ## Rewards
    ``dot(preferences, attributes) / reward_scale`` (default 5, about the number of attributes a
    song has), mostly within [-1, 1]. ``info["rewards"]["dot_product"]`` is the unscaled dot product.

    ## Starting State
    Preferences uniform in [-1, 1] per attribute; one random catalog song has been played.
    ``env.reset(options={"preferences": p, "start_track": row})`` sets either instead (a person's
    stated preferences, as in the project's online mode).

    ## Episode End
    Truncation after 20 steps (``max_episode_steps=20``); termination if no unplayed song is left.

    ## Info
    ``track``, ``candidates``, ``history``, ``rewards``, ``action_mask``, ``repeat``,
    ``oracle_action`` / ``oracle_reward`` (the greedy best under the hidden preferences; in catalog
    mode found by an exact inner-product search of the shared index), ``regret``.

    ## Arguments
    ``catalog``, ``action_mode``, ``k``, ``n_random``, ``observe_preferences``, ``drift`` (0.05),
    ``reward_scale`` (5.0), ``listener`` (``"preference"``, the `PreferenceUser` with ``drift`` and
    ``reward_scale``, or a `musicgym.listeners.Listener`; with ``observe_preferences=True`` its
    ``observe`` must give the 21 preferences), ``render_mode``.

    ## Version History
    * v0: initial version.
    * v0 (unreleased revision): retrieval ties broken by exact score then track id, identical on every CPU
      (the attributes neighbour table had come in FAISS's order; its many exactly equal scores now come
      in track order).
    """

    core_cls = PreferenceCore


class PreferenceVectorEnv(MusicVectorEnv):
    """Native batched `PreferenceEnv`: B sessions, one batched index call per step."""

    core_cls = PreferenceCore
