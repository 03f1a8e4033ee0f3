"""This checkout's native vector env against another git revision's, in one process (prints figures, not a test).

On a shared machine a run's speed swings with the other jobs (on our 2-core machine by a third from one
minute to the next), so two versions timed in separate runs cannot be told apart by a 10% change. This
script imports both into one process (this checkout as ``musicgym``; the revision's ``musicgym/`` and
``assets/``, extracted with ``git archive``, under the name ``musicgym_base``) and steps their vector
envs, made with the same arguments, in alternating rounds of the same random actions. Each round's
ratio (this checkout over the base) is measured under the same load; the median over rounds is the
figure to quote.

The base's kernels compile on the first run (about a minute); its extraction is kept in the user cache
(``musicgym.paths.cache_dir()``) by commit, so later runs reuse them.

Usage: python experiments/bench_versions.py --base REV [--env Session-v0] [--rounds 12] [--catalog synthetic-100k]
"""

from __future__ import annotations

import argparse
import importlib
import io
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np

import musicgym  # noqa: F401  (registers the envs)
from musicgym.paths import cache_dir

REPO = Path(__file__).resolve().parents[1]
BASE = "musicgym_base"


def _git(*args: str) -> bytes:
    return subprocess.run(["git", "-C", str(REPO), *args], check=True, capture_output=True).stdout


def extract(rev: str) -> tuple[Path, str]:
    """The folder holding revision `rev`'s package as ``musicgym_base`` (and its assets), and the commit."""
    commit = _git("rev-parse", "--verify", f"{rev}^{{commit}}").decode().strip()
    root = cache_dir() / "bench_versions" / commit
    if not root.is_dir():  # built in a temporary folder, renamed into place once complete
        root.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=root.parent, prefix=f".{commit[:12]}-"))
        with tarfile.open(fileobj=io.BytesIO(_git("archive", commit, "musicgym", "assets"))) as tar:
            tar.extractall(tmp, filter="data")
        (tmp / "musicgym").rename(tmp / BASE)
        for path in (tmp / BASE).rglob("*.py"):  # the package's own imports point at the renamed package
            text = path.read_text()
            text = re.sub(r"\bmusicgym\.", f"{BASE}.", text)
            text = re.sub(r"^(\s*)(import|from) musicgym\b", rf"\1\2 {BASE}", text, flags=re.M)
            path.write_text(text)
        try:
            tmp.rename(root)
        except OSError:  # another process put it there first
            shutil.rmtree(tmp, ignore_errors=True)
    return root, commit


def vector_env(package: str, env_id: str, num: int, catalog: str) -> gym.vector.VectorEnv:
    """The registered vector env class of `env_id`, from `package`, with the id's registered kwargs."""
    spec = gym.spec(env_id)
    module, name = str(spec.vector_entry_point).split(":")
    cls = getattr(importlib.import_module(package + module.removeprefix("musicgym")), name)
    return cls(num_envs=num, catalog=catalog, **spec.kwargs)


def main() -> None:
    """Parse the arguments, set up both envs, time them in alternating rounds, print the figures."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", required=True, help="the git revision to compare with (a commit, tag or branch)")
    p.add_argument("--env", default="Session-v0", help="env id (default Session-v0)")
    p.add_argument("--catalog", default="synthetic-100k")
    p.add_argument("--num-envs", type=int, default=1024)
    p.add_argument("--steps", type=int, default=100, help="batched steps per round")
    p.add_argument("--rounds", type=int, default=12)
    a = p.parse_args()
    env_id = a.env if "/" in a.env else f"MusicGym/{a.env}"
    if env_id not in gym.registry:
        p.error(f"unknown env id {env_id}")
    if a.rounds < 1 or a.steps < 1 or a.num_envs < 1:
        p.error("--rounds, --steps and --num-envs must be positive")
    try:
        root, commit = extract(a.base)
    except subprocess.CalledProcessError as e:
        p.error(f"git could not read revision {a.base!r} in {REPO} (this script compares versions of a git "
                f"checkout): {e.stderr.decode().strip()}")
    head = _git("rev-parse", "HEAD").decode().strip()
    dirty = bool(_git("status", "--porcelain", "--untracked-files=no", "musicgym").strip())
    sys.path.insert(0, str(root))
    with warnings.catch_warnings():  # the base package registers the same ids again on import ...
        warnings.simplefilter("ignore")
        importlib.import_module(BASE)
        musicgym.register_musicgym_envs()  # ... so this checkout's registrations are put back
    names = {"this": f"this checkout ({head[:7]}{', modified' if dirty else ''})", "base": f"base ({commit[:7]})"}
    envs = {}
    for key, package in (("this", "musicgym"), ("base", BASE)):
        t = time.perf_counter()
        envs[key] = vector_env(package, env_id, a.num_envs, a.catalog)
        envs[key].reset(seed=0)
        print(f"{names[key]}: set up in {time.perf_counter() - t:.0f} s", flush=True)
    n = envs["this"].single_action_space.n
    actions = np.random.default_rng(0).integers(0, n, ((a.rounds + 1) * a.steps, a.num_envs))
    for env in envs.values():  # warm-up: compiled kernels, sessions of all lengths
        for i in range(a.steps):
            env.step(actions[i])
    rates: dict[str, list[float]] = {"this": [], "base": []}
    print(f"{env_id}, {a.num_envs} sessions, catalog {a.catalog}: session-steps/s per round of {a.steps} steps")
    for r in range(a.rounds):
        for key in ("this", "base") if r % 2 == 0 else ("base", "this"):
            env = envs[key]
            t = time.perf_counter()
            for i in range(a.steps):
                env.step(actions[(r + 1) * a.steps + i])
            rates[key].append(a.steps * a.num_envs / (time.perf_counter() - t))
        print(f"round {r + 1:2}: this {rates['this'][-1]:>10,.0f}  base {rates['base'][-1]:>10,.0f}  "
              f"ratio {rates['this'][-1] / rates['base'][-1]:.3f}", flush=True)
    ratio = np.array(rates["this"]) / np.array(rates["base"])
    print(f"median: {names['this']} {np.median(rates['this']):,.0f}, {names['base']} {np.median(rates['base']):,.0f} "
          f"session-steps/s; ratio median {np.median(ratio):.3f} (rounds: min {ratio.min():.3f}, max {ratio.max():.3f})")


if __name__ == "__main__":
    main()
