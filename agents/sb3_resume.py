"""SB3 algorithms that can hand over, and take back, everything that decides the rest of their training.

SB3's ``model.save`` stores the weights, the optimiser and the hyperparameters; resuming from it is
not exact: it leaves out the replay buffer (``save_replay_buffer`` writes it as a pickle), every
generator, and the env's state, and SB3's ``load`` drops ``_last_obs`` so the first ``learn`` resets
the env. `ResumableMixin` adds two methods on the algorithm's own attributes:
``training_state(full)`` returns, as plain data (numbers, strings, numpy arrays), the step and update
counters, the schedules' progress, the exploration rate and SB3's episode statistics; with ``full``
also ``_last_obs`` / ``_last_episode_starts`` / ``_last_original_obs``, the action space's generator
(DQN's warm-up draws from it), the replay buffer's filled part and, for sb3-contrib's RecurrentPPO, the
LSTMs' last states; ``load_training_state`` takes it
back. Taken where the algorithm starts a rollout (after its previous update), such a state, with the
weights, the env's state and the global generators (`musicgym.agents.sb3_agents`), continues the run
exactly.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from musicgym.agents.persist import generator_state, restore_generator
from sb3_contrib import MaskablePPO
from stable_baselines3 import PPO

REPLAY_FIELDS = ("observations", "next_observations", "actions", "rewards", "dones", "timeouts")


class ResumableMixin:
    """`training_state` / `load_training_state` for an SB3 algorithm (module docstring)."""

    def training_state(self, full: bool) -> dict[str, Any]:
        """The algorithm's counters and, with `full`, its rollout state and replay buffer (plain data)."""
        out: dict[str, Any] = {
            "num_timesteps": int(self.num_timesteps),
            "n_updates": int(self._n_updates),
            "episode_num": int(self._episode_num),
            "progress_remaining": float(self._current_progress_remaining),
            "ep_info_buffer": None if self.ep_info_buffer is None else [dict(e) for e in self.ep_info_buffer],
            "ep_success_buffer": None if self.ep_success_buffer is None else list(self.ep_success_buffer),
        }
        if hasattr(self, "_n_calls"):  # off-policy: target-network schedule and exploration
            out["n_calls"] = int(self._n_calls)
            out["exploration_rate"] = float(self.exploration_rate)
        if full:
            out["last_obs"] = self._last_obs
            out["last_episode_starts"] = self._last_episode_starts
            out["last_original_obs"] = self._last_original_obs
            out["action_space_rng"] = generator_state(self.action_space.np_random)
            buffer = getattr(self, "replay_buffer", None)
            out["replay_buffer"] = None if buffer is None else replay_state(buffer)
            lstm = getattr(self, "_last_lstm_states", None)  # sb3-contrib's RecurrentPPO: the LSTMs' (h, c)
            if lstm is not None:
                out["lstm_states"] = {"pi": list(lstm.pi), "vf": list(lstm.vf)}
        return out

    def load_training_state(self, state: dict[str, Any], full: bool) -> None:
        """Continue from a `training_state` of an algorithm built with the same arguments."""
        from collections import deque

        self.num_timesteps = int(state["num_timesteps"])
        self._n_updates = int(state["n_updates"])
        self._episode_num = int(state["episode_num"])
        self._current_progress_remaining = float(state["progress_remaining"])
        window = self._stats_window_size
        if state["ep_info_buffer"] is not None:
            self.ep_info_buffer = deque(state["ep_info_buffer"], maxlen=window)
        if state["ep_success_buffer"] is not None:
            self.ep_success_buffer = deque(state["ep_success_buffer"], maxlen=window)
        if "n_calls" in state:
            self._n_calls = int(state["n_calls"])
            self.exploration_rate = float(state["exploration_rate"])
        if full:
            self._last_obs = state["last_obs"]
            self._last_episode_starts = state["last_episode_starts"]
            self._last_original_obs = state["last_original_obs"]
            rng = self.action_space.np_random
            saved = restore_generator(state["action_space_rng"]).bit_generator  # checks the saved state
            if type(saved) is not type(rng.bit_generator):
                raise ValueError(f"action space generator {type(saved).__name__}, expected "
                                 f"{type(rng.bit_generator).__name__}")
            rng.bit_generator.state = saved.state
            if state.get("replay_buffer") is not None:
                load_replay_state(self.replay_buffer, state["replay_buffer"])
            if state.get("lstm_states") is not None:
                lstm = state["lstm_states"]
                self._last_lstm_states = type(self._last_lstm_states)(
                    pi=tuple(t.to(self.device) for t in lstm["pi"]), vf=tuple(t.to(self.device) for t in lstm["vf"]))


def replay_state(buffer: Any) -> dict[str, Any]:
    """An SB3 ``ReplayBuffer``'s filled part and write position, as arrays."""
    n = buffer.buffer_size if buffer.full else buffer.pos
    out: dict[str, Any] = {"pos": int(buffer.pos), "full": bool(buffer.full)}
    for field in REPLAY_FIELDS:
        values = getattr(buffer, field, None)
        out[field] = None if values is None else np.array(values[:n])
    return out


def load_replay_state(buffer: Any, state: dict[str, Any]) -> None:
    """Fill an SB3 ``ReplayBuffer`` of the same size and shapes from `replay_state`."""
    for field in REPLAY_FIELDS:
        saved, values = state[field], getattr(buffer, field, None)
        if (saved is None) != (values is None):
            raise ValueError(f"replay buffer snapshot: {field} is {'absent' if saved is None else 'present'} "
                             f"there but not in this buffer")
        if saved is None:
            continue
        if len(saved) > len(values) or saved.shape[1:] != values.shape[1:]:
            raise ValueError(f"replay buffer snapshot: {field} has shape {saved.shape}, this buffer "
                             f"{values.shape}")
        values[: len(saved)] = saved
    buffer.pos, buffer.full = int(state["pos"]), bool(state["full"])


_RESUMABLE: dict[type, type] = {}


def resumable(algo: type) -> type:
    """`algo` itself if it has `ResumableMixin`, else a subclass of it with the mixin (made once per class)."""
    if issubclass(algo, ResumableMixin):
        return algo
    if algo not in _RESUMABLE:
        _RESUMABLE[algo] = type(f"Resumable{algo.__name__}", (ResumableMixin, algo),
                                {"__doc__": f"{algo.__name__} with `ResumableMixin`.", "__module__": __name__})
    return _RESUMABLE[algo]


ResumablePPO = resumable(PPO)
ResumableMaskablePPO = resumable(MaskablePPO)
