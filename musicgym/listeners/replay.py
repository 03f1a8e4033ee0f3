"""A listener that answers from a person's logged sessions (``musicgym play`` logs).

Each episode replays one logged session, drawn with the env's generator: it starts from that
session's first track, and a track the person answered in that session gets the logged answer
(percentage listened, liked) and Playlist-v0's reward. A track the person never heard has no answer:
its percentage is NaN, its reward 0, and the listener leaves (`is_terminal`): the "replay method" of
off-policy evaluation (Li et al. 2011). Expected answers are unknown: the oracle is NaN.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from musicgym.catalog import Catalog
from musicgym.interaction_log import Log, LogError, read_log
from musicgym.listeners.base import Listener
from musicgym.listeners.cluster import PlaylistReward


class ReplayListener(Listener):
    """Logged sessions as listeners.

    Args:
        log: a path, a list of paths or a `Log` of ``musicgym play`` sessions on `env_id`.
        env_id: the env the log must come from.
        **reward: the `PlaylistReward` weights.
    """

    components = PlaylistReward.COMPONENTS
    state_attributes = ("current", "missed")
    has_expectation = False

    def __init__(self, log: Any, env_id: str = "MusicGym/Playlist-v0", **reward: Any) -> None:
        if log is None:
            raise ValueError("listener='replay' needs replay_log= (a musicgym play log)")
        self.log = log if isinstance(log, Log) else read_log(*([log] if isinstance(log, (str, Path)) else log))
        for t in self.log.truncated:
            warnings.warn(t, stacklevel=2)
        self.env_id = env_id
        self.reward = PlaylistReward(**reward)

    def setup(self, catalog: Catalog, num: int) -> None:
        """Check the log belongs to this env and catalog; index its sessions."""
        super().setup(catalog, num)
        self.log.check(self.env_id, catalog.fingerprint)
        self.reward.setup(catalog)
        starts, answers = [], []
        for session in self.log.sessions():
            first = session[0]
            if not first.get("history"):
                raise LogError(f"log session {first['session']}: its first record has no history (starting track)")
            starts.append(int(first["history"][0]))
            answers.append({int(r["track"]): (float(r["feedback"]["percentage_listened"]),
                                              bool(r["feedback"]["liked"])) for r in session})
        if not starts:
            raise LogError("the replay log holds no sessions")
        self.starts = np.asarray(starts, dtype=np.int64)
        self.answers = answers
        self.current = np.zeros(self.num, dtype=np.int64)
        self.missed = np.zeros(self.num, dtype=bool)

    def sample(self, rng: np.random.Generator, rows: np.ndarray) -> None:
        """Draw a logged session for each row."""
        self.current[rows] = rng.integers(0, len(self.starts), size=len(rows))
        self.missed[rows] = False

    def initial_tracks(self, rows: np.ndarray) -> np.ndarray:
        """Each drawn session's starting track."""
        return self.starts[self.current[rows]]

    def respond(self, rng: np.random.Generator, rows: np.ndarray, tracks: np.ndarray) -> dict[str, np.ndarray]:
        """Logged (percentage listened, liked) per row; NaN / False and reward 0 where the person never answered."""
        pct = np.full(len(rows), np.nan)
        liked = np.zeros(len(rows), dtype=bool)
        for i, (r, t) in enumerate(zip(rows, tracks, strict=True)):
            ans = self.answers[self.current[r]].get(int(t))
            if ans is not None:
                pct[i], liked[i] = ans
        missed = np.isnan(pct)
        self.missed[rows] = missed
        out = self.reward(tracks, pct, liked)
        out["reward"] = np.where(missed, 0.0, out["reward"])
        return out

    def is_terminal(self, rows: np.ndarray) -> np.ndarray:
        """The last track went unheard: the replay ends."""
        return self.missed[rows].copy()

    def expected_reward(self, rows: np.ndarray, tracks: np.ndarray) -> np.ndarray:
        """Unknown: NaN."""
        return np.full(np.shape(tracks), np.nan)

    def feedback_text(self, response: dict[str, Any]) -> str:
        """"listened 73%, liked" and the reward."""
        return PlaylistReward.text(response)
