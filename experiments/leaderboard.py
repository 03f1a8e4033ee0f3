"""The leaderboard: every finished run under a directory, gathered into tables and plots.

Per env and agent: mean return (sampled), normalised score (random 0, oracle 1, on expected returns;
see `musicgym.evaluation`), its interquartile mean (IQM) with a 95% stratified bootstrap confidence
interval (the strata are the seeds, the resampled units their evaluation episodes), seeds,
env steps, wall time (training + evaluation, per run), and for reference policies that rank tracks
Hit@10 / NDCG@10 on held-out playlists. The aggregate column is the IQM over every env the agent
ran on (strata: env x seed), with its CI.

Written to ``OUT/leaderboard.{md,csv,json}`` and ``OUT/{scores,learning_curves}.png``, each atomically
(a temporary file renamed over the old one), from every finished run on disk at the time of writing: of
two sweeps on one folder, the one that writes last leaves the complete table, never a mix.

The interval is rliable's (Agarwal et al., 2021): percentile bootstrap where every replicate resamples,
with replacement, the episodes within each stratum. rliable itself is not a dependency: its
``arch < 8`` pin fails to import with pandas 3 (``deprecate_kwarg`` signature), so `iqm_ci` is the
same computation in a few lines of numpy.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from musicgym.experiments.runs import read_result

#: bootstrap replications of every confidence interval
REPS = 2000


def run_dirs(root: str | Path) -> list[Path]:
    """The run directories under `root`, sorted (``_stale/`` and hidden folders are not runs)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"no runs directory at {root}")
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))


def collect(root: str | Path, names: Collection[str] | None = None) -> list[dict[str, Any]]:
    """Every finished run's result under `root`, or only those of the run directories `names`.

    A sweep passes its runs' names: the same folder may hold runs of an earlier version of the sweep
    (another budget, other seeds), which must not be averaged in. ValueError names a file that is
    not a valid result.
    """
    out = []
    for run_dir in run_dirs(root):
        if names is not None and run_dir.name not in names:
            continue
        res = read_result(run_dir)
        if res is not None:
            out.append(res)
    return out


def _matrix(results: list[dict[str, Any]]) -> np.ndarray:
    """(episodes, runs) normalised episode scores, truncated to the shortest run."""
    n = min(len(r["episode_scores"]) for r in results)
    return np.array([r["episode_scores"][:n] for r in results], dtype=float).T


def iqm(x: np.ndarray) -> np.ndarray:
    """Interquartile mean (25% trimmed mean) over all entries; over the last two axes for a stack."""
    from scipy.stats import trim_mean

    return trim_mean(x.reshape(*x.shape[:-2], -1), 0.25, axis=-1)


def iqm_ci(matrix: np.ndarray, reps: int = REPS, seed: int = 0) -> tuple[float, float, float]:
    """IQM of an (episodes, strata) matrix and its 95% stratified percentile bootstrap CI."""
    if not np.isfinite(matrix).all():
        return float("nan"), float("nan"), float("nan")
    n, m = matrix.shape
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, n, size=(reps, n, m))  # per replicate, per stratum: n episodes drawn
    boot = iqm(np.take_along_axis(matrix[None], rows, axis=1))
    lo, hi = np.percentile(boot, [2.5, 97.5])
    return float(iqm(matrix)), float(lo), float(hi)


def build(results: list[dict[str, Any]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rows per env and agent, one aggregate row per agent) from run results."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in results:
        spec = r["spec"]
        hp = json.dumps(spec["hyperparams"], sort_keys=True) if spec["hyperparams"] else ""
        groups[(spec["env_id"], spec["agent"], hp)].append(r)
    rows = []
    for (env_id, agent, hp), runs in sorted(groups.items()):
        runs.sort(key=lambda r: r["spec"]["seed"])
        iqm, lo, hi = iqm_ci(_matrix(runs))
        offline = [r["offline"] for r in runs if r.get("offline")]
        rows.append({
            "env": env_id.split("/")[-1], "agent": agent, "hyperparams": hp,
            "mean_return": float(np.mean([r["mean_return"] for r in runs])),
            "score": float(np.mean([r["normalized_score"] for r in runs])),
            "iqm": iqm, "ci_low": lo, "ci_high": hi, "seeds": len(runs),
            "episodes": int(_matrix(runs).shape[0]),
            "env_steps": int(np.mean([r["env_steps"] for r in runs])),
            "wall_s": float(np.mean([r["train_seconds"] + r["eval_seconds"] for r in runs])),
            "hit@10": float(np.mean([o["hit@10"] for o in offline])) if offline else float("nan"),
            "ndcg@10": float(np.mean([o["ndcg@10"] for o in offline])) if offline else float("nan"),
        })
    table = pd.DataFrame(rows)
    agg_rows = []
    by_agent: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for (_, agent, hp), runs in groups.items():
        by_agent[(agent, hp)].extend(runs)
    for (agent, hp), runs in sorted(by_agent.items()):
        iqm, lo, hi = iqm_ci(_matrix(runs))
        agg_rows.append({"agent": agent, "hyperparams": hp, "iqm": iqm, "ci_low": lo, "ci_high": hi,
                         "envs": len({r["spec"]["env_id"] for r in runs})})
    return table, pd.DataFrame(agg_rows)


def _label(agent: str, hp: str) -> str:
    return f"{agent} {hp}" if hp else agent


def _fmt(x: float, digits: int = 3) -> str:
    return "—" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{x:.{digits}f}"


def to_markdown(table: pd.DataFrame, agg: pd.DataFrame, title: str = "MusicGym leaderboard") -> str:
    """The leaderboard as Markdown: a summary (IQM per env + aggregate) and one detailed table per env."""
    envs = list(dict.fromkeys(table["env"]))
    lines = [f"# {title}", "",
             "Normalised score: random 0, greedy oracle 1 (on expected returns). IQM with a 95% stratified "
             "bootstrap CI over seeds and evaluation episodes.", "",
             "## Summary: IQM of the normalised score", "",
             "| agent | " + " | ".join(envs) + " | aggregate [95% CI] |",
             "|---|" + "---:|" * len(envs) + "---:|"]
    agg = agg.assign(_order=-agg["iqm"].fillna(-1e9)).sort_values("_order")
    for _, a in agg.iterrows():
        cells = []
        for env in envs:
            hit = table[(table.env == env) & (table.agent == a.agent) & (table.hyperparams == a.hyperparams)]
            cells.append(_fmt(hit.iloc[0].iqm, 2) if len(hit) else "")
        lines.append(f"| {_label(a.agent, a.hyperparams)} | " + " | ".join(cells)
                     + f" | {_fmt(a.iqm, 2)} [{_fmt(a.ci_low, 2)}, {_fmt(a.ci_high, 2)}] ({a.envs} envs) |")
    for env in envs:
        sub = table[table.env == env].sort_values("iqm", ascending=False)
        lines += ["", f"## {env}", "",
                  "| agent | mean return | score | IQM [95% CI] | seeds x episodes | env steps | wall s | Hit@10 | NDCG@10 |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for _, r in sub.iterrows():
            lines.append(
                f"| {_label(r.agent, r.hyperparams)} | {r.mean_return:.2f} | {_fmt(r.score)} | {_fmt(r.iqm)} "
                f"[{_fmt(r.ci_low)}, {_fmt(r.ci_high)}] | {r.seeds} x {r.episodes} | {r.env_steps:,} | "
                f"{r.wall_s:.1f} | {_fmt(r['hit@10'], 4)} | {_fmt(r['ndcg@10'], 4)} |"
            )
    return "\n".join(lines) + "\n"


def plot(results: list[dict[str, Any]], table: pd.DataFrame, out: Path) -> list[Path]:
    """``scores.png`` (IQM and CI per env and agent) and ``learning_curves.png`` (score vs env steps)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    envs = list(dict.fromkeys(table["env"]))
    fig, axes = plt.subplots(1, len(envs), figsize=(3.6 * len(envs), 0.35 * table.agent.nunique() + 1.5),
                             squeeze=False)
    for ax, env in zip(axes[0], envs, strict=True):
        sub = table[table.env == env].sort_values("iqm")
        y = np.arange(len(sub))
        ax.errorbar(sub.iqm, y, xerr=[sub.iqm - sub.ci_low, sub.ci_high - sub.iqm], fmt="o", capsize=3)
        ax.set_yticks(y, [_label(a, h) for a, h in zip(sub.agent, sub.hyperparams, strict=True)], fontsize=7)
        ax.axvline(0, color="grey", lw=0.5)
        ax.axvline(1, color="grey", lw=0.5, ls="--")
        ax.set_title(env, fontsize=9)
        ax.set_xlabel("normalised score (IQM, 95% CI)", fontsize=7)
    fig.tight_layout()
    paths = [out / "scores.png"]
    _write_atomic(paths[0], lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)

    curves: dict[tuple[str, str], dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in results:
        for p in r.get("curve") or []:
            curves[(r["spec"]["env_id"].split("/")[-1], r["spec"]["agent"])][p["step"]].append(p["score"])
    if curves:
        fig, axes = plt.subplots(1, len(envs), figsize=(3.6 * len(envs), 3.2), squeeze=False)
        for ax, env in zip(axes[0], envs, strict=True):
            for (e, agent), pts in sorted(curves.items()):
                if e != env:
                    continue
                steps = sorted(pts)
                ax.plot(steps, [np.mean(pts[s]) for s in steps], marker=".", label=agent)
            ax.set_title(env, fontsize=9)
            ax.set_xlabel("env steps", fontsize=7)
            ax.set_ylabel("normalised score", fontsize=7)
            ax.legend(fontsize=6)
        fig.tight_layout()
        paths.append(out / "learning_curves.png")
        _write_atomic(paths[-1], lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
        plt.close(fig)
    return paths


def write(
    root: str | Path, out: str | Path | None = None, title: str = "MusicGym leaderboard",
    names: Collection[str] | None = None,
) -> tuple[str, list[Path]]:
    """Build the leaderboard of the runs under `root`; write it to `out` (default `root`); return (Markdown, files).

    With `names`, only those run directories (see `collect`).
    """
    results = collect(root, names)
    if not results:
        raise ValueError(f"no finished runs under {root}")
    out = Path(out or root)
    out.mkdir(parents=True, exist_ok=True)
    table, agg = build(results)
    md = to_markdown(table, agg, title)
    _write_atomic(out / "leaderboard.md", lambda tmp: tmp.write_text(md))
    _write_atomic(out / "leaderboard.csv", lambda tmp: table.to_csv(tmp, index=False))
    def records(df: pd.DataFrame) -> list[dict[str, Any]]:
        return df.astype(object).where(df.notna(), None).to_dict(orient="records")  # NaN -> null

    doc = json.dumps({"envs": records(table), "aggregate": records(agg)}, indent=1)
    _write_atomic(out / "leaderboard.json", lambda tmp: tmp.write_text(doc))
    files = [out / "leaderboard.md", out / "leaderboard.csv", out / "leaderboard.json", *plot(results, table, out)]
    return md, files


def _write_atomic(path: Path, write: Callable[[Path], Any]) -> None:
    """`write` a temporary file beside `path`, then rename it to `path`: readers see a whole file, old or new."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
