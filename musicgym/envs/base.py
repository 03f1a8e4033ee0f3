"""`MusicEnv` (one session, a `gymnasium.Env`) and `MusicVectorEnv` (B sessions, a native `VectorEnv`).

Both drive the same batched `Core`; an environment module defines its core and two thin subclasses
that name it (see `musicgym.envs.playlist`).
"""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from musicgym.envs.core import Core

RENDER_MODES = ["ansi", "human"]


def _check_render_mode(render_mode: str | None, allowed: list[str]) -> None:
    if render_mode is not None and render_mode not in allowed:
        raise ValueError(f"render_mode must be None or one of {allowed}, got {render_mode!r}")


def _as_action(action: Any, n: int) -> int:
    a = np.asarray(action)
    if a.size != 1 or a.dtype.kind not in "iu":
        raise ValueError(f"action must be one integer in Discrete({n}), got {action!r}")
    value = int(a.reshape(()))
    if not 0 <= value < n:
        raise ValueError(f"action {value} is out of range: the action space is Discrete({n})")
    return value


class MusicEnv(gym.Env):
    """One listening session over a batched `Core` with B = 1 (see the subclasses for each spec)."""

    metadata: ClassVar[dict[str, Any]] = {"render_modes": RENDER_MODES, "render_fps": 4}
    core_cls: ClassVar[type[Core]]

    def __init__(self, catalog: Any = "default", render_mode: str | None = None, **params: Any) -> None:
        _check_render_mode(render_mode, self.metadata["render_modes"])
        self.render_mode = render_mode
        self.core = self.core_cls(catalog, num=1, **params)
        self.catalog = self.core.catalog
        self.observation_space = self.core.observation_space
        self.action_space = spaces.Discrete(self.core.n_actions)
        self._rows = np.zeros(1, dtype=np.int64)
        self._feedback: list[str] = []

    def _info(self, res: dict[str, Any] | None) -> dict[str, Any]:
        core = self.core
        length = int(core.length[0])
        cand = core.candidates[0]
        info: dict[str, Any] = {
            "history": core.history[0, :length].copy(),
            "candidates": cand.copy(),
            "action_mask": cand >= 0 if core.action_mode == "candidates" else core.action_mask(self._rows)[0],
            "oracle_action": int(core.oracle_action[0]),
            "oracle_reward": float(core.oracle_reward[0]),
        }
        if res is None:
            info["track"] = int(core.history[0, length - 1])
            return info
        info["track"] = res["track"]
        info["regret"] = res["regret"]
        info["repeat"] = res["repeat"]
        info["rewards"] = {k: res[k] for k in core.COMPONENTS if k in res}
        return info

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Start a new session; every random draw comes from ``self.np_random``.

        `options` (see the env's docstring): ``start_track`` (a catalog row to start from) and, where
        the env has them, the user's state (e.g. ``preferences`` in Preference-v0).
        """
        super().reset(seed=seed)
        self.core.reset(self.np_random, self._rows)
        if options:
            self.core.apply_options(self.np_random, self._rows, dict(options))
        self._feedback = ["(start)"] * int(self.core.length[0])
        if self.render_mode == "human":
            self.render()
        return self.core.observe_one(), self._info(None)

    def step(self, action: Any):
        """Play the track behind `action`; see the class docstring for reward and episode end."""
        a = _as_action(action, self.core.n_actions)
        res = self.core.step_one(self.np_random, a)
        if res is None:  # the batched path, for what the fast path leaves to it
            out = self.core.step(self.np_random, self._rows, np.array([a], dtype=np.int64))
            res = {k: v[0].item() for k, v in out.items()}
            res["exhausted"] = bool(self.core.exhausted(self._rows)[0])
        if self.render_mode is not None:
            self._feedback.append(self.core.feedback_text(res))
        if self.render_mode == "human":
            self.render()
        return self.core.observe_one(), float(res["reward"]), res["exhausted"], False, self._info(res)

    def action_masks(self) -> np.ndarray:
        """Valid actions now (True = plays a track not yet in the session), as sb3-contrib expects."""
        return self.core.action_mask(self._rows)[0]

    def render(self) -> str | None:
        """``"ansi"``: the playlist so far as text; ``"human"``: print it."""
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode; pass render_mode='ansi' or 'human'")
            return None
        core = self.core
        t = core.catalog.tracks
        played = core.history[0, : core.length[0]]
        played_feedback = [f for f in self._feedback if f != "(repeat)"]
        lines = [f"{type(self).__name__} playlist ({len(played)} tracks)"]
        for i, (row, fb) in enumerate(zip(played, played_feedback, strict=False), 1):
            year = t["year"].iat[row]
            year_s = "" if np.isnan(year) else f", {year:.0f}"
            genre = t["genre"].iat[row] or "?"
            lines.append(f"{i:3d}. {t['name'].iat[row]} - {t['artist'].iat[row]} [{genre}{year_s}]  {fb}")
        repeats = self._feedback.count("(repeat)")
        if repeats:
            lines.append(f"     ({repeats} repeated action(s) penalised)")
        text = "\n".join(lines)
        if self.render_mode == "human":
            print(text)
            return None
        return text


class MusicVectorEnv(VectorEnv):
    """B listening sessions stepped together with numpy (Gymnasium's next-step autoreset).

    Info arrays, one entry per session: ``track`` (-1 where the session was reset this step),
    ``candidates``, ``oracle_action``, ``oracle_reward``, ``regret`` (0 on reset steps), ``repeat``.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": [], "autoreset_mode": AutoresetMode.NEXT_STEP}
    core_cls: ClassVar[type[Core]]

    def __init__(
        self,
        num_envs: int = 1,
        catalog: Any = "default",
        max_episode_steps: int | None = None,
        render_mode: str | None = None,
        **params: Any,
    ) -> None:
        _check_render_mode(render_mode, self.metadata["render_modes"])
        if max_episode_steps is not None and (
            isinstance(max_episode_steps, bool) or not isinstance(max_episode_steps, (int, np.integer))
            or max_episode_steps < 1
        ):
            raise ValueError(f"max_episode_steps must be a positive integer or None, got {max_episode_steps!r}")
        self.core = self.core_cls(catalog, num=num_envs, **params)
        self.catalog = self.core.catalog
        self.num_envs = self.core.num
        #: truncation after this many steps (None: no time limit, the env terminates by itself)
        self.max_episode_steps = None if max_episode_steps is None else int(max_episode_steps)
        self._limit = np.iinfo(np.int64).max if max_episode_steps is None else int(max_episode_steps)
        self.render_mode = render_mode
        self.single_observation_space = self.core.observation_space
        self.single_action_space = spaces.Discrete(self.core.n_actions)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._all = self.core.all_rows()
        self.steps = np.zeros(self.num_envs, dtype=np.int64)
        self.prev_done = np.zeros(self.num_envs, dtype=bool)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Start new sessions everywhere."""
        super().reset(seed=seed)
        self.core.reset(self.np_random, self._all)
        self.steps[:] = 0
        self.prev_done[:] = False
        return self.core.observe(self._all), self._info(None, self._all)

    def _info(self, out: dict[str, np.ndarray] | None, active: np.ndarray) -> dict[str, Any]:
        core, n = self.core, self.num_envs
        info: dict[str, Any] = {
            "candidates": core.candidates.copy(),
            "oracle_action": core.oracle_action.copy(),
            "oracle_reward": core.oracle_reward.copy(),
            "track": np.full(n, -1, dtype=np.int64),
            "regret": np.zeros(n),
            "repeat": np.zeros(n, dtype=bool),
        }
        if out is not None:
            for key in ("track", "regret", "repeat"):
                info[key][active] = out[key]
        return info

    def step(self, actions: Any):
        """Step every session; sessions that ended on the previous step are reset instead."""
        actions = np.asarray(actions)
        if actions.shape != (self.num_envs,) or actions.dtype.kind not in "iu":
            raise ValueError(f"actions must be an integer array of shape ({self.num_envs},), got {actions!r:.80}")
        done_rows = np.flatnonzero(self.prev_done)
        active = np.flatnonzero(~self.prev_done)
        reward = np.zeros(self.num_envs)
        out = None
        if active.size:
            out = self.core.step(self.np_random, active, actions[active])
            reward[active] = out["reward"]
            self.steps[active] += 1
        if done_rows.size:
            self.core.reset(self.np_random, done_rows)
            self.steps[done_rows] = 0
        terminated = np.zeros(self.num_envs, dtype=bool)
        terminated[active] = self.core.exhausted(active)
        truncated = (self.steps >= self._limit) & ~terminated
        truncated[done_rows] = False
        self.prev_done = terminated | truncated
        return self.core.observe(self._all), reward, terminated, truncated, self._info(out, active)

    def action_masks(self) -> np.ndarray:
        """(num_envs, n_actions) valid actions, as sb3-contrib's MaskablePPO expects."""
        return self.core.action_mask(self._all)
