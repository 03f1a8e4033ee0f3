"""How much of Playlist-v0's oracle gap can a policy close without seeing the hidden listener?

The question matters most for ``listener="population"`` (a new listener every episode); the
default fixed listener is printed beside it. The oracle knows the listener's per-cluster listening
means; a learner sees only the tracks' latents and this episode's feedback. This script scores two
hand-written policies that are given what a learner could at best work out (each candidate's
cluster and proximity score, which are fixed functions of its latent) and prints how often a step
offers a choice between clusters at all:

* ``posterior_greedy``: keeps, per cluster, the Bayesian posterior mean of the listener's mean
  from the percentages listened so far in this episode (prior U(mean_bounds), noise sd 0.1), and
  plays the candidate with the highest expected reward under it;
* ``proximity_greedy``: ignores the listener and plays the candidate closest to its centroid.

Usage::

    python experiments/playlist_ceiling.py [--episodes 300]
"""

from __future__ import annotations

import argparse
from typing import Any

import gymnasium as gym
import numpy as np

import musicgym
from musicgym.listeners.cluster import PlaylistReward, cluster_world, expected_listening

PlaylistCore_REWARD = ("listen_weight", "like_weight", "interaction_weight", "proximity_weight", "reward_scale")

ENV = "MusicGym/Playlist-v0"


def _env_args(env_kwargs: dict[str, Any]) -> dict[str, Any]:
    """Playlist-v0's arguments (its registered defaults overlaid by `env_kwargs`): public, not the hidden listener."""
    from musicgym.envs.playlist import PlaylistCore

    return {**PlaylistCore.PARAMS, **env_kwargs}


class PosteriorGreedy:
    """Greedy on each cluster's posterior listening mean, from this episode's feedback."""

    uses_info = True

    def __init__(self, noise_sd: float = 0.1, **env_kwargs: Any) -> None:
        env = gym.make(ENV, **env_kwargs).unwrapped
        p = _env_args(env_kwargs)
        self.reward = PlaylistReward(**{k: p[k] for k in PlaylistCore_REWARD}, n_clusters=p["n_clusters"])
        self.reward.setup(env.catalog)
        self.cluster = self.reward.world.cluster
        lo, hi = p["mean_bounds"]
        self.like_threshold = p["like_threshold"]
        self.prior_mean, self.prior_var = (lo + hi) / 2, (hi - lo) ** 2 / 12
        self.noise_var, self.sd = noise_sd**2, float(np.mean(p["sd_bounds"]))
        self.sums: dict[int, float] = {}
        self.counts: dict[int, int] = {}

    def predict(self, obs: Any, state: Any = None, episode_start: Any = None, deterministic: bool = True,
                info: dict[str, Any] | None = None) -> tuple[np.ndarray, Any]:
        """The candidate with the best posterior expected reward."""
        if len(info["history"]) == 1:
            self.sums, self.counts = {}, {}
        if "rewards" in info:  # feedback on the track just played
            c = int(self.cluster[info["track"]])
            self.sums[c] = self.sums.get(c, 0.0) + info["rewards"]["percentage_listened"]
            self.counts[c] = self.counts.get(c, 0) + 1
        values = []
        for t in np.asarray(info["candidates"]):
            c = int(self.cluster[t])
            m = (self.prior_mean / self.prior_var + self.sums.get(c, 0.0) / self.noise_var) / (
                1 / self.prior_var + self.counts.get(c, 0) / self.noise_var
            )
            e_pct, p_like = expected_listening(np.array(m), np.array(self.sd), self.like_threshold)
            values.append(self.reward.w_listen * e_pct + self.reward.w_like * p_like + self.reward.prox_value[t])
        return np.asarray(int(np.argmax(values))), state


class ProximityGreedy:
    """The candidate closest to its cluster's centroid; no use of the listener's feedback."""

    uses_info = True

    def __init__(self, **env_kwargs: Any) -> None:
        env = gym.make(ENV, **env_kwargs).unwrapped
        self.proximity = cluster_world(env.catalog, _env_args(env_kwargs)["n_clusters"]).proximity

    def predict(self, obs: Any, state: Any = None, episode_start: Any = None, deterministic: bool = True,
                info: dict[str, Any] | None = None) -> tuple[np.ndarray, Any]:
        """The best proximity score among the candidates."""
        return np.asarray(int(np.argmax(self.proximity[np.asarray(info["candidates"])]))), state


def cross_cluster_share(episodes: int) -> float:
    """Share of steps (oracle play, population listener) whose 4 candidates span more than one cluster."""
    env = gym.make(ENV, listener="population")
    cluster = cluster_world(env.unwrapped.catalog).cluster
    multi = []
    for ep in range(episodes):
        _, info = env.reset(seed=ep)
        done = False
        while not done:
            multi.append(len(set(cluster[info["candidates"]].tolist())) > 1)
            _, _, term, trunc, info = env.step(int(info["oracle_action"]))
            done = term or trunc
    return float(np.mean(multi))


def main(episodes: int) -> None:
    """Print the scores of both policies for the population and the fixed listener."""
    print(f"{'listener':12} {'policy':18} {'score':>6} {'expected return':>16} {'random':>8} {'oracle':>8}")
    for kw in ({"listener": "population"}, {"listener": "fixed"}):
        for cls in (PosteriorGreedy, ProximityGreedy):
            r = musicgym.evaluate(cls(**kw), ENV, n_episodes=episodes, seed=0, **kw)
            print(f"{kw['listener']:12} {cls.__name__:18} {r.normalized_score:>6.3f} "
                  f"{r.mean_expected_return:>16.1f} {r.random_return:>8.1f} {r.oracle_return:>8.1f}")
    print(f"steps whose 4 candidates span more than one cluster: {cross_cluster_share(min(episodes, 200)):.1%}")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--episodes", type=int, default=300)
    main(p.parse_args().episodes)
