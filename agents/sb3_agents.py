"""Stable-Baselines3 agents: ``ppo``, ``dqn`` and sb3-contrib's ``maskable_ppo``.

They train on the env's native vector version through `MusicGymVecEnv` (``n_envs`` sessions in one
process), take every keyword argument of their SB3 class as a hyperparameter (the types and ranges
SB3 documents are checked when the agent is made, `SB3_SPECS`), and log TensorBoard scalars under
MusicGym's fixed names (``charts/episodic_return``, ``charts/SPS``, ``losses/*``) beside SB3's own.
``device`` is the agent's (``"cpu"`` by default, see `musicgym.agents.base`), not SB3's ``"auto"``.

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

Files: ``save(path)`` writes SB3's own zip archive (``model.save``; SB3's ``PPO.load`` reads it too)
with MusicGym's data-only members added (`musicgym.agents.persist`): the algorithm's training state
(`musicgym.agents.sb3_resume`). Loading never unpickles anything from the file:

* the model is rebuilt from the sidecar's hyperparameters, as ``agents.make`` builds it, so SB3's
  ``data`` entry, whose non-JSON fields (policy class and kwargs, spaces, schedules, ``_last_obs``,
  buffers' classes) SB3 stores with cloudpickle, is not loaded: it is parsed as JSON only, to check
  that its cloudpickled fields are among those SB3 writes for these algorithms (`SB3_PICKLED`); a file
  with any other is refused. This replaces SB3's ``load``, whose ``custom_objects`` would have to name
  every such field to keep it from being unpickled and which sets every other field of the file on the
  model;
* the weights and optimiser states (SB3's ``policy.pth``, ``policy.optimizer.pth``) are read with
  ``torch.load(weights_only=True)`` -- what SB3's own ``load_from_zip_file`` does -- and handed to
  SB3's ``set_parameters``: torch's restricted unpickler, which builds tensors and plain containers and
  refuses any other object; that is what remains of unpickling, and it runs no code from the file.
  ``pytorch_variables.pth`` (empty for PPO and DQN) is read the same way and must be empty.

A file written by SB3 alone (or by an earlier MusicGym) loads the same way, its weights only.

Checkpoints (``checkpoint_dir/checkpoint.zip``, every ``checkpoint_freq`` env steps where a rollout
starts, and at the end of every ``learn``) add what SB3's ``save`` leaves out so that a resumed run
ends with the same weights as the uninterrupted one: the replay buffer (as arrays, not SB3's pickled
``save_replay_buffer``), ``_last_obs`` and the other rollout state, the counters, every generator
(numpy's and torch's global ones that SB3 draws from, CUDA's on a GPU, Python's, the action space's,
the agent's own), the env's state (``get_state`` of the native vector env), VecMonitor's running
episodes and VecNormalize's statistics. A fresh agent with the same ``checkpoint_dir`` resumes from it
(``learn`` then continues with ``reset_num_timesteps=False``, which keeps the restored env as it is);
`resumed_from` records the step. A checkpoint written by an earlier MusicGym (SB3's zip alone) cannot
resume exactly: it is ignored with a warning.
"""

from __future__ import annotations

import inspect
import io
import json
import time
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from musicgym.agents.base import Agent
from musicgym.agents.hyperparams import (
    Bool,
    ClassOrName,
    Device,
    Int,
    MappingSpec,
    PathSpec,
    Real,
    Spec,
    TrainFreq,
)
from musicgym.agents.masked_dqn import MaskedRolloutDQN, masked_epsilon_greedy
from musicgym.agents.persist import (
    JSON_MEMBER,
    AgentFileError,
    generator_state,
    global_rng_state,
    label,
    load_tensors,
    open_archive,
    read_agent_file,
    read_member,
    restore_generator,
    set_global_rng_state,
    write_agent_file,
)
from musicgym.agents.sb3_resume import resumable
from musicgym.agents.slot_policy import (
    MaskableSlotActorCriticPolicy,
    MaskableTrackActorCriticPolicy,
    SlotActorCriticPolicy,
    SlotDQNPolicy,
    SlotScorer,
    TrackActorCriticPolicy,
    TrackDQNPolicy,
)
from musicgym.agents.torch_agent import CHECKPOINT, check_resumable
from musicgym.agents.vec_env import MusicGymVecEnv
from sb3_contrib import MaskablePPO
from stable_baselines3 import DQN, PPO
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.vec_env import VecMonitor, VecNormalize

#: SB3 constructor arguments that are not hyperparameters (``device`` is the agent's own)
_RESERVED = {"self", "policy", "env", "seed", "_init_setup_model", "verbose", "device"}

#: types and ranges of the SB3 constructor arguments, as SB3 documents them (a schedule must be a
#: number here: the sidecar stores hyperparameters as JSON)
SB3_SPECS: dict[str, Spec] = {
    "learning_rate": Real(0, low_open=True),
    "n_steps": Int(1),
    "batch_size": Int(1),
    "n_epochs": Int(1),
    "gamma": Real(0, 1),
    "gae_lambda": Real(0, 1),
    "clip_range": Real(0, low_open=True),
    "clip_range_vf": Real(0, low_open=True, optional=True),
    "normalize_advantage": Bool(),
    "ent_coef": Real(0),
    "vf_coef": Real(0),
    "max_grad_norm": Real(0, low_open=True),
    "use_sde": Bool(),
    "sde_sample_freq": Int(-1),
    "rollout_buffer_class": ClassOrName(optional=True, names=False),
    "rollout_buffer_kwargs": MappingSpec(),
    "target_kl": Real(0, low_open=True, optional=True),
    "stats_window_size": Int(1),
    "policy_kwargs": MappingSpec(),
    "buffer_size": Int(1),
    "learning_starts": Int(0),
    "tau": Real(0, 1),
    "train_freq": TrainFreq(),
    "gradient_steps": Int(-1),
    "replay_buffer_class": ClassOrName(optional=True, names=False),
    "replay_buffer_kwargs": MappingSpec(),
    "optimize_memory_usage": Bool(),
    "target_update_interval": Int(1),
    "exploration_fraction": Real(0, 1),
    "exploration_initial_eps": Real(0, 1),
    "exploration_final_eps": Real(0, 1),
}

#: the fields SB3 writes with cloudpickle into its ``data`` entry for PPO, MaskablePPO and DQN
#: (checked, never loaded: module docstring)
SB3_PICKLED = frozenset({
    "policy_class", "policy_kwargs", "observation_space", "action_space", "lr_schedule", "learning_rate",
    "clip_range", "clip_range_vf", "exploration_schedule", "train_freq", "replay_buffer_class",
    "replay_buffer_kwargs", "rollout_buffer_class", "rollout_buffer_kwargs", "action_noise", "target_kl",
    "_last_obs", "_last_episode_starts", "_last_original_obs", "ep_info_buffer", "ep_success_buffer",
})  # fmt: skip


class ScheduleOver(BaseCallback):
    """SB3's schedules over `total` steps rather than over the `learn` call's target (`Agent.schedule_timesteps`).

    An off-policy algorithm (DQN: its exploration rate) reads its progress from ``_total_timesteps``,
    which each ``learn`` call sets to its own target; this sets it to the whole budget once the call has
    started (the call still stops at its target). On-policy algorithms read their progress from the
    call's target alone; MusicGym's on-policy agents take constant rates, which no progress changes.
    """

    def __init__(self, total: int) -> None:
        super().__init__()
        self.total = int(total)

    def _on_training_start(self) -> None:
        self.model._total_timesteps = max(self.model._total_timesteps, self.total)

    def _on_step(self) -> bool:
        return True


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
    """Writes the agent's checkpoint every `every` env steps, where a rollout starts (its state is whole there)."""

    def __init__(self, agent: SB3Agent, path: Path, every: int) -> None:
        super().__init__()
        self.agent, self.path, self.every = agent, path, every
        self.last = 0

    def _on_training_start(self) -> None:
        self.last = self.num_timesteps

    def _on_rollout_start(self) -> None:
        if self.num_timesteps - self.last >= self.every:
            self.last = self.num_timesteps
            self.agent.write_checkpoint(self.path)

    def _on_step(self) -> bool:
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
        "device": "cpu",
    }
    HYPERPARAM_SPECS: ClassVar[dict[str, Spec]] = {
        "n_envs": Int(1),
        "policy": ClassOrName(),
        "tensorboard_log": PathSpec(),
        "checkpoint_dir": PathSpec(),
        "checkpoint_freq": Int(1),
        "normalize_reward": Bool(),
        "reward_scale": Real(0, low_open=True),
        "slot_scorer": Bool(),
        "track_scorer": Bool(),
        "device": Device(),
        **SB3_SPECS,
    }
    uses_info = True

    @classmethod
    def accepted_hyperparams(cls) -> set[str]:
        """MusicGym's own (`HYPERPARAMS`) and every keyword argument of the SB3 class."""
        return set(cls.HYPERPARAMS) | (set(inspect.signature(cls.algo.__init__).parameters) - _RESERVED)

    def __init__(self, env: Any, seed: int = 0, env_kwargs: dict[str, Any] | None = None, **hyperparams: Any):
        super().__init__(env, seed, env_kwargs, **hyperparams)
        algo_kwargs = {k: v for k, v in self.hp.items() if k not in self.HYPERPARAMS}
        self.algo_kwargs = algo_kwargs
        n_envs = int(self.hp["n_envs"])
        self.music_env = MusicGymVecEnv(
            self.env_id, n_envs=n_envs, seed=self.seed, reward_scale=self.hp["reward_scale"], **self.env_kwargs
        )
        self.monitor = VecMonitor(self.music_env)
        self.vec_env = self.monitor
        self.normalizer: VecNormalize | None = None
        if self.hp["normalize_reward"]:
            gamma = algo_kwargs.get("gamma", 0.99)
            self.normalizer = VecNormalize(self.monitor, norm_obs=False, norm_reward=True, gamma=gamma)
            self.vec_env = self.normalizer
        policy = self.hp["policy"]
        if self.hp["slot_scorer"]:
            policy, algo_kwargs = self._slot_policy(policy, algo_kwargs)
        if self.hp["track_scorer"]:  # never both: each raises outside its own action mode
            policy, algo_kwargs = self._track_policy(policy, algo_kwargs)
        self._rng = np.random.default_rng(self.seed)
        try:
            self.model = resumable(self.algo)(
                policy, self.vec_env, seed=self.seed, verbose=0, device=self.device,
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

    def checkpoint_path(self) -> Path | None:
        """``checkpoint_dir/checkpoint.zip``, or None without a ``checkpoint_dir``."""
        return Path(self.hp["checkpoint_dir"]) / CHECKPOINT if self.hp["checkpoint_dir"] else None

    def learn(self, total_timesteps: int, callback: Any = None, progress_bar: bool = False) -> SB3Agent:
        """Train until `total_timesteps` env steps; resumes from ``checkpoint_dir`` if it holds a checkpoint."""
        total = self.check_total_timesteps(total_timesteps)
        ckpt = self.checkpoint_path()
        callbacks: list[BaseCallback] = [FixedNamesCallback()]
        if self.schedule_timesteps:
            callbacks.append(ScheduleOver(self.schedule_timesteps))
        if ckpt is not None:
            if ckpt.exists() and self.num_timesteps == 0 and self.resumed_from is None and self._resumable(ckpt):
                self.restore(ckpt, full=True)
                self.resumed_from = self.num_timesteps or None  # a checkpoint at step 0 holds no progress
            callbacks.append(CheckpointEvery(self, ckpt, int(self.hp["checkpoint_freq"])))
        if callback is not None:
            callbacks.append(callback)
        remaining = total - self.num_timesteps
        if remaining > 0:
            self.model.learn(
                remaining, callback=CallbackList(callbacks), progress_bar=progress_bar,
                reset_num_timesteps=self.num_timesteps == 0, tb_log_name=self.name,
            )  # fmt: skip
        if ckpt is not None:
            self.write_checkpoint(ckpt)
        return self

    def _resumable(self, ckpt: Path) -> bool:
        """Whether `ckpt` is a checkpoint of this format (an earlier MusicGym's is ignored with a warning)."""
        import warnings

        with open_archive(ckpt) as archive:
            if JSON_MEMBER in archive.namelist():
                return True
        warnings.warn(f"{ckpt} was written by an earlier MusicGym (SB3's zip alone): it cannot resume this run "
                      f"exactly and is ignored; training starts afresh (delete it to silence this warning)",
                      stacklevel=3)
        return False

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
            logits = logits.masked_fill(~torch.as_tensor(allowed, device=logits.device), -torch.inf)
            if deterministic:
                action = logits.argmax(dim=1).cpu().numpy()
            else:
                action = torch.distributions.Categorical(logits=logits).sample().cpu().numpy()
        return action if vectorized else action[0]

    def action_scores(self, observation: Any, info: dict[str, Any]) -> tuple[str, np.ndarray] | None:
        """Probabilities (PPO) or Q-values (DQN) of every action, for one observation."""
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

    # ---------------------------------------------------------------- persistence (module docstring)
    def _state(self, full: bool) -> dict[str, Any]:
        out: dict[str, Any] = {"meta": self.describe(), "model": self.model.training_state(full)}
        if full:
            monitor = self.monitor
            out["resume"] = {
                "rng": generator_state(self._rng),
                "global_rng": global_rng_state(self.device),
                "env": self.music_env.get_state(),
                "monitor": {"episode_returns": monitor.episode_returns, "episode_lengths": monitor.episode_lengths,
                            "episode_count": int(monitor.episode_count)},
                "normalizer": None if self.normalizer is None else {
                    "mean": self.normalizer.ret_rms.mean, "var": self.normalizer.ret_rms.var,
                    "count": float(self.normalizer.ret_rms.count), "returns": self.normalizer.returns},
            }  # fmt: skip
        return out

    def _write(self, path: str | Path, full: bool) -> None:
        buf = io.BytesIO()
        self.model.save(buf)
        write_agent_file(path, self.name, self._state(full), base=buf.getvalue())

    def write_checkpoint(self, path: Path) -> None:
        """A checkpoint at `path`: everything that decides the rest of the run (module docstring)."""
        self._write(path, full=True)

    def save(self, path: str | Path) -> None:
        """SB3 zip at `path` plus ``path.json`` naming the agent, env and hyperparameters."""
        self._write(path, full=False)
        self.write_meta(path)

    def restore(self, path: Path, full: bool = False, saved_by: str | None = None) -> None:
        """Take the weights and state saved at `path` (`full`: a checkpoint's, to resume exactly).

        `saved_by`: the agent the file's sidecar names, for the error messages.
        """
        with open_archive(path, saved_by) as archive:
            names = archive.namelist()
            if "data" not in names or "policy.pth" not in names:
                raise AgentFileError(f"{label(path, saved_by)} is not an SB3 agent file: no 'data' and 'policy.pth' "
                                     f"members (members: {names[:6]})")
            data = check_sb3_data(read_member(archive, "data", path, saved_by), path)
            params = {}
            for name in names:
                if name.endswith(".pth"):
                    value = load_tensors(read_member(archive, name, path, saved_by), f"{path}:{name}")
                    if name == "pytorch_variables.pth":
                        if value:
                            raise AgentFileError(f"{path}:{name} holds variables a {self.name!r} agent does not have")
                        continue
                    params[name.removesuffix(".pth")] = value
            ours = JSON_MEMBER in names
        state = read_agent_file(path, expect=self.name, saved_by=saved_by) if ours else None
        try:
            if full and state is not None:
                check_resumable(path, state["meta"], self)
            self.model.set_parameters(params, exact_match=True, device=self.device)
            if state is None:  # SB3's zip alone: weights, and the step count from its JSON
                steps = data.get("num_timesteps", 0)
                self.model.num_timesteps = int(steps) if isinstance(steps, int) else 0
                return
            self.model.load_training_state(state["model"], full)
            if full and "resume" in state:
                resume = state["resume"]
                self._rng = restore_generator(resume["rng"])
                set_global_rng_state(resume["global_rng"], self.device)
                self.music_env.set_state(resume["env"])
                monitor = resume["monitor"]
                self.monitor.episode_returns = np.asarray(monitor["episode_returns"])
                self.monitor.episode_lengths = np.asarray(monitor["episode_lengths"])
                self.monitor.episode_count = int(monitor["episode_count"])
                norm = resume["normalizer"]
                if (norm is None) != (self.normalizer is None):
                    raise ValueError("normalize_reward differs from the checkpoint's")
                if norm is not None:
                    self.normalizer.ret_rms.mean = np.asarray(norm["mean"])
                    self.normalizer.ret_rms.var = np.asarray(norm["var"])
                    self.normalizer.ret_rms.count = float(norm["count"])
                    self.normalizer.returns = np.asarray(norm["returns"])
        except AgentFileError:
            raise
        except (KeyError, ValueError, TypeError, RuntimeError, IndexError, AttributeError) as e:
            raise AgentFileError(f"{path}: its weights or state do not fit this {self.name!r} agent (saved with "
                                 f"other hyperparameters or env, or damaged): {type(e).__name__}: {e}") from e

    @classmethod
    def load(cls, path: str | Path, device: Any = None) -> SB3Agent:
        """Load an agent written by `save` (on `device`; default: `musicgym.agents.base.load_device`)."""
        meta = cls.read_meta(path)
        cls.check_meta(meta, path)
        agent = cls.from_meta(meta, device=device, path=path)
        agent.restore(Path(path), full=False, saved_by=meta["agent"])
        return agent


def check_sb3_data(blob: bytes, path: Path) -> dict[str, Any]:
    """SB3's ``data`` entry as JSON, never unpickled; refused if it has cloudpickled fields SB3 does not write."""
    try:
        data = json.loads(blob.decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise AgentFileError(f"{path}: SB3's 'data' entry is not valid JSON ({e})") from e
    if not isinstance(data, dict):
        raise AgentFileError(f"{path}: SB3's 'data' entry is not a JSON object")
    pickled = sorted(k for k, v in data.items() if isinstance(v, dict) and ":serialized:" in v)
    foreign = [k for k in pickled if k not in SB3_PICKLED]
    if foreign:
        raise AgentFileError(f"{path}: SB3's 'data' entry holds pickled fields SB3 does not write for this agent "
                             f"({foreign}); the file is not loaded (it was not written by MusicGym or SB3 as such)")
    return data


class PPOAgent(SB3Agent):
    """SB3 PPO."""

    name = "ppo"
    algo = PPO


class DQNAgent(SB3Agent):
    """SB3 DQN; ``mask_rollouts`` keeps its rollouts to the env's action masks (`agents.masked_dqn`)."""

    name = "dqn"
    algo = MaskedRolloutDQN
    HYPERPARAMS: ClassVar[dict[str, Any]] = {**SB3Agent.HYPERPARAMS, "mask_rollouts": False}
    HYPERPARAM_SPECS: ClassVar[dict[str, Spec]] = {"mask_rollouts": Bool()}

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
