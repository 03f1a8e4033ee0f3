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

A memory of the session (`musicgym.agents.history`), two hyperparameters: ``history`` (default 0:
off, the agent exactly as without it) is the number L of past observation heads the agent keeps per
session, ``history_hidden`` (default 64) the width E of the GRU encoding of them. With L > 0 the
Q-network, its target and (catalog mode) the actor read ``[head, encoding of the last L heads]``
instead of the head; the encoder is trained by the TD loss, the target network has its own copy
(copied with it), and the actor reads the encoding without training it (its loss would move the state
representation to raise Q). Each transition in the replay buffer stores the stack of the L heads
before s (the one before s' is that stack shifted by s's head): the buffer holds
``buffer_size x (L + 2) x head_dim`` floats for the states, against ``2 x head_dim`` without a history;
with the default 50,000 transitions and L = 8, 14 MB on PlaylistPOMDP-v0 (head 7), 44 MB on
PreferenceHidden-v0 (22), 152 MB on Session-v0 (76), and a checkpoint holds the filled part of it.
``history_played`` (the played track's features beside each head) and ``history_encoder``
(``"deepsets"``: a set encoder instead of the GRU) are the memory's further options (`musicgym.agents.history`).

``q_bilinear`` (default False) adds to the Q-network's output the inner product of the track's
features with a linear map of the state (`BilinearQ`). ``learning_rate_final`` and
``learning_rate_decay_steps`` (default None: a constant rate) decay the Q-network's (and encoder's)
learning rate linearly from ``learning_rate`` to ``learning_rate_final`` over the agent's first
``learning_rate_decay_steps`` env steps, then hold it, so that the last updates move the greedy policy
less. The steps are the agent's, not a `learn` call's: a run trained in several calls (a sweep's
learning-curve points) decays as one trained in one.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from musicgym.agents.history import (
    HISTORY_HYPERPARAMS,
    HISTORY_SPECS,
    MEMORY_HYPERPARAMS,
    MEMORY_SPECS,
    HistoryEncoder,
    HistoryHyperparams,
    HistoryStack,
    RidgeEncoder,
    SetEncoder,
    last_played,
    next_state,
    predict_stacks,
)
from musicgym.agents.hyperparams import Bool, Choice, Int, Real, Spec
from musicgym.agents.torch_agent import TorchAgent, mlp, with_head
from torch import nn
from torch.nn import functional as F


class ReplayBuffer:
    """Transitions with the next state's candidate rows (features are looked up when sampling).

    With `history` L > 0 each transition also holds ``hs``, the (L, head_dim) heads before s; a sample
    gives ``hs2``, the heads before s', as ``hs`` shifted by s's head (module docstring).
    """

    def __init__(self, size: int, head_dim: int, n_next: int, history: int = 0) -> None:
        self.size, self.n, self.pos = size, 0, 0
        self.history = int(history)
        self.s = np.zeros((size, head_dim), np.float32)
        self.a = np.zeros(size, np.int64)
        self.r = np.zeros(size, np.float32)
        self.s2 = np.zeros((size, head_dim), np.float32)
        self.c2 = np.full((size, n_next), -1, np.int64)
        self.done = np.zeros(size, np.float32)
        self.hs = np.zeros((size, self.history, head_dim), np.float32) if self.history else None
        self.fields = self.FIELDS + (("hs",) if self.history else ())

    def add(self, s, a, r, s2, c2, done, hs=None) -> None:
        """Add a batch of transitions (`hs`: their (B, L, head_dim) stacks before s, with a history)."""
        if self.history and hs is None:
            raise ValueError(f"this replay buffer keeps a history of {self.history} heads: add(..., hs=stacks)")
        for i in range(len(a)):
            p = self.pos
            self.s[p], self.a[p], self.r[p], self.s2[p], self.done[p] = s[i], a[i], r[i], s2[i], done[i]
            self.c2[p] = -1
            self.c2[p, : c2.shape[1]] = c2[i]
            if self.history:
                self.hs[p] = hs[i]
            self.pos = (p + 1) % self.size
            self.n = min(self.n + 1, self.size)

    def sample(self, rng: np.random.Generator, batch: int) -> dict[str, np.ndarray]:
        """A uniform batch of indices' contents, by field (and ``hs2`` with a history)."""
        i = rng.integers(0, self.n, batch)
        out = {f: getattr(self, f)[i] for f in self.fields}
        if self.history:
            out["hs2"] = next_state(out["hs"], out["s"])
        return out

    FIELDS = ("s", "a", "r", "s2", "c2", "done")

    def state(self) -> dict[str, Any]:
        """The filled part of the buffer and its write position (for a checkpoint)."""
        return {"n": self.n, "pos": self.pos, **{f: getattr(self, f)[: self.n].copy() for f in self.fields}}

    def load(self, state: dict[str, Any]) -> None:
        """Continue from `state` (a buffer of the same size and shapes)."""
        n = int(state["n"])
        if n > self.size:
            raise ValueError(f"replay buffer snapshot of {n} transitions, this buffer holds {self.size}")
        for f in self.fields:
            getattr(self, f)[:n] = state[f]
        self.n, self.pos = n, int(state["pos"])


class BilinearQ(nn.Module):
    """A Q-network with a bilinear term: ``mlp([state, track]) + u(state) . track`` (``q_bilinear``).

    It reads what the plain MLP reads (a state and one track's d features, concatenated, the track's
    last) and adds the inner product of the track's features with a linear map u of the state: a
    reward linear in the track's features given the state (a listener's preferences over the attributes
    on PreferenceHidden-v0) is then one linear layer away instead of a product the MLP must approximate.

    Args:
        state_dim: width of the state part.
        d: width of a track's features.
        hidden: width of the MLP's two hidden layers.
    """

    def __init__(self, state_dim: int, d: int, hidden: int) -> None:
        super().__init__()
        self.d = d
        self.mlp = mlp([state_dim + d, hidden, hidden, 1])
        self.u = nn.Linear(state_dim, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(..., 1) the Q-values of (..., state_dim + d) state-track rows."""
        state, track = x[..., : -self.d], x[..., -self.d :]
        return self.mlp(x) + (self.u(state) * track).sum(-1, keepdim=True)


class AHDQNAgent(HistoryHyperparams, TorchAgent):
    """Action-Head DQN (see module docstring). Works on every MusicGym env, candidates and catalog mode."""

    name = "ah_dqn"
    uses_info = True
    HYPERPARAMS: ClassVar[dict[str, Any]] = {
        **TorchAgent.HYPERPARAMS,
        "hidden": 128,
        "learning_rate": 1e-3,
        "learning_rate_final": None,
        "learning_rate_decay_steps": None,
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
        "q_bilinear": False,
        **HISTORY_HYPERPARAMS,
        **MEMORY_HYPERPARAMS,
    }
    HYPERPARAM_SPECS: ClassVar[dict[str, Spec]] = {
        "hidden": Int(1),
        "learning_rate": Real(0, low_open=True),
        "learning_rate_final": Real(0, low_open=True, optional=True),
        "learning_rate_decay_steps": Int(1, optional=True),
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
        "q_bilinear": Bool(),
        **HISTORY_SPECS,
        **MEMORY_SPECS,
    }
    #: newer than the agent files written before them: left out of the description at their defaults
    OMITTED_AT_DEFAULT: ClassVar[dict[str, Any]] = {"q_bilinear": False, "learning_rate_final": None,
                                                    "learning_rate_decay_steps": None, **MEMORY_HYPERPARAMS}

    def _build(self) -> None:
        hp = self.hp
        self.catalog_mode = self.env.action_mode == "catalog"
        if (hp["learning_rate_final"] is None) != (hp["learning_rate_decay_steps"] is None):
            raise ValueError("agent 'ah_dqn': learning_rate_final and learning_rate_decay_steps go together (a "
                             f"decay to one rate over so many steps); got {hp['learning_rate_final']!r} and "
                             f"{hp['learning_rate_decay_steps']!r}")
        self.items = self.tensor(self.env.item_features, dtype=torch.float32)
        d = self.items.shape[1]
        #: L, the past heads the networks read (0: none, the agent as without a history)
        self.n_history = int(hp["history"])
        #: with a history and ``history_played``: a head is the observation's head and the played track's features
        self.played = bool(self.n_history and hp["history_played"])
        #: the width of a head as the networks, the stack and the replay buffer hold it
        self.head_dim = h = self.env.head_dim + (d if self.played else 0)
        self.set_encoder = bool(self.n_history and hp["history_encoder"] in ("deepsets", "ridge"))
        if self.n_history and hp["history_encoder"] == "ridge" and not self.played:
            raise ValueError("agent 'ah_dqn': history_encoder 'ridge' regresses on the played tracks' features: "
                             "it needs history_played=True")
        e = int(hp["history_hidden"]) if self.n_history else 0
        if self.n_history and hp["history_encoder"] == "ridge":
            e = RidgeEncoder.width(d)
        if hp["q_bilinear"]:
            self.q = BilinearQ(h + e, d, hp["hidden"])
            self.q_target = BilinearQ(h + e, d, hp["hidden"])
        else:
            self.q = mlp([h + e + d, hp["hidden"], hp["hidden"], 1])
            self.q_target = mlp([h + e + d, hp["hidden"], hp["hidden"], 1])
        self.q_target.load_state_dict(self.q.state_dict())
        params = list(self.q.parameters())
        self.stack: HistoryStack | None = None
        if self.n_history:
            if hp["history_encoder"] == "ridge":
                self.encoder = RidgeEncoder(self.env.head_dim, d)
                self.encoder_target = RidgeEncoder(self.env.head_dim, d)
            else:
                encoder = SetEncoder if self.set_encoder else HistoryEncoder
                self.encoder = encoder(h, e)
                self.encoder_target = encoder(h, e)
            self.encoder_target.load_state_dict(self.encoder.state_dict())
            params += list(self.encoder.parameters())
            self.stack = HistoryStack(self.vec_env.num_envs, self.n_history, h)
        self.opt = torch.optim.Adam(params, lr=hp["learning_rate"])
        self.modules = {"q": self.q, "q_target": self.q_target, "opt": self.opt}
        if self.n_history:
            self.modules.update({"encoder": self.encoder, "encoder_target": self.encoder_target})
        if self.catalog_mode:
            lo = float(self.env.item_features.min())
            hi = float(self.env.item_features.max())
            self._proto_lo, self._proto_span = lo, hi - lo
            self.actor = mlp([h + e, hp["hidden"], d], out_act=nn.Sigmoid())
            self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=hp["actor_learning_rate"])
            self.modules.update({"actor": self.actor, "actor_opt": self.actor_opt})
        self.buffer: ReplayBuffer | None = None  # made on the first training step (acting needs none)
        self.grad_steps = 0

    def _replay(self) -> ReplayBuffer:
        """The agent's replay buffer (made on first use)."""
        if self.buffer is None:
            n_next = int(self.hp["n_retrieve"]) if self.catalog_mode else self.env.n_actions
            self.buffer = ReplayBuffer(int(self.hp["buffer_size"]), self.head_dim, n_next, self.n_history)
        return self.buffer

    # ---------------------------------------------------------------- scoring
    def _heads(self, obs_heads: np.ndarray, played: np.ndarray | None) -> np.ndarray:
        """(B, head_dim) the heads the agent reads: the observation's (and the played tracks' features).

        With ``history_played`` each observation head has the features of its session's `played` track
        beside it (the session's last: the track the head's feedback is about).
        """
        if not self.played:
            return obs_heads
        return np.concatenate([obs_heads, self.env.item_features[played]], axis=1).astype(np.float32)

    def _net_input(self, heads: np.ndarray, stacks: np.ndarray | None, target: bool = False) -> torch.Tensor:
        """(B, h [+ E]) what the networks read: the heads, and with a history the (target) encoding of `stacks`.

        The GRU reads the L heads before the current one; the DeepSets encoder reads those and the current
        one (a set of L + 1: the current step's feedback is part of the episode's evidence).
        """
        x = self.tensor(heads)
        if not self.n_history:
            return x
        encoder = self.encoder_target if target else self.encoder
        if self.set_encoder:
            stacks = next_state(stacks, heads)
        return torch.cat([x, encoder(self.tensor(stacks))], dim=1)

    def _q_values(self, net: nn.Module, states: torch.Tensor, cand: np.ndarray) -> torch.Tensor:
        """(B, K) Q-values of candidate rows `cand` (-inf for empty slots)."""
        feats = self.items[self.tensor(np.maximum(cand, 0))]
        q = net(with_head(states, feats)).squeeze(-1)
        return q.masked_fill(self.tensor(cand < 0), float("-inf"))

    def _proto(self, states: torch.Tensor) -> torch.Tensor:
        return self._proto_lo + self._proto_span * self.actor(states)

    def _retrieve(self, states: torch.Tensor, history: np.ndarray | None) -> np.ndarray:
        """Catalog mode: the tracks nearest the actor's learned query, played ones excluded."""
        with torch.no_grad():
            proto = self.to_numpy(self._proto(states))
        ids, _ = self.env.index.search(proto, int(self.hp["n_retrieve"]), exclude=history)
        return ids

    def _candidates(
        self, states: torch.Tensor, slots_from_env: np.ndarray, history: np.ndarray | None
    ) -> np.ndarray:
        return self._retrieve(states, history) if self.catalog_mode else slots_from_env

    def _act(self, states: torch.Tensor, cand: np.ndarray) -> np.ndarray:
        """Greedy slot index (candidates mode) or catalog row (catalog mode)."""
        with torch.no_grad():
            q = self._q_values(self.q, states, cand)
        best = self.to_numpy(q.argmax(1))
        return cand[np.arange(len(cand)), best] if self.catalog_mode else best

    # ---------------------------------------------------------------- training
    def _epsilon(self, total: int) -> float:
        """Epsilon now: linear over the first ``exploration_fraction`` of `total` (or `schedule_timesteps`)."""
        hp = self.hp
        total = max(total, self.schedule_timesteps or 0)
        frac = min(1.0, self.num_timesteps / max(1.0, hp["exploration_fraction"] * total))
        return hp["exploration_initial_eps"] + frac * (hp["exploration_final_eps"] - hp["exploration_initial_eps"])

    def _learning_rate(self) -> float:
        """The Q-network's decayed learning rate now: linear from ``learning_rate`` to ``learning_rate_final``."""
        hp = self.hp
        frac = min(1.0, self.num_timesteps / hp["learning_rate_decay_steps"])
        return float(hp["learning_rate"] + frac * (hp["learning_rate_final"] - hp["learning_rate"]))

    def _train(self, total_timesteps: int, step_hook: Any, safe_point: Any) -> None:
        hp, venv, buf = self.hp, self.vec_env, self._replay()
        n = venv.num_envs
        if self._obs is None:
            self._obs = venv.reset()
            if self.stack is not None:
                self.stack.reset()
        while self.num_timesteps < total_timesteps:
            heads = self._heads(self._obs[:, : venv.head_dim], last_played(venv.history(), self.name)
                                if self.played else None)
            stacks = None if self.stack is None else self.stack.data
            with torch.no_grad():
                states = self._net_input(heads, stacks)
            cand = self._candidates(states, venv.candidates, venv.history() if self.catalog_mode else None)
            greedy = self._act(states, cand)
            explore = self.rng.random(n) < self._epsilon(total_timesteps)
            if explore.any():
                rnd = self.rng.random((n, venv.n_actions)) * venv.action_masks()
                greedy[explore] = rnd[explore].argmax(1)
            actions = greedy
            played = venv.tracks_of(actions)
            self._obs, reward, done, _ = venv.step(actions)
            next_heads = self._heads(venv.final_obs[:, : venv.head_dim], played)
            next_stacks = None
            if self.stack is not None:
                self.stack.push(heads)  # the heads before s' (a new array: `stacks` stays those before s)
                next_stacks = self.stack.data
            if self.catalog_mode:
                with torch.no_grad():
                    next_cand = self._retrieve(self._net_input(next_heads, next_stacks), None)
            else:
                next_cand = venv.final_candidates
            buf.add(heads, played, reward * hp["reward_scale"], next_heads, next_cand, done.astype(np.float32),
                    stacks)
            if self.stack is not None:
                self.stack.reset(done)  # the sessions that ended start a new episode with no past
            self.num_timesteps += n
            if buf.n >= hp["learning_starts"]:
                if hp["learning_rate_final"] is not None:  # a decay (else the rate the optimiser was made with)
                    lr = self._learning_rate()
                    for group in self.opt.param_groups:
                        group["lr"] = lr
                for _ in range(int(hp["gradient_steps"])):
                    self._update(buf)
                    self.grad_steps += 1
                    if self.grad_steps % hp["target_update"] == 0:
                        self.sync_target()
            if not step_hook(self.tracker.update(reward, done)):
                break
            safe_point()

    def sync_target(self) -> None:
        """Copy the online networks into the target ones (the Q-network, and the history encoder)."""
        self.q_target.load_state_dict(self.q.state_dict())
        if self.n_history:
            self.encoder_target.load_state_dict(self.encoder.state_dict())

    def _train_state(self, full: bool) -> dict[str, Any]:
        out = {"grad_steps": self.grad_steps, "buffer": None if self.buffer is None else self.buffer.state()}
        if self.stack is not None:
            out["history"] = self.stack.state()
        return out

    def _load_train_state(self, state: dict[str, Any]) -> None:
        self.grad_steps = int(state["grad_steps"])
        if state["buffer"] is not None:
            self._replay().load(state["buffer"])
        if self.stack is not None:
            self.stack.load(state["history"])

    def _update(self, buf: ReplayBuffer) -> None:
        hp = self.hp
        if buf.history != self.n_history:
            raise ValueError(f"agent {self.name!r} reads a history of {self.n_history} heads, this replay buffer "
                             f"keeps {buf.history}")
        b = buf.sample(self.rng, int(hp["batch_size"]))
        c2 = b["c2"]
        s_t = self._net_input(b["s"], b.get("hs"))  # with a history: the encoder learns through the TD loss
        q = self.q(torch.cat([s_t, self.items[self.tensor(b["a"])]], dim=1)).squeeze(-1)
        with torch.no_grad():
            s2_t = self._net_input(b["s2"], b.get("hs2"), target=True)
            q2 = self._q_values(self.q_target, s2_t, c2).max(1).values
            q2 = torch.where(torch.isfinite(q2), q2, torch.zeros_like(q2))
            target = self.tensor(b["r"]) + hp["gamma"] * (1.0 - self.tensor(b["done"])) * q2
        loss = F.smooth_l1_loss(q, target) if hp["loss"] == "huber" else F.mse_loss(q, target)
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        if self.num_timesteps % 1000 < self.vec_env.num_envs:
            self.log("losses/td_loss", loss.item())
            self.log("losses/q_values", q.mean().item())
        if self.catalog_mode:
            s_t = s_t.detach()  # the actor reads the encoding; only the TD loss trains the encoder
            proto = self._proto(s_t)
            actor_loss = -self.q(torch.cat([s_t, proto], dim=1)).mean()
            self.actor_opt.zero_grad()
            actor_loss.backward()
            self.actor_opt.step()
            if self.num_timesteps % 1000 < self.vec_env.num_envs:
                self.log("losses/actor_loss", actor_loss.item())

    # ---------------------------------------------------------------- acting
    def action_scores(
        self, observation: Any, info: dict[str, Any], state: Any = None
    ) -> tuple[str, np.ndarray] | None:
        """Q-values of the candidate slots (candidates mode).

        `state`: with a history, the stack of past heads as `predict` takes it (None: an episode's start,
        no past; the callers that rate single logged steps, ``musicgym play`` and the OPE, pass none).
        """
        if self.catalog_mode:
            return None
        heads, _ = self.split_obs(observation)
        heads = self._heads(heads, last_played(info.get("history"), self.name) if self.played else None)
        stacks = predict_stacks(self.n_history, heads, state, None, self.name)[0]
        with torch.no_grad():
            q = self._q_values(self.q, self._net_input(heads, stacks), np.atleast_2d(info["candidates"]))
        return "Q", self.to_numpy(q[0])

    def predict(
        self, observation: Any, state: Any = None, episode_start: Any = None, deterministic: bool = False, **kw: Any
    ) -> tuple[np.ndarray, Any]:
        """Greedy action; reads ``info["candidates"]`` / ``info["history"]`` when given.

        With a history, `state` is the stack of past heads `predict` returned at the previous step (None:
        a fresh one; ``episode_start`` True zeroes it), and the stack to pass back at the next step is
        returned in its place (`musicgym.agents.history`).
        """
        info = kw.get("info")
        single = np.asarray(observation).ndim == 1
        heads, slots = self.split_obs(observation)
        if self.played:
            heads = self._heads(heads, last_played(None if info is None else info.get("history"), self.name))
        stacks, state = predict_stacks(self.n_history, heads, state, episode_start, self.name)
        with torch.no_grad():
            states = self._net_input(heads, stacks)
        if self.catalog_mode:
            history = None if info is None else np.atleast_2d(info.get("history"))
            cand = self._retrieve(states, history)
        elif info is not None and "candidates" in info:
            cand = np.atleast_2d(info["candidates"])
        elif slots is not None:
            # no info: score the slot features the observation carries (rows unknown, so use them directly)
            with torch.no_grad():
                act = self.to_numpy(self.q(with_head(states, self.tensor(slots))).squeeze(-1).argmax(1))
            return (act[0] if single else act), state
        else:
            raise ValueError("ah_dqn needs info['candidates'] (pass info=...) with observation='latent'")
        act = self._act(states, cand)
        return (act[0] if single else act), state
