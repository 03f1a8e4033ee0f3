"""A person at the keyboard as Playlist-v0's listener (``musicgym play``).

The person's answer to the track the next ``env.step`` plays is handed to this listener first with
`answer` (percentage listened, liked); the env computes the reward from it with Playlist-v0's
`PlaylistReward`. A person's expected answers are unknown: ``oracle_reward`` and ``regret`` are NaN.

Usage::

    person = PersonListener()
    env = gym.make("MusicGym/Playlist-v0", listener=person)
    obs, info = env.reset(options={"start_track": row})
    person.answer(0.75, liked=True)
    obs, reward, terminated, truncated, info = env.step(action)
"""

from __future__ import annotations

from typing import Any

import numpy as np

from musicgym.catalog import Catalog
from musicgym.checks import check_bool, check_number
from musicgym.listeners.base import Listener
from musicgym.listeners.cluster import PlaylistReward


class PersonListener(Listener):
    """One person answering in the terminal (one session only).

    Args:
        **reward: the `PlaylistReward` weights (Playlist-v0's defaults).
    """

    components = PlaylistReward.COMPONENTS
    has_expectation = False

    def __init__(self, **reward: Any) -> None:
        self.reward = PlaylistReward(**reward)
        self._answer: tuple[float, bool] | None = None

    def setup(self, catalog: Catalog, num: int) -> None:
        """One person, one session."""
        if num != 1:
            raise ValueError(f"a PersonListener answers one session, not num_envs={num}")
        super().setup(catalog, num)
        self.reward.setup(catalog)

    def answer(self, percentage_listened: float, liked: bool) -> None:
        """How the person answered the track the next `env.step` plays."""
        pct = check_number("percentage_listened", percentage_listened, 0.0, 1.0)
        self._answer = (pct, check_bool("liked", liked))

    def respond(self, rng: np.random.Generator, rows: np.ndarray, tracks: np.ndarray) -> dict[str, np.ndarray]:
        """The answer given with `answer` (a ValueError if none was given since the last step)."""
        if self._answer is None:
            raise ValueError("PersonListener: call listener.answer(percentage_listened, liked) before env.step")
        pct, liked = self._answer
        self._answer = None
        return self.reward(tracks, np.array([pct]), np.array([liked]))

    def expected_reward(self, rows: np.ndarray, tracks: np.ndarray) -> np.ndarray:
        """Unknown: NaN."""
        return np.full(np.shape(tracks), np.nan)

    def feedback_text(self, response: dict[str, Any]) -> str:
        """"listened 73%, liked" and the reward."""
        return PlaylistReward.text(response)
