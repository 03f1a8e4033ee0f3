"""A Stable-Baselines3 ``VecEnv`` over a MusicGym native vector env (no subprocesses): a thin shim.

SB3 resets a finished session within the same ``step`` and puts the last observation of the episode
in ``info["terminal_observation"]``: that is Gymnasium's same-step autoreset mode, which MusicGym's
native vector envs offer (``autoreset_mode=AutoresetMode.SAME_STEP``). This adapter only translates
the Gymnasium vector API into SB3's (a list of per-session info dicts) and keeps the training-time
reward scale. It reads nothing but the vector env's public face: observations, ``info``, spaces,
``action_masks()``, ``history()`` and the documented attributes ``item_features``, ``head_dim``,
``action_mode``, ``index`` and ``catalog``. The greedy oracle is switched off (``oracle=False``):
learners never see it, and it saves the oracle's work on every step.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode
from stable_baselines3.common.vec_env import VecEnv

import musicgym  # noqa: F401  (registers the envs)
from musicgym.index import CandidateIndex


class MusicGymVecEnv(VecEnv):
    """n sessions of a MusicGym env as one SB3 ``VecEnv``.

    Args:
        env_id: a registered MusicGym id.
        n_envs: number of sessions.
        seed: seed of the first reset (SB3's ``seed()`` overrides it).
        reward_scale: multiplies the rewards handed to the learner (training only; a constant, so it
            costs nothing, unlike VecNormalize).
        **env_kwargs: passed to the env (``catalog=``...).

    After each `step_wait`: ``final_obs`` is every session's observation before finished sessions were
    reset (what bootstrapping agents need), ``final_candidates`` their candidate slots then, and
    ``candidates`` the slots now.
    """

    def __init__(
        self, env_id: str, n_envs: int = 8, seed: int | None = None, reward_scale: float = 1.0, **env_kwargs: Any
    ) -> None:
        self.reward_scale = float(reward_scale)
        spec = gym.spec(env_id.removeprefix("musicgym:"))
        self.venv = gym.make_vec(env_id, num_envs=n_envs, vectorization_mode="vector_entry_point",
                                 autoreset_mode=AutoresetMode.SAME_STEP, oracle=False, **env_kwargs)
        self.env_id = env_id
        limit = spec.max_episode_steps
        self.max_episode_steps = limit  # None: the env terminates by itself (Playlist-v0)
        super().__init__(n_envs, self.venv.single_observation_space, self.venv.single_action_space)
        self._first_seed = seed
        self.render_mode = None
        self._actions = np.zeros(n_envs, dtype=np.int64)
        self.candidates = np.zeros((n_envs, 0), dtype=np.int64)
        self.final_obs: np.ndarray | None = None
        self.final_candidates = self.candidates
        self._was_reset = False

    # ---------------------------------------------------------------- the env's public face
    @property
    def unwrapped_env(self) -> Any:
        """The native vector env."""
        return self.venv.unwrapped

    @property
    def head_dim(self) -> int:
        """Width of the observation before the candidate slots."""
        return self.unwrapped_env.head_dim

    @property
    def item_features(self) -> np.ndarray:
        """(N, d) catalog features the observation's slots show."""
        return self.unwrapped_env.item_features

    @property
    def action_mode(self) -> str:
        """``"candidates"`` or ``"catalog"``."""
        return self.unwrapped_env.action_mode

    @property
    def index(self) -> CandidateIndex:
        """The shared FAISS index over `item_features`' space."""
        return self.unwrapped_env.index

    @property
    def catalog(self) -> Any:
        """The env's catalog."""
        return self.unwrapped_env.catalog

    @property
    def n_actions(self) -> int:
        """Size of the (Discrete) action space."""
        return int(self.action_space.n)

    def history(self) -> np.ndarray:
        """(n_envs, H) tracks played in each session so far, -1 padded."""
        return self.unwrapped_env.history()

    def tracks_of(self, actions: np.ndarray) -> np.ndarray:
        """Catalog rows behind `actions` now (candidate slots, or catalog rows in catalog mode)."""
        actions = np.asarray(actions, dtype=np.int64)
        if self.action_mode == "catalog":
            return actions
        return self.candidates[np.arange(self.num_envs), actions]

    # ---------------------------------------------------------------- SB3's VecEnv
    def reset(self) -> np.ndarray:
        """Reset every session (seeded by ``seed()`` or the constructor's seed the first time)."""
        seed = self._seeds[0] if self._seeds and self._seeds[0] is not None else self._first_seed
        self._first_seed = None
        obs, info = self.venv.reset(seed=seed)
        self._reset_seeds()
        self.candidates = info["candidates"]
        self._was_reset = True
        return obs

    # ---------------------------------------------------------------- snapshots (exact checkpoint resume)
    def get_state(self) -> dict[str, Any]:
        """All that decides the sessions' future: the native env's ``get_state()`` and this adapter's own.

        Data only (numpy arrays, ints, the generator state): `musicgym.agents.persist` stores it.
        Before the first reset there is nothing to snapshot but the seed of that reset.
        """
        out: dict[str, Any] = {"first_seed": self._first_seed, "seeds": list(self._seeds), "was_reset": self._was_reset}
        if self._was_reset:
            out.update(env=self.unwrapped_env.get_state(), candidates=self.candidates.copy(),
                       final_obs=None if self.final_obs is None else self.final_obs.copy(),
                       final_candidates=self.final_candidates.copy(), actions=self._actions.copy())
        return out

    def set_state(self, state: dict[str, Any]) -> None:
        """Continue from a `get_state` snapshot of an adapter made with the same arguments."""
        if len(state["seeds"]) != self.num_envs:
            raise ValueError(f"snapshot of {len(state['seeds'])} sessions, this env has {self.num_envs}")
        self._first_seed = state["first_seed"]
        self._seeds = list(state["seeds"])
        self._was_reset = bool(state["was_reset"])
        if self._was_reset:
            self.unwrapped_env.set_state(state["env"])
            self.candidates = np.asarray(state["candidates"], dtype=np.int64)
            self.final_obs = None if state["final_obs"] is None else np.asarray(state["final_obs"])
            self.final_candidates = np.asarray(state["final_candidates"], dtype=np.int64)
            self._actions = np.asarray(state["actions"], dtype=np.int64)

    @property
    def np_random(self) -> np.random.Generator:
        """The generator every draw comes from (the vector env's)."""
        return self.unwrapped_env.np_random

    def step_async(self, actions: np.ndarray) -> None:
        """Store the actions for `step_wait`."""
        self._actions = np.asarray(actions, dtype=np.int64).reshape(self.num_envs)

    def step_wait(self):
        """Step every session; finished ones are reset at once (SB3's convention)."""
        obs, reward, terminated, truncated, info = self.venv.step(self._actions)
        done = terminated | truncated
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        self.final_obs = obs
        self.final_candidates = info["candidates"]
        if "final_obs" in info:
            self.final_obs = np.where(info["_final_obs"][:, None], info["final_obs"], obs)
            self.final_candidates = np.where(info["_final_obs"][:, None], info["final_info"]["candidates"],
                                             info["candidates"])
            for b in np.flatnonzero(done):
                infos[b]["terminal_observation"] = info["final_obs"][b].copy()
                infos[b]["TimeLimit.truncated"] = bool(truncated[b])
        self.candidates = info["candidates"]
        if self.reward_scale != 1.0:
            reward = reward * self.reward_scale
        return obs, reward.astype(np.float32), done, infos

    def action_masks(self) -> np.ndarray:
        """(n_envs, n_actions) valid actions now."""
        return self.unwrapped_env.action_masks()

    def close(self) -> None:
        """Nothing to release."""

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        """The vector env's public attribute, once per selected session."""
        if attr_name.startswith("_"):
            raise AttributeError(f"MusicGymVecEnv gives public attributes only, not {attr_name!r}")
        return [getattr(self.unwrapped_env, attr_name)] * len(self._get_indices(indices))

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        """Sessions share one native env: attributes cannot be set per session."""
        raise AttributeError(f"MusicGymVecEnv cannot set {attr_name!r}: the sessions share one native env")

    def env_method(self, method_name: str, *method_args: Any, indices: Any = None, **method_kwargs: Any) -> list[Any]:
        """``action_masks`` per session (what sb3-contrib's MaskablePPO calls)."""
        idx = list(self._get_indices(indices))
        if method_name == "action_masks":
            return list(self.action_masks()[idx])
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
