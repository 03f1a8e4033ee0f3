"""Sweeps: a YAML grid of agents x envs x seeds x hyperparameters, run locally or on Ray.

A sweep file (every key but ``agents`` and ``envs`` optional)::

    out: runs/my-sweep            # where the run directories go (relative to the current directory)
    agents: [ppo, ah_dqn, item_cf, random, oracle]
    envs: [MusicGym/Preference-v0, MusicGym/Taste-v0]   # or "all"
    seeds: 3                      # or a list, e.g. [0, 5]
    total_timesteps: 50000        # or a mapping agent -> steps (with a `default` entry)
    eval_episodes: 100
    curve_points: 5               # learning-curve evaluations during training
    curve_episodes: 20
    env_kwargs: {}                # passed to every env
    hyperparams:                  # per agent; a list is a grid axis (wrap a list value in another list)
      ppo: {learning_rate: [0.0003, 0.001]}
    overrides:                    # per (agent, env id): steps or hyperparameters for that pair only
      ppo:
        MusicGym/TasteCatalog-v0: {total_timesteps: 1000}
    agent_envs:                   # per agent: run it on these of the sweep's envs only
      recurrent_ppo: [MusicGym/PlaylistPOMDP-v0, MusicGym/Session-v0]

Pairs an agent does not support are skipped (and listed). Runs are independent; see
`experiments.runs` for their directories, resume and locking. Several sweeps may run on one folder at
once (on one machine or on several that share it): each run is run by one of them, and each sweep
waits for the runs the others hold (`run_local`) and counts their results as its own.
"""

from __future__ import annotations

import itertools
import os
import signal
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from musicgym.experiments.runs import BASELINES, WAIT_S, RunBusy, RunFailedElsewhere, RunSpec, execute

SWEEP_KEYS = {"out", "agents", "envs", "seeds", "total_timesteps", "eval_episodes", "curve_points", "curve_episodes",
              "env_kwargs", "hyperparams", "overrides", "agent_envs", "name", "description"}
OVERRIDE_KEYS = {"total_timesteps", "eval_episodes", "curve_points", "curve_episodes", "hyperparams"}


class SweepError(ValueError):
    """A sweep file or selection that cannot be run (the message names the problem)."""


@dataclass
class Sweep:
    """The runs of a sweep and where they go."""

    specs: list[RunSpec]
    out: Path
    skipped: list[tuple[str, str]] = field(default_factory=list)


def _grid(hp: dict[str, Any]) -> list[dict[str, Any]]:
    axes = {k: v if isinstance(v, list) else [v] for k, v in hp.items()}
    keys = list(axes)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(axes[k] for k in keys))]


def _per_agent(value: Any, agent: str, key: str) -> Any:
    if isinstance(value, dict):
        if agent in value:
            return value[agent]
        if "default" in value:
            return value["default"]
        raise SweepError(f"{key}: no entry for agent {agent!r} and no `default` entry")
    return value


def _check_grid(cls: Any, agent: str, env_id: str, grid: list[dict[str, Any]]) -> None:
    """Every hyperparameter of the grid is one `agent` accepts, of the right type and range (a SweepError)."""
    from musicgym.agents.hyperparams import check_hyperparams

    for hp in grid:
        unknown = sorted(set(hp) - cls.accepted_hyperparams())
        if unknown:
            raise SweepError(f"hyperparams of {agent} on {env_id}: unknown hyperparameter(s) {unknown}; accepted: "
                             f"{', '.join(sorted(cls.accepted_hyperparams()))}")
        try:
            check_hyperparams(agent, hp, cls.hyperparam_specs())
        except (TypeError, ValueError) as e:
            raise SweepError(f"hyperparams of {agent} on {env_id}: {e}") from None


def build_sweep(
    doc: dict[str, Any],
    agents_sel: Iterable[str] | None = None,
    envs_sel: Iterable[str] | None = None,
    seeds: int | None = None,
    out: str | Path | None = None,
) -> Sweep:
    """The runs a sweep document describes, optionally narrowed to some agents / envs / a seed count."""
    from musicgym import agents as agent_registry
    from musicgym.registration import registered_ids

    if not isinstance(doc, dict):
        raise SweepError("a sweep file must be a YAML mapping (see `musicgym sweep --help`)")
    unknown = sorted(set(doc) - SWEEP_KEYS)
    if unknown:
        raise SweepError(f"unknown sweep key(s) {unknown}; accepted: {sorted(SWEEP_KEYS)}")
    for key in ("agents", "envs"):
        if key not in doc:
            raise SweepError(f"the sweep file has no `{key}` list")
    known_agents = set(agent_registry.available()) | set(BASELINES)
    agent_names = list(agents_sel) if agents_sel else list(doc["agents"])
    envs = registered_ids() if doc["envs"] == "all" else list(doc["envs"])
    if envs_sel:
        envs = [e if "/" in e else f"MusicGym/{e}" for e in envs_sel]
    for a in agent_names:
        if a not in known_agents:
            raise SweepError(f"unknown agent {a!r}; available: {', '.join(sorted(known_agents))}")
    for e in envs:
        if e not in registered_ids():
            raise SweepError(f"unknown env {e!r}; MusicGym ids: {', '.join(registered_ids())}")
    seed_list = doc.get("seeds", 1) if seeds is None else seeds
    if isinstance(seed_list, bool) or not isinstance(seed_list, (int, list)):
        raise SweepError(f"seeds must be a number of seeds or a list of seeds, got {seed_list!r}")
    seed_list = list(range(seed_list)) if isinstance(seed_list, int) else list(seed_list)
    if not seed_list:
        raise SweepError("no seeds to run")
    if any(isinstance(s, bool) or not isinstance(s, int) for s in seed_list) or len(set(seed_list)) < len(seed_list):
        raise SweepError(f"seeds must be distinct integers, got {seed_list!r}")
    overrides = doc.get("overrides") or {}
    hyper = doc.get("hyperparams") or {}
    if not isinstance(hyper, dict) or not isinstance(overrides, dict):
        raise SweepError("`hyperparams` and `overrides` must be mappings keyed by agent name")
    agent_envs = doc.get("agent_envs") or {}
    if not isinstance(agent_envs, dict):
        raise SweepError("`agent_envs` must be a mapping from agent name to a list of env ids")
    for a in list(hyper) + list(overrides) + list(agent_envs):
        if a not in known_agents:
            raise SweepError(f"hyperparams/overrides/agent_envs name unknown agent {a!r}")
    for a, ids in agent_envs.items():
        if not isinstance(ids, list) or not all(isinstance(e, str) for e in ids):
            raise SweepError(f"agent_envs of {a!r} must be a list of env ids, got {ids!r}")
        for e in ids:
            if e not in registered_ids():
                raise SweepError(f"agent_envs of {a!r}: unknown env {e!r}; MusicGym ids: {', '.join(registered_ids())}")
    raw_out = out if out is not None else doc.get("out", "runs/sweep")
    if not isinstance(raw_out, (str, os.PathLike)) or not str(raw_out).strip():
        raise SweepError(f"out: the runs directory must be a non-empty path, got {raw_out!r}")
    out_dir = Path(raw_out)
    _check_out(out_dir)

    specs, skipped = [], []
    for agent in agent_names:
        for env_id in envs:
            if agent not in BASELINES and not agent_registry.supports(agent, env_id):
                skipped.append((agent, env_id))
                continue
            if agent in agent_envs and env_id not in agent_envs[agent]:
                continue
            pair = dict((overrides.get(agent) or {}).get(env_id) or {})
            bad = sorted(set(pair) - OVERRIDE_KEYS)
            if bad:
                raise SweepError(f"overrides for {agent} on {env_id}: unknown key(s) {bad}; accepted {sorted(OVERRIDE_KEYS)}")
            settings = {k: pair.get(k, _per_agent(doc.get(k, d), agent, k)) for k, d in
                        (("total_timesteps", 50_000), ("eval_episodes", 100), ("curve_points", 5),
                         ("curve_episodes", 20))}
            for k, v in settings.items():  # checked for every agent, also those that do not use them
                low = 0 if k == "total_timesteps" else 1
                if isinstance(v, bool) or not isinstance(v, int) or v < low:
                    raise SweepError(f"{k} must be an integer >= {low} ({agent} on {env_id}), got {v!r}")
            if agent in BASELINES:
                settings.update(total_timesteps=0, curve_points=1)
                grid = [{}]
            elif not agent_registry.agent_class(agent).trains:  # evaluated as it is
                settings.update(total_timesteps=0, curve_points=1)
                grid = _grid({**(hyper.get(agent) or {}), **(pair.get("hyperparams") or {})})
            else:
                grid = _grid({**(hyper.get(agent) or {}), **(pair.get("hyperparams") or {})})
            if agent not in BASELINES:
                _check_grid(agent_registry.agent_class(agent), agent, env_id, grid)
            for hp in grid:
                for seed in seed_list:
                    specs.append(RunSpec(agent=agent, env_id=env_id, seed=int(seed), hyperparams=hp,
                                         env_kwargs=dict(doc.get("env_kwargs") or {}), **settings))
    if not specs:
        raise SweepError("the selection has no runnable (agent, env) pair")
    unique = {s.name: s for s in specs}
    return Sweep(list(unique.values()), out_dir, skipped)


def load_sweep(path: str | Path, **narrow: Any) -> Sweep:
    """Read a sweep file (see module docstring); `narrow` as in `build_sweep`."""
    path = Path(path)
    if not path.exists():
        raise SweepError(f"sweep file not found: {path}")
    if path.is_dir():
        raise SweepError(f"{path} is a directory, not a sweep file")
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise SweepError(f"{path}: not valid YAML ({e})") from e
    except UnicodeDecodeError as e:
        raise SweepError(f"{path}: not a text file ({e.reason} at byte {e.start})") from e
    if doc is None:
        raise SweepError(f"{path} is empty: a sweep file is a YAML mapping (see `musicgym sweep --help`)")
    return build_sweep(doc, **narrow)


def _check_out(out_dir: Path) -> None:
    """The runs directory's nearest existing ancestor must be a directory."""
    for p in (out_dir, *out_dir.parents):
        if p.exists():
            if not p.is_dir():
                raise SweepError(f"out: cannot put runs under {out_dir}: {p} is a file, not a directory")
            return


# ------------------------------------------------------------------------------------------ backends
@dataclass
class Outcome:
    """How one run ended: its result, or the error that stopped it."""

    spec: RunSpec
    result: dict[str, Any] | None = None
    error: str | None = None
    #: another process held the run (`RunBusy`)
    busy: bool = False


def _worker(spec: RunSpec, root: str, wait: float, since: float) -> Outcome:
    try:
        return Outcome(spec, result=execute(spec, root, wait=wait, since=since))
    except RunBusy as e:
        return Outcome(spec, error=str(e), busy=True)
    except RunFailedElsewhere as e:
        return Outcome(spec, error=str(e))
    except Exception as e:  # noqa: BLE001 - a failed run is reported, the sweep goes on
        return Outcome(spec, error=f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=8)}")


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, ``timeout``, a job scheduler) stopped the sweep: handled as Ctrl-C is.

    Without it SIGTERM killed the sweep's process alone, and its worker processes ran on, each holding
    its run's lock until its run ended. ``status`` is the command's exit status (128 + SIGTERM).
    """

    status = 143
    word = "terminated"


#: in a pool process: the sweep's stop event (set by the parent when it is interrupted), and whether
#: this process was interrupted itself
_stop_event: Any = None
_interrupted = False


def _pool_worker(spec: RunSpec, root: str, wait: float, since: float) -> Outcome:
    """`_worker` in a pool process: Ctrl-C or SIGTERM stops the run in progress; an idle worker ignores Ctrl-C.

    A KeyboardInterrupt raised while the worker waits for its next task would print a traceback from
    the pool's loop; raised here, it unwinds the run (its lock is released, the run resumes when the
    sweep is run again) and goes back to the parent as this task's exception.

    Once the sweep is stopping, a worker starts no further run: the pool hands each worker its next
    task before the current one ends, and those tasks cannot be cancelled (before, each worker ran one
    more whole run after Ctrl-C or SIGTERM, an hour for some runs of the full preset).
    """
    if _interrupted or (_stop_event is not None and _stop_event.is_set()):
        raise KeyboardInterrupt
    signal.signal(signal.SIGINT, _interrupt_once)
    previous = signal.signal(signal.SIGTERM, _interrupt_once)
    try:
        return _worker(spec, root, wait, since)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, previous)


def _interrupt_once(signum: int, frame: Any) -> None:
    global _interrupted
    _interrupted = True
    # a second signal must not break the run's clean-up
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Terminated if signum == signal.SIGTERM else KeyboardInterrupt


def _sigterm_stops_like_ctrl_c() -> AbstractContextManager[None]:
    """SIGTERM raises `Terminated` in this process meanwhile (`_handling`)."""
    return _handling(signal.SIGTERM, _terminate_once)


def _terminate_once(signum: int, frame: Any) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not break the sweep's clean-up
    raise Terminated


def _init_worker(stop_event: Any = None) -> None:
    global _stop_event
    _stop_event = stop_event
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # until a task starts (see `_pool_worker`)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - workers print nothing over the parent's progress bar


@contextmanager
def _handling(signum: int, handler: Any) -> Iterator[None]:
    """`handler` for signal `signum` in this process meanwhile, then the previous one again.

    In the main thread only: elsewhere a handler cannot be set (and the signal is not delivered there).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signum, handler)
    try:
        yield
    finally:
        signal.signal(signum, previous)


def _sigint_ignored() -> AbstractContextManager[None]:
    """Ignore Ctrl-C in this process meanwhile (`_handling`).

    Worker processes started meanwhile inherit "ignore" and keep it until a task starts (`_pool_worker`),
    so that a Ctrl-C while one is starting up prints no traceback.
    """
    return _handling(signal.SIGINT, signal.SIG_IGN)


def run_local(specs: list[RunSpec], root: Path, workers: int = 1, on_done: Callable[[Outcome], None] | None = None,
              wait: float = WAIT_S) -> list[Outcome]:
    """Run `specs` in `workers` processes on this machine (in this process when `workers` is 1).

    A run that another process holds (a second sweep on the same folder) is put aside and tried again,
    waiting up to `wait` seconds for it, once the other runs are done: its result then counts as this
    sweep's (see `experiments.runs`). Ctrl-C stops every worker's run (each resumes when the sweep is
    run again) and raises KeyboardInterrupt here; so does SIGTERM under `run_sweep` (`Terminated`).
    """
    root.mkdir(parents=True, exist_ok=True)
    since = time.time()
    outcomes: list[Outcome] = []

    def finish(outcome: Outcome, waited: float) -> bool:
        """Record `outcome`; False when it is a held run to try again, waiting this time."""
        if outcome.busy and waited == 0 and wait > 0:
            return False
        outcomes.append(outcome)
        if on_done:
            on_done(outcome)
        return True

    if workers <= 1:
        queue = deque((spec, 0.0) for spec in specs)
        while queue:
            spec, waited = queue.popleft()
            if not finish(_worker(spec, str(root), waited, since), waited):
                queue.append((spec, wait))
        return outcomes

    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor
    from concurrent.futures import wait as wait_for

    # spawn, not fork: torch and FAISS thread pools do not survive a fork
    context = mp.get_context("spawn")
    stop = context.Event()
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_init_worker, initargs=(stop,))
    others = set(mp.active_children())

    def submit(spec: RunSpec, waited: float) -> Future:
        with _sigint_ignored():  # the pool starts its worker processes in submit
            return pool.submit(_pool_worker, spec, str(root), waited, since)

    try:
        pending = {submit(spec, 0.0): (spec, 0.0) for spec in specs}
        while pending:
            done, _ = wait_for(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                spec, waited = pending.pop(fut)
                if not finish(fut.result(), waited):
                    pending[submit(spec, wait)] = (spec, wait)
    except KeyboardInterrupt:
        with _sigint_ignored():
            stop.set()  # no worker starts another run (`_pool_worker`)
            # Ctrl-C in a terminal reaches every worker; a SIGINT sent to this process alone is passed on
            for proc in set(mp.active_children()) - others:
                with suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGINT)
            pool.shutdown(wait=True, cancel_futures=True)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return outcomes


def run_sweep(sweep: Sweep, backend: str = "local", workers: int | None = None, progress: bool = True,
              wait: float = WAIT_S) -> list[Outcome]:
    """Run every run of `sweep` that has no result yet; return each run's outcome.

    `wait`: seconds to wait for a run that another process holds (see `run_local`).
    """
    if backend not in ("local", "ray"):
        raise SweepError(f"unknown backend {backend!r}; use local or ray")
    workers = workers or max(1, (os.cpu_count() or 1))
    from tqdm import tqdm

    bar = tqdm(total=len(sweep.specs), desc=f"runs ({backend})", unit="run", disable=not progress)

    def on_done(o: Outcome) -> None:
        bar.update(1)
        if o.error:
            bar.write(f"run {o.spec.name} failed: {o.error.splitlines()[0]}")

    try:
        with _sigterm_stops_like_ctrl_c():
            if backend == "ray":
                from musicgym.experiments.ray_backend import run_ray

                return run_ray(sweep.specs, sweep.out, workers=workers, on_done=on_done, wait=wait)
            return run_local(sweep.specs, sweep.out, workers=workers, on_done=on_done, wait=wait)
    finally:
        bar.close()
