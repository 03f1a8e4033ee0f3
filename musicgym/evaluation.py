"""One ``evaluate()`` for every policy: returns, regret and the normalised score.

The normalised score puts a policy between the random policy (0) and the greedy oracle (1), all
run on the same episodes: episode i of every policy is reset with seed ``seed + i``, so every policy
meets the same hidden users and starting tracks.

The score is computed on *expected* returns: at every step the env reports the oracle's expected
reward and the regret of the action taken, so the expected reward of that action under the hidden
user is ``oracle_reward - regret``. Summing those instead of the sampled rewards removes the
listener's response noise (an unbiased, lower-variance estimate of the same quantity). In
Playlist-v0 that noise is large (a "liked" flip moves one reward by 40), in Taste-v0 and
Preference-v0 rewards are deterministic and both returns coincide. ``mean_return`` is the sampled one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from musicgym.policies import OraclePolicy, RandomPolicy


@dataclass
class EvalResult:
    """What `evaluate` measured. Returns are undiscounted episode sums."""

    mean_return: float
    std_return: float
    mean_expected_return: float
    mean_regret: float
    normalized_score: float
    random_return: float
    oracle_return: float
    episode_returns: list[float] = field(default_factory=list)
    episode_expected_returns: list[float] = field(default_factory=list)
    episode_lengths: list[int] = field(default_factory=list)


def run_episodes(
    policy: Any, env: gym.Env, n_episodes: int, seed: int, deterministic: bool = True
) -> dict[str, np.ndarray]:
    """Per-episode ``returns``, ``expected`` returns, summed ``regrets``, ``lengths``; episode i seeded ``seed + i``."""
    uses_info = getattr(policy, "uses_info", False)
    out = {k: np.zeros(n_episodes) for k in ("returns", "expected", "regrets", "lengths")}
    for i in range(n_episodes):
        obs, info = env.reset(seed=seed + i)
        state, start, done = None, np.ones(1, dtype=bool), False
        while not done:
            kw = {"info": info} if uses_info else {}
            action, state = policy.predict(obs, state=state, episode_start=start, deterministic=deterministic, **kw)
            best_now = info["oracle_reward"]
            obs, reward, terminated, truncated, info = env.step(np.asarray(action).reshape(()).item())
            out["returns"][i] += reward
            out["regrets"][i] += info["regret"]
            out["expected"][i] += best_now - info["regret"]
            out["lengths"][i] += 1
            start = np.zeros(1, dtype=bool)
            done = terminated or truncated
    return out


_reference: dict[tuple, tuple[float, float]] = {}


def evaluate(
    policy: Any, env_id: str, n_episodes: int = 100, seed: int = 0, deterministic: bool = True, **env_kwargs: Any
) -> EvalResult:
    """Evaluate any policy with SB3's ``predict`` interface on `env_id`.

    Args:
        policy: an object with ``predict(obs, state=None, episode_start=None, deterministic=False)``
            (SB3 models, MusicGym agents); if it has ``uses_info = True`` it also gets ``info=``.
        env_id: a registered id, e.g. ``"MusicGym/Playlist-v0"``.
        n_episodes: episodes per policy.
        seed: episode i is reset with ``seed + i`` for the policy, the random policy and the oracle.
        deterministic: passed to ``predict``.
        **env_kwargs: passed to ``gym.make``.

    Returns:
        An `EvalResult`; ``normalized_score = (E - E_random) / (E_oracle - E_random)`` on expected
        returns E (see the module docstring); ``random_return`` / ``oracle_return`` are expected too.
    """
    if n_episodes < 1:
        raise ValueError(f"n_episodes must be >= 1, got {n_episodes}")
    env = gym.make(env_id, **env_kwargs)
    try:
        run = run_episodes(policy, env, n_episodes, seed, deterministic)
        key = (env_id, tuple(sorted((k, repr(v)) for k, v in env_kwargs.items())), n_episodes, seed)
        if key not in _reference:
            rand = run_episodes(RandomPolicy(env.action_space, seed=seed), env, n_episodes, seed)
            orac = run_episodes(OraclePolicy(), env, n_episodes, seed)
            _reference[key] = (float(rand["expected"].mean()), float(orac["expected"].mean()))
        r_rand, r_orac = _reference[key]
    finally:
        env.close()
    span = r_orac - r_rand
    expected = run["expected"]
    score = float((expected.mean() - r_rand) / span) if abs(span) > 1e-12 else float("nan")
    return EvalResult(
        mean_return=float(run["returns"].mean()),
        std_return=float(run["returns"].std()),
        mean_expected_return=float(expected.mean()),
        mean_regret=float(run["regrets"].mean()),
        normalized_score=score,
        random_return=r_rand,
        oracle_return=r_orac,
        episode_returns=run["returns"].tolist(),
        episode_expected_returns=expected.tolist(),
        episode_lengths=run["lengths"].astype(int).tolist(),
    )
