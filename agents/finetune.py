"""Fine-tuning trained agents from logged interactions (``musicgym finetune``).

* ``ah_dqn``: the logged transitions (observation, played track, reward, next observation and its
  candidates, end of session) fill a replay buffer; the Q-network takes `steps` TD updates on it,
  with its target network copied every ``target_update`` updates, as in training.
* ``actor_critic``: an off-policy PPO update. Each logged step is weighted by the importance ratio
  pi_0(a|s) / mu(a|s) of the policy being fine-tuned (pi_0, before the update) to the logging
  policy (mu, the logged propensity), truncated at ``RHO_MAX`` as in V-trace; on top, PPO's clipped
  surrogate of pi / pi_0 keeps the update within ``clip_range`` of pi_0 (unclipped, an
  importance-weighted gradient on a few hundred logged steps collapsed the policy onto one slot).
  The advantage is one-step TD (r + gamma V(s') - V(s)): the person's answer to this track, not to
  the later ones; the value network regresses the logged returns.

`finetune` returns what the agent predicted for the logged sessions before and after: the mean
value (AH-DQN: Q of the logged action; actor-critic: V of the logged states) and how the agent rates
the tracks the person liked against those they did not.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from musicgym.interaction_log import Log

FINETUNABLE = ("ah_dqn", "actor_critic")
#: truncation of the importance weights of the actor-critic update
RHO_MAX = 2.0


def _steps(log: Log) -> list[dict[str, Any]]:
    return [r for s in log.sessions() for r in s]


def _liked(rec: dict[str, Any]) -> bool:
    return bool(rec["feedback"].get("liked"))


def _slot_ratings(agent: Any, recs: list[dict[str, Any]]) -> np.ndarray:
    """The agent's rating (Q or probability) of each logged action's slot."""
    out = []
    for r in recs:
        cand = np.asarray(r["candidates"])
        info = {"candidates": cand, "action_mask": cand >= 0, "history": np.asarray(r.get("history", []))}
        _, scores = agent.action_scores(np.asarray(r["obs"], dtype=np.float32), info)
        out.append(float(scores[r["action"]]))
    return np.array(out)


def _summary(agent: Any, recs: list[dict[str, Any]]) -> dict[str, float]:
    rating = _slot_ratings(agent, recs)
    liked = np.array([_liked(r) for r in recs])
    out = {"mean_rating_of_logged_actions": float(rating.mean())}
    if liked.any() and (~liked).any():
        out["liked_minus_not_liked"] = float(rating[liked].mean() - rating[~liked].mean())
    if agent.name == "actor_critic":
        obs = agent.tensor(np.array([r["obs"] for r in recs], dtype=np.float32))
        with torch.no_grad():
            out["mean_value"] = float(agent.value(obs).mean())
    return out


def finetune(agent: Any, log: Log, steps: int = 500) -> dict[str, Any]:
    """Update `agent` in place from `log` (checked against its env and catalog); return before/after figures."""
    if agent.name not in FINETUNABLE:
        raise ValueError(f"agent {agent.name!r} cannot be fine-tuned from logs; these can: {', '.join(FINETUNABLE)}")
    if agent.env.action_mode != "candidates":
        raise ValueError(f"fine-tuning from logs needs a candidates-mode env, not {agent.env_id}")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if agent.hp.get("history"):
        raise ValueError(f"agent {agent.name!r} keeps a history of the session (history={agent.hp['history']}): "
                         f"fine-tuning from logs does not support that yet")
    log.check(agent.env_id, agent.env.catalog.fingerprint)
    recs = _steps(log)
    if not recs:
        raise ValueError("the log holds no interactions")
    before = _summary(agent, recs)
    if agent.name == "ah_dqn":
        _finetune_ah_dqn(agent, log, steps)
    else:
        _finetune_actor_critic(agent, log, steps)
    after = _summary(agent, recs)
    return {"interactions": len(recs), "sessions": len(log.sessions()), "steps": steps, "before": before,
            "after": after}


def _finetune_ah_dqn(agent: Any, log: Log, steps: int) -> None:
    from musicgym.agents.ah_dqn import ReplayBuffer

    h = agent.env.head_dim
    sessions = log.sessions()
    n = sum(len(s) for s in sessions)
    buf = ReplayBuffer(n, h, agent.env.n_actions)
    for s in sessions:
        for i, r in enumerate(s):
            last = i + 1 == len(s)
            nxt = r if last else s[i + 1]
            done = float(r["done"] or last)
            buf.add(np.array([r["obs"][:h]], np.float32), np.array([r["track"]]),
                    np.array([r["reward"] * agent.hp["reward_scale"]], np.float32),
                    np.array([nxt["obs"][:h]], np.float32), np.array([nxt["candidates"]]), np.array([done]))
    for i in range(steps):
        agent._update(buf)
        if (i + 1) % agent.hp["target_update"] == 0:
            agent.sync_target()


def _finetune_actor_critic(agent: Any, log: Log, steps: int) -> None:
    hp = agent.hp
    obs, nxt, masks, acts, mus, rews, dones, rets = [], [], [], [], [], [], [], []
    for s in log.sessions():
        g = 0.0
        returns = []
        for r in reversed(s):
            g = r["reward"] * hp["reward_scale"] + hp["gamma"] * g
            returns.append(g)
        for i, (r, ret) in enumerate(zip(s, reversed(returns), strict=True)):
            last = i + 1 == len(s)
            obs.append(r["obs"])
            nxt.append(r["obs"] if last else s[i + 1]["obs"])
            dones.append(float(r["done"] or last))
            masks.append(np.asarray(r["candidates"]) >= 0)
            acts.append(r["action"])
            mus.append(r["propensity"])
            rews.append(r["reward"] * hp["reward_scale"])
            rets.append(ret)
    obs_np = np.array(obs, dtype=np.float32)
    nxt_t = agent.tensor(np.array(nxt, dtype=np.float32))
    rew = agent.tensor(np.array(rews, dtype=np.float32))
    live = 1.0 - agent.tensor(np.array(dones, dtype=np.float32))
    obs_t = agent.tensor(obs_np)
    mask = np.array(masks)
    act = agent.tensor(np.array(acts))
    rows = agent.tensor(np.arange(len(acts)))
    mu = agent.tensor(np.array(mus, dtype=np.float32))
    ret = agent.tensor(np.array(rets, dtype=np.float32))
    with torch.no_grad():
        p_ref = agent.action_probs(obs_np, {"action_mask": mask})[rows, act]
    rho = (p_ref / mu).clamp(max=RHO_MAX)  # logging policy -> the policy being fine-tuned
    clip = hp["clip_range"]
    for _ in range(steps):
        with torch.no_grad():  # one-step TD advantage: the answer to this track, not to the later ones
            adv = rew + hp["gamma"] * live * agent.value(nxt_t).squeeze(-1) - agent.value(obs_t).squeeze(-1)
            if hp["normalize_advantage"] and len(adv) > 1:
                adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        probs = agent.action_probs(obs_np, {"action_mask": mask})
        ratio = probs[rows, act] / p_ref  # the fine-tuned policy -> its start
        surrogate = torch.min(ratio * adv, ratio.clamp(1 - clip, 1 + clip) * adv)
        entropy = -(probs * torch.log(probs + 1e-12)).sum(1).mean()
        pg_loss = -(rho * surrogate).mean() - hp["ent_coef"] * entropy
        agent.pi_opt.zero_grad()
        pg_loss.backward()
        nn.utils.clip_grad_norm_(agent.policy.parameters(), hp["max_grad_norm"])
        agent.pi_opt.step()
        v_loss = ((agent.value(obs_t).squeeze(-1) - ret) ** 2).mean()
        agent.v_opt.zero_grad()
        v_loss.backward()
        nn.utils.clip_grad_norm_(agent.value.parameters(), hp["max_grad_norm"])
        agent.v_opt.step()
