"""``actor_critic``: the PPO actor-critic of the PPO listener project, in torch.

Networks as in that project: a policy network ``input -> 128 -> 128 -> softmax over the actions``
with ReLU, and a separate value network ``input -> 128 -> 128 -> 1`` with LeakyReLU and LayerNorm
after each hidden layer. Input is the env's observation. PPO's clipped objective (clip 0.1),
Adam with learning rate 1e-4, gamma 0.95, and the project's advantage ``A_t = R_t - V(s_t)`` with
discounted returns-to-go R_t (set ``gae_lambda`` for GAE instead). Invalid actions (repeats, empty
slots) are masked out of the softmax. In catalog mode the softmax runs over the whole catalog.

``policy_net="slots"`` (candidates mode; the per-env configs use it) goes further than the project:
the same policy network ``(state, one candidate's features) -> 128 -> 128 -> 1`` scores every slot
and the softmax runs over those scores, so the policy is permutation-equivariant and learns one
scoring function instead of one per slot position (the Action-Head DQN's idea, in a policy).
``policy_net="tracks"`` does the same in catalog mode at the catalog's scale: a state network
``observation -> 128 -> 128 -> 64`` and a track network ``features -> 128 -> 64`` (run once over the
catalog per forward pass), logit of a track = a learned scale times their cosine, played tracks masked.

Subclasses can change what the actions are: `_action_set` returns, per session, the candidate rows
the policy chooses among and `_logits` scores them (see ``cf_actor_critic``).

A memory of the session (`musicgym.agents.history`), two hyperparameters: ``history`` (default 0:
off, the agent exactly as without it) is the number L of past observation heads the agent keeps per
session, ``history_hidden`` (default 64) the width E of each GRU encoding of them. With L > 0 the
policy and the value network each have a GRU encoder of the last L heads, trained with the network it
feeds (by its own loss and optimiser, as the two networks are kept apart, and inside its gradient
clip); each network reads the observation with the encoding appended (the slot policy scores
``(head, encoding, one candidate)``). The rollouts store each step's stack with its observation
(``n_steps x n_envs x L x head_dim`` floats), so that the epochs re-encode them with the current weights.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from musicgym.agents.history import (
    HISTORY_HYPERPARAMS,
    HISTORY_SPECS,
    HistoryEncoder,
    HistoryHyperparams,
    HistoryStack,
    predict_stacks,
)
from musicgym.agents.hyperparams import Bool, Choice, Int, Real, Spec
from musicgym.agents.slot_policy import TrackScorer
from musicgym.agents.torch_agent import TorchAgent, mlp, with_head
from torch import nn


def value_net(inp: int, hidden: int) -> nn.Sequential:
    """The project's value network: Linear-LeakyReLU-LayerNorm twice, then Linear to 1."""
    return nn.Sequential(
        nn.Linear(inp, hidden), nn.LeakyReLU(), nn.LayerNorm(hidden),
        nn.Linear(hidden, hidden), nn.LeakyReLU(), nn.LayerNorm(hidden),
        nn.Linear(hidden, 1),
    )  # fmt: skip


class ActorCriticAgent(HistoryHyperparams, TorchAgent):
    """PPO actor-critic (see module docstring)."""

    name = "actor_critic"
    uses_info = True
    HYPERPARAMS: ClassVar[dict[str, Any]] = {
        **TorchAgent.HYPERPARAMS,
        "hidden": 128,
        "learning_rate": 1e-4,
        "gamma": 0.95,
        "clip_range": 0.1,
        "gae_lambda": None,
        "n_steps": 128,
        "n_epochs": 4,
        "batch_size": 256,
        "ent_coef": 0.01,
        "max_grad_norm": 0.5,
        "normalize_advantage": True,
        "reward_scale": 1.0,
        "policy_net": "mlp",
        **HISTORY_HYPERPARAMS,
    }
    HYPERPARAM_SPECS: ClassVar[dict[str, Spec]] = {
        "hidden": Int(1),
        "learning_rate": Real(0, low_open=True),
        "gamma": Real(0, 1, low_open=True),
        "clip_range": Real(0, 1, low_open=True, high_open=True),
        "gae_lambda": Real(0, 1, optional=True),
        "n_steps": Int(1),
        "n_epochs": Int(1),
        "batch_size": Int(1),
        "ent_coef": Real(0),
        "max_grad_norm": Real(0, low_open=True),
        "normalize_advantage": Bool(),
        "reward_scale": Real(0, low_open=True),
        "policy_net": Choice(("mlp", "slots", "tracks")),
        **HISTORY_SPECS,
    }

    def _build(self) -> None:
        hp = self.hp
        if hp["policy_net"] == "slots" and self.env.action_mode != "candidates":
            raise ValueError(f"agent {self.name!r}: policy_net='slots' needs a candidates-mode env, not {self.env_id}")
        if hp["policy_net"] == "tracks" and self.env.action_mode != "catalog":
            raise ValueError(f"agent {self.name!r}: policy_net='tracks' needs a catalog-mode env, not {self.env_id}")
        obs_dim = self.vec_env.observation_space.shape[0]
        slots_dim = self.env.head_dim + self.env.n_actions * self.env.item_features.shape[1]
        if hp["policy_net"] == "slots" and obs_dim != slots_dim:
            raise ValueError(f"agent {self.name!r}: policy_net='slots' needs the candidates' features in the "
                             f"observation (e.g. Playlist-v0's observation='full')")
        #: L, the past heads the networks read (0: none, the agent as without a history), and E, their encoding's width
        self.n_history = int(hp["history"])
        self.enc_dim = int(hp["history_hidden"]) if self.n_history else 0
        self.policy = self._policy_net(obs_dim + self.enc_dim)
        self.value = value_net(obs_dim + self.enc_dim, hp["hidden"])
        #: what each optimiser trains (and each gradient clip covers): a network, and its history encoder
        self.pi_params = list(self.policy.parameters())
        self.v_params = list(self.value.parameters())
        self.stack: HistoryStack | None = None
        if self.n_history:
            self.pi_encoder = HistoryEncoder(self.env.head_dim, self.enc_dim)
            self.v_encoder = HistoryEncoder(self.env.head_dim, self.enc_dim)
            self.pi_params += list(self.pi_encoder.parameters())
            self.v_params += list(self.v_encoder.parameters())
            self.stack = HistoryStack(self.vec_env.num_envs, self.n_history, self.env.head_dim)
        # separate networks, separate optimisers (as the project): the value loss, whose scale follows
        # the rewards', never crowds out the policy gradient
        self.pi_opt = torch.optim.Adam(self.pi_params, lr=hp["learning_rate"])
        self.v_opt = torch.optim.Adam(self.v_params, lr=hp["learning_rate"])
        self.modules = {"policy": self.policy, "value": self.value, "pi_opt": self.pi_opt, "v_opt": self.v_opt}
        if self.n_history:
            self.modules.update({"pi_encoder": self.pi_encoder, "v_encoder": self.v_encoder})

    def _policy_net(self, in_dim: int) -> nn.Module:
        """The policy network; `in_dim`: the observation's width, plus the encoding's with a history."""
        h = self.hp["hidden"]
        if self.hp["policy_net"] == "slots":
            return mlp([self.env.head_dim + self.enc_dim + self.env.item_features.shape[1], h, h, 1])
        if self.hp["policy_net"] == "tracks":
            return TrackScorer(in_dim, self.env.item_features, h)
        return mlp([in_dim, h, h, self.env.n_actions])

    # ---------------------------------------------------------------- what the networks read
    def _policy_input(self, obs: torch.Tensor, stacks: Any) -> torch.Tensor:
        """(B, obs_dim [+ E]): the observations, with a history the policy encoder's encoding of `stacks` appended."""
        if not self.n_history:
            return obs
        return torch.cat([obs, self.pi_encoder(self.tensor(stacks))], dim=1)

    def _value_input(self, obs: torch.Tensor, stacks: Any) -> torch.Tensor:
        """(B, obs_dim [+ E]): as `_policy_input`, with the value network's encoder."""
        if not self.n_history:
            return obs
        return torch.cat([obs, self.v_encoder(self.tensor(stacks))], dim=1)

    # ---------------------------------------------------------------- action sets
    def _action_set(self, obs: np.ndarray, history: np.ndarray | None, mask: np.ndarray | None) -> dict[str, Any]:
        """What the policy chooses among, per session: here the env's own actions with their mask."""
        if mask is None:
            mask = np.ones((len(obs), self.env.n_actions), dtype=bool)
        return {"mask": np.asarray(mask, dtype=bool)}

    def _logits(self, obs: torch.Tensor, aset: dict[str, Any]) -> torch.Tensor:
        """(B, actions) logits; `obs` is `_policy_input` (with a history, the encoding follows the slots)."""
        if self.hp["policy_net"] == "slots":
            k, head = self.env.n_actions, self.env.head_dim
            if not self.n_history:
                logits = self.policy(with_head(obs[:, :head], obs[:, head:].reshape(len(obs), k, -1))).squeeze(-1)
            else:
                end = obs.shape[1] - self.enc_dim
                state = torch.cat([obs[:, :head], obs[:, end:]], dim=1)  # the head and the encoding
                logits = self.policy(with_head(state, obs[:, head:end].reshape(len(obs), k, -1))).squeeze(-1)
        else:
            logits = self.policy(obs)
        return logits.masked_fill(~self.tensor(aset["mask"]), -1e9)

    def _to_env_action(self, choice: np.ndarray, aset: dict[str, Any]) -> np.ndarray:
        return choice

    def _env_mask(self) -> np.ndarray:
        return self.env.action_masks()

    # ---------------------------------------------------------------- training
    def _train(self, total_timesteps: int, step_hook: Any, safe_point: Any) -> None:
        hp, venv = self.hp, self.vec_env
        n, t_max = venv.num_envs, int(hp["n_steps"])
        if self._obs is None:
            self._obs = venv.reset()
            if self.stack is not None:
                self.stack.reset()
        obs = self._obs
        while self.num_timesteps < total_timesteps:
            buf_obs, buf_sets, buf_act, buf_logp, buf_rew, buf_done, buf_val = [], [], [], [], [], [], []
            buf_stacks: list[np.ndarray] = []
            stop = False
            for _ in range(t_max):
                history = self.env.history()
                aset = self._action_set(obs, history, self._env_mask())
                obs_t = self.tensor(obs)
                stacks = None if self.stack is None else self.stack.data
                with torch.no_grad():
                    dist = torch.distributions.Categorical(logits=self._logits(self._policy_input(obs_t, stacks), aset))
                    choice = dist.sample()
                    logp = dist.log_prob(choice)
                    val = self.value(self._value_input(obs_t, stacks)).squeeze(-1)
                choice_np = self.to_numpy(choice)
                actions = self._to_env_action(choice_np, aset)
                next_obs, reward, done, _ = venv.step(actions)
                if self.stack is not None:
                    buf_stacks.append(stacks)
                    self.stack.push(obs[:, : self.env.head_dim])  # a new array: `stacks` stays as it was
                    self.stack.reset(done)  # the sessions that ended start a new episode with no past
                buf_obs.append(obs)
                buf_sets.append(aset)
                buf_act.append(choice_np)
                buf_logp.append(self.to_numpy(logp))
                buf_rew.append(reward * hp["reward_scale"])
                buf_done.append(done.astype(np.float32))
                buf_val.append(self.to_numpy(val))
                obs = next_obs
                self.num_timesteps += n
                if not step_hook(self.tracker.update(reward, done)):
                    stop = True
                    break
            with torch.no_grad():
                stacks = None if self.stack is None else self.stack.data
                last_val = self.to_numpy(self.value(self._value_input(self.tensor(obs), stacks)).squeeze(-1))
            self._update(buf_obs, buf_sets, buf_act, buf_logp, buf_rew, buf_done, buf_val, last_val, buf_stacks)
            self._obs = obs  # a rollout ends here: the agent's attributes hold its whole training state
            if stop:
                break
            safe_point()

    def _train_state(self, full: bool) -> dict[str, Any]:
        return {} if self.stack is None else {"history": self.stack.state()}

    def _load_train_state(self, state: dict[str, Any]) -> None:
        if self.stack is not None:
            self.stack.load(state["history"])

    def _advantages(self, rew, done, val, last_val) -> tuple[np.ndarray, np.ndarray]:
        t_len = len(rew)
        gamma, lam = self.hp["gamma"], self.hp["gae_lambda"]
        ret = np.zeros((t_len, len(last_val)), np.float32)
        adv = np.zeros_like(ret)
        next_ret, next_val, next_adv = last_val, last_val, np.zeros_like(last_val)
        for t in reversed(range(t_len)):
            live = 1.0 - done[t]
            if lam is None:  # the project: discounted return-to-go minus the value estimate
                next_ret = rew[t] + gamma * live * next_ret
                ret[t] = next_ret
                adv[t] = next_ret - val[t]
            else:
                delta = rew[t] + gamma * live * next_val - val[t]
                next_adv = delta + gamma * lam * live * next_adv
                adv[t] = next_adv
                ret[t] = next_adv + val[t]
                next_val = val[t]
        return ret, adv

    def _update(self, obs, sets, act, logp, rew, done, val, last_val, stacks=None) -> None:
        hp = self.hp
        ret, adv = self._advantages(np.array(rew), np.array(done), np.array(val), last_val)
        t_len, n = ret.shape
        flat_obs = self.tensor(np.concatenate(obs))
        flat_stacks = self.tensor(np.concatenate(stacks)) if self.n_history else None
        flat_sets = {k: np.concatenate([s[k] for s in sets]) for k in sets[0]}
        flat_act = self.tensor(np.concatenate(act))
        flat_logp = self.tensor(np.concatenate(logp))
        flat_ret = self.tensor(ret.reshape(-1))
        flat_adv = self.tensor(adv.reshape(-1))
        size = t_len * n
        for _ in range(int(hp["n_epochs"])):
            perm = self.rng.permutation(size)
            for start in range(0, size, int(hp["batch_size"])):
                idx = perm[start : start + int(hp["batch_size"])]
                idx_t = self.tensor(idx)
                a = flat_adv[idx_t]
                if hp["normalize_advantage"] and len(idx) > 1:
                    a = (a - a.mean()) / (a.std() + 1e-8)
                sub_sets = {k: v[idx] for k, v in flat_sets.items()}
                sub_obs = flat_obs[idx_t]
                sub_stacks = None if flat_stacks is None else flat_stacks[idx_t]
                dist = torch.distributions.Categorical(logits=self._logits(self._policy_input(sub_obs, sub_stacks),
                                                                           sub_sets))
                new_logp = dist.log_prob(flat_act[idx_t])
                ratio = torch.exp(new_logp - flat_logp[idx_t])
                clip = hp["clip_range"]
                pg_loss = -torch.min(ratio * a, ratio.clamp(1 - clip, 1 + clip) * a).mean()
                v_pred = self.value(self._value_input(sub_obs, sub_stacks)).squeeze(-1)
                v_loss = ((v_pred - flat_ret[idx_t]) ** 2).mean()
                entropy = dist.entropy().mean()
                pi_loss = pg_loss - hp["ent_coef"] * entropy
                self.pi_opt.zero_grad()
                pi_loss.backward()
                nn.utils.clip_grad_norm_(self.pi_params, hp["max_grad_norm"])
                self.pi_opt.step()
                self.v_opt.zero_grad()
                v_loss.backward()
                nn.utils.clip_grad_norm_(self.v_params, hp["max_grad_norm"])
                self.v_opt.step()
        self.log("losses/policy_loss", pg_loss.item())
        self.log("losses/value_loss", v_loss.item())
        self.log("losses/entropy", entropy.item())

    # ---------------------------------------------------------------- acting
    def action_probs(self, observation: Any, info: dict[str, Any], state: Any = None) -> torch.Tensor:
        """(B, n_actions) policy probabilities (masked by ``info["action_mask"]``), with gradients.

        `state`: with a history, the stack of past heads (as `predict` takes it; None: an episode's start).
        """
        obs_np = self.check_obs(observation)
        obs = self.tensor(obs_np)
        mask, history = info.get("action_mask"), info.get("history")
        aset = self._action_set(obs_np, None if history is None else np.atleast_2d(history),
                                None if mask is None else np.atleast_2d(mask))
        stacks, _ = predict_stacks(self.n_history, obs_np[:, : self.env.head_dim], state, None, self.name)
        return torch.softmax(self._logits(self._policy_input(obs, stacks), aset), dim=1)

    def action_scores(
        self, observation: Any, info: dict[str, Any], state: Any = None
    ) -> tuple[str, np.ndarray] | None:
        """The policy's probabilities of the env's actions (candidates mode).

        `state`: with a history, the stack of past heads as `predict` takes it (None: an episode's start,
        no past; the callers that rate single logged steps, ``musicgym play`` and the OPE, pass none).
        """
        if self.env.action_mode != "candidates":
            return None
        with torch.no_grad():
            return "p", self.to_numpy(self.action_probs(observation, info, state)[0])

    def predict(
        self, observation: Any, state: Any = None, episode_start: Any = None, deterministic: bool = False, **kw: Any
    ) -> tuple[np.ndarray, Any]:
        """Most probable (or sampled) action; masks with ``info["action_mask"]`` when given.

        With a history, `state` is the stack of past heads `predict` returned at the previous step (None:
        a fresh one; ``episode_start`` True zeroes it), and the stack to pass back at the next step is
        returned in its place (`musicgym.agents.history`).
        """
        info = kw.get("info") or {}
        obs = self.check_obs(observation)
        stacks, state = predict_stacks(self.n_history, obs[:, : self.env.head_dim], state, episode_start, self.name)
        single = np.asarray(observation).ndim == 1
        mask = info.get("action_mask")
        history = info.get("history")
        aset = self._action_set(
            obs,
            None if history is None else np.atleast_2d(history),
            None if mask is None else np.atleast_2d(mask),
        )
        with torch.no_grad():
            logits = self._logits(self._policy_input(self.tensor(obs), stacks), aset)
            if deterministic:
                choice = self.to_numpy(logits.argmax(1))
            else:
                choice = self.to_numpy(torch.distributions.Categorical(logits=logits).sample())
        act = self._to_env_action(choice, aset)
        return (act[0] if single else act), state
