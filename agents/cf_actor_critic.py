"""``cf_actor_critic``: the sequential-recommendation project's RL model, in catalog mode.

Item-based collaborative filtering (cosine over the catalog's playlists or sessions, `ItemCF`)
proposes the `n_candidates` unplayed tracks most similar to the session's history; an actor-critic
(PPO, as ``actor_critic``) re-ranks them: its policy scores each (observation, track features, CF
score) triple with a shared MLP and takes a softmax over the candidates; its value network reads the
observation. Only catalog-mode envs (``TasteCatalog-v0``, ``PreferenceCatalog-v0``) are supported,
on catalogs that have playlists. It takes ``actor_critic``'s ``history`` and ``history_hidden`` too (a
GRU encoding of the session's last observation heads beside the observation, for both networks).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from musicgym.agents.actor_critic import ActorCriticAgent
from musicgym.agents.hyperparams import Int, Spec
from musicgym.agents.item_cf import ItemCF
from musicgym.agents.torch_agent import mlp, with_head
from torch import nn


class CFActorCriticAgent(ActorCriticAgent):
    """Item-CF candidates re-ranked by a PPO actor-critic (see module docstring)."""

    name = "cf_actor_critic"
    SUPPORTED_ENVS = ("MusicGym/TasteCatalog-v0", "MusicGym/PreferenceCatalog-v0")
    HYPERPARAMS: ClassVar[dict[str, Any]] = {
        **ActorCriticAgent.HYPERPARAMS,
        "n_candidates": 50,
        "cf_top_k": 100,
    }
    HYPERPARAM_SPECS: ClassVar[dict[str, Spec]] = {"n_candidates": Int(1), "cf_top_k": Int(1)}

    def _build(self) -> None:
        if self.env.action_mode != "catalog":
            raise ValueError(
                f"agent 'cf_actor_critic' works in catalog mode only (MusicGym/TasteCatalog-v0, "
                f"MusicGym/PreferenceCatalog-v0), not {self.env_id}"
            )
        self.cf = ItemCF(self.env.catalog, top_k=int(self.hp["cf_top_k"]))
        self.items = self.tensor(self.env.item_features, dtype=torch.float32)
        super()._build()

    def _policy_net(self, obs_dim: int) -> nn.Module:
        d = self.env.item_features.shape[1]
        return mlp([obs_dim + d + 1, self.hp["hidden"], self.hp["hidden"], 1])

    def _env_mask(self) -> None:
        return None  # candidates are already unplayed

    def _action_set(self, obs: np.ndarray, history: np.ndarray | None, mask: np.ndarray | None) -> dict[str, Any]:
        if history is None:
            history = np.full((len(obs), 1), -1, dtype=np.int64)
        ids, scores = self.cf.top(history, int(self.hp["n_candidates"]))
        return {"ids": ids, "cf": scores}

    def _logits(self, obs: torch.Tensor, aset: dict[str, Any]) -> torch.Tensor:
        ids = aset["ids"]
        feats = self.items[self.tensor(np.maximum(ids, 0))]
        cf = self.tensor(aset["cf"])[:, :, None]
        logits = self.policy(with_head(obs, torch.cat([feats, cf], dim=2))).squeeze(-1)
        return logits.masked_fill(self.tensor(ids < 0), -1e9)

    def _to_env_action(self, choice: np.ndarray, aset: dict[str, Any]) -> np.ndarray:
        ids = aset["ids"]
        return ids[np.arange(len(ids)), choice]
