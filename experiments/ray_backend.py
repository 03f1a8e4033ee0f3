"""The Ray backend of `experiments.sweep`: every run is a Ray Tune trial.

Each trial calls the same `experiments.runs.execute` as the local backend, so it writes the same run
directory and result file under the sweep's ``out`` directory, skips finished runs and resumes
interrupted ones. Ray connects to ``RAY_ADDRESS`` if it is set (a cluster: ``out`` must then be a
path every node sees, e.g. a shared file system) and otherwise starts a local Ray instance. Ray's own
trial bookkeeping goes to ``out/_ray``; the results that count are MusicGym's ``result.json`` files.

Needs the ``ray`` extra: ``pip install "musicgym[ray]"``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from musicgym.experiments.runs import WAIT_S, RunSpec, execute


def _trainable(config: dict[str, Any]) -> dict[str, Any]:
    spec = RunSpec(**config["spec"])
    result = execute(spec, config["root"], wait=config["wait"], since=config["since"])
    return {"normalized_score": result["normalized_score"], "run": spec.name}


def run_ray(specs: list[RunSpec], root: Path, workers: int = 1,
            on_done: Callable[[Any], None] | None = None, wait: float = WAIT_S) -> list[Any]:
    """Run `specs` as Ray Tune trials, at most `workers` at a time; return one `Outcome` per spec.

    A trial whose run another process holds waits up to `wait` seconds for it (`experiments.runs.execute`).
    """
    try:
        import ray
        from ray import tune
    except ImportError as e:
        raise RuntimeError('the ray backend needs Ray: pip install "musicgym[ray]"') from e
    from musicgym.experiments.sweep import Outcome

    root = Path(root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    started_here = not ray.is_initialized()
    if started_here:
        address = os.environ.get("RAY_ADDRESS")
        ray.init(address=address, num_cpus=None if address else workers, include_dashboard=False,
                 log_to_driver=False, configure_logging=False)
    try:
        tuner = tune.Tuner(
            tune.with_resources(_trainable, {"cpu": 1}),
            param_space={"spec": tune.grid_search([s.to_dict() for s in specs]), "root": str(root), "wait": wait,
                         "since": time.time()},
            tune_config=tune.TuneConfig(max_concurrent_trials=workers,
                                        trial_dirname_creator=lambda t: t.trial_id),
            run_config=tune.RunConfig(name="trials", storage_path=str(root / "_ray"), verbose=0,
                                      failure_config=tune.FailureConfig(max_failures=0)),
        )
        grid = tuner.fit()
    finally:
        if started_here:
            ray.shutdown()
    from musicgym.experiments.runs import read_result

    outcomes = []
    errors = {RunSpec(**r.config["spec"]).name: r.error for r in grid if r.error is not None}
    for spec in specs:
        result = read_result(root / spec.name)
        err = None if result is not None else str(errors.get(spec.name, "the trial wrote no result"))
        outcomes.append(Outcome(spec, result=result, error=err))
        if on_done:
            on_done(outcomes[-1])
    return outcomes
