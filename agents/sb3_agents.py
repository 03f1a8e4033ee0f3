"""Stable-Baselines3 agents: ``ppo``, ``dqn`` and sb3-contrib's ``maskable_ppo``.

They train on the env's native vector version through `MusicGymVecEnv` (``n_envs`` sessions in one
process), take every keyword argument of their SB3 class as a hyperparameter, and log TensorBoard
scalars under MusicGym's fixed names (``charts/episodic_return``, ``charts/SPS``, ``losses/*``)
beside SB3's own.

Policies (``agents.slot_policy``): ``slot_scorer`` (candidates mode) scores every slot with one shared
network, ``track_scorer`` (catalog mode) scores every catalog track from an embedding of the state and
one of the track's features; the per-env configs switch them on.

Repeats: SB3's PPO and DQN have no action masks, so ``ppo`` trains without one (a repeat costs the
env's penalty and changes nothing). When `predict` is given the env's ``info`` (as `musicgym.evaluate` does),
``ppo`` and ``dqn`` choose among the actions that ``info["action_mask"]`` allows: a recommender's
usual filter of what was already played, applied when serving; a deterministic policy without it
replays the same track to the end of the episode in catalog mode. ``maskable_ppo`` masks in training
too, and so does ``dqn`` with ``mask_rollouts`` (its catalog-mode configs; `agents.masked_dqn`): its
rollouts act among the allowed actions, its TD target stays SB3's.
"""

from __future__ import annotations

import inspect
import time
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from musicgym.agents.base import Agent
from musicgym.agents.masked_dqn import MaskedRolloutDQN, masked_epsilon_greedy
from musicgym.agents.slot_policy import (
    MaskableSlotActorCriticPolicy,
    MaskableTrackActorCriticPolicy,
    SlotActorCriticPolicy,
    SlotDQNPolicy,
    SlotScorer,
    TrackActorCriticPolicy,
    TrackDQNPolicy,
)
from musicgym.agents.vec_env import MusicGymVecEnv
from sb3_contrib import MaskablePPO
from stable_baselines3 import DQN, PPO
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.vec_env import VecMonitor, VecNormalize

_RESERVED = {"self", "policy", "env", "seed", "_init_setup_model", "verbose", "device"}


class FixedNamesCallback(BaseCallback):
    """Records MusicGym's fixed TensorBoard names from SB3's episode infos and train/* values."""

    def _on_training_start(self) -> None:
        self._t0 = time.perf_counter()
        self._n0 = self.num_timesteps

    def _on_step(self) -> bool:
        for info in self.locals.get("infos", []):
            ep = info.get("episode")
            if ep is not None:
                self.logger.record_mean("charts/episodic_return", ep["r"])
                self.logger.record_mean("charts/episodic_length", ep["l"])
        return True

    def _on_rollout_start(self) -> None:
        for key, value in list(self.logger.name_to_value.items()):
            if key.startswith("train/") and "loss" in key:
                self.logger.record("losses/" + key.removeprefix("train/"), value)

    def _on_rollout_end(self) -> None:
        elapsed = max(time.perf_counter() - self._t0, 1e-9)
        self.logger.record("charts/SPS", int((self.num_timesteps - self._n0) / elapsed))


class CheckpointEvery(BaseCallback):
    """Saves the model to ``directory/checkpoint.zip`` (atomically) every `every` env steps."""

    def __init__(self, agent: SB3Agent, directory: Path, every: int) -> None:
        super().__init__()
        self.agent, self.directory, self.every = agent, directory, every
        self._last = 0

    def _on_step(self) -> bool:
        if self.num_timesteps - self._last >= self.every:
            self._last = self.num_timesteps
            self.agent.save(self.directory / "checkpoint.zip")
        return True


class SB3Agent(Agent):
    """An SB3 algorithm on a MusicGym env (see module docstring)."""

    algo: ClassVar[type[BaseAlgorithm]]
    HYPERPARAMS: ClassVar[dict[str, Any]] = {
        "n_envs": 8,
        "policy": "MlpPolicy",
        "tensorboard_log": None,
        "checkpoint_dir": None,
        "checkpoint_freq": 50_000,
        # scale training rewards by a running estimate of the return's spread (SB3's VecNormalize,
        # rewards only), or by a constant (free; Playlist-v0's rewards are ~100 per step)
        "normalize_reward": False,
        "reward_scale": 1.0,
        # score every candidate slot with one shared network (agents.slot_policy.SlotScorer)
        "slot_scorer": False,
        # catalog mode: score every track by state and track embeddings (agents.slot_policy.TrackScorer)
        "track_scorer": False,
    }
    uses_info = True

    def __init__(self, env: Any, seed: int = 0, env_kwargs: dict[str, Any] | None = None, **hyperparams: Any):
        accepted = set(inspect.signature(self.algo.__init__).parameters) - _RESERVED
        own = {k: v for k, v in hyperparams.items() if k in self.HYPERPARAMS}
        algo_kwargs = {k: v for k, v in hyperparams.items() if k not in self.HYPERPARAMS}
        unknown = sorted(set(algo_kwargs) - accepted)
        if unknown:
            raise ValueError(
                f"agent {self.name!r}: unknown hyperparameter(s) {unknown}; accepted: "
                f"{sorted(accepted | set(self.HYPERPARAMS))}"
            )
        super().__init__(env, seed, env_kwargs, **own)
        self.algo_kwargs = algo_kwargs
        self.hp.update(algo_kwargs)
        n_envs = int(self.hp["n_envs"])
        if n_envs < 1:
            raise ValueError(f"n_envs must be >= 1, got {n_envs}")
        self.music_env = MusicGymVecEnv(
            self.env_id, n_envs=n_envs, seed=self.seed, reward_scale=self.hp["reward_scale"], **self.env_kwargs
        )
        self.vec_env = VecMonitor(self.music_env)
        if self.hp["normalize_reward"]:
            gamma = algo_kwargs.get("gamma", 0.99)
            self.vec_env = VecNormalize(self.vec_env, norm_obs=False, norm_reward=True, gamma=gamma)
        policy = self.hp["policy"]
        if self.hp["slot_scorer"]:
            policy, algo_kwargs = self._slot_policy(policy, algo_kwargs)
        if self.hp["track_scorer"]:  # never both: each raises outside its own action mode
            policy, algo_kwargs = self._track_policy(policy, algo_kwargs)
        self._rng = np.random.default_rng(self.seed)
        try:
            self.model = self.algo(
                policy, self.vec_env, seed=self.seed, verbose=0,
                tensorboard_log=self.hp["tensorboard_log"], **algo_kwargs,
            )  # fmt: skip
        except (TypeError, ValueError, AssertionError) as e:
            raise ValueError(f"agent {self.name!r}: bad hyperparameters {algo_kwargs}: {e}") from e

    def _slot_policy(self, policy: Any, algo_kwargs: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        """The slot policy class (for SB3's ``MlpPolicy``) and `algo_kwargs` with the `SlotScorer` in them."""
        env = self.music_env  # the env's public face (head_dim, item_features, action_mode)
        if env.action_mode != "candidates":
            raise ValueError(f"agent {self.name!r}: slot_scorer needs a candidates-mode env, not {self.env_id}")
        pk = dict(algo_kwargs.get("policy_kwargs") or {})
        pk.update(
            features_extractor_class=SlotScorer,
            features_extractor_kwargs={"head_dim": env.head_dim, "item_dim": env.item_features.shape[1],
                                       **(pk.get("features_extractor_kwargs") or {})},  # e.g. {"hidden": 128}
        )
        if issubclass(self.algo, DQN):
            pk["net_arch"] = []  # the scores are the Q-values (a config's net_arch is for the plain MLP)
        else:
            pk.setdefault("net_arch", {"pi": [], "vf": [64, 64]})
            # the value loss must not shape the scores that are the policy's logits (with one shared
            # scorer PPO drifted to worse than random on some seeds of Playlist-v0)
            pk.setdefault("share_features_extractor", False)
        if policy == "MlpPolicy":
            slot_policies = {MaskedRolloutDQN: SlotDQNPolicy, MaskablePPO: MaskableSlotActorCriticPolicy}
            policy = slot_policies.get(self.algo, SlotActorCriticPolicy)
        return policy, {**algo_kwargs, "policy_kwargs": pk}

    def _track_policy(self, policy: Any, algo_kwargs: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        """The track policy class (for SB3's ``MlpPolicy``) and `algo_kwargs` with the catalog's features."""
        env = self.music_env  # the env's public face (head_dim, item_features, action_mode)
        if env.action_mode != "catalog":
            raise ValueError(f"agent {self.name!r}: track_scorer needs a catalog-mode env, not {self.env_id}")
        pk = {**(algo_kwargs.get("policy_kwargs") or {}), "item_features": env.item_features}  # + hidden, dim
        if issubclass(self.algo, DQN):
            pk["net_arch"] = []  # TrackQ is the whole network (a config's net_arch is for the plain MLP)
        if policy == "MlpPolicy":
            track_policies = {MaskedRolloutDQN: TrackDQNPolicy, MaskablePPO: MaskableTrackActorCriticPolicy}
            policy = track_policies.get(self.algo, TrackActorCriticPolicy)
        return policy, {**algo_kwargs, "policy_kwargs": pk}

    @property
    def num_timesteps(self) -> int:
        """Env steps trained so far."""
        return int(self.model.num_timesteps) if hasattr(self, "model") else 0

    def learn(self, total_timesteps: int, callback: Any = None, progress_bar: bool = False) -> SB3Agent:
        """Train until `total_timesteps` env steps; resumes from ``checkpoint_dir`` if it holds one."""
        ckpt_dir = self.hp["checkpoint_dir"]
        callbacks = [FixedNamesCallback()]
        if ckpt_dir is not None:
            ckpt_dir = Path(ckpt_dir)
            ckpt = ckpt_dir / "checkpoint.zip"
            if ckpt.exists() and self.num_timesteps == 0:
                self.model = self.algo.load(ckpt, env=self.vec_env)
            callbacks.append(CheckpointEvery(self, ckpt_dir, int(self.hp["checkpoint_freq"])))
        if callback is not None:
            callbacks.append(callback)
        remaining = int(total_timesteps) - self.num_timesteps
        if remaining > 0:
            self.model.learn(
                remaining, callback=CallbackList(callbacks), progress_bar=progress_bar,
                reset_num_timesteps=self.num_timesteps == 0, tb_log_name=self.name,
            )  # fmt: skip
        if ckpt_dir is not None:
            self.save(Path(ckpt_dir) / "checkpoint.zip")
        return self

    def predict(
        self, observation: Any, state: Any = None, episode_start: Any = None, deterministic: bool = False, **kw: Any
    ) -> tuple[np.ndarray, Any]:
        """SB3's predict; with ``info=`` the best (or a sampled) action among those ``info["action_mask"]`` allows."""
        info = kw.get("info")
        mask = None if info is None else info.get("action_mask")
        if mask is None:
            return self.model.predict(
                observation, state=state, episode_start=episode_start, deterministic=deterministic
            )  # fmt: skip
        return self._allowed_action(observation, np.asarray(mask, dtype=bool), deterministic), state

    def _allowed_action(self, observation: Any, mask: np.ndarray, deterministic: bool) -> np.ndarray:
        """The action `predict` returns under a mask.

        PPO: the most probable allowed action (or a sample of the policy renormalised over the allowed
        ones); DQN: the allowed action of highest Q (or, at SB3's exploration rate, a random allowed one).
        """
        import torch

        obs_arr = np.asarray(observation, dtype=np.float32)
        policy = self.model.policy
        obs, vectorized = policy.obs_to_tensor(obs_arr)
        allowed = np.atleast_2d(mask).copy()
        if allowed.shape != (len(obs), self.music_env.action_space.n):
            raise ValueError(
                f"agent {self.name!r}: info['action_mask'] has shape {mask.shape}, expected "
                f"({self.music_env.action_space.n},) per observation"
            )
        allowed[~allowed.any(axis=1)] = True  # nothing left to play (the episode has ended): no filter
        if issubclass(self.algo, DQN):
            explore = np.zeros(len(obs), dtype=bool)
            if not deterministic:
                explore = self._rng.random(len(obs)) < self.model.exploration_rate
            action = masked_epsilon_greedy(policy.q_net, obs, allowed, explore, self._rng)
            return action if vectorized else action[0]
        with torch.no_grad():
            logits = policy.get_distribution(obs).distribution.logits
            logits = logits.masked_fill(~torch.as_tensor(allowed), -torch.inf)
            if deterministic:
                action = logits.argmax(dim=1).cpu().numpy()
            else:
                action = torch.distributions.Categorical(logits=logits).sample().cpu().numpy()
        return action if vectorized else action[0]

    def action_scores(self, observation: Any, info: dict[str, Any]) -> tuple[str, np.ndarray] | None:
        """Probabilities (PPO) or Q-values (DQN) of every action, for one observation."""
        import torch

        policy = self.model.policy
        obs, _ = policy.obs_to_tensor(np.asarray(observation, dtype=np.float32))
        with torch.no_grad():
            if issubclass(self.algo, DQN):
                return "Q", policy.q_net(obs)[0].cpu().numpy()
            dist = policy.get_distribution(obs)
            probs = dist.distribution.probs[0].cpu().numpy()
        mask = info.get("action_mask")
        if mask is not None:  # predict keeps to the mask (module docstring)
            probs = np.where(mask, probs, 0.0)
            probs = probs / probs.sum() if probs.sum() > 0 else probs
        return "p", probs

    def save(self, path: str | Path) -> None:
        """SB3 zip at `path` plus ``path.json`` naming the agent, env and hyperparameters."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp.zip")
        self.model.save(tmp)
        self.write_meta(path)
        tmp.replace(path)

    @classmethod
    def load(cls, path: str | Path) -> SB3Agent:
        """Load an agent written by `save`."""
        meta = cls.read_meta(path)
        agent = cls.from_meta(meta, {k: v for k, v in meta["hyperparams"].items() if k in cls.HYPERPARAMS})
        agent.model = cls.algo.load(path, env=agent.vec_env)
        agent.hp = meta["hyperparams"]
        return agent


class PPOAgent(SB3Agent):
    """SB3 PPO."""

    name = "ppo"
    algo = PPO


class DQNAgent(SB3Agent):
    """SB3 DQN; ``mask_rollouts`` keeps its rollouts to the env's action masks (`agents.masked_dqn`)."""

    name = "dqn"
    algo = MaskedRolloutDQN
    HYPERPARAMS: ClassVar[dict[str, Any]] = {**SB3Agent.HYPERPARAMS, "mask_rollouts": False}

    def __init__(self, env: Any, seed: int = 0, env_kwargs: dict[str, Any] | None = None, **hyperparams: Any):
        super().__init__(env, seed, env_kwargs, **hyperparams)
        self.model.mask_rollouts = bool(self.hp["mask_rollouts"])


class MaskablePPOAgent(SB3Agent):
    """sb3-contrib MaskablePPO: never proposes a masked (repeat) action."""

    name = "maskable_ppo"
    algo = MaskablePPO

    def predict(
        self, observation: Any, state: Any = None, episode_start: Any = None, deterministic: bool = False, **kw: Any
    ) -> tuple[np.ndarray, Any]:
        """MaskablePPO's predict with ``info["action_mask"]`` when given."""
        info = kw.get("info")
        masks = None if info is None else info.get("action_mask")
        return self.model.predict(
            observation, state=state, episode_start=episode_start, deterministic=deterministic, action_masks=masks
        )
