"""Off-policy estimates of a new policy's reward on logged sessions (IPS and SNIPS).

Each logged step i has the reward r_i the person's answer earned and the propensity mu_i with which
the logging policy proposed the action a_i. For a target policy pi that gives probabilities
pi(a | s_i) over the same slots, the importance weight is ``w_i = pi(a_i | s_i) / mu_i`` and

* IPS:   ``sum_i w_i r_i / n``  (unbiased where mu_i > 0 wherever pi puts mass);
* SNIPS: ``sum_i w_i r_i / sum_i w_i``  (self-normalised: a little biased, much lower variance),

both per-step estimates of the mean reward pi would earn (a contextual-bandit view of each step; the
effect of an action on later steps is not counted). ``ess`` is the effective sample size
``(sum w)^2 / sum w^2``: a small ESS means the estimate rests on few logged steps. Policies that
rate slots with Q-values or scores are taken as greedy (probability 1 on their best unplayed slot).
The estimators are the textbook ones (Horvitz-Thompson; Swaminathan & Joachims 2015); a few lines of
numpy, so no off-policy-evaluation library is pulled in for them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from musicgym.interaction_log import Log


def target_probabilities(policy: Any, rec: dict[str, Any]) -> np.ndarray:
    """The target policy's probabilities over the logged step's slots."""
    cand = np.asarray(rec["candidates"])
    mask = cand >= 0
    info = {"candidates": cand, "action_mask": mask, "history": np.asarray(rec.get("history", []), dtype=np.int64)}
    obs = np.asarray(rec["obs"], dtype=np.float32)
    rated = policy.action_scores(obs, info) if hasattr(policy, "action_scores") else None
    if rated is not None and rated[0] == "p":
        p = np.where(mask, np.asarray(rated[1], dtype=float), 0.0)
        return p / p.sum()
    if rated is not None:
        best = int(np.where(mask, np.asarray(rated[1], dtype=float), -np.inf).argmax())
    else:
        best = int(np.asarray(policy.predict(obs, info=info, deterministic=True)[0]).item())
    p = np.zeros(len(cand))
    p[best] = 1.0
    return p


def off_policy_estimates(policy: Any, log: Log) -> dict[str, float]:
    """IPS and SNIPS estimates of `policy`'s mean reward per step on `log`, with the logged mean and ESS."""
    recs = [r for s in log.sessions() for r in s]
    if not recs:
        raise ValueError("the log holds no interactions")
    mu = np.array([r["propensity"] for r in recs], dtype=float)
    if (mu <= 0).any() or (mu > 1).any():
        raise ValueError("logged propensities must be in (0, 1]")
    rewards = np.array([r["reward"] for r in recs], dtype=float)
    pi = np.array([target_probabilities(policy, r)[r["action"]] for r in recs])
    w = pi / mu
    total = w.sum()
    return {
        "n": len(recs),
        "logged_mean_reward": float(rewards.mean()),
        "ips": float((w * rewards).mean()),
        "snips": float((w * rewards).sum() / total) if total > 0 else float("nan"),
        "ess": float(total**2 / (w**2).sum()) if total > 0 else 0.0,
    }
