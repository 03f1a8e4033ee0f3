"""Stable-Baselines3 policies that score every action with one shared network.

Candidates mode: MusicGym's slot observations are ``[head | slot 1 features | ... | slot k features]``
with the slots in random order. A plain MLP must learn the same scoring separately for each slot
position; `SlotScorer` applies one MLP to every (head, slot) pair, like the Action-Head DQN, and hands
SB3 ``[score of slot 1, ..., score of slot k, head embedding]``. `SlotActorCriticPolicy` (PPO) and
`MaskableSlotActorCriticPolicy` (sb3-contrib MaskablePPO) use the k scores themselves as the action
logits, so the policy is permutation-equivariant: the same track gets the same logit in any slot;
`SlotDQNPolicy` (DQN) uses them as the Q-values. The value network reads the output of its own
`SlotScorer` (``share_features_extractor=False``, set by the agents): the value loss must not shape
the logits.

Catalog mode (an action is any of the catalog's N tracks): a ``Linear(hidden, N)`` output layer must
learn each track's weights from the steps that played it. `TrackScorer` instead embeds the
observation and every track's features and scores a track by the cosine of the two (a learned
scale); `TrackActorCriticPolicy` / `MaskableTrackActorCriticPolicy` use these N scores as the logits
(beside a separate value MLP), `TrackDQNPolicy` adds a state-value term and uses them as Q-values.
The track features come with the policy kwargs (``item_features``).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from musicgym.agents.torch_agent import mlp, with_head
from sb3_contrib.common.maskable.policies import MaskableActorCriticPolicy
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.dqn.policies import DQNPolicy, QNetwork
from torch import nn


class SlotScorer(BaseFeaturesExtractor):
    """Per-slot shared MLP scores plus a head embedding (see module docstring).

    Args:
        observation_space: the env's flat Box.
        head_dim: size of the head (state) part.
        item_dim: features per slot.
        hidden: width of the shared scorer and of the head embedding.
    """

    def __init__(self, observation_space: gym.spaces.Box, head_dim: int, item_dim: int, hidden: int = 128) -> None:
        n_slots = (observation_space.shape[0] - head_dim) // item_dim
        if n_slots < 1 or head_dim + n_slots * item_dim != observation_space.shape[0]:
            raise ValueError(
                f"slot_scorer needs observations [head ({head_dim}) | k slots x {item_dim}], "
                f"got {observation_space.shape[0]} features"
            )
        super().__init__(observation_space, features_dim=n_slots + hidden)
        self.head_dim, self.item_dim, self.n_slots = head_dim, item_dim, n_slots
        self.scorer = nn.Sequential(
            nn.Linear(head_dim + item_dim, hidden), nn.ReLU(),
            nn.Linear(hidden, hidden), nn.ReLU(),
            nn.Linear(hidden, 1),
        )  # fmt: skip
        self.head = nn.Sequential(nn.Linear(head_dim, hidden), nn.ReLU())

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """[k slot scores | head embedding]."""
        head = obs[:, : self.head_dim]
        slots = obs[:, self.head_dim :].reshape(len(obs), self.n_slots, self.item_dim)
        scores = self.scorer(with_head(head, slots)).squeeze(-1)
        return torch.cat([scores, self.head(head)], dim=1)


class SlotLogits(nn.Module):
    """The first `n` features (the slot scores) as action logits."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        """latent[:, :n]."""
        return latent[:, : self.n]


class _SlotLogitsMixin:
    """After SB3 builds the networks: logits = slot scores, scorer output scaled to a near-uniform start."""

    def _build(self, lr_schedule) -> None:  # noqa: ANN001 (SB3's Schedule)
        super()._build(lr_schedule)
        extractor = self.pi_features_extractor
        if not isinstance(extractor, SlotScorer) or self.mlp_extractor.latent_dim_pi != extractor.features_dim:
            raise ValueError("slot policies need features_extractor_class=SlotScorer and net_arch={'pi': [], ...}")
        self.action_net = SlotLogits(extractor.n_slots)
        last = extractor.scorer[-1]
        nn.init.orthogonal_(last.weight, gain=0.01)  # SB3's gain for action outputs
        nn.init.zeros_(last.bias)
        self.optimizer = self.optimizer_class(self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs)


class SlotActorCriticPolicy(_SlotLogitsMixin, ActorCriticPolicy):
    """SB3 PPO policy whose action logits are the `SlotScorer`'s per-slot scores."""


class MaskableSlotActorCriticPolicy(_SlotLogitsMixin, MaskableActorCriticPolicy):
    """sb3-contrib MaskablePPO policy whose action logits are the `SlotScorer`'s per-slot scores."""


class SlotDQNPolicy(DQNPolicy):
    """SB3 DQN policy whose Q-values are the `SlotScorer`'s per-slot scores (online and target nets)."""

    def make_q_net(self) -> QNetwork:
        """SB3's QNetwork with the slot scores as its output layer."""
        q = super().make_q_net()
        if not isinstance(q.features_extractor, SlotScorer):
            raise ValueError("SlotDQNPolicy needs features_extractor_class=SlotScorer")
        q.q_net = SlotLogits(q.features_extractor.n_slots)
        return q


class TrackScorer(nn.Module):
    """Logits over a whole catalog: state embedding . track embedding (policy_net="tracks")."""

    def __init__(self, obs_dim: int, item_features: np.ndarray, hidden: int, dim: int = 64) -> None:
        super().__init__()
        self.register_buffer("items", torch.as_tensor(np.asarray(item_features, dtype=np.float32)), persistent=False)
        self.state = mlp([obs_dim, hidden, hidden, dim])
        self.track = mlp([self.items.shape[1], hidden, dim])
        self.log_scale = nn.Parameter(torch.tensor(1.0))
        self._cache: tuple[tuple[Any, ...], torch.Tensor] | None = None

    def _tracks(self) -> torch.Tensor:
        """Unit track embeddings; without gradients reused until an optimiser step changes the weights.

        The cache is keyed by the weights' storage and in-place version counters, so that moving the module
        to another device (new storage), an optimiser step or loading weights computes them afresh. A write
        through ``param.data`` bumps no counter (SB3's ``polyak_update`` of a target network writes so):
        whoever writes so calls `clear_cache` (`musicgym.agents.masked_dqn.MaskedRolloutDQN` does).
        """
        if torch.is_grad_enabled():
            return nn.functional.normalize(self.track(self.items), dim=1)
        version = (self.items.device, *((p.data_ptr(), p._version) for p in self.track.parameters()))
        if self._cache is None or self._cache[0] != version:
            self._cache = (version, nn.functional.normalize(self.track(self.items), dim=1))
        return self._cache[1]

    def clear_cache(self) -> None:
        """Forget the cached track embeddings (after a write to the weights that bumps no version counter)."""
        self._cache = None

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """(B, n_tracks) logits: a learned scale times the cosine of the two embeddings."""
        s = nn.functional.normalize(self.state(obs), dim=1)
        return self.log_scale.exp() * (s @ self._tracks().T)

    def score_of(self, obs: torch.Tensor, tracks: torch.Tensor) -> torch.Tensor:
        """(B, 1) logits of one track per row: ``forward(obs).gather(1, tracks)`` without scoring the catalog.

        Its gradients are those of the gather (only the chosen tracks' embeddings get any), at the cost
        of B track embeddings instead of the whole catalog's.
        """
        s = nn.functional.normalize(self.state(obs), dim=1)
        t = nn.functional.normalize(self.track(self.items[tracks.reshape(-1)]), dim=1)
        return self.log_scale.exp() * (s * t).sum(dim=1, keepdim=True)


class TrackExtractor(nn.Module):
    """SB3 ``mlp_extractor`` for catalog mode: actor latent = `TrackScorer` logits, critic latent = a Tanh MLP."""

    def __init__(self, obs_dim: int, item_features: np.ndarray, hidden: int, dim: int, vf_arch: list[int]) -> None:
        super().__init__()
        self.scorer = TrackScorer(obs_dim, item_features, hidden, dim)
        self.value = mlp([obs_dim, *vf_arch], act=nn.Tanh, out_act=nn.Tanh()) if vf_arch else nn.Identity()
        self.latent_dim_pi = len(self.scorer.items)
        self.latent_dim_vf = vf_arch[-1] if vf_arch else obs_dim

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits, value latent)."""
        return self.forward_actor(features), self.forward_critic(features)

    def forward_actor(self, features: torch.Tensor) -> torch.Tensor:
        """(B, n_tracks) logits."""
        return self.scorer(features)

    def forward_critic(self, features: torch.Tensor) -> torch.Tensor:
        """The value network's last hidden layer."""
        return self.value(features)


class _TrackFeaturesMixin:
    """The catalog's track features as a policy kwarg (``item_features``, with the scorer's ``hidden`` and ``dim``).

    They are kept in the constructor parameters, so that SB3's save/load rebuilds the policy.
    """

    def __init__(self, *args, item_features: np.ndarray, hidden: int = 128, dim: int = 64, **kwargs) -> None:  # noqa: ANN002,ANN003
        self.item_features = np.asarray(item_features, dtype=np.float32)
        self.scorer_hidden, self.scorer_dim = int(hidden), int(dim)
        super().__init__(*args, **kwargs)

    def _get_constructor_parameters(self) -> dict:
        data = super()._get_constructor_parameters()
        data.update(item_features=self.item_features, hidden=self.scorer_hidden, dim=self.scorer_dim)
        return data

    def _check_actions(self) -> None:
        if not isinstance(self.action_space, gym.spaces.Discrete) or self.action_space.n != len(self.item_features):
            raise ValueError(
                f"{type(self).__name__} needs Discrete({len(self.item_features)}) actions (one per catalog "
                f"track), got {self.action_space}"
            )


class _TrackLogitsMixin(_TrackFeaturesMixin):
    """Builds `TrackExtractor` in place of SB3's MLP extractor; the logits are its track scores.

    SB3's own ``_build`` would add a ``Linear(N, N)`` action layer (N = catalog size); this one does
    what it does without it: value head, orthogonal init of the value part, optimiser.
    """

    def _build_mlp_extractor(self) -> None:
        self._check_actions()
        arch = self.net_arch
        vf_arch = list(arch.get("vf", [64, 64])) if isinstance(arch, dict) else list(arch)
        self.mlp_extractor = TrackExtractor(
            self.features_dim, self.item_features, self.scorer_hidden, self.scorer_dim, vf_arch
        ).to(self.device)

    def _build(self, lr_schedule) -> None:  # noqa: ANN001 (SB3's Schedule)
        self._build_mlp_extractor()
        self.action_net = nn.Identity()
        self.value_net = nn.Linear(self.mlp_extractor.latent_dim_vf, 1)
        if self.ortho_init:
            self.mlp_extractor.value.apply(partial(self.init_weights, gain=np.sqrt(2)))
            self.value_net.apply(partial(self.init_weights, gain=1))
        self.optimizer = self.optimizer_class(self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs)


class TrackActorCriticPolicy(_TrackLogitsMixin, ActorCriticPolicy):
    """SB3 PPO policy over a whole catalog whose logits are `TrackScorer` scores."""


class MaskableTrackActorCriticPolicy(_TrackLogitsMixin, MaskableActorCriticPolicy):
    """sb3-contrib MaskablePPO policy over a whole catalog whose logits are `TrackScorer` scores."""


class TrackQ(nn.Module):
    """Q(s, track) = V(s) + `TrackScorer`(s)[track]: a state level plus the track's scaled cosine."""

    def __init__(self, obs_dim: int, item_features: np.ndarray, hidden: int, dim: int) -> None:
        super().__init__()
        self.scorer = TrackScorer(obs_dim, item_features, hidden, dim)
        self.level = mlp([obs_dim, hidden, 1])

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """(B, n_tracks) Q-values."""
        return self.level(features) + self.scorer(features)

    def q_of(self, features: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """(B, 1) Q-values of the (B, 1) `actions`: ``forward(features).gather(1, actions)``, scoring B tracks only."""
        return self.level(features) + self.scorer.score_of(features, actions.long())


class TrackDQNPolicy(_TrackFeaturesMixin, DQNPolicy):
    """SB3 DQN policy over a whole catalog whose Q-values are `TrackQ`'s (online and target nets)."""

    def make_q_net(self) -> QNetwork:
        """SB3's QNetwork with `TrackQ` as its network after the features extractor."""
        self._check_actions()
        q = super().make_q_net()
        q.q_net = TrackQ(q.features_dim, self.item_features, self.scorer_hidden, self.scorer_dim).to(self.device)
        return q
