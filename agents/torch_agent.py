"""Shared plumbing of MusicGym's own torch agents (``ah_dqn``, ``actor_critic``, ``cf_actor_critic``).

Training runs on the env's native vector version through `MusicGymVecEnv` (SB3's same-step reset),
logs TensorBoard scalars under fixed names and shows a tqdm progress bar when asked.

Device: every module, every tensor built from the env's arrays (observations, masks, the item feature
table, replay samples) is on the agent's ``device`` (`Agent`'s docstring gives the default, ``"cpu"``,
and why). `TorchAgent.tensor` is the one way the agents make a tensor from numpy.

Checkpoints: with ``checkpoint_dir`` set, the agent writes ``checkpoint_dir/checkpoint.zip`` every
``checkpoint_freq`` env steps (at the next point where its state is whole: after a vector step for
``ah_dqn``, after a rollout's update for the actor-critics) and at the end of every ``learn``; a
``learn`` on a fresh agent whose ``checkpoint_dir`` holds one resumes from it. A checkpoint holds all
that decides the rest of the run: weights, optimiser states, the step counters, the replay buffer, the
observation in hand and the running episode returns, every generator (the agent's numpy one, torch's
global one, CUDA's on a GPU, Python's and numpy's global ones) and the env's own state
(``get_state`` of the native vector env). So a run killed at any moment and resumed from its last
checkpoint ends with the same weights as the same run uninterrupted (``tests/agents/test_resume.py``);
`resumed_from` records the step it resumed at. A checkpoint written by an earlier MusicGym
(``checkpoint.pt``, a pickle) is ignored with a warning: it cannot resume exactly, and it is not loaded.

``save(path)`` writes the weights, optimiser states and step count (not the replay buffer or the
generators: a saved agent is for acting, fine-tuning, or training on with a fresh env); both use the
data-only format of `musicgym.agents.persist`.

Speed on the CPU (this project's 2-core machine, torch 2.13 CPU build, one torch thread, the configs'
hyperparameters, synthetic-2000 catalog, 4,000 timed env steps after a 1,000-step warm-up, another
process busy on the machine): ``ah_dqn`` on Preference-v0 503 env steps/s, ``actor_critic`` on
PreferenceCatalog-v0 352, SB3's ``ppo`` on Preference-v0 248 and ``dqn`` on TasteCatalog-v0 150. With
``torch_threads=2`` each ran 3 to 10 times slower on the busy 2-core machine: the default stays 1.
GPU figures and the choice of ``device="cpu"`` as the default: `musicgym.agents.base`.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from musicgym.agents.base import Agent
from musicgym.agents.hyperparams import Device, Int, PathSpec, Spec
from musicgym.agents.persist import (
    AgentFileError,
    generator_state,
    global_rng_state,
    read_agent_file,
    restore_generator,
    set_global_rng_state,
    write_agent_file,
)
from musicgym.agents.vec_env import MusicGymVecEnv
from torch import nn
from tqdm.auto import tqdm

COMMON_HYPERPARAMS: dict[str, Any] = {
    "n_envs": 8,
    "tensorboard_log": None,
    "checkpoint_dir": None,
    "checkpoint_freq": 50_000,
    "torch_threads": 1,
    "device": "cpu",
}
COMMON_SPECS: dict[str, Spec] = {
    "n_envs": Int(1),
    "tensorboard_log": PathSpec(),
    "checkpoint_dir": PathSpec(),
    "checkpoint_freq": Int(1),
    "torch_threads": Int(1),
    "device": Device(),
}
#: the checkpoint's file name in ``checkpoint_dir`` (every agent's, SB3's too)
CHECKPOINT = "checkpoint.zip"
#: hyperparameters a resumed run may change (where it logs and checkpoints, and what it computes on)
RESUME_FREE = ("tensorboard_log", "checkpoint_dir", "checkpoint_freq", "device", "torch_threads")


def check_resumable(path: Path, saved: dict[str, Any], agent: Agent) -> None:
    """Refuse a checkpoint of another agent, env or hyperparameters (it would not continue this run)."""
    mine = agent.describe()
    for key in ("agent", "env_id", "env_kwargs", "seed"):
        if saved.get(key) != mine[key]:
            raise AgentFileError(f"{path} is a checkpoint of another run ({key}: {saved.get(key)!r}, this agent: "
                                 f"{mine[key]!r}); point checkpoint_dir elsewhere or delete it")
    theirs = {k: v for k, v in saved.get("hyperparams", {}).items() if k not in RESUME_FREE}
    ours = {k: v for k, v in mine["hyperparams"].items() if k not in RESUME_FREE}
    if theirs != ours:
        diff = sorted(k for k in set(theirs) | set(ours) if theirs.get(k) != ours.get(k))
        raise AgentFileError(f"{path} is a checkpoint written with other hyperparameters ({diff}); it cannot "
                             f"resume this run: point checkpoint_dir elsewhere or delete it")


def warn_old_checkpoint(ckpt_dir: Path) -> None:
    """Warn that a pre-format checkpoint in `ckpt_dir` is ignored (module docstring)."""
    old = ckpt_dir / "checkpoint.pt"
    if old.exists() and not (ckpt_dir / CHECKPOINT).exists():
        warnings.warn(f"{old} was written by an earlier MusicGym (a pickle): it is not loaded and cannot resume "
                      f"this run exactly; training starts afresh (delete it to silence this warning)", stacklevel=3)


class EpisodeTracker:
    """Sums rewards per session and reports finished episodes' returns."""

    def __init__(self, n: int) -> None:
        self.ret = np.zeros(n)
        self.len = np.zeros(n, dtype=np.int64)

    def update(self, reward: np.ndarray, done: np.ndarray) -> list[float]:
        """Add one step; return the returns of the episodes that ended."""
        self.ret += reward
        self.len += 1
        out = self.ret[done].tolist()
        self.ret[done] = 0.0
        self.len[done] = 0
        return out

    def state(self) -> dict[str, np.ndarray]:
        """The running returns and lengths."""
        return {"ret": self.ret.copy(), "len": self.len.copy()}

    def load(self, state: dict[str, np.ndarray]) -> None:
        """Continue from `state`."""
        self.ret[:] = state["ret"]
        self.len[:] = state["len"]


class TorchAgent(Agent):
    """Base of the torch agents: subclasses build `modules` and implement `_train`/`predict`."""

    HYPERPARAMS: ClassVar[dict[str, Any]] = dict(COMMON_HYPERPARAMS)
    HYPERPARAM_SPECS: ClassVar[dict[str, Spec]] = dict(COMMON_SPECS)

    def __init__(self, env: Any, seed: int = 0, env_kwargs: dict[str, Any] | None = None, **hyperparams: Any):
        super().__init__(env, seed, env_kwargs, **hyperparams)
        self._steps = 0
        torch.set_num_threads(int(self.hp["torch_threads"]))
        self.vec_env = MusicGymVecEnv(self.env_id, n_envs=int(self.hp["n_envs"]), seed=self.seed, **self.env_kwargs)
        # again: building an env can reset the OpenMP thread count (threadpoolctl around scikit-learn's
        # k-means restores the process default), and a run must train on the threads it declares
        torch.set_num_threads(int(self.hp["torch_threads"]))
        #: the env's public face as the agent sees it (head_dim, item_features, action_mode, index, ...)
        self.env = self.vec_env
        self.rng = np.random.default_rng(self.seed)
        torch.manual_seed(self.seed)
        self.modules: dict[str, nn.Module | torch.optim.Optimizer] = {}
        self.writer = None
        #: the observation in hand between vector steps (None: the env is reset at the next ``learn``)
        self._obs: np.ndarray | None = None
        self.tracker = EpisodeTracker(self.vec_env.num_envs)
        self._build()
        for module in self.modules.values():
            if isinstance(module, nn.Module):
                module.to(self.device)

    @property
    def num_timesteps(self) -> int:
        """Env steps trained so far."""
        return self._steps

    @num_timesteps.setter
    def num_timesteps(self, value: int) -> None:
        self._steps = int(value)

    # ---------------------------------------------------------------- tensors on the agent's device
    def tensor(self, x: Any, dtype: torch.dtype | None = None) -> torch.Tensor:
        """`x` (numpy or a tensor) as a tensor on the agent's device."""
        return torch.as_tensor(x, dtype=dtype, device=self.device)

    @staticmethod
    def to_numpy(t: torch.Tensor) -> np.ndarray:
        """A tensor's values as a numpy array (copied to the host)."""
        return t.detach().cpu().numpy()

    # ---------------------------------------------------------------- for subclasses
    def _build(self) -> None:
        raise NotImplementedError

    def _train(self, total_timesteps: int, step_hook: Any, safe_point: Any) -> None:
        """Train to `total_timesteps`.

        Call ``step_hook(returns)`` after each vector step (False: stop) and ``safe_point()`` wherever the
        agent's attributes hold all its training state (a checkpoint may be taken there).
        """
        raise NotImplementedError

    def _train_state(self, full: bool) -> dict[str, Any]:
        """What the subclass keeps between steps beyond `modules` (replay buffer, counters), for a checkpoint."""
        return {}

    def _load_train_state(self, state: dict[str, Any]) -> None:
        """Restore `_train_state(full=True)`."""

    # ---------------------------------------------------------------- logging
    def log(self, name: str, value: float) -> None:
        """Write a TensorBoard scalar at the current step (when ``tensorboard_log`` is set)."""
        if self.writer is not None:
            self.writer.add_scalar(name, value, self.num_timesteps)

    def checkpoint_path(self) -> Path | None:
        """``checkpoint_dir/checkpoint.zip``, or None without a ``checkpoint_dir``."""
        return Path(self.hp["checkpoint_dir"]) / CHECKPOINT if self.hp["checkpoint_dir"] else None

    def learn(self, total_timesteps: int, callback: Any = None, progress_bar: bool = False) -> TorchAgent:
        """Train until `total_timesteps` env steps (resuming from ``checkpoint_dir`` if it holds a checkpoint).

        `callback`, if given, is called as ``callback(agent)`` after every vector step; returning
        False stops training.
        """
        total = self.check_total_timesteps(total_timesteps)
        torch.set_num_threads(int(self.hp["torch_threads"]))  # whatever other code set since (see __init__)
        ckpt = self.checkpoint_path()
        if ckpt is not None and self.num_timesteps == 0 and self.resumed_from is None:
            warn_old_checkpoint(ckpt.parent)
            if ckpt.exists():
                self._load_state(ckpt, full=True)
                self.resumed_from = self.num_timesteps or None  # a checkpoint at step 0 holds no progress
        if self.hp["tensorboard_log"] and self.writer is None:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(Path(self.hp["tensorboard_log"]) / f"{self.name}_{self.seed}"))
        bar = tqdm(total=total, initial=self.num_timesteps, disable=not progress_bar, desc=self.name)
        start_t, start_n = time.perf_counter(), self.num_timesteps
        last_ckpt = self.num_timesteps

        def step_hook(episode_returns: list[float]) -> bool:
            bar.update(self.vec_env.num_envs)
            for r in episode_returns:
                self.log("charts/episodic_return", r)
            if self.num_timesteps % (50 * self.vec_env.num_envs) < self.vec_env.num_envs:
                self.log("charts/SPS", (self.num_timesteps - start_n) / max(time.perf_counter() - start_t, 1e-9))
            return callback is None or callback(self) is not False

        def safe_point() -> None:
            nonlocal last_ckpt
            if ckpt is not None and self.num_timesteps - last_ckpt >= self.hp["checkpoint_freq"]:
                last_ckpt = self.num_timesteps
                self._save_state(ckpt, full=True)

        try:
            if self.num_timesteps < total:
                self._train(total, step_hook, safe_point)
        finally:
            bar.close()
            if self.writer is not None:
                self.writer.flush()
        if ckpt is not None:
            self._save_state(ckpt, full=True)
        return self

    # ---------------------------------------------------------------- persistence
    def _state(self, full: bool) -> dict[str, Any]:
        out: dict[str, Any] = {
            "meta": self.describe(),
            "modules": {k: m.state_dict() for k, m in self.modules.items()},
            "num_timesteps": self.num_timesteps,
        }
        if full:
            out["resume"] = {
                "obs": self._obs,
                "tracker": self.tracker.state(),
                "train": self._train_state(full=True),
                "rng": generator_state(self.rng),
                "global_rng": global_rng_state(self.device),
                "env": self.vec_env.get_state(),
            }
        return out

    def _save_state(self, path: str | Path, full: bool) -> None:
        write_agent_file(path, self.name, self._state(full))

    def _load_state(self, path: Path, full: bool, saved_by: str | None = None) -> None:
        """Take the state saved at `path` (`full`: a checkpoint's, to resume training exactly).

        `saved_by`: the agent the file's sidecar names, for the error messages.
        """
        state = read_agent_file(path, expect=self.name, saved_by=saved_by)
        try:
            if full:
                check_resumable(path, state["meta"], self)
            for k, m in self.modules.items():
                m.load_state_dict(state["modules"][k])
            self.num_timesteps = int(state["num_timesteps"])
            if full and "resume" in state:
                resume = state["resume"]
                self._obs = resume["obs"]
                self.tracker.load(resume["tracker"])
                self._load_train_state(resume["train"])
                self.rng = restore_generator(resume["rng"])
                set_global_rng_state(resume["global_rng"], self.device)
                self.vec_env.set_state(resume["env"])
        except AgentFileError:
            raise
        except (KeyError, ValueError, TypeError, RuntimeError, IndexError) as e:
            raise AgentFileError(f"{path}: its state does not fit this {self.name!r} agent (saved with other "
                                 f"hyperparameters or env, or damaged): {type(e).__name__}: {e}") from e

    def save(self, path: str | Path) -> None:
        """Weights, optimiser states and step count at `path`; ``path.json`` names agent, env, hyperparameters."""
        self._save_state(path, full=False)
        self.write_meta(path)

    @classmethod
    def load(cls, path: str | Path, device: Any = None) -> TorchAgent:
        """Load an agent written by `save` (on `device`; default: `musicgym.agents.base.load_device`)."""
        meta = cls.read_meta(path)
        cls.check_meta(meta, path)
        agent = cls.from_meta(meta, device=device, path=path)
        agent._load_state(Path(path), full=False, saved_by=meta["agent"])
        return agent

    # ---------------------------------------------------------------- observation helpers
    def check_obs(self, observation: Any) -> np.ndarray:
        """`observation` (one, or a batch) as a (B, obs_dim) float32 array; a ValueError if it has another shape."""
        try:
            obs = np.atleast_2d(np.asarray(observation, dtype=np.float32))
        except (TypeError, ValueError) as e:
            raise ValueError(f"agent {self.name!r}: the observation is not an array of numbers ({e})") from e
        expected = self.vec_env.observation_space.shape
        if obs.ndim != 2 or obs.shape[1:] != expected:
            raise ValueError(f"agent {self.name!r}: observation of shape {np.shape(observation)}, expected "
                             f"{expected} (or a batch of them)")
        return obs

    def split_obs(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(B, head_dim) heads and, in candidates mode with full observations, (B, k, d) slot features."""
        obs = self.check_obs(obs)
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
