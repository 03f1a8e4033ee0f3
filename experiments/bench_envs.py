"""Benchmark of the MusicGym environments (a script that prints figures, not a test).

Random valid actions on a synthetic catalog (100,000 tracks by default), on this machine's cores:
single-env steps per second (through ``gym.make``, with its wrappers), native vector env steps per
second with 1,024 sessions, and the resident memory of a process holding a 1M-track catalog env.

Goals (2 cores): single env >= 50k steps/s for Playlist-v0 and >= 20k for Taste-v0 and
Preference-v0; vector env with 1,024 sessions >= 1,000,000 steps/s for Playlist-v0 and >= 100,000
for the others; a 1M-track catalog env under 2 GB resident memory.

Usage: python experiments/bench_envs.py [--catalog synthetic-100k] [--million]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from dataclasses import dataclass

import gymnasium as gym
import numpy as np

import musicgym  # noqa: F401  (registers the envs)

ENV_IDS = ("MusicGym/Playlist-v0", "MusicGym/Taste-v0", "MusicGym/TasteCatalog-v0", "MusicGym/Preference-v0",
           "MusicGym/PreferenceCatalog-v0")


@dataclass
class Args:
    """Benchmark arguments."""

    catalog: str = "synthetic-100k"
    """Catalog preset the envs run on."""
    single_steps: int = 20_000
    """Steps timed for the single env."""
    vector_steps: int = 200
    """Batched steps timed for the vector env."""
    num_envs: int = 1024
    """Sessions in the vector env."""
    million: bool = False
    """Also measure the resident memory of a 1M-track env (in a fresh process)."""


def bench_single(env_id: str, args: Args) -> float:
    """Steps per second of one env taking random valid actions."""
    env = gym.make(env_id, catalog=args.catalog)
    rng = np.random.default_rng(0)
    obs, info = env.reset(seed=0)
    n = env.action_space.n
    actions = rng.integers(0, n, args.single_steps)
    start = time.perf_counter()
    for i in range(args.single_steps):
        a = int(actions[i])
        if not info["action_mask"][a]:
            a = int(np.flatnonzero(info["action_mask"])[0])
        obs, _, term, trunc, info = env.step(a)
        if term or trunc:
            obs, info = env.reset()
    return args.single_steps / (time.perf_counter() - start)


def bench_vector(env_id: str, args: Args) -> float:
    """Session-steps per second of the native vector env taking random actions."""
    venv = gym.make_vec(env_id, num_envs=args.num_envs, vectorization_mode="vector_entry_point", catalog=args.catalog)
    venv.reset(seed=0)
    n = venv.single_action_space.n
    actions = np.random.default_rng(0).integers(0, n, (args.vector_steps, args.num_envs))
    venv.step(actions[0])
    start = time.perf_counter()
    for i in range(args.vector_steps):
        venv.step(actions[i])
    return args.vector_steps * args.num_envs / (time.perf_counter() - start)


MILLION = """
import resource, time, gymnasium as gym, musicgym
t = time.perf_counter()
env = gym.make("{env_id}", catalog="synthetic-1m")
env.reset(seed=0)
for a in range(100):
    _, _, te, tr, _ = env.step(a % env.action_space.n)
    if te or tr:
        env.reset()
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, time.perf_counter() - t)
"""


def main(args: Args) -> None:
    """Print the figures."""
    print(f"catalog {args.catalog}; vector env with {args.num_envs} sessions")
    print(f"{'env':32} {'single steps/s':>15} {'vector steps/s':>15}")
    for env_id in ENV_IDS:
        gym.make(env_id, catalog=args.catalog).reset(seed=0)  # build shared catalog, VAE, indexes first
        single = bench_single(env_id, args)
        vector = bench_vector(env_id, args)
        print(f"{env_id:32} {single:>15,.0f} {vector:>15,.0f}")
    print(f"peak resident memory of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB")
    if args.million:
        for env_id in ("MusicGym/Playlist-v0", "MusicGym/PreferenceCatalog-v0"):
            out = subprocess.run([sys.executable, "-c", MILLION.format(env_id=env_id)], capture_output=True, text=True)
            if out.returncode:
                print(f"{env_id} on synthetic-1m failed:\n{out.stderr[-2000:]}")
                continue
            rss, secs = map(float, out.stdout.split())
            print(f"{env_id} on synthetic-1m: peak resident memory {rss:,.0f} MB (set-up and 100 steps in {secs:.0f} s)")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--catalog", default=Args.catalog)
    p.add_argument("--single-steps", type=int, default=Args.single_steps)
    p.add_argument("--vector-steps", type=int, default=Args.vector_steps)
    p.add_argument("--num-envs", type=int, default=Args.num_envs)
    p.add_argument("--million", action="store_true")
    a = p.parse_args()
    main(Args(a.catalog, a.single_steps, a.vector_steps, a.num_envs, a.million))
