"""One ``evaluate()`` for every policy: returns, regret and the normalised score.

The normalised score puts a policy between the random policy (0) and the reference (1), all run on
the same episodes: episode i of every policy is reset with seed ``seed + i``, so every policy meets
the same hidden users and starting tracks. The reference is the better of the greedy oracle (the best
action now, given the hidden listener) and the planner (`musicgym.envs.planner`: the optimum of the
expected return on Playlist-v0, a rollout search elsewhere), by mean expected return on those
episodes. Where the planner is exact (Playlist-v0 with a cluster listener), 1.0 is an upper bound:
no policy can score above it on expected returns.

The score is computed on *expected* returns: at every step the env reports the oracle's expected
reward and the regret of the action taken, so the expected reward of that action under the hidden
user is ``oracle_reward - regret``. Summing those instead of the sampled rewards removes the
listener's response noise (an unbiased, lower-variance estimate of the same quantity). In
Playlist-v0 that noise is large (a "liked" flip moves one reward by 40), in Taste-v0 and
Preference-v0 rewards are deterministic and both returns coincide. ``mean_return`` is the sampled one.

The random, oracle and planner episodes of an (env, arguments, episodes, seed) are played once per
process and kept on disk in the user cache (`musicgym.paths.cache_dir`, ``references/``), keyed by the
env id, its arguments, the catalog's fingerprint and `REFERENCE_VERSION`: the planner is slow on the
slot envs (a rollout search at every step) and every run of a sweep evaluates on the same episodes.
Processes that need the same references at once play them once: the others wait on a file lock.
`evaluate_reference` gives those episodes' `EvalResult` for the random, oracle and planner rows of a
leaderboard, without playing them again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from musicgym.listeners.base import Listener
from musicgym.paths import cache_dir
from musicgym.policies import OraclePolicy, PlannerPolicy, RandomPolicy

log = logging.getLogger(__name__)
#: bump when the random policy, the oracle or a planner changes what it plays, or the cache's format
#: changes (invalidates the disk cache). 2: the cache keeps each reference's episodes (`evaluate_reference`)
REFERENCE_VERSION = 2
#: the references' rows of a leaderboard, by the names `evaluate_reference` takes
REFERENCE_POLICIES = ("random", "oracle", "planner")
#: the per-episode arrays of `run_episodes` that the cache keeps for each reference
_EPISODE_FIELDS = ("returns", "expected", "regrets", "lengths")


@dataclass
class EvalResult:
    """What `evaluate` measured. Returns are undiscounted episode sums; the references are expected returns."""

    mean_return: float
    std_return: float
    mean_expected_return: float
    mean_regret: float
    normalized_score: float
    random_return: float
    oracle_return: float
    planner_return: float = float("nan")
    #: the reference the score divides by: ``"planner"`` or ``"oracle"`` (the higher mean)
    reference: str = "oracle"
    #: whether that reference is the exact optimum on every episode (then 1.0 is an upper bound)
    reference_exact: bool = False
    episode_returns: list[float] = field(default_factory=list, repr=False)
    episode_expected_returns: list[float] = field(default_factory=list, repr=False)
    episode_lengths: list[int] = field(default_factory=list, repr=False)

    @property
    def reference_return(self) -> float:
        """The expected return the score divides by (planner's or oracle's)."""
        return self.planner_return if self.reference == "planner" else self.oracle_return

    def __repr__(self) -> str:
        n = len(self.episode_returns)
        return (f"EvalResult(normalized_score={self.normalized_score:.3f}, mean_expected_return="
                f"{self.mean_expected_return:.3f}, random={self.random_return:.3f}, {self.reference}="
                f"{self.reference_return:.3f}{' (exact)' if self.reference_exact else ''}, episodes={n})")


def run_episodes(
    policy: Any, env: gym.Env, n_episodes: int, seed: int, deterministic: bool = True
) -> dict[str, np.ndarray]:
    """Per-episode ``returns``, ``expected`` returns, summed ``regrets``, ``lengths``; episode i seeded ``seed + i``.

    Also ``exact``: whether the env's planner was exact all episode long (where it reports it).
    """
    uses_info = getattr(policy, "uses_info", False)
    out = {k: np.zeros(n_episodes) for k in ("returns", "expected", "regrets", "lengths")}
    out["exact"] = np.ones(n_episodes, dtype=bool)
    for i in range(n_episodes):
        obs, info = env.reset(seed=seed + i)
        state, start, done = None, np.ones(1, dtype=bool), False
        while not done:
            kw = {"info": info} if uses_info else {}
            action, state = policy.predict(obs, state=state, episode_start=start, deterministic=deterministic, **kw)
            best_now = info["oracle_reward"]
            out["exact"][i] &= bool(info.get("plan_exact", False))
            obs, reward, terminated, truncated, info = env.step(np.asarray(action).reshape(()).item())
            out["returns"][i] += reward
            out["regrets"][i] += info["regret"]
            out["expected"][i] += best_now - info["regret"]
            out["lengths"][i] += 1
            start = np.zeros(1, dtype=bool)
            done = terminated or truncated
    return out


_reference: dict[str, dict[str, Any]] = {}
#: seconds this process has waited for reference episodes that another process was playing
_waited = 0.0


def reference_wait_seconds() -> float:
    """Seconds this process has spent waiting for references another process was playing (`references`).

    A sweep takes them out of a run's evaluation time: the run that played the episodes counts them.
    """
    return _waited


def _describe(value: Any) -> str:
    """A stable text for an env argument: a catalog's fingerprint, a listener's configuration, else repr."""
    if hasattr(value, "fingerprint"):
        return str(value.fingerprint)
    if isinstance(value, Listener):
        return f"{type(value).__module__}.{type(value).__qualname__}{sorted(value.__getstate__().items())!r}"
    return repr(value)


def _reference_key(env_id: str, env: gym.Env, env_kwargs: dict[str, Any], n_episodes: int, seed: int) -> str:
    kwargs = {k: _describe(v) for k, v in sorted(env_kwargs.items())}
    doc = {"env": env_id, "kwargs": kwargs, "catalog": env.unwrapped.catalog.fingerprint, "episodes": n_episodes,
           "seed": seed, "version": REFERENCE_VERSION}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()[:24]


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path` meanwhile (waiting for another process that holds it).

    Where the cache folder cannot be written, or the platform has no ``fcntl``, nothing is locked:
    two processes may then play the same references, which costs time, not results.
    """
    try:
        import fcntl

        path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(path, "w")  # noqa: SIM115 - held open while the lock is held
    except (ImportError, OSError):
        yield
        return
    try:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield
    finally:
        fh.close()  # closing the file releases the lock


def _read_reference(key: str, path: Path) -> dict[str, Any] | None:
    if key in _reference:
        return _reference[key]
    if path.is_file():
        try:
            _reference[key] = json.loads(path.read_text())
            return _reference[key]
        except (OSError, ValueError) as e:
            log.warning("ignoring unreadable reference cache %s: %s", path, e)
    return None


def _episodes(run: dict[str, np.ndarray]) -> dict[str, list[float]]:
    return {k: run[k].tolist() for k in _EPISODE_FIELDS}


def references(env_id: str, n_episodes: int = 100, seed: int = 0, **env_kwargs: Any) -> dict[str, Any]:
    """The random policy's, the greedy oracle's and the planner's mean expected returns on these episodes.

    Returns ``{"random", "oracle", "planner": float, "planner_exact": bool}`` (``planner`` NaN where the
    env's listener has no expected rewards), and under ``"episodes"`` each one's per-episode returns,
    expected returns, regrets and lengths (what `evaluate_reference` reads). Cached in memory and on
    disk (module docstring).
    """
    env = gym.make(env_id, **env_kwargs)
    try:
        key = _reference_key(env_id, env, env_kwargs, n_episodes, seed)
        path = cache_dir() / "references" / f"{key}.json"
        cached = _read_reference(key, path)
        if cached is not None:
            return cached
        global _waited
        t = time.perf_counter()
        with _file_lock(path.with_suffix(".lock")):
            _waited += time.perf_counter() - t
            cached = _read_reference(key, path)  # another process may have played them meanwhile
            if cached is not None:
                return cached
            rand = run_episodes(RandomPolicy(env.action_space, seed=seed), env, n_episodes, seed)
            orac = run_episodes(OraclePolicy(), env, n_episodes, seed)
            out: dict[str, Any] = {"random": float(rand["expected"].mean()), "oracle": float(orac["expected"].mean()),
                                   "planner": float("nan"), "planner_exact": False,
                                   "episodes": {"random": _episodes(rand), "oracle": _episodes(orac)}}
            horizon = gym.spec(env_id.removeprefix("musicgym:")).max_episode_steps
            try:
                plan_env = gym.make(env_id, plan=True, plan_horizon=horizon, **env_kwargs)
            except ValueError:  # a listener without expected rewards (a person, a replayed log): no planner
                plan_env = None
            if plan_env is not None:
                plan = run_episodes(PlannerPolicy(), plan_env, n_episodes, seed)
                plan_env.close()
                out["planner"] = float(plan["expected"].mean())
                out["planner_exact"] = bool(plan["exact"].all())
                out["episodes"]["planner"] = _episodes(plan)
            _reference[key] = out
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
                tmp.write_text(json.dumps(out))
                tmp.replace(path)
            except OSError as e:  # a read-only cache costs time, not results
                log.warning("could not cache the references at %s: %s", path, e)
    finally:
        env.close()
    return out


def _check_episodes(n_episodes: Any, seed: Any) -> None:
    if isinstance(n_episodes, bool) or not isinstance(n_episodes, (int, np.integer)) or n_episodes < 1:
        raise ValueError(f"n_episodes must be an integer >= 1, got {n_episodes!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")


def _result(run: dict[str, Any], ref: dict[str, Any]) -> EvalResult:
    """The `EvalResult` of per-episode ``run`` arrays (`run_episodes`) against the references `ref`."""
    r_rand, r_orac, r_plan = ref["random"], ref["oracle"], ref["planner"]
    use_plan = bool(np.isfinite(r_plan) and r_plan >= r_orac)
    r_ref = r_plan if use_plan else r_orac
    span = r_ref - r_rand
    expected = np.asarray(run["expected"], dtype=float)
    returns = np.asarray(run["returns"], dtype=float)
    score = float((expected.mean() - r_rand) / span) if abs(span) > 1e-12 else float("nan")
    return EvalResult(
        mean_return=float(returns.mean()),
        std_return=float(returns.std()),
        mean_expected_return=float(expected.mean()),
        mean_regret=float(np.mean(run["regrets"])),
        normalized_score=score,
        random_return=r_rand,
        oracle_return=r_orac,
        planner_return=r_plan,
        reference="planner" if use_plan else "oracle",
        reference_exact=use_plan and bool(ref["planner_exact"]),
        episode_returns=returns.tolist(),
        episode_expected_returns=expected.tolist(),
        episode_lengths=np.asarray(run["lengths"]).astype(int).tolist(),
    )


def evaluate_reference(name: str, env_id: str, n_episodes: int = 100, seed: int = 0, **env_kwargs: Any) -> EvalResult:
    """`evaluate` of a reference policy (``"random"``, ``"oracle"`` or ``"planner"``) on these episodes.

    The same result as ``evaluate(policy, ...)`` with ``RandomPolicy(space, seed=seed)``,
    ``OraclePolicy()`` or ``PlannerPolicy()``, read from the episodes `references` played (and cached)
    rather than played again.

    Raises:
        ValueError: an unknown name, or ``"planner"`` on an env whose listener has no expected rewards.
    """
    if name not in REFERENCE_POLICIES:
        raise ValueError(f"unknown reference policy {name!r}; choose one of {', '.join(REFERENCE_POLICIES)}")
    _check_episodes(n_episodes, seed)
    ref = references(env_id, n_episodes, seed, **env_kwargs)
    if name not in ref["episodes"]:
        raise ValueError(f"{env_id} has no planner with these arguments: its listener has no expected rewards")
    return _result(ref["episodes"][name], ref)


def evaluate(
    policy: Any, env_id: str, n_episodes: int = 100, seed: int = 0, deterministic: bool = True, **env_kwargs: Any
) -> EvalResult:
    """Evaluate any policy with SB3's ``predict`` interface on `env_id`.

    Args:
        policy: an object with ``predict(obs, state=None, episode_start=None, deterministic=False)``
            (SB3 models, MusicGym agents); if it has ``uses_info = True`` it also gets ``info=``, and
            its ``eval_env_kwargs`` attribute (if any) is added to the env's arguments.
        env_id: a registered id, e.g. ``"MusicGym/Playlist-v0"``.
        n_episodes: episodes per policy.
        seed: episode i is reset with ``seed + i`` for the policy and every reference.
        deterministic: passed to ``predict``.
        **env_kwargs: passed to ``gym.make``.

    Returns:
        An `EvalResult`; ``normalized_score = (E - E_random) / (E_ref - E_random)`` on expected
        returns E (module docstring), E_ref the higher of the planner's and the greedy oracle's.
    """
    _check_episodes(n_episodes, seed)
    own = dict(getattr(policy, "eval_env_kwargs", None) or {})
    if own.get("plan") and "plan_horizon" not in own:
        own["plan_horizon"] = gym.spec(env_id.removeprefix("musicgym:")).max_episode_steps
    env = gym.make(env_id, **env_kwargs, **own)
    try:
        run = run_episodes(policy, env, n_episodes, seed, deterministic)
    finally:
        env.close()
    return _result(run, references(env_id, n_episodes, seed, **env_kwargs))
