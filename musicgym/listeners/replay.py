"""A listener that answers from a person's logged sessions (``musicgym play`` logs).

Each episode replays one logged session: it starts from that session's first track, and a track the
person answered in that session gets the logged answer (percentage listened, liked). A track the
person never heard has no answer: `respond` returns NaN for it and the env ends the replay there
(the "replay method" of off-policy evaluation, Li et al. 2011).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from musicgym.interaction_log import Log, LogError, read_log


class ReplayListener:
    """Logged sessions as listeners; `num` sessions replayed side by side."""

    def __init__(self, starts: list[int], answers: list[dict[int, tuple[float, bool]]], num: int = 1) -> None:
        if not starts:
            raise LogError("the replay log holds no sessions")
        self.starts = np.asarray(starts, dtype=np.int64)
        self.answers = answers
        self.current = np.zeros(num, dtype=np.int64)
        self.missed = np.zeros(num, dtype=bool)

    @classmethod
    def from_log(cls, spec: Any, catalog: Any, env_id: str = "MusicGym/Playlist-v0", num: int = 1) -> ReplayListener:
        """From a path, a list of paths or a `Log`; LogError unless it comes from `env_id` on `catalog`."""
        if spec is None:
            raise ValueError("listener='replay' needs replay_log= (a musicgym play log)")
        log = spec if isinstance(spec, Log) else read_log(*([spec] if isinstance(spec, (str, Path)) else spec))
        for t in log.truncated:
            warnings.warn(t, stacklevel=2)
        log.check(env_id, catalog.fingerprint)
        starts, answers = [], []
        for session in log.sessions():
            first = session[0]
            if not first.get("history"):
                raise LogError(f"log session {first['session']}: its first record has no history (starting track)")
            starts.append(int(first["history"][0]))
            answers.append({int(r["track"]): (float(r["feedback"]["percentage_listened"]),
                                              bool(r["feedback"]["liked"])) for r in session})
        return cls(starts, answers, num)

    def start(self, rng: np.random.Generator, rows: np.ndarray) -> np.ndarray:
        """Draw a logged session for each row; return their starting tracks."""
        self.current[rows] = rng.integers(0, len(self.starts), size=len(rows))
        self.missed[rows] = False
        return self.starts[self.current[rows]]

    def respond(self, rows: np.ndarray, tracks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Logged (percentage listened, liked) per row; NaN / False where the person never answered."""
        pct = np.full(len(rows), np.nan)
        liked = np.zeros(len(rows), dtype=bool)
        for i, (r, t) in enumerate(zip(rows, tracks, strict=True)):
            ans = self.answers[self.current[r]].get(int(t))
            if ans is not None:
                pct[i], liked[i] = ans
        self.missed[rows] = np.isnan(pct)
        return pct, liked
