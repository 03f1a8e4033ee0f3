"""Reference policies with Stable-Baselines3's ``predict`` interface: random and (greedy) oracle.

Both read ``info`` (the env's action mask, the oracle's action). A policy that wants ``info`` sets
the attribute ``uses_info = True``; `musicgym.evaluate` then passes the latest ``info`` dict to
``predict(..., info=info)``. Policies without it are called exactly as SB3 calls them.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces


class RandomPolicy:
    """Uniformly random among the valid actions (``info["action_mask"]``), else over the whole space.

    Args:
        action_space: the env's ``Discrete`` action space.
        seed: seed of the policy's own ``np.random.Generator``.
    """

    uses_info = True

    def __init__(self, action_space: spaces.Discrete, seed: int | None = None) -> None:
        if not isinstance(action_space, spaces.Discrete):
            raise TypeError(f"RandomPolicy needs a Discrete action space, got {action_space}")
        self.n = int(action_space.n)
        self.rng = np.random.default_rng(seed)

    def predict(
        self,
        observation: Any,
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = False,
        info: dict[str, Any] | None = None,
    ) -> tuple[np.ndarray, Any]:
        """A random valid action (an array of them for a batch of masks)."""
        mask = None if info is None else info.get("action_mask")
        if mask is None:
            return np.asarray(self.rng.integers(self.n)), state
        mask = np.asarray(mask, dtype=bool)
        if mask.ndim == 1:
            valid = np.flatnonzero(mask)
            return np.asarray(self.rng.choice(valid) if valid.size else self.rng.integers(self.n)), state
        u = self.rng.random(mask.shape) * mask
        return u.argmax(axis=1), state


class OraclePolicy:
    """Plays ``info["oracle_action"]``: the greedy best action given the env's hidden user state."""

    uses_info = True

    def predict(
        self,
        observation: Any,
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = False,
        info: dict[str, Any] | None = None,
    ) -> tuple[np.ndarray, Any]:
        """The oracle's action from ``info``."""
        if info is None or "oracle_action" not in info:
            raise ValueError("OraclePolicy needs the env's info dict (predict(..., info=info)); evaluate() passes it")
        return np.asarray(info["oracle_action"]), state


class PlannerPolicy:
    """Plays ``info["plan_action"]``: the planner's action, in an env made with ``plan=True``.

    The planner knows the hidden listener and plans to the episode's end (`musicgym.envs.planner`);
    `musicgym.evaluate` makes its env with ``plan=True`` for this policy (``eval_env_kwargs``).
    """

    uses_info = True
    eval_env_kwargs: ClassVar[dict[str, Any]] = {"plan": True}

    def predict(
        self,
        observation: Any,
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = False,
        info: dict[str, Any] | None = None,
    ) -> tuple[np.ndarray, Any]:
        """The planner's action from ``info``."""
        if info is None or "plan_action" not in info:
            raise ValueError("PlannerPolicy needs info['plan_action']: make the env with plan=True (evaluate() does)")
        return np.asarray(info["plan_action"]), state
