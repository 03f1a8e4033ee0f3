"""``recurrent_ppo``: sb3-contrib's RecurrentPPO (an LSTM policy and value) on MusicGym's envs.

A policy with a memory of the session: on the hard track (a new listener each episode, hidden
preferences) what the listener wants must be inferred from the feedback so far, which a memoryless
policy sees only through the current observation. It trains on the env's native vector version like
``ppo`` (`musicgym.agents.sb3_agents.SB3Agent`) with ``MlpLstmPolicy``; `predict` carries the LSTM
state between steps (``state`` / ``episode_start``, as `musicgym.evaluate` passes them).

Candidates-mode ids only: RecurrentPPO has no action masks, and a candidate slot never holds a played
track, so no mask is needed there.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from musicgym.agents.sb3_agents import SB3Agent
from sb3_contrib import RecurrentPPO


class RecurrentPPOAgent(SB3Agent):
    """sb3-contrib RecurrentPPO with an LSTM (see module docstring)."""

    name = "recurrent_ppo"
    algo = RecurrentPPO
    uses_info = False
    SUPPORTED_ENVS: ClassVar[tuple[str, ...]] = (
        "MusicGym/Playlist-v0", "MusicGym/PlaylistPOMDP-v0", "MusicGym/Taste-v0", "MusicGym/Preference-v0",
        "MusicGym/PreferenceHidden-v0", "MusicGym/Session-v0",
    )  # fmt: skip
    HYPERPARAMS: ClassVar[dict[str, Any]] = {**SB3Agent.HYPERPARAMS, "policy": "MlpLstmPolicy"}

    def predict(
        self, observation: Any, state: Any = None, episode_start: Any = None, deterministic: bool = False, **kw: Any
    ) -> tuple[np.ndarray, Any]:
        """RecurrentPPO's predict: the action and the LSTM state to pass back at the next step."""
        return self.model.predict(observation, state=state, episode_start=episode_start, deterministic=deterministic)

    def action_scores(self, observation: Any, info: dict[str, Any]) -> tuple[str, np.ndarray] | None:
        """Not shown: the probabilities depend on the LSTM state of the session."""
        return None
