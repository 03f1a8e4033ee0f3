"""Learning benchmark of the RL agents (a script that prints figures, not a test).

For each (agent, env) pair the agent supports: train for ``--steps`` env steps per seed, evaluate
with `musicgym.evaluate` (100 episodes, same episodes for the agent, random and oracle) and print the
normalised score (random 0, oracle 1) per seed, with mean and standard deviation.

Goals (default catalog, at most 200,000 steps, 3 seeds): ppo and actor_critic >= 0.8 on
Playlist-v0; ah_dqn >= 0.8 on Preference-v0 and >= 0.5 on PreferenceCatalog-v0; every RL agent
>= 0.3 on every env it supports.

``--overhead`` also measures PPO's training throughput on Playlist-v0 with 8 sessions against the
same PPO settings on CartPole-v1 (SB3's own vectorised CartPole), in the same run.

Usage::

    python experiments/bench_agents.py --agents ppo actor_critic --envs MusicGym/Playlist-v0 --steps 200000
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, field

import numpy as np

import musicgym
from musicgym import agents
from musicgym.registration import registered_ids


@dataclass
class Args:
    """Benchmark arguments."""

    agents: list[str] = field(default_factory=lambda: ["ppo", "dqn", "maskable_ppo", "ah_dqn", "actor_critic", "cf_actor_critic"])
    """Agents to train."""
    envs: list[str] = field(default_factory=registered_ids)
    """Env ids (each agent runs on those it supports)."""
    steps: int = 200_000
    """Env steps per run."""
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    """Training seeds."""
    eval_episodes: int = 100
    """Evaluation episodes per run."""
    overhead: bool = False
    """Also measure PPO's steps/s on Playlist-v0 against CartPole-v1."""
    env_kwargs: dict = field(default_factory=dict)
    """Keyword arguments for every env (e.g. {"listener": "fixed"})."""


def overhead(chunk: int = 4096, rounds: int = 20) -> None:
    """PPO env-steps/s on Playlist-v0 (native vector env, 8 sessions) vs CartPole-v1 (8 envs).

    The two train in alternating chunks, in ABBA order (which one goes first alternates), so that a
    drift in the machine's speed hits both alike; the figure is the median of the rounds' paired
    ratios (each round's two chunks run back to back), with the ratio of the totals beside it.
    """
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    torch.set_num_threads(1)  # both sides alike; on 2 cores one thread is also the faster for these small nets
    settings = {"n_steps": 256, "batch_size": 256, "n_epochs": 10}
    # the same network on both sides: SB3's MlpPolicy (the Playlist-v0 config's slot policy is not the question here)
    music = agents.make("ppo", "MusicGym/Playlist-v0", n_envs=8, slot_scorer=False, **settings)
    cart = PPO("MlpPolicy", make_vec_env("CartPole-v1", n_envs=8, seed=0), seed=0, verbose=0, **settings)
    music.learn(2048)
    cart.learn(2048)

    def timed(which: str) -> float:
        t = time.perf_counter()
        if which == "music":
            music.learn(music.num_timesteps + chunk)
        else:
            cart.learn(chunk, reset_num_timesteps=False)
        return time.perf_counter() - t

    music_s, cart_s, ratios = [], [], []
    for r in range(rounds):
        order = ("music", "cart") if r % 2 == 0 else ("cart", "music")
        took = {which: timed(which) for which in order}
        music_s.append(took["music"])
        cart_s.append(took["cart"])
        ratios.append(took["cart"] / took["music"])
    music_sps, cart_sps = rounds * chunk / sum(music_s), rounds * chunk / sum(cart_s)
    print(f"PPO training throughput ({rounds} interleaved rounds of {chunk} steps each): Playlist-v0 "
          f"{music_sps:,.0f} steps/s, CartPole-v1 {cart_sps:,.0f} steps/s; Playlist-v0 / CartPole-v1: median of "
          f"rounds {100 * float(np.median(ratios)):.0f}% (range {100 * min(ratios):.0f}-{100 * max(ratios):.0f}%), "
          f"totals {100 * music_sps / cart_sps:.0f}% (goal >= 85%)")


def main(args: Args) -> None:
    """Train, evaluate and print one row per (agent, env)."""
    if args.overhead:
        overhead()
    if args.env_kwargs:
        print(f"env kwargs: {args.env_kwargs}")
    print(f"{'agent':16} {'env':32} {'steps':>8} " + " ".join(f"{'seed' + str(s):>7}" for s in args.seeds)
          + f" {'mean':>7} {'std':>6} {'train s':>8}")
    for name in args.agents:
        for env_id in args.envs:
            if not agents.supports(name, env_id):
                continue
            scores, secs = [], 0.0
            for seed in args.seeds:
                agent = agents.make(name, env_id, seed=seed, env_kwargs=args.env_kwargs)
                t = time.perf_counter()
                agent.learn(args.steps)
                secs += time.perf_counter() - t
                res = musicgym.evaluate(
                    agent, env_id, n_episodes=args.eval_episodes, seed=10_000 + seed, **args.env_kwargs
                )
                scores.append(res.normalized_score)
            s = np.array(scores)
            print(f"{name:16} {env_id:32} {args.steps:>8} " + " ".join(f"{x:>7.3f}" for x in s)
                  + f" {s.mean():>7.3f} {s.std():>6.3f} {secs / len(s):>8.0f}", flush=True)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    d = Args()
    p.add_argument("--agents", nargs="*", default=d.agents)
    p.add_argument("--envs", nargs="+", default=d.envs)
    p.add_argument("--steps", type=int, default=d.steps)
    p.add_argument("--seeds", type=int, nargs="+", default=d.seeds)
    p.add_argument("--eval-episodes", type=int, default=d.eval_episodes)
    p.add_argument("--overhead", action="store_true")
    p.add_argument("--env-kwargs", type=json.loads, default={}, help='JSON, e.g. \'{"listener": "fixed"}\'')
    a = p.parse_args()
    main(Args(a.agents, a.envs, a.steps, a.seeds, a.eval_episodes, a.overhead, a.env_kwargs))
