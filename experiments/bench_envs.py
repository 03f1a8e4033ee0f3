"""Benchmark of the MusicGym environments against SARDINE's (a script that prints figures, not a test).

Random valid actions, on this machine's cores, with every env made through ``gym.make`` (its
wrappers included):

* single env: steps per second of one session, and its ratio to SARDINE's
  ``sardine/SingleItem-Static-v0`` (pip install sardine-rec) timed in the same run, interleaved with
  ours in rounds so that a noisy machine slows both sides alike (the median of the rounds is quoted);
* native vector env: session-steps per second with 1,024 sessions (the median of the rounds), with the
  default threads (a large batch's kernels split over this machine's cores, `musicgym.envs.threads`)
  and, interleaved with it, with one thread;
* optionally (``--million``) the resident memory of a process holding a 1M-track catalog env.

Goals (the ratio is the figure to quote on a shared machine): single env >= 3x SARDINE on Playlist-v0,
>= 1.5x on Taste-v0 / Preference-v0 and >= 2x on Session-v0; vector env with 1,024 sessions >= 1.5M
steps/s on Playlist-v0, >= 200k on Taste-v0 / Preference-v0 and >= 300k on Session-v0 (the catalog-mode
ids have no goal: their greedy oracle searches the whole catalog at every step).

Usage: python experiments/bench_envs.py [--catalog synthetic-100k] [--rounds 5] [--million] [--envs Session ...]
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
from musicgym.envs import threads

ENV_IDS = ("MusicGym/Playlist-v0", "MusicGym/Taste-v0", "MusicGym/Preference-v0", "MusicGym/Session-v0",
           "MusicGym/TasteCatalog-v0", "MusicGym/PreferenceCatalog-v0", "MusicGym/SessionCatalog-v0")
GOALS_SINGLE = {"MusicGym/Playlist-v0": 3.0, "MusicGym/Taste-v0": 1.5, "MusicGym/Preference-v0": 1.5,
                "MusicGym/Session-v0": 2.0}
GOALS_VECTOR = {"MusicGym/Playlist-v0": 1_500_000, "MusicGym/Taste-v0": 200_000, "MusicGym/Preference-v0": 200_000,
                "MusicGym/Session-v0": 300_000}
SARDINE_ID = "sardine/SingleItem-Static-v0"


@dataclass
class Args:
    """Benchmark arguments."""

    catalog: str = "synthetic-100k"
    """Catalog preset the envs run on."""
    single_steps: int = 4_000
    """Steps timed per round for a single env (ours and SARDINE's)."""
    rounds: int = 5
    """Interleaved rounds (ours, SARDINE's) and vector env rounds; the median steps/s is reported."""
    vector_steps: int = 100
    """Batched steps timed for the vector env."""
    num_envs: int = 1024
    """Sessions in the vector env."""
    million: bool = False
    """Also measure the resident memory of a 1M-track env (in a fresh process)."""
    envs: tuple[str, ...] = ENV_IDS
    """The env ids to time (default: all of `ENV_IDS`)."""


class SingleRunner:
    """Steps one env with random valid actions, `n` steps at a time."""

    def __init__(self, env: gym.Env, seed: int = 0) -> None:
        self.env = env
        self.rng = np.random.default_rng(seed)
        self.obs, self.info = env.reset(seed=seed)

    def run(self, n: int) -> float:
        """Steps per second over `n` steps."""
        env, rng = self.env, self.rng
        if isinstance(env.action_space, gym.spaces.Discrete):
            size = int(env.action_space.n)
            actions = rng.integers(0, size, n)
        else:  # SARDINE: MultiDiscrete([n_items]) for a slate of one
            actions = [env.action_space.sample() for _ in range(n)]
        info = self.info
        start = time.perf_counter()
        for i in range(n):
            a = actions[i]
            mask = info.get("action_mask") if isinstance(info, dict) else None
            if mask is not None and not mask[a]:
                a = int(np.flatnonzero(mask)[0])
            _, _, term, trunc, info = env.step(a)
            if term or trunc:
                _, info = env.reset()
        self.info = info
        return n / (time.perf_counter() - start)


def sardine_env() -> gym.Env | None:
    """SARDINE's env, or None if sardine-rec is not installed."""
    try:
        import sardine  # noqa: F401  (registers its envs)
    except ImportError:
        return None
    return gym.make(SARDINE_ID)


def bench_single(env_id: str, args: Args, sardine: SingleRunner | None) -> tuple[float, float | None]:
    """Median steps/s of our env and of SARDINE's, timed in interleaved rounds."""
    ours = SingleRunner(gym.make(env_id, catalog=args.catalog))
    ours.run(200)  # warm-up (numba kernels, caches)
    mine, theirs = [], []
    for _ in range(args.rounds):
        mine.append(ours.run(args.single_steps))
        if sardine is not None:
            theirs.append(sardine.run(args.single_steps // 4))
    return float(np.median(mine)), (float(np.median(theirs)) if theirs else None)


def bench_vector(env_id: str, args: Args) -> tuple[float, float]:
    """Median session-steps per second of the native vector env taking random actions, over `rounds` rounds.

    Two envs of the same seed, stepped in interleaved rounds: one with the default threads
    (`musicgym.envs.threads`, which split a large batch's kernels), one with a single thread. Returns
    (default threads, one thread).
    """
    venvs = []
    for _ in range(2):
        venv = gym.make_vec(env_id, num_envs=args.num_envs, vectorization_mode="vector_entry_point",
                            catalog=args.catalog)
        venv.reset(seed=0)
        venvs.append(venv)
    n = venvs[0].single_action_space.n
    actions = np.random.default_rng(0).integers(0, n, (args.vector_steps, args.num_envs))
    rates: tuple[list[float], list[float]] = ([], [])
    try:
        for rnd in range(args.rounds + 1):  # round 0 warms up
            for venv, setting, out in zip(venvs, (None, 1), rates, strict=True):
                threads.set_num_threads(setting)
                start = time.perf_counter()
                for i in range(args.vector_steps):
                    venv.step(actions[i])
                if rnd:
                    out.append(args.vector_steps * args.num_envs / (time.perf_counter() - start))
    finally:
        threads.set_num_threads(None)
    return float(np.median(rates[0])), float(np.median(rates[1]))


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
    sardine = sardine_env()
    runner = None
    if sardine is None:
        print("sardine-rec is not installed (pip install sardine-rec): no SARDINE ratio")
    else:
        runner = SingleRunner(sardine)
        runner.run(100)
    print(f"catalog {args.catalog}; single env: median of {args.rounds} interleaved rounds; vector env with "
          f"{args.num_envs} sessions: median of {args.rounds} interleaved rounds with {threads.num_threads()} "
          f"threads (this machine's default; `musicgym.envs.threads`) and with 1")
    print(f"{'env':32} {'single steps/s':>15} {'SARDINE steps/s':>16} {'ratio':>7} {'goal':>6} "
          f"{'vector steps/s':>15} {'1 thread':>10} {'goal':>10}")
    for env_id in args.envs:
        gym.make(env_id, catalog=args.catalog).reset(seed=0)  # build shared catalog, VAE, indexes first
        single, theirs = bench_single(env_id, args, runner)
        vector, one_thread = bench_vector(env_id, args)
        ratio = f"{single / theirs:6.2f}x" if theirs else "      -"
        goal_s = f"{GOALS_SINGLE[env_id]:.1f}x" if env_id in GOALS_SINGLE else "-"
        theirs_s = f"{theirs:>16,.0f}" if theirs else f"{'-':>16}"
        goal_v = f"{GOALS_VECTOR[env_id]:>10,}" if env_id in GOALS_VECTOR else f"{'-':>10}"
        print(f"{env_id:32} {single:>15,.0f} {theirs_s} {ratio} {goal_s:>6} {vector:>15,.0f} {one_thread:>10,.0f} {goal_v}")
    print(f"peak resident memory of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB")
    if args.million:
        for env_id in ("MusicGym/Playlist-v0", "MusicGym/PreferenceCatalog-v0", "MusicGym/Session-v0"):
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
    p.add_argument("--rounds", type=int, default=Args.rounds)
    p.add_argument("--vector-steps", type=int, default=Args.vector_steps)
    p.add_argument("--num-envs", type=int, default=Args.num_envs)
    p.add_argument("--million", action="store_true")
    p.add_argument("--envs", nargs="+", default=list(ENV_IDS), metavar="ID",
                   help="env ids to time (default: all; 'Session' and 'Session-v0' stand for 'MusicGym/Session-v0')")
    a = p.parse_args()
    envs = tuple(e if "/" in e else f"MusicGym/{e}" if "-v" in e else f"MusicGym/{e}-v0" for e in a.envs)
    unknown = [e for e in envs if e not in gym.registry]
    if unknown:
        p.error(f"unknown env id(s) {', '.join(unknown)}; registered: {', '.join(ENV_IDS)}")
    main(Args(a.catalog, a.single_steps, a.rounds, a.vector_steps, a.num_envs, a.million, envs))
