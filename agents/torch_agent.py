"""Shared plumbing of MusicGym's own torch agents (``ah_dqn``, ``actor_critic``, ``cf_actor_critic``).

Training runs on the env's native vector version through `MusicGymVecEnv` (SB3's same-step reset),
logs TensorBoard scalars under fixed names, shows a tqdm progress bar when asked, and checkpoints to
``checkpoint_dir/checkpoint.pt`` every ``checkpoint_freq`` env steps; a ``learn`` call on an agent
whose ``checkpoint_dir`` holds a checkpoint resumes from it (replay buffers are not checkpointed:
a resumed DQN refills its buffer).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from musicgym.agents.base import Agent
from musicgym.agents.vec_env import MusicGymVecEnv
from torch import nn
from tqdm.auto import tqdm

COMMON_HYPERPARAMS: dict[str, Any] = {
    "n_envs": 8,
    "tensorboard_log": None,
    "checkpoint_dir": None,
    "checkpoint_freq": 50_000,
    "torch_threads": 1,
}


class EpisodeTracker:
    """Sums rewards per session and reports finished episodes' returns."""

    def __init__(self, n: int) -> None:
        self.ret = np.zeros(n)
        self.len = np.zeros(n, dtype=np.int64)
        self.finished: list[float] = []

    def update(self, reward: np.ndarray, done: np.ndarray) -> list[float]:
        """Add one step; return the returns of the episodes that ended."""
        self.ret += reward
        self.len += 1
        out = self.ret[done].tolist()
        self.finished.extend(out)
        self.ret[done] = 0.0
        self.len[done] = 0
        return out


class TorchAgent(Agent):
    """Base of the torch agents: subclasses build `modules` and implement `_train`/`predict`."""

    HYPERPARAMS: ClassVar[dict[str, Any]] = dict(COMMON_HYPERPARAMS)

    def __init__(self, env: Any, seed: int = 0, env_kwargs: dict[str, Any] | None = None, **hyperparams: Any):
        super().__init__(env, seed, env_kwargs, **hyperparams)
        self._steps = 0
        self._check_hyperparams()
        torch.set_num_threads(int(self.hp["torch_threads"]))
        self.vec_env = MusicGymVecEnv(self.env_id, n_envs=int(self.hp["n_envs"]), seed=self.seed, **self.env_kwargs)
        #: the env's public face as the agent sees it (head_dim, item_features, action_mode, index, ...)
        self.env = self.vec_env
        self.rng = np.random.default_rng(self.seed)
        self.torch_gen = torch.Generator().manual_seed(self.seed)
        torch.manual_seed(self.seed)
        self.modules: dict[str, nn.Module | torch.optim.Optimizer] = {}
        self.writer = None
        self._build()

    @property
    def num_timesteps(self) -> int:
        """Env steps trained so far."""
        return self._steps

    @num_timesteps.setter
    def num_timesteps(self, value: int) -> None:
        self._steps = int(value)

    # ---------------------------------------------------------------- for subclasses
    def _check_hyperparams(self) -> None:
        for key in ("n_envs", "checkpoint_freq", "torch_threads"):
            if not isinstance(self.hp[key], int) or self.hp[key] < 1:
                raise ValueError(f"agent {self.name!r}: {key} must be a positive integer, got {self.hp[key]!r}")

    def _build(self) -> None:
        raise NotImplementedError

    def _train(self, total_timesteps: int, step_hook: Any) -> None:
        raise NotImplementedError

    # ---------------------------------------------------------------- logging
    def log(self, name: str, value: float) -> None:
        """Write a TensorBoard scalar at the current step (when ``tensorboard_log`` is set)."""
        if self.writer is not None:
            self.writer.add_scalar(name, value, self.num_timesteps)

    def learn(self, total_timesteps: int, callback: Any = None, progress_bar: bool = False) -> TorchAgent:
        """Train until `total_timesteps` env steps (resuming from ``checkpoint_dir`` if it holds one).

        `callback`, if given, is called as ``callback(agent)`` after every vector step; returning
        False stops training.
        """
        ckpt_dir = Path(self.hp["checkpoint_dir"]) if self.hp["checkpoint_dir"] else None
        if ckpt_dir is not None and (ckpt_dir / "checkpoint.pt").exists() and self.num_timesteps == 0:
            self._load_state(ckpt_dir / "checkpoint.pt")
        if self.hp["tensorboard_log"] and self.writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(Path(self.hp["tensorboard_log"]) / f"{self.name}_{self.seed}"))
        bar = tqdm(total=total_timesteps, initial=self.num_timesteps, disable=not progress_bar, desc=self.name)
        start_t, start_n = time.perf_counter(), self.num_timesteps
        last_ckpt = self.num_timesteps

        def step_hook(episode_returns: list[float]) -> bool:
            nonlocal last_ckpt
            bar.update(self.vec_env.num_envs)
            for r in episode_returns:
                self.log("charts/episodic_return", r)
            if self.num_timesteps % (50 * self.vec_env.num_envs) < self.vec_env.num_envs:
                self.log("charts/SPS", (self.num_timesteps - start_n) / max(time.perf_counter() - start_t, 1e-9))
            if ckpt_dir is not None and self.num_timesteps - last_ckpt >= self.hp["checkpoint_freq"]:
                last_ckpt = self.num_timesteps
                self._save_state(ckpt_dir / "checkpoint.pt")
            return callback is None or callback(self) is not False

        try:
            if self.num_timesteps < total_timesteps:
                self._train(int(total_timesteps), step_hook)
        finally:
            bar.close()
            if self.writer is not None:
                self.writer.flush()
        if ckpt_dir is not None:
            self._save_state(ckpt_dir / "checkpoint.pt")
        return self

    # ---------------------------------------------------------------- persistence
    def _state(self) -> dict[str, Any]:
        return {
            "modules": {k: m.state_dict() for k, m in self.modules.items()},
            "num_timesteps": self.num_timesteps,
            "meta": self.describe(),
        }

    def _save_state(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        torch.save(self._state(), tmp)
        tmp.replace(path)

    def _load_state(self, path: Path) -> None:
        blob = torch.load(path, map_location="cpu", weights_only=False)
        for k, m in self.modules.items():
            m.load_state_dict(blob["modules"][k])
        self.num_timesteps = int(blob["num_timesteps"])

    def save(self, path: str | Path) -> None:
        """Weights, optimiser states and step count at `path`; ``path.json`` names agent, env, hyperparameters."""
        path = Path(path)
        self._save_state(path)
        self.write_meta(path)

    @classmethod
    def load(cls, path: str | Path) -> TorchAgent:
        """Load an agent written by `save`."""
        agent = cls.from_meta(cls.read_meta(path))
        agent._load_state(Path(path))
        return agent

    # ---------------------------------------------------------------- observation helpers
    def split_obs(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(B, head_dim) heads and, in candidates mode with full observations, (B, k, d) slot features."""
        obs = np.atleast_2d(np.asarray(obs, dtype=np.float32))
        h = self.env.head_dim
        d = self.env.item_features.shape[1]
        rest = obs.shape[1] - h
        slots = obs[:, h:].reshape(len(obs), rest // d, d) if rest and rest % d == 0 else None
        return obs[:, :h], slots


def with_head(heads: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
    """(B, K, h + d): each session's (B, h) head beside each of its (B, K, d) items, for one shared scorer."""
    return torch.cat([heads[:, None, :].expand(-1, items.shape[1], -1), items], dim=2)


def mlp(sizes: list[int], act: type[nn.Module] = nn.ReLU, out_act: nn.Module | None = None) -> nn.Sequential:
    """Linear layers with `act` between them (and `out_act` after the last, if given)."""
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(act())
    if out_act is not None:
        layers.append(out_act)
    return nn.Sequential(*layers)
