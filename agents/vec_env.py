"""A Stable-Baselines3 ``VecEnv`` over a MusicGym native vector env (no subprocesses).

SB3 resets a finished session within the same ``step`` and puts the last observation of the episode
in ``info["terminal_observation"]``; Gymnasium's vector envs reset on the next step instead. This
adapter drives the env's batched core directly with SB3's semantics, so that n sessions step with
one numpy call (SubprocVecEnv on 2 cores would spend its time in inter-process traffic).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env import VecEnv

import musicgym  # noqa: F401  (registers the envs)


class MusicGymVecEnv(VecEnv):
    """n sessions of a MusicGym env as one SB3 ``VecEnv``.

    Args:
        env_id: a registered MusicGym id.
        n_envs: number of sessions.
        seed: seed of the first reset (SB3's ``seed()`` overrides it).
        reward_scale: multiplies the rewards handed to the learner (training only; a constant, so it
            costs nothing, unlike VecNormalize).
        **env_kwargs: passed to the env (``catalog=``...).
    """

    def __init__(
        self, env_id: str, n_envs: int = 8, seed: int | None = None, reward_scale: float = 1.0, **env_kwargs: Any
    ) -> None:
        self.reward_scale = float(reward_scale)
        self.venv = gym.make_vec(env_id, num_envs=n_envs, vectorization_mode="vector_entry_point", **env_kwargs)
        self.env_id = env_id
        self.core = self.venv.unwrapped.core
        self.core.track_oracle = False  # learners never see the oracle; skipping it saves work on every step
        limit = self.venv.unwrapped.max_episode_steps  # None: the env terminates by itself (Playlist-v0)
        self.max_episode_steps = np.iinfo(np.int64).max if limit is None else limit
        super().__init__(n_envs, self.venv.single_observation_space, self.venv.single_action_space)
        self._rows = np.arange(n_envs)
        self._steps = np.zeros(n_envs, dtype=np.int64)
        self._actions = np.zeros(n_envs, dtype=np.int64)
        self._first_seed = seed
        self.render_mode = None

    def reset(self) -> np.ndarray:
        """Reset every session (seeded by ``seed()`` or the constructor's seed the first time)."""
        seed = self._seeds[0] if self._seeds and self._seeds[0] is not None else self._first_seed
        self._first_seed = None
        self.venv.reset(seed=seed)
        self._reset_seeds()
        self._steps[:] = 0
        return self.core.observe(self._rows)

    @property
    def np_random(self) -> np.random.Generator:
        """The generator every draw comes from (the vector env's)."""
        return self.venv.unwrapped.np_random

    def step_async(self, actions: np.ndarray) -> None:
        """Store the actions for `step_wait`."""
        self._actions = np.asarray(actions, dtype=np.int64).reshape(self.num_envs)

    def step_wait(self):
        """Step every session; finished ones are reset at once, SB3-style."""
        out = self.core.step(self.np_random, self._rows, self._actions)
        self._steps += 1
        terminated = self.core.exhausted(self._rows)
        truncated = (self._steps >= self.max_episode_steps) & ~terminated
        done = terminated | truncated
        obs = self.core.observe(self._rows)
        # before finished sessions are reset: what bootstrapping agents need
        self.final_obs = obs.copy()
        self.final_candidates = self.core.candidates.copy()
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        finished = np.flatnonzero(done)
        for b in finished:
            infos[b]["terminal_observation"] = obs[b].copy()
            infos[b]["TimeLimit.truncated"] = bool(truncated[b])
        if finished.size:
            self.core.reset(self.np_random, finished)
            self._steps[finished] = 0
            obs[finished] = self.core.observe(finished)
        reward = out["reward"] if self.reward_scale == 1.0 else out["reward"] * self.reward_scale
        return obs, reward.astype(np.float32), done, infos

    def action_masks(self) -> np.ndarray:
        """(n_envs, n_actions) valid actions now."""
        return self.core.action_mask(self._rows)

    def close(self) -> None:
        """Nothing to release."""

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        """The vector env's attribute, once per selected session."""
        return [getattr(self.venv.unwrapped, attr_name)] * len(self._get_indices(indices))

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        """Set an attribute on the shared vector env."""
        setattr(self.venv.unwrapped, attr_name, value)

    def env_method(self, method_name: str, *method_args: Any, indices: Any = None, **method_kwargs: Any) -> list[Any]:
        """``action_masks`` per session (what sb3-contrib's MaskablePPO calls)."""
        idx = list(self._get_indices(indices))
        if method_name == "action_masks":
            return list(self.core.action_mask(np.asarray(idx)))
        raise AttributeError(f"MusicGymVecEnv supports env_method('action_masks') only, not {method_name!r}")

    def env_is_wrapped(self, wrapper_class: type, indices: Any = None) -> list[bool]:
        """The sessions are not gym wrappers."""
        return [False] * len(self._get_indices(indices))

    def _get_indices(self, indices: Any) -> Sequence[int]:
        if indices is None:
            return range(self.num_envs)
        if isinstance(indices, int):
            return [indices]
        return indices
