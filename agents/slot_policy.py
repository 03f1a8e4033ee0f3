"""A Stable-Baselines3 features extractor that scores candidate slots with one shared network.

MusicGym's slot observations are ``[head | slot 1 features | ... | slot k features]`` with the slots
in random order. A plain MLP must learn the same scoring separately for each slot position; this
extractor applies one MLP to every (head, slot) pair, like the Action-Head DQN, and hands SB3
``[score of slot 1, ..., score of slot k, head embedding]``.

`SlotActorCriticPolicy` (PPO) and `MaskableSlotActorCriticPolicy` (sb3-contrib MaskablePPO) use the
k scores themselves as the action logits, so the policy is permutation-equivariant: the same track
gets the same logit in any slot; `SlotDQNPolicy` (DQN) uses them as the Q-values. The value network
reads the output of its own `SlotScorer` (``share_features_extractor=False``, set by the agents):
the value loss must not shape the logits.
"""

from __future__ import annotations

import gymnasium as gym
import torch
from sb3_contrib.common.maskable.policies import MaskableActorCriticPolicy
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.dqn.policies import DQNPolicy, QNetwork
from torch import nn

from agents.torch_agent import with_head


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
