"""What does greedy play on a ridge estimate of the hidden preferences score on PreferenceHidden-v0?

``ah_dqn``'s PreferenceHidden-v0 memory (``history_encoder: ridge``) reads ridge regressions of the
episode's feedback on the played songs' attributes. This script scores the policy that such a memory
can at best reproduce greedily: a ridge regression of the rewards seen so far in this episode on the
played songs' 21 attributes, penalty ``lam``, and the candidate with the highest estimated reward
(ties and the first step: the first candidate), played as posterior_greedy plays. Beside it, ``posterior_greedy`` (the exact Kalman
posterior of the env's documented prior and drift). Both on the same evaluation episodes, scored as
the leaderboard scores a run (``musicgym.evaluate``: 0 random, 1 the planner).

Usage::

    python experiments/preference_ceiling.py [--episodes 100] [--seed 100000] [--lams 0.001 0.1 1 3]
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np
from musicgym.agents.posterior_greedy import PosteriorGreedyPolicy

import musicgym
from musicgym import agents

ENV = "MusicGym/PreferenceHidden-v0"


class RidgeGreedy(PosteriorGreedyPolicy):
    """posterior_greedy's play on a ridge regression of this episode's rewards on the played songs' attributes.

    Its episode reset and its choice among the candidates are posterior_greedy's; its estimate of each
    song's reward is the ridge one instead of the posterior's.
    """

    def __init__(self, lam: float, **env_kwargs: Any) -> None:
        self.lam = float(lam)
        super().__init__(ENV, seed=0, env_kwargs=env_kwargs)  # its attributes: self.attrs

    def _new_episode(self) -> None:
        self.x: list[np.ndarray] = []
        self.y: list[float] = []

    def _observe(self, info: dict[str, Any]) -> None:
        """Keep the feedback on the song just played: its attributes and its reward."""
        track, rewards = int(info.get("track", -1)), info.get("rewards")
        if track >= 0 and rewards:
            self.x.append(self.attrs[track])
            self.y.append(float(rewards["dot_product"]))

    def estimate(self) -> np.ndarray:
        """The ridge estimate of the preferences from this episode's (attributes, reward) pairs so far."""
        d = self.attrs.shape[1]
        if not self.x:
            return np.zeros(d)
        x, y = np.array(self.x), np.array(self.y)
        return np.linalg.solve(x.T @ x + self.lam * np.eye(d), x.T @ y)

    def expected_values(self, tracks: np.ndarray) -> np.ndarray:
        """Each track's estimated reward."""
        return self.attrs[np.asarray(tracks, dtype=np.int64)] @ self.estimate()


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Print and return each policy's normalised score."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--episodes", type=int, default=100)
    p.add_argument("--seed", type=int, default=100_000, help="episode i is reset with seed + i")
    p.add_argument("--lams", type=float, nargs="+", default=[0.001, 0.1, 1.0, 3.0])
    args = p.parse_args(argv)
    out: dict[str, float] = {}
    policies: list[tuple[str, Any]] = [("posterior_greedy", agents.make("posterior_greedy", ENV, seed=0))]
    policies += [(f"ridge_greedy lam={lam:g}", RidgeGreedy(lam)) for lam in args.lams]
    print(f"{ENV}, {args.episodes} episodes from seed {args.seed}: normalised score (0 random, 1 planner)")
    for name, policy in policies:
        out[name] = musicgym.evaluate(policy, ENV, n_episodes=args.episodes, seed=args.seed).normalized_score
        print(f"{name:24s} {out[name]:.3f}")
    return out


if __name__ == "__main__":
    main()
