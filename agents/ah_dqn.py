"""``ah_dqn``: the Action-Head DQN of the AH-DQN project.

The Q-network scores one (state, track) pair: its input is the state concatenated with one track's
features, two hidden ReLU layers follow, and it outputs one Q-value. To act, it scores every
candidate slot of the observation and takes the best (epsilon-greedy while training, epsilon
decaying linearly). In catalog mode it cannot score all N tracks each step; like Wolpertinger
(Dulac-Arnold et al. 2015) it has a small actor that maps the state to a proto-track in item-feature
space, asks the shared FAISS index for the `n_retrieve` tracks nearest that learned query (played
tracks excluded) and scores those; the actor is trained to maximise the Q-value of its proto-track.

Training: experience replay (uniform), a target network copied every `target_update` gradient
steps, Adam, Huber (or MSE) loss on ``r + gamma * max_a' Q_target(s', a')`` over the next state's
candidates. Episode ends (termination or the time limit) do not bootstrap: a playlist of fixed
length is the task itself. The replay buffer and the gradient-step count live as long as the agent:
successive ``learn`` calls (a sweep's learning-curve points) go on with them, and checkpoints hold them.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from musicgym.agents.hyperparams import Choice, Int, Real, Spec
from musicgym.agents.torch_agent import TorchAgent, mlp, with_head
from torch import nn
from torch.nn import functional as F


class ReplayBuffer:
    """Transitions with the next state's candidate rows (features are looked up when sampling)."""

    def __init__(self, size: int, head_dim: int, n_next: int) -> None:
        self.size, self.n, self.pos = size, 0, 0
        self.s = np.zeros((size, head_dim), np.float32)
        self.a = np.zeros(size, np.int64)
        self.r = np.zeros(size, np.float32)
        self.s2 = np.zeros((size, head_dim), np.float32)
        self.c2 = np.full((size, n_next), -1, np.int64)
        self.done = np.zeros(size, np.float32)

    def add(self, s, a, r, s2, c2, done) -> None:
        """Add a batch of transitions."""
        for i in range(len(a)):
            p = self.pos
            self.s[p], self.a[p], self.r[p], self.s2[p], self.done[p] = s[i], a[i], r[i], s2[i], done[i]
            self.c2[p] = -1
            self.c2[p, : c2.shape[1]] = c2[i]
            self.pos = (p + 1) % self.size
            self.n = min(self.n + 1, self.size)

    def sample(self, rng: np.random.Generator, batch: int):
        """A uniform batch of indices' contents."""
        i = rng.integers(0, self.n, batch)
        return self.s[i], self.a[i], self.r[i], self.s2[i], self.c2[i], self.done[i]

    FIELDS = ("s", "a", "r", "s2", "c2", "done")

    def state(self) -> dict[str, Any]:
        """The filled part of the buffer and its write position (for a checkpoint)."""
        return {"n": self.n, "pos": self.pos, **{f: getattr(self, f)[: self.n].copy() for f in self.FIELDS}}

    def load(self, state: dict[str, Any]) -> None:
        """Continue from `state` (a buffer of the same size and shapes)."""
        n = int(state["n"])
        if n > self.size:
            raise ValueError(f"replay buffer snapshot of {n} transitions, this buffer holds {self.size}")
        for f in self.FIELDS:
            getattr(self, f)[:n] = state[f]
        self.n, self.pos = n, int(state["pos"])


class AHDQNAgent(TorchAgent):
    """Action-Head DQN (see module docstring). Works on every MusicGym env, candidates and catalog mode."""

    name = "ah_dqn"
    uses_info = True
    HYPERPARAMS: ClassVar[dict[str, Any]] = {
        **TorchAgent.HYPERPARAMS,
        "hidden": 128,
        "learning_rate": 1e-3,
        "gamma": 0.9,
        "buffer_size": 50_000,
        "batch_size": 64,
        "learning_starts": 500,
        "gradient_steps": 1,
        "target_update": 250,
        "exploration_fraction": 0.3,
        "exploration_initial_eps": 1.0,
        "exploration_final_eps": 0.05,
        "loss": "huber",
        "n_retrieve": 32,
        "actor_learning_rate": 1e-3,
        "reward_scale": 1.0,
    }
    HYPERPARAM_SPECS: ClassVar[dict[str, Spec]] = {
        "hidden": Int(1),
        "learning_rate": Real(0, low_open=True),
        "gamma": Real(0, 1, low_open=True),
        "buffer_size": Int(1),
        "batch_size": Int(1),
        "learning_starts": Int(0),
        "gradient_steps": Int(1),
        "target_update": Int(1),
        "exploration_fraction": Real(0, 1),
        "exploration_initial_eps": Real(0, 1),
        "exploration_final_eps": Real(0, 1),
        "loss": Choice(("huber", "mse")),
        "n_retrieve": Int(1),
        "actor_learning_rate": Real(0, low_open=True),
        "reward_scale": Real(0, low_open=True),
    }

    def _build(self) -> None:
        hp = self.hp
        self.catalog_mode = self.env.action_mode == "catalog"
        self.items = self.tensor(self.env.item_features, dtype=torch.float32)
        h, d = self.env.head_dim, self.items.shape[1]
        self.q = mlp([h + d, hp["hidden"], hp["hidden"], 1])
        self.q_target = mlp([h + d, hp["hidden"], hp["hidden"], 1])
        self.q_target.load_state_dict(self.q.state_dict())
        self.opt = torch.optim.Adam(self.q.parameters(), lr=hp["learning_rate"])
        self.modules = {"q": self.q, "q_target": self.q_target, "opt": self.opt}
        if self.catalog_mode:
            lo = float(self.env.item_features.min())
            hi = float(self.env.item_features.max())
            self._proto_lo, self._proto_span = lo, hi - lo
            self.actor = mlp([h, hp["hidden"], d], out_act=nn.Sigmoid())
            self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=hp["actor_learning_rate"])
            self.modules.update({"actor": self.actor, "actor_opt": self.actor_opt})
        self.buffer: ReplayBuffer | None = None  # made on the first training step (acting needs none)
        self.grad_steps = 0

    def _replay(self) -> ReplayBuffer:
        """The agent's replay buffer (made on first use)."""
        if self.buffer is None:
            n_next = int(self.hp["n_retrieve"]) if self.catalog_mode else self.env.n_actions
            self.buffer = ReplayBuffer(int(self.hp["buffer_size"]), self.env.head_dim, n_next)
        return self.buffer

    # ---------------------------------------------------------------- scoring
    def _q_values(self, net: nn.Module, heads: torch.Tensor, cand: np.ndarray) -> torch.Tensor:
        """(B, K) Q-values of candidate rows `cand` (-inf for empty slots)."""
        feats = self.items[self.tensor(np.maximum(cand, 0))]
        q = net(with_head(heads, feats)).squeeze(-1)
        return q.masked_fill(self.tensor(cand < 0), float("-inf"))

    def _proto(self, heads: torch.Tensor) -> torch.Tensor:
        return self._proto_lo + self._proto_span * self.actor(heads)

    def _retrieve(self, heads: np.ndarray, history: np.ndarray | None) -> np.ndarray:
        """Catalog mode: the tracks nearest the actor's learned query, played ones excluded."""
        with torch.no_grad():
            proto = self.to_numpy(self._proto(self.tensor(heads)))
        ids, _ = self.env.index.search(proto, int(self.hp["n_retrieve"]), exclude=history)
        return ids

    def _candidates(self, heads: np.ndarray, slots_from_env: np.ndarray, history: np.ndarray | None) -> np.ndarray:
        return self._retrieve(heads, history) if self.catalog_mode else slots_from_env

    def _act(self, heads: np.ndarray, cand: np.ndarray) -> np.ndarray:
        """Greedy slot index (candidates mode) or catalog row (catalog mode)."""
        with torch.no_grad():
            q = self._q_values(self.q, self.tensor(heads), cand)
        best = self.to_numpy(q.argmax(1))
        return cand[np.arange(len(cand)), best] if self.catalog_mode else best

    # ---------------------------------------------------------------- training
    def _epsilon(self, total: int) -> float:
        hp = self.hp
        frac = min(1.0, self.num_timesteps / max(1.0, hp["exploration_fraction"] * total))
        return hp["exploration_initial_eps"] + frac * (hp["exploration_final_eps"] - hp["exploration_initial_eps"])

    def _train(self, total_timesteps: int, step_hook: Any, safe_point: Any) -> None:
        hp, venv, buf = self.hp, self.vec_env, self._replay()
        n = venv.num_envs
        if self._obs is None:
            self._obs = venv.reset()
        while self.num_timesteps < total_timesteps:
            heads = self._obs[:, : venv.head_dim]
            cand = self._candidates(heads, venv.candidates, venv.history() if self.catalog_mode else None)
            greedy = self._act(heads, cand)
            explore = self.rng.random(n) < self._epsilon(total_timesteps)
            if explore.any():
                rnd = self.rng.random((n, venv.n_actions)) * venv.action_masks()
                greedy[explore] = rnd[explore].argmax(1)
            actions = greedy
            played = venv.tracks_of(actions)
            self._obs, reward, done, _ = venv.step(actions)
            next_heads = venv.final_obs[:, : venv.head_dim]
            next_cand = (
                self._retrieve(next_heads, None) if self.catalog_mode else venv.final_candidates
            )
            buf.add(heads, played, reward * hp["reward_scale"], next_heads, next_cand, done.astype(np.float32))
            self.num_timesteps += n
            if buf.n >= hp["learning_starts"]:
                for _ in range(int(hp["gradient_steps"])):
                    self._update(buf)
                    self.grad_steps += 1
                    if self.grad_steps % hp["target_update"] == 0:
                        self.q_target.load_state_dict(self.q.state_dict())
            if not step_hook(self.tracker.update(reward, done)):
                break
            safe_point()

    def _train_state(self, full: bool) -> dict[str, Any]:
        return {"grad_steps": self.grad_steps, "buffer": None if self.buffer is None else self.buffer.state()}

    def _load_train_state(self, state: dict[str, Any]) -> None:
        self.grad_steps = int(state["grad_steps"])
        if state["buffer"] is not None:
            self._replay().load(state["buffer"])

    def _update(self, buf: ReplayBuffer) -> None:
        hp = self.hp
        s, a, r, s2, c2, done = buf.sample(self.rng, int(hp["batch_size"]))
        s_t, s2_t = self.tensor(s), self.tensor(s2)
        q = self.q(torch.cat([s_t, self.items[self.tensor(a)]], dim=1)).squeeze(-1)
        with torch.no_grad():
            q2 = self._q_values(self.q_target, s2_t, c2).max(1).values
            q2 = torch.where(torch.isfinite(q2), q2, torch.zeros_like(q2))
            target = self.tensor(r) + hp["gamma"] * (1.0 - self.tensor(done)) * q2
        loss = F.smooth_l1_loss(q, target) if hp["loss"] == "huber" else F.mse_loss(q, target)
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        if self.num_timesteps % 1000 < self.vec_env.num_envs:
            self.log("losses/td_loss", loss.item())
            self.log("losses/q_values", q.mean().item())
        if self.catalog_mode:
            proto = self._proto(s_t)
            actor_loss = -self.q(torch.cat([s_t, proto], dim=1)).mean()
            self.actor_opt.zero_grad()
            actor_loss.backward()
            self.actor_opt.step()
            if self.num_timesteps % 1000 < self.vec_env.num_envs:
                self.log("losses/actor_loss", actor_loss.item())

    # ---------------------------------------------------------------- acting
    def action_scores(self, observation: Any, info: dict[str, Any]) -> tuple[str, np.ndarray] | None:
        """Q-values of the candidate slots (candidates mode)."""
        if self.catalog_mode:
            return None
        heads, _ = self.split_obs(observation)
        with torch.no_grad():
            q = self._q_values(self.q, self.tensor(heads), np.atleast_2d(info["candidates"]))
        return "Q", self.to_numpy(q[0])

    def predict(
        self, observation: Any, state: Any = None, episode_start: Any = None, deterministic: bool = False, **kw: Any
    ) -> tuple[np.ndarray, Any]:
        """Greedy action; reads ``info["candidates"]`` / ``info["history"]`` when given."""
        info = kw.get("info")
        single = np.asarray(observation).ndim == 1
        heads, slots = self.split_obs(observation)
        if self.catalog_mode:
            history = None if info is None else np.atleast_2d(info.get("history"))
            cand = self._retrieve(heads, history)
        elif info is not None and "candidates" in info:
            cand = np.atleast_2d(info["candidates"])
        elif slots is not None:
            # no info: score the slot features the observation carries (rows unknown, so use them directly)
            with torch.no_grad():
                h = self.tensor(heads)
                act = self.to_numpy(self.q(with_head(h, self.tensor(slots))).squeeze(-1).argmax(1))
            return (act[0] if single else act), state
        else:
            raise ValueError("ah_dqn needs info['candidates'] (pass info=...) with observation='latent'")
        act = self._act(heads, cand)
        return (act[0] if single else act), state
