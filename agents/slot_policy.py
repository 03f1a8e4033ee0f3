"""A Stable-Baselines3 features extractor that scores candidate slots with one shared network.

MusicGym's slot observations are ``[head | slot 1 features | ... | slot k features]`` with the slots
in random order. A plain MLP must learn the same scoring separately for each slot position; this
extractor applies one MLP to every (head, slot) pair, like the Action-Head DQN, and hands SB3
``[score of slot 1, ..., score of slot k, head embedding]``. With ``net_arch={"pi": [], ...}`` the
policy's action logits are a learned linear map of the k scores (initialised by SB3), and the value
network reads the head embedding as well.
"""

from __future__ import annotations

import gymnasium as gym
import torch
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn


class SlotScorer(BaseFeaturesExtractor):
    """Per-slot shared MLP scores plus a head embedding (see module docstring).

    Args:
        observation_space: the env's flat Box.
        head_dim: size of the head (state) part.
        item_dim: features per slot.
        hidden: width of the shared scorer and of the head embedding.
    """

    def __init__(self, observation_space: gym.spaces.Box, head_dim: int, item_dim: int, hidden: int = 64) -> None:
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
        pairs = torch.cat([head[:, None, :].expand(-1, self.n_slots, -1), slots], dim=2)
        scores = self.scorer(pairs).squeeze(-1)
        return torch.cat([scores, self.head(head)], dim=1)
