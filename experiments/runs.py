"""One run: an (agent, env, seed, hyperparameters) cell of a sweep, trained, evaluated and written to disk.

A run lives in ``ROOT/<name>/`` where the name follows CleanRL (``{env}__{agent}__{seed}__{key}``;
the key is a hash of the whole spec instead of CleanRL's start time, so that the same spec always maps
to the same directory):

* ``config.json``: the spec;
* ``tb/``: TensorBoard logs of training;
* ``checkpoint/``: the agent's checkpoint, written at every learning-curve point (training resumes
  from it when the run is started again);
* ``curve.json``: the learning curve so far (normalised score at each evaluation point);
* ``agent``: the trained agent (``agents.load(ROOT/<name>/agent)``);
* ``result.json``: written last, atomically. A run whose ``result.json`` exists is done and is
  never run again; one without it is resumed from its checkpoint.

The spec holds what the user set; what it leaves to defaults (the agent's YAML hyperparameters for
the env, the env's own parameters) is recorded in ``config.json`` and ``result.json`` as
``defaults``. If those defaults have changed since (a config was edited, a default changed in a new
version), the old run is stale: it is moved, whole, to ``ROOT/_stale/<name>.<time>.<pid>[~n]/`` (nothing is
deleted) and the run starts afresh. So is a run recorded without ``defaults`` (by a MusicGym that did
not record them): what it ran under is unknown.

Two processes never run the same run at once: a run holds an exclusive ``flock`` on ``run.lock``
while it works (the kernel releases it when the process dies, even by SIGKILL). A process that finds a
run locked waits for the lock, polling every ``POLL_S`` seconds for at most ``WAIT_S`` seconds (three
hours by default, `execute`'s ``wait``; the longest run of the full preset takes about 190 s on 2
cores), and then takes the other process's result as its own. A run that fails writes its error to
``error.json`` before it lets go of the lock; a process that waited for it reports that error instead
of running the run again (a later sweep does run it again). If the holder died without a result or an
error (killed), the waiting process resumes the run itself. After ``WAIT_S`` it gives up with
`RunBusy`.

``random``, ``oracle`` (greedy) and ``planner`` are runs too (no training): the leaderboard's 0, its
greedy row and its reference (`musicgym.envs.planner`).

A reference policy's fit does not depend on the env, only on the catalog: it is fitted once per
(policy, seed, hyperparameters, catalog) and kept in ``ROOT/_fitted/`` with its offline metrics; the
runs of the same policy on other envs load it (a blocking ``flock`` makes concurrent runs wait for
the one that fits).
"""

from __future__ import annotations

import fcntl
import hashlib
import itertools
import json
import os
import socket
import time
import traceback
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

#: pseudo-agents evaluated without training
BASELINES = ("random", "oracle", "planner")
#: episode i of the final evaluation of seed s is reset with seed ``EVAL_SEED + 1000 * s + i``
EVAL_SEED = 100_000
#: the same for the learning-curve evaluations
CURVE_SEED = 200_000
#: seconds `execute` waits by default for a run that another live process holds (see module docstring)
WAIT_S = 3 * 3600.0
#: seconds between two tries of a held run's lock
POLL_S = 0.5
#: a failed run's error, written by the process that ran it (see module docstring)
ERROR_FILE = "error.json"


@dataclass
class RunSpec:
    """What one run trains and how it is evaluated."""

    agent: str
    env_id: str
    seed: int = 0
    total_timesteps: int = 50_000
    hyperparams: dict[str, Any] = field(default_factory=dict)
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    eval_episodes: int = 100
    curve_points: int = 5
    curve_episodes: int = 20

    def __post_init__(self) -> None:
        for name in ("total_timesteps", "eval_episodes", "curve_points", "curve_episodes"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < (0 if name == "total_timesteps" else 1):
                raise ValueError(f"run {self.agent} on {self.env_id}: {name} must be a positive integer, got {value!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or not 0 <= self.seed < 100:
            raise ValueError(f"run {self.agent} on {self.env_id}: seed must be an integer in [0, 100), got {self.seed!r}")
        if self.eval_episodes > 1000:
            raise ValueError(f"eval_episodes must be <= 1000 (episode seeds of seeds would overlap), got {self.eval_episodes}")

    def to_dict(self) -> dict[str, Any]:
        """The spec as plain JSON."""
        return json.loads(json.dumps(asdict(self), sort_keys=True, default=str))

    @property
    def key(self) -> str:
        """8 hex digits identifying the whole spec."""
        return hashlib.sha1(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:8]

    @property
    def name(self) -> str:
        """CleanRL-style run name: ``{env}__{agent}__{seed}__{key}``."""
        return f"{self.env_id.split('/')[-1]}__{self.agent}__{self.seed}__{self.key}"

    @property
    def is_baseline(self) -> bool:
        """Random or oracle: nothing to train."""
        return self.agent in BASELINES

    @property
    def trains_rl(self) -> bool:
        """An RL agent trained for the run's env steps.

        Not a reference, not a supervised ranking policy (fitted on the catalog's playlists), not a
        policy evaluated as it is.
        """
        if self.is_baseline:
            return False
        from musicgym.agents.reference import RankingPolicy

        from musicgym import agents

        cls = agents.agent_class(self.agent)
        return not issubclass(cls, RankingPolicy) and getattr(cls, "trains", True)


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write `obj` as JSON to `path` so that readers see the old file or the whole new one, never a part."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w") as fh:
            json.dump(obj, fh, indent=1, default=_jsonable)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:  # an error or Ctrl-C part-way leaves no temporary file behind
        tmp.unlink(missing_ok=True)


def _jsonable(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    return str(x)


def read_result(run_dir: Path) -> dict[str, Any] | None:
    """The run's result, or None if it has not finished (ValueError naming the file if it is unreadable)."""
    path = Path(run_dir) / "result.json"
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not a valid result file ({e})") from e


class RunBusy(RuntimeError):
    """Another process is working on this run (and still was when the wait ran out)."""


class RunFailedElsewhere(RuntimeError):
    """Another process ran this run while this one waited for it, and the run failed there."""


@contextmanager
def run_lock(run_dir: Path, wait: float = 0.0) -> Iterator[None]:
    """Hold the run's lock, waiting up to `wait` seconds for another live process that holds it.

    Raises:
        RunBusy: another process still holds the lock after `wait` seconds.
    """
    deadline = time.monotonic() + wait
    path = run_dir / "run.lock"
    while True:
        run_dir.mkdir(parents=True, exist_ok=True)
        fh = open(path, "w")  # noqa: SIM115 - held open while the lock is held
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            if time.monotonic() >= deadline:
                waited = f" after waiting {wait:.0f} s" if wait > 0 else ""
                raise RunBusy(f"run {run_dir.name} is still being run by another process{waited}") from None
            time.sleep(POLL_S)
            continue
        if _is_linked(fh, path):
            break
        fh.close()  # the holder moved the run aside (stale) while this process opened its lock: lock the new one
    try:
        yield
    finally:
        fh.close()


def _is_linked(fh: Any, path: Path) -> bool:
    """Whether the open file `fh` is still the file at `path`."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    own = os.fstat(fh.fileno())
    return (own.st_dev, own.st_ino) == (st.st_dev, st.st_ino)


def _read_error(run_dir: Path) -> dict[str, Any] | None:
    """The error a process recorded for the run's last attempt (see module docstring), or None."""
    try:
        return json.loads((run_dir / ERROR_FILE).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def resolved_defaults(spec: RunSpec) -> dict[str, Any]:
    """What `spec` leaves to defaults: the agent's YAML hyperparameters and the env's parameters (as JSON)."""
    import importlib

    import gymnasium as gym
    from musicgym.agents.base import load_hyperparams

    import musicgym  # noqa: F401 (registers the ids)

    entry = gym.spec(spec.env_id)
    module, name = entry.entry_point.split(":")
    env_params = {**getattr(importlib.import_module(module), name).default_arguments(), **entry.kwargs}
    hyperparams = {} if spec.is_baseline else load_hyperparams(spec.agent, spec.env_id)
    return json.loads(json.dumps({"env": env_params, "hyperparams": hyperparams}, sort_keys=True, default=str))


def _stale(run_dir: Path, defaults: dict[str, Any]) -> str | None:
    """Why the run cannot be trusted under `defaults` (see module docstring), or None."""
    path = run_dir / "config.json"
    if not path.exists():
        return None
    try:
        config = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not a valid run config ({e})") from e
    if "defaults" not in config:
        return "it recorded no defaults (an older MusicGym), so what it ran under is unknown"
    return "its defaults changed since it ran" if config["defaults"] != defaults else None


def execute(
    spec: RunSpec, root: str | Path, progress_bar: bool = False, wait: float = WAIT_S, since: float | None = None,
) -> dict[str, Any]:
    """Run `spec` under `root` (or return its result if it is done) and return the result.

    Resumes an interrupted run from its checkpoint; a stale run (see module docstring) is moved to
    ``ROOT/_stale/`` and started afresh. Every run uses one torch thread, so that the same spec gives
    the same numbers in any process (a local worker, a Ray trial).

    Args:
        spec: the run.
        root: the folder of the run directories.
        progress_bar: show the agent's training progress bar.
        wait: seconds to wait for a run that another live process holds (then its result is returned).
        since: a run whose last attempt failed after this time (``time.time()``; default: now), in the
            process this one waited for or in another, is not run again: `RunFailedElsewhere` carries
            that process's error. A sweep passes its start, so that it tries each run at most once.

    Raises:
        RunBusy: another process still held the run after `wait` seconds.
        RunFailedElsewhere: see `since`.
    """
    since = time.time() if since is None else since
    run_dir = Path(root) / spec.name
    defaults = resolved_defaults(spec)
    done = read_result(run_dir)
    if done is not None and not _stale(run_dir, defaults):
        return done
    with run_lock(run_dir, wait):
        reason = _stale(run_dir, defaults)
        if reason:
            archive = base = Path(root) / "_stale" / f"{spec.name}.{time.strftime('%Y%m%d-%H%M%S')}.{os.getpid()}"
            archive.parent.mkdir(parents=True, exist_ok=True)
            for i in itertools.count(1):  # this process may have kept this run aside in this second already
                if not archive.exists():
                    break
                archive = base.with_name(f"{base.name}~{i}")
            os.replace(run_dir, archive)  # under the lock: no other process is inside this run
            warnings.warn(f"run {spec.name}: {reason}; the old run is kept in {archive}", stacklevel=2)
        else:
            done = read_result(run_dir)  # finished by the process this one waited for
            if done is not None:
                return done
            error = _read_error(run_dir)
            if error is not None and error["time"] >= since:
                raise RunFailedElsewhere(f"failed in process {error['pid']} on {error['host']}: {error['error']}")
            (run_dir / ERROR_FILE).unlink(missing_ok=True)
            for tmp in run_dir.glob(".*.tmp"):  # left by a process killed mid-write; none writes here but us now
                tmp.unlink(missing_ok=True)
            import torch

            from musicgym.envs import threads

            torch.set_num_threads(1)
            threads.set_num_threads(1)  # a sweep runs one process per core: no thread pools on top
            write_json_atomic(run_dir / "config.json", {"name": spec.name, **spec.to_dict(), "defaults": defaults})
            try:
                result = _run_baseline(spec) if spec.is_baseline else _run_agent(spec, run_dir, progress_bar)
            except Exception as e:  # recorded for processes waiting for this run; Ctrl-C is no failure
                write_json_atomic(run_dir / ERROR_FILE, {
                    "error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc(),
                    "pid": os.getpid(), "host": socket.gethostname(), "time": time.time()})
                raise
            result = {"name": spec.name, "spec": spec.to_dict(), **result, "defaults": defaults,
                      "finished": time.time()}
            write_json_atomic(run_dir / "result.json", result)
            return result
    return execute(spec, root, progress_bar, wait, since)  # afresh, in a new directory under a new lock


def _eval_seed(spec: RunSpec, base: int) -> int:
    return base + 1000 * spec.seed


def _evaluation(res: Any) -> dict[str, Any]:
    """The fields of a result that `musicgym.evaluate` measured (scores per run and per episode)."""
    span = res.reference_return - res.random_return
    expected = np.asarray(res.episode_expected_returns)
    episode_scores = ((expected - res.random_return) / span).tolist() if abs(span) > 1e-12 else []
    return {
        "mean_return": res.mean_return,
        "mean_expected_return": res.mean_expected_return,
        "normalized_score": res.normalized_score,
        "episode_scores": episode_scores,
        "random_return": res.random_return,
        "oracle_return": res.oracle_return,
        "planner_return": res.planner_return,
        "reference": res.reference,
        "reference_return": res.reference_return,
        "reference_exact": res.reference_exact,
    }


def _clock() -> tuple[float, float]:
    """A start for `_seconds_since`: the time now and this process's waits for others' references so far."""
    from musicgym.evaluation import reference_wait_seconds

    return time.perf_counter(), reference_wait_seconds()


def _seconds_since(start: tuple[float, float]) -> float:
    """Seconds since `start` (`_clock`), less any spent waiting for another process's reference episodes.

    The run that played them counts them.
    """
    from musicgym.evaluation import reference_wait_seconds

    t, waited = start
    return time.perf_counter() - t - (reference_wait_seconds() - waited)


def _run_baseline(spec: RunSpec) -> dict[str, Any]:
    """A random, oracle or planner run: the reference episodes `musicgym.evaluate` plays for every run.

    They are played once per env, arguments and evaluation seed (and cached), so a sweep's baseline
    rows cost no second playing of them; the run that plays them first counts their seconds.
    """
    from musicgym.evaluation import evaluate_reference

    start = _clock()
    res = evaluate_reference(spec.agent, spec.env_id, n_episodes=spec.eval_episodes,
                             seed=_eval_seed(spec, EVAL_SEED), **spec.env_kwargs)
    eval_s = _seconds_since(start)
    return {**_evaluation(res), "env_steps": 0, "train_seconds": 0.0, "eval_seconds": eval_s, "curve_seconds": 0.0,
            "curve": [], "offline": None, "resumed_from": None}


def _run_agent(spec: RunSpec, run_dir: Path, progress_bar: bool) -> dict[str, Any]:
    from musicgym.agents.reference import RankingPolicy

    import musicgym
    from musicgym import agents

    cls = agents.agent_class(spec.agent)
    if not cls.supports(spec.env_id):
        raise ValueError(f"agent {spec.agent!r} does not support {spec.env_id}")
    ranking = issubclass(cls, RankingPolicy)
    hp = dict(spec.hyperparams)
    trains = spec.trains_rl
    if trains:
        plumbing = {"checkpoint_dir": str(run_dir / "checkpoint"), "tensorboard_log": str(run_dir / "tb"),
                    "checkpoint_freq": 10**12}  # checkpoints at the curve points only
        hp.update({k: v for k, v in plumbing.items() if k in cls.HYPERPARAMS})
    agent = agents.make(spec.agent, spec.env_id, seed=spec.seed, env_kwargs=spec.env_kwargs, **hp)
    curve_path = run_dir / "curve.json"
    state = json.loads(curve_path.read_text()) if curve_path.exists() else {"curve": [], "train_seconds": 0.0}
    offline = fit = None
    if ranking:
        offline, state["train_seconds"], fit = _fit_and_rank_cached(agent, run_dir.parent / "_fitted")
    elif trains:
        agent.learn(0)  # loads the checkpoint of an interrupted run, if any
        agent.schedule_timesteps = spec.total_timesteps  # the curve points' calls train as one call would
        targets = np.linspace(0, spec.total_timesteps, spec.curve_points + 1)[1:].round().astype(int)
        for target in targets:
            if agent.num_timesteps < target:
                t = time.perf_counter()
                agent.learn(int(target), progress_bar=progress_bar)
                state["train_seconds"] += time.perf_counter() - t
            if all(p["step"] != int(target) for p in state["curve"]):
                start = _clock()
                res = musicgym.evaluate(agent, spec.env_id, n_episodes=spec.curve_episodes,
                                        seed=_eval_seed(spec, CURVE_SEED), **spec.env_kwargs)
                state["curve_seconds"] = state.get("curve_seconds", 0.0) + _seconds_since(start)
                state["curve"].append({"step": int(target), "score": res.normalized_score,
                                       "mean_return": res.mean_return})
                write_json_atomic(curve_path, state)
    start = _clock()
    res = musicgym.evaluate(agent, spec.env_id, n_episodes=spec.eval_episodes, seed=_eval_seed(spec, EVAL_SEED),
                            **spec.env_kwargs)
    eval_s = _seconds_since(start)
    agent.save(run_dir / "agent")
    return {
        **_evaluation(res),
        "resumed_from": getattr(agent, "resumed_from", None),
        "env_steps": int(agent.num_timesteps),
        "train_seconds": float(state["train_seconds"]),
        "eval_seconds": eval_s,
        "curve_seconds": float(state.get("curve_seconds", 0.0)),  # the learning curve's evaluations
        "curve": state["curve"],
        "offline": offline,
        "fit": fit,
    }


def _fit_and_rank_cached(agent: Any, cache_root: Path) -> tuple[dict[str, float] | None, float, str]:
    """`_fit_and_rank`, done once per (policy, seed, hyperparameters, catalog) under `cache_root`.

    Returns the offline metrics, the seconds the fit took (when it was done) and the fit's name under
    `cache_root`: every run that shares the fit reports its seconds as its training time, and the
    leaderboard's compute total counts them once per name.
    """
    ident = {"agent": agent.name, "seed": agent.seed, "hyperparams": agent.hp,
             "catalog": agent.catalog.fingerprint}
    key = hashlib.sha1(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()[:10]
    cache = cache_root / f"{agent.name}__{agent.seed}__{key}"
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / "fit.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # blocking: wait for a concurrent fit of the same policy
        done = cache / "fitted.json"
        if done.exists():
            agent.load_fitted(cache / "policy")
            info = json.loads(done.read_text())
            return info["offline"], float(info["fit_seconds"]), cache.name
        t = time.perf_counter()
        offline = _fit_and_rank(agent)
        seconds = time.perf_counter() - t
        agent.save(cache / "policy")
        write_json_atomic(done, {**ident, "offline": offline, "fit_seconds": seconds})
        return offline, seconds, cache.name


def _fit_and_rank(agent: Any, k: int = 10) -> dict[str, float] | None:
    """Fit a reference policy on the train playlists and score it on the held-out ones (Hit@k, NDCG@k)."""
    from musicgym.offline import evaluate_ranker, split_playlists

    catalog = agent.catalog
    if not any(len(p) >= 2 for p in catalog.playlists.tracks):
        agent.learn(0)  # raises the policy's own error: nothing to fit on
    split = split_playlists(catalog, seed=0)
    agent.fit(split.train)
    m = evaluate_ranker(agent, split.test_queries, split.test_targets, catalog, k=k, titles=split.test_titles)
    return {f"hit@{k}": float(m[f"hit@{k}"]), f"ndcg@{k}": float(m[f"ndcg@{k}"])}
