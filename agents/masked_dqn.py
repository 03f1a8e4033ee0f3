"""SB3 DQN whose rollouts choose among the actions the env's action mask allows.

SB3's DQN has no action masks (sb3-contrib masks PPO only). In catalog mode a repeat costs -1 and
the observation does not show which tracks the session has played, so an unmasked greedy rollout
replays its best track: the replay buffer fills with -1 for exactly the tracks the Q-network rates
highest, and regressing on them pulls the best tracks' values below the rest.

`MaskedRolloutDQN` with ``mask_rollouts=True`` collects experience as a masked recommender serves:
each session acts epsilon-greedily (its own draw, like most DQN implementations; SB3 draws once for
all sessions) over the actions ``env.action_masks()`` allows, and the warm-up steps are uniform
over the allowed actions. The TD target is SB3's, unmasked: the replay buffer stores no masks (one
per transition would be N booleans), so max_a' Q(s', a') may count the track just played. With
``mask_rollouts=False`` (the default) it is SB3's DQN unchanged.

Where the Q-network can score the replayed actions alone (`TrackQ.q_of`, catalog mode), a gradient
step computes Q(s, a) for the batch's actions only, not for all N tracks before SB3's gather: the
same loss and gradients (a test holds them equal), without backpropagating through a (batch, N)
matrix and N track embeddings. With N = 20,000 that was most of a step's time.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from musicgym.agents.persist import generator_state, restore_generator
from musicgym.agents.sb3_resume import ResumableMixin
from sb3_contrib.common.maskable.utils import get_action_masks
from stable_baselines3 import DQN
from stable_baselines3.common.noise import ActionNoise
from torch.nn import functional as F


def masked_epsilon_greedy(
    q_net: torch.nn.Module, obs: torch.Tensor, allowed: np.ndarray, explore: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Per row: a uniform choice among the `allowed` actions where `explore`, else the allowed action of highest Q.

    Every row of `allowed` must allow at least one action.
    """
    action = np.zeros(len(allowed), dtype=np.int64)
    if not explore.all():
        with torch.no_grad():
            q = q_net(obs).masked_fill(~torch.as_tensor(allowed, device=obs.device), -torch.inf)
        action = q.argmax(dim=1).cpu().numpy()
    for i in np.flatnonzero(explore):
        action[i] = rng.choice(np.flatnonzero(allowed[i]))
    return action


class MaskedRolloutDQN(ResumableMixin, DQN):
    """SB3 DQN; with ``mask_rollouts=True`` its rollouts keep to the env's action masks (module docstring).

    It resumes exactly (`ResumableMixin`), its masked exploration generator included.
    """

    mask_rollouts: bool = False  # set on the instance (saved with it)

    def _setup_model(self) -> None:
        super()._setup_model()
        self._mask_rng = np.random.default_rng(self.seed)

    def _excluded_save_params(self) -> list[str]:
        return [*super()._excluded_save_params(), "_mask_rng"]  # re-seeded by _setup_model on load

    def _on_step(self) -> None:
        super()._on_step()
        if self._n_calls % max(self.target_update_interval // self.n_envs, 1) == 0:
            # SB3's polyak_update wrote the target network through ``param.data``, which bumps no version
            # counter: a TrackScorer there must not keep track embeddings of the weights before the update
            for module in self.q_net_target.modules():
                if hasattr(module, "clear_cache"):
                    module.clear_cache()

    def train(self, gradient_steps: int, batch_size: int = 100) -> None:
        """SB3's DQN gradient steps; Q(s, a) of the replayed actions alone where the network offers it."""
        q_of = getattr(self.q_net.q_net, "q_of", None)
        if q_of is None:
            return super().train(gradient_steps, batch_size)
        # SB3 2.9's DQN.train with `q_of` in place of ``gather(q_net(obs), 1, actions)``
        self.policy.set_training_mode(True)
        self._update_learning_rate(self.policy.optimizer)
        losses = []
        for _ in range(gradient_steps):
            replay_data = self.replay_buffer.sample(batch_size, env=self._vec_normalize_env)
            discounts = getattr(replay_data, "discounts", None)  # n-step replay (SB3 >= 2.6)
            if discounts is None:
                discounts = self.gamma
            with torch.no_grad():
                next_q_values, _ = self.q_net_target(replay_data.next_observations).max(dim=1)
                not_done = 1 - replay_data.dones
                target_q_values = replay_data.rewards + not_done * discounts * next_q_values.reshape(-1, 1)
            features = self.q_net.extract_features(replay_data.observations, self.q_net.features_extractor)
            current_q_values = q_of(features, replay_data.actions)
            loss = F.smooth_l1_loss(current_q_values, target_q_values)
            losses.append(loss.item())
            self.policy.optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.policy.parameters(), self.max_grad_norm)
            self.policy.optimizer.step()
        self._n_updates += gradient_steps
        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        self.logger.record("train/loss", np.mean(losses))
        return None

    def training_state(self, full: bool) -> dict[str, Any]:
        """`ResumableMixin.training_state` and the masked exploration's generator."""
        out = super().training_state(full)
        out["mask_rollouts"] = bool(self.mask_rollouts)
        if full:
            out["mask_rng"] = generator_state(self._mask_rng)
        return out

    def load_training_state(self, state: dict[str, Any], full: bool) -> None:
        """`ResumableMixin.load_training_state` and the masked exploration's generator."""
        super().load_training_state(state, full)
        self.mask_rollouts = bool(state.get("mask_rollouts", self.mask_rollouts))
        if full:
            self._mask_rng = restore_generator(state["mask_rng"])

    def _sample_action(
        self, learning_starts: int, action_noise: ActionNoise | None = None, n_envs: int = 1
    ) -> tuple[np.ndarray, np.ndarray]:
        if not self.mask_rollouts:
            return super()._sample_action(learning_starts, action_noise, n_envs)
        allowed = get_action_masks(self.env).astype(bool)
        allowed[~allowed.any(axis=1)] = True  # nothing left to play: no filter
        if self.num_timesteps < learning_starts:
            explore = np.ones(n_envs, dtype=bool)
        else:
            explore = self._mask_rng.random(n_envs) < self.exploration_rate
        obs, _ = self.policy.obs_to_tensor(self._last_obs)
        action = masked_epsilon_greedy(self.policy.q_net, obs, allowed, explore, self._mask_rng)
        return action, action
