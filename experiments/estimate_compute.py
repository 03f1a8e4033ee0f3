"""How much compute a preset takes: its finished runs' seconds, and the others projected from short runs.

A script that prints figures (README, "The full preset's compute"), for a preset too long to run here
to its end. The total is counted as the leaderboard counts its "Compute" line (a run's training,
learning-curve and evaluation seconds; a supervised policy's shared fit once):

- runs of the preset already finished under ``--measured`` count their own seconds;
- an unfinished run of a pair (env, agent, hyperparameters) that has finished runs there counts the
  mean of theirs (the same work for another seed);
- for any other pair, the RL agent is trained for 1/``--scale`` of its budget, but for at least
  ``--min-steps`` (its seed 0, under ``--runs``), and each of its unfinished runs counts that run's training seconds times
  (budget / env steps it trained) plus its learning-curve and evaluation seconds, which do not shrink
  with the budget (the same curve points and episodes). An agent named in ``--unscaled`` is trained
  for its whole budget instead: one whose training seconds do not grow in proportion to its steps
  (model_based on Playlist-v0 trained 10,000 steps in 8 s and 100,000 in 27 s);
- unfinished runs that train nothing (references, supervised policies) are run in full under ``--runs``.

So the projection assumes that a run's training seconds grow in proportion to its env steps and that
seeds cost alike (the table's spread column: how much longer the slowest finished run of a pair took
than the fastest). ``--check`` tests the first assumption where it can: it makes the short run of
every pair that has finished runs too, and prints its projection beside their measured seconds.

Usage::

    python experiments/estimate_compute.py --preset full --measured runs/leaderboard-full --unscaled model_based --check
"""

from __future__ import annotations

import argparse
import math
from collections import defaultdict
from collections.abc import Collection
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from musicgym.experiments import leaderboard
from musicgym.experiments.cli import PRESETS
from musicgym.experiments.runs import RunSpec
from musicgym.experiments.sweep import load_sweep, run_local


def _pair(spec: RunSpec) -> tuple[str, str, str]:
    return spec.env_id.split("/")[-1], spec.agent, str(sorted(spec.hyperparams.items()))


def _trains(spec: RunSpec) -> bool:
    """Whether the run trains an RL agent for a budget of env steps (`RunSpec.trains_rl`)."""
    return spec.total_timesteps > 0 and spec.trains_rl


def _projected(result: dict[str, Any], budget: int) -> float:
    """A probe run's seconds at the full budget: training scaled by steps, curve and evaluation as they are."""
    steps = max(1, int(result["env_steps"]))
    return result["train_seconds"] * budget / steps + result["eval_seconds"] + result.get("curve_seconds", 0.0)


def estimate(preset: str, measured: Path | None, runs: Path, scale: int, workers: int,
             agents: list[str] | None = None, envs: list[str] | None = None,
             unscaled: Collection[str] = (), check: bool = False, min_steps: int = 10_000) -> list[dict[str, Any]]:
    """One row per pair of the preset: its finished runs' seconds and its other runs' projected seconds.

    `min_steps`: the least a short run trains (a DQN trains only after its ``learning_starts`` steps: in
    catalog mode 1,000, which would be half a 2,000-step run and a twentieth of the whole run).
    `check`: also make the short run of each RL pair that has finished runs, and put its projection of
    a run beside their mean in the row's ``check`` (projected seconds, measured seconds).

    Raises:
        ValueError: a bad argument (a `measured` folder that does not exist, an `unscaled` agent not in the
            selection, a `scale`, `min_steps` or `workers` below 1); SweepError: see `load_sweep`; RuntimeError: a
            run made here failed.
    """
    if scale < 1 or min_steps < 1 or workers < 1:
        raise ValueError(f"scale, min_steps and workers must be >= 1, got {scale}, {min_steps}, {workers}")
    if measured is not None and not Path(measured).is_dir():
        raise ValueError(f"--measured: no runs directory at {measured}")
    sweep = load_sweep(PRESETS / f"{preset}.yml", agents_sel=agents, envs_sel=envs, out=runs)
    stray = sorted(set(unscaled) - {s.agent for s in sweep.specs})
    if stray:
        raise ValueError(f"--unscaled: {', '.join(stray)} not among the selection's agents")
    names = {s.name for s in sweep.specs}
    finished = {r["name"]: r for r in leaderboard.collect(measured, names)} if measured is not None else {}
    by_pair: dict[tuple[str, str, str], list[RunSpec]] = defaultdict(list)
    for spec in sweep.specs:
        by_pair[_pair(spec)].append(spec)

    # what has to run here: non-training runs in full, a short run of seed 0 for each RL pair with no
    # finished run (with `check`, for every RL pair)
    todo, probes = [], {}
    for pair, specs in by_pair.items():
        left = [s for s in specs if s.name not in finished]
        if left and not _trains(left[0]):
            todo += left
        elif _trains(specs[0]) and ((left and len(left) == len(specs)) or check):
            budget = specs[0].total_timesteps
            steps = budget if specs[0].agent in unscaled else min(budget, max(math.ceil(budget / scale), min_steps))
            probes[pair] = replace(specs[0], total_timesteps=steps)
            todo.append(probes[pair])
    if todo:
        print(f"running {len(todo)} runs under {runs} ({len(probes)} of them RL runs, at 1/{scale} of their budget "
              f"or {min_steps} steps, but for {', '.join(sorted(unscaled)) or 'none'})")
        outcomes = run_local(todo, runs, workers=workers)
        failed = [o for o in outcomes if o.error]
        if failed:
            raise RuntimeError(f"{len(failed)} runs failed, e.g. {failed[0].spec.name}: {failed[0].error.splitlines()[0]}")
    done_here = {r["name"]: r for r in leaderboard.collect(runs, {s.name for s in todo})}

    # the shared fits: counted once among every real (not projected) run, as the leaderboard counts them
    real = list(finished.values()) + [done_here[s.name] for s in todo if s.name in done_here and _pair(s) not in probes]
    compute = leaderboard.compute_seconds(real)
    seconds_of = {r["name"]: compute[id(r)] for r in real}

    rows = []
    for pair, specs in sorted(by_pair.items()):
        env, agent, _ = pair
        mine = [finished[s.name] for s in specs if s.name in finished]
        measured_s = [leaderboard.run_seconds(r) for r in mine]
        row = {"env": env, "agent": agent, "runs": len(specs), "budget": specs[0].total_timesteps,
               "finished": len(mine), "finished_s": sum(seconds_of[r["name"]] for r in mine),
               "spread": (max(measured_s) / min(measured_s) - 1) if len(measured_s) > 1 and min(measured_s) >= 1 else None,
               "projected": 0, "projected_s": 0.0, "how": ""}
        left = [s for s in specs if s.name not in finished]
        probe = done_here[probes[pair].name] if pair in probes else None
        if probe is not None and mine and np.mean(measured_s) > 0:
            row["check"] = (_projected(probe, specs[0].total_timesteps), float(np.mean(measured_s)))
        if left and not _trains(left[0]):
            row.update(projected=len(left), projected_s=sum(seconds_of[s.name] for s in left), how="run here")
        elif left and mine:
            row.update(projected=len(left), projected_s=len(left) * float(np.mean(measured_s)),
                       how=f"mean of {len(mine)} finished")
        elif left:
            row.update(projected=len(left), projected_s=len(left) * _projected(probe, left[0].total_timesteps),
                       how=f"a run of {probe['env_steps']} steps: {probe['train_seconds']:.0f} s training")
        rows.append(row)
    return rows


def report(rows: list[dict[str, Any]]) -> str:
    """The table of `estimate` and its totals, as text."""
    lines = [f"{'env':22} {'agent':18} {'budget':>7} {'runs':>4} {'done':>4} {'done s':>8} {'spread':>6} "
             f"{'to go s':>8}  how the runs to go are counted"]
    for r in rows:
        spread = f"{100 * r['spread']:.0f}%" if r["spread"] is not None else ""
        lines.append(f"{r['env']:22} {r['agent']:18} {r['budget']:>7} {r['runs']:>4} {r['finished']:>4} "
                     f"{r['finished_s']:>8.0f} {spread:>6} {r['projected_s']:>8.0f}  {r['how']}")
    by_agent: dict[str, float] = defaultdict(float)
    for r in rows:
        by_agent[r["agent"]] += r["finished_s"] + r["projected_s"]
    done_s = sum(r["finished_s"] for r in rows)
    to_go_s = sum(r["projected_s"] for r in rows)
    n_done, n = sum(r["finished"] for r in rows), sum(r["runs"] for r in rows)
    lines += ["", "by agent (h): " + ", ".join(f"{a} {s / 3600:.2f}" for a, s in sorted(by_agent.items(), key=lambda x: -x[1])),
              f"finished: {n_done} runs, {done_s / 3600:.2f} h; to go: {n - n_done} runs, {to_go_s / 3600:.2f} h "
              f"(measured or projected); total {(done_s + to_go_s) / 3600:.2f} h of compute for {n} runs, "
              f"{(done_s + to_go_s) / 3600 / 2:.2f} h of wall time on 2 cores at best"]
    checks = [r for r in rows if r.get("check")]
    if checks:
        lines += ["", "check of the projection on pairs with finished runs (seconds a run: projected, measured mean)"]
        errors = []
        for r in checks:
            projected, measured = r["check"]
            errors.append(projected / measured - 1)
            lines.append(f"{r['env']:22} {r['agent']:18} {projected:>8.0f} {measured:>8.0f} {100 * errors[-1]:>+5.0f}%")
        lines.append(f"projected against measured: {100 * min(errors):+.0f}% to {100 * max(errors):+.0f}% over "
                     f"{len(checks)} pairs; their sum {100 * (sum(r['check'][0] for r in checks) / sum(r['check'][1] for r in checks) - 1):+.0f}%")
    return "\n".join(lines)


def main() -> None:
    """The command line (see the module docstring)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--preset", default="full", help="a preset of experiments/presets (default full)")
    p.add_argument("--measured", type=Path, default=None, help="a runs directory of the preset (its finished runs count)")
    p.add_argument("--runs", type=Path, default=Path("runs/estimate"), help="where the short runs go")
    p.add_argument("--scale", type=int, default=10, help="RL runs with no finished run train for 1/scale of their budget")
    p.add_argument("--workers", type=int, default=1, help="runs at a time (1: each run has a core to itself "
                   "when another job runs beside it)")
    p.add_argument("--unscaled", nargs="+", default=[], metavar="AGENT",
                   help="agents whose run to measure trains for its whole budget (not in proportion to steps)")
    p.add_argument("--min-steps", type=int, default=10_000, help="the least a short run trains (default 10000)")
    p.add_argument("--check", action="store_true", help="also project the pairs that have finished runs, and "
                   "print each projection beside their measured mean")
    p.add_argument("--agents", nargs="+", default=None)
    p.add_argument("--envs", nargs="+", default=None)
    a = p.parse_args()
    try:
        rows = estimate(a.preset, a.measured, a.runs, a.scale, a.workers, a.agents, a.envs, a.unscaled, a.check,
                        a.min_steps)
    except (ValueError, RuntimeError) as e:  # SweepError is a ValueError
        p.exit(2, f"estimate_compute: {e}\n")
    print(report(rows))


if __name__ == "__main__":
    main()
