"""The leaderboard: every finished run under a directory, gathered into tables and plots.

**The score.** Every run is one agent trained with one seed on one env and evaluated on that seed's
evaluation episodes (`musicgym.evaluate`): its normalised score is (E - E_random) / (E_ref - E_random)
on mean expected returns over those episodes, with E_ref the better of the greedy oracle and the
planner (`musicgym.envs.planner`) on the same episodes. Where the planner is exact (Playlist-v0 and
PlaylistPOMDP-v0 with their cluster listeners) 1.0 is an upper bound, and a run above it stops the
build (`LeaderboardError`): it would mean a bug, not a good agent. Elsewhere the planner is the best
known reference, and a score above 1 means an agent beat it.

**The statistics** are rliable's (Agarwal et al., NeurIPS 2021; `musicgym.experiments.stats`): per
(env, agent), the interquartile mean (IQM) of its runs' scores with a 95% percentile bootstrap over
runs; per track, the IQM over runs x envs with a bootstrap stratified by env; the probability that
one agent's run beats another's (P(X > Y)) for the top agents of each track; performance profiles.

**Two tracks.** "seed settings": the five published projects' settings. "hard": a new listener every
episode (PlaylistPOMDP-v0), hidden preferences (PreferenceHidden-v0) and the realistic listener of
Session-v0; the headline aggregate is the hard track's. Other registered ids get their own tables. An
env where the best agent's CI reaches 0.95 is marked saturated: it no longer separates agents.

**Offline versus in the simulator.** For the reference policies that rank tracks (popularity, item-CF,
user-CF, SASRec, the set transformer), their Hit@10 / NDCG@10 on held-out playlists beside their
normalised score on each env, with the Spearman rank correlation between the two.

Written to ``OUT/leaderboard.{md,csv,json}`` and ``OUT/{scores,profiles,learning_curves,offline}.png``,
each atomically (a temporary file renamed over the old one), from every finished run on disk at the
time of writing: of two sweeps on one folder, the one that writes last leaves the complete table.
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
from musicgym.experiments import stats
from musicgym.experiments.runs import read_result

#: the tracks of the board: the five published settings, and the hard one (the headline)
TRACKS: dict[str, tuple[str, ...]] = {
    "hard": ("PlaylistPOMDP-v0", "PreferenceHidden-v0", "Session-v0"),
    "seed settings": ("Playlist-v0", "Taste-v0", "TasteCatalog-v0", "Preference-v0", "PreferenceCatalog-v0"),
}
#: an env whose best agent's CI upper end reaches this is marked saturated
SATURATED = 0.95
#: agents compared pairwise by probability of improvement, per track
TOP = 3
#: the reference policies that rank tracks offline (their Hit@10 / NDCG@10 against their simulated scores)
RANKERS = ("popularity", "item_cf", "user_cf", "sasrec", "set_transformer")
REFERENCE_ROWS = ("random", "oracle", "planner")


class LeaderboardError(ValueError):
    """The runs break a promise of the board (e.g. a score above an exact upper bound)."""


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


def _track_of(env: str) -> str:
    for name, envs in TRACKS.items():
        if env in envs:
            return name
    return "other"


def run_seconds(r: dict[str, Any]) -> float:
    """A run's seconds: training, evaluation and learning-curve evaluations (its row's ``wall s``)."""
    return r["train_seconds"] + r["eval_seconds"] + r.get("curve_seconds", 0.0)


def compute_seconds(results: list[dict[str, Any]]) -> dict[int, float]:
    """Each run's share of the compute (by ``id`` of its result): training, evaluation and learning-curve seconds.

    A supervised reference policy is fitted once per seed and catalog and that fit serves its runs on
    every env (``fit`` in their results names it); each such run reports the fit's seconds as its
    training time (its ``wall s`` in the table), but the compute counts the fit once: in the run that
    comes first by name.
    """
    out, counted = {}, set()
    for r in sorted(results, key=lambda r: str(r.get("name", ""))):
        fit = r.get("fit")
        shared = fit is not None and fit in counted
        if fit is not None:
            counted.add(fit)
        out[id(r)] = run_seconds(r) - (r["train_seconds"] if shared else 0.0)
    return out


def build(results: list[dict[str, Any]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(one row per env and agent, one aggregate row per track and agent) from run results.

    Raises:
        LeaderboardError: a run scores above 1 on an env whose reference is an exact upper bound.
    """
    compute = compute_seconds(results)
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in results:
        spec = r["spec"]
        hp = json.dumps(spec["hyperparams"], sort_keys=True) if spec["hyperparams"] else ""
        groups[(spec["env_id"].split("/")[-1], spec["agent"], hp)].append(r)
        if r.get("reference_exact") and r["normalized_score"] > 1.0 + 1e-9:
            raise LeaderboardError(
                f"run {r.get('name')}: normalised score {r['normalized_score']:.6f} > 1 on {spec['env_id']}, where "
                "the planner is the exact optimum of the expected return: a bug in the env, the planner or the agent")
    rows = []
    for (env, agent, hp), runs in sorted(groups.items()):
        runs.sort(key=lambda r: r["spec"]["seed"])
        scores = np.array([r["normalized_score"] for r in runs], dtype=float)
        iqm, lo, hi = stats.interval([scores])
        offline = [r["offline"] for r in runs if r.get("offline")]
        rows.append({
            "track": _track_of(env), "env": env, "agent": agent, "hyperparams": hp,
            "mean_return": float(np.mean([r["mean_return"] for r in runs])),
            "mean_expected_return": float(np.mean([r.get("mean_expected_return", np.nan) for r in runs])),
            "score": float(scores.mean()), "iqm": iqm, "ci_low": lo, "ci_high": hi, "runs": len(runs),
            "episodes": int(np.mean([len(r.get("episode_scores") or []) for r in runs])),
            "reference": runs[0].get("reference", "oracle"),
            "reference_exact": bool(all(r.get("reference_exact", False) for r in runs)),
            "env_steps": int(np.mean([r["env_steps"] for r in runs])),
            "wall_s": float(np.mean([run_seconds(r) for r in runs])),
            "compute_s": float(sum(compute[id(r)] for r in runs)),
            "hit@10": float(np.mean([o["hit@10"] for o in offline])) if offline else float("nan"),
            "ndcg@10": float(np.mean([o["ndcg@10"] for o in offline])) if offline else float("nan"),
        })
    table = pd.DataFrame(rows)
    table["saturated"] = False
    for env, sub in table.groupby("env"):
        learners = sub[~sub.agent.isin(REFERENCE_ROWS)]
        if len(learners) and learners.ci_high.max() >= SATURATED:
            table.loc[table.env == env, "saturated"] = True
    agg_rows = []
    for track in (*TRACKS, "other"):
        sub_runs: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(dict)
        for (env, agent, hp), runs in groups.items():
            if _track_of(env) == track:
                sub_runs[(agent, hp)][env] = [r["normalized_score"] for r in runs]
        n_envs = len({env for (env, _, _) in groups if _track_of(env) == track})
        for (agent, hp), per_env in sorted(sub_runs.items()):
            iqm, lo, hi = stats.interval(list(per_env.values()))
            agg_rows.append({"track": track, "agent": agent, "hyperparams": hp, "iqm": iqm, "ci_low": lo,
                             "ci_high": hi, "envs": len(per_env), "track_envs": n_envs})
    return table, pd.DataFrame(agg_rows)


def improvements(results: list[dict[str, Any]], agg: pd.DataFrame) -> pd.DataFrame:
    """P(X > Y) with its 95% CI for each pair of the `TOP` learning agents of each track, on their common envs."""
    scores: dict[tuple[str, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in results:
        env = r["spec"]["env_id"].split("/")[-1]
        scores[(_track_of(env), r["spec"]["agent"])][env].append(r["normalized_score"])
    rows = []
    for track in TRACKS:
        sub = agg[(agg.track == track) & ~agg.agent.isin(REFERENCE_ROWS) & (agg.envs == agg.track_envs)]
        top = sub.sort_values("iqm", ascending=False).agent.tolist()[:TOP]
        for i, x in enumerate(top):
            for y in top[i + 1:]:
                envs = sorted(set(scores[(track, x)]) & set(scores[(track, y)]))
                p, lo, hi = stats.probability_of_improvement([scores[(track, x)][e] for e in envs],
                                                             [scores[(track, y)][e] for e in envs])
                rows.append({"track": track, "x": x, "y": y, "p": p, "ci_low": lo, "ci_high": hi, "envs": len(envs)})
    return pd.DataFrame(rows, columns=["track", "x", "y", "p", "ci_low", "ci_high", "envs"])


def offline_versus_simulator(table: pd.DataFrame) -> pd.DataFrame:
    """Per env: the rankers' NDCG@10 / Hit@10 beside their normalised score, and the Spearman correlation."""
    from scipy.stats import spearmanr

    sub = table[table.agent.isin(RANKERS) & table["ndcg@10"].notna()]
    rows = []
    for env, part in sub.groupby("env"):
        rho = spearmanr(part["ndcg@10"], part["score"]).statistic if len(part) >= 3 else float("nan")
        for _, r in part.iterrows():
            rows.append({"env": env, "agent": r.agent, "hit@10": r["hit@10"], "ndcg@10": r["ndcg@10"],
                         "score": r.score, "spearman": float(rho)})
    return pd.DataFrame(rows, columns=["env", "agent", "hit@10", "ndcg@10", "score", "spearman"])


def _label(agent: str, hp: str) -> str:
    return f"{agent} {hp}" if hp else agent


def _fmt(x: float, digits: int = 3) -> str:
    """`x` to `digits` places ("—" for None or NaN); a value that rounds to zero prints without a minus sign."""
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return "—"
    return f"{round(float(x), digits) + 0.0:.{digits}f}"  # -0.0 + 0.0 is 0.0


HOW_TO_READ = """\
**How to read this board.** A score is (agent - random) / (reference - random) on expected returns over
the same evaluation episodes: 0 is the random policy, 1 the reference: the planner, which knows the
hidden listener and plans the whole episode, or the greedy oracle where that is better. On Playlist-v0
and PlaylistPOMDP-v0 the planner is the exact optimum (marked *exact*): 1.0 is an upper bound. On the
other envs it is the best known plan (a rollout search), so 1.0 is a strong bar, not a ceiling. Each
cell is the interquartile mean (IQM) of the agent's runs (one per seed) with a 95% bootstrap CI over
runs; a track's aggregate pools its envs (bootstrap stratified by env). The **hard** track (a new
listener each episode, hidden preferences, the realistic Session-v0 listener) is the headline: the
seed settings reproduce the published projects and several are saturated (marked `sat.`: the best
agent's CI reaches 0.95). P(X > Y) is the probability that a run of X beats a run of Y on the same env.
What the rows know: random, oracle and planner are references (the oracle and the planner know the
drawn listener); posterior_greedy and posterior_planner know the env's documented listener model, never
the drawn listener, and learn nothing across episodes; model_based is RL given the documented candidate
rule (which tracks are offered next), learning the listener from its own episodes; every other agent
learns from its episodes or, for the supervised policies, from the catalog's playlists. A row's wall s
is a run's seconds of training, learning-curve evaluations and evaluation (mean over its runs); a
supervised policy's fit serves its runs on every env and is in each of their wall s, once in the compute.
"""


def to_markdown(table: pd.DataFrame, agg: pd.DataFrame, title: str = "MusicGym leaderboard",
                improvement: pd.DataFrame | None = None, offline: pd.DataFrame | None = None) -> str:
    """The leaderboard as Markdown: the hard track, the seed settings, other envs, P(X > Y), offline vs simulator."""
    lines = [f"# {title}", "", HOW_TO_READ]
    total = float(table.compute_s.sum())
    lines += [f"Compute: {total / 3600:.2f} h of training and evaluation in all ({int(table.runs.sum())} runs; a "
              "supervised policy's fit, shared by its runs on every env, counted once).", ""]
    for track in (*TRACKS, "other"):
        envs = [e for e in dict.fromkeys(table[table.track == track]["env"])]
        if not envs:
            continue
        sat = {e: bool(table[table.env == e].saturated.any()) for e in envs}
        exact = {e: bool(table[(table.env == e) & (table.agent == "planner")].reference_exact.any()) for e in envs}
        head = [f"{e}{' (exact)' if exact[e] else ''}{' sat.' if sat[e] else ''}" for e in envs]
        name = "Hard track (headline)" if track == "hard" else ("Seed settings" if track != "other" else "Other envs")
        lines += [f"## {name}: IQM of the normalised score", "",
                  "| agent | " + " | ".join(head) + " | aggregate [95% CI] |",
                  "|---|" + "---:|" * len(envs) + "---:|"]
        sub = agg[agg.track == track].assign(_o=lambda d: -d.iqm.fillna(-1e9)).sort_values("_o")
        for _, a in sub.iterrows():
            cells = []
            for env in envs:
                hit = table[(table.env == env) & (table.agent == a.agent) & (table.hyperparams == a.hyperparams)]
                cells.append(f"{_fmt(hit.iloc[0].iqm, 2)} [{_fmt(hit.iloc[0].ci_low, 2)}, {_fmt(hit.iloc[0].ci_high, 2)}]"
                             if len(hit) else "")
            part = "" if a.envs == a.track_envs else f" ({a.envs} of {a.track_envs} envs)"
            lines.append(f"| {_label(a.agent, a.hyperparams)} | " + " | ".join(cells)
                         + f" | {_fmt(a.iqm, 2)} [{_fmt(a.ci_low, 2)}, {_fmt(a.ci_high, 2)}]{part} |")
        lines.append("")
    if improvement is not None and len(improvement):
        lines += ["## Probability of improvement (top agents per track)", "",
                  "| track | X | Y | P(X > Y) [95% CI] | envs |", "|---|---|---|---:|---:|"]
        for _, r in improvement.iterrows():
            lines.append(f"| {r.track} | {r.x} | {r.y} | {_fmt(r.p, 2)} [{_fmt(r.ci_low, 2)}, {_fmt(r.ci_high, 2)}] "
                         f"| {r.envs} |")
        lines.append("")
    if offline is not None and len(offline):
        lines += ["## Offline metrics versus listening in the simulator", "",
                  "Reference policies: Hit@10 / NDCG@10 on held-out playlists (offline) beside their normalised "
                  "score in each env; rho is the Spearman rank correlation of NDCG@10 and score across them.", "",
                  "| env | agent | Hit@10 | NDCG@10 | score | rho |", "|---|---|---:|---:|---:|---:|"]
        for _, r in offline.sort_values(["env", "score"], ascending=[True, False]).iterrows():
            lines.append(f"| {r.env} | {r.agent} | {_fmt(r['hit@10'], 4)} | {_fmt(r['ndcg@10'], 4)} | "
                         f"{_fmt(r.score)} | {_fmt(r.spearman, 2)} |")
        lines.append("")
    for env in dict.fromkeys(table["env"]):
        sub = table[table.env == env].sort_values("iqm", ascending=False)
        ref = sub.reference.iloc[0]
        lines += [f"## {env}", "", f"Reference: {ref}{' (exact optimum)' if sub.reference_exact.any() else ''}.", "",
                  "| agent | mean return | expected return | score | IQM [95% CI] | runs x episodes | env steps | "
                  "wall s | Hit@10 | NDCG@10 |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for _, r in sub.iterrows():
            lines.append(
                f"| {_label(r.agent, r.hyperparams)} | {r.mean_return:.2f} | {_fmt(r.mean_expected_return, 2)} | "
                f"{_fmt(r.score)} | {_fmt(r.iqm)} [{_fmt(r.ci_low)}, {_fmt(r.ci_high)}] | {r.runs} x {r.episodes} | "
                f"{r.env_steps:,} | {r.wall_s:.1f} | {_fmt(r['hit@10'], 4)} | {_fmt(r['ndcg@10'], 4)} |"
            )
        lines.append("")
    return "\n".join(lines)


def plot(results: list[dict[str, Any]], table: pd.DataFrame, out: Path,
         offline: pd.DataFrame | None = None) -> list[Path]:
    """The plots: scores, performance profiles, learning curves and offline metrics against scores.

    ``scores.png`` (IQM and CI per env and agent), ``profiles.png`` (performance profiles per track),
    ``learning_curves.png`` (score vs env steps) and ``offline.png`` (NDCG@10 against score).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    envs = list(dict.fromkeys(table["env"]))
    fig, axes = plt.subplots(1, len(envs), figsize=(3.6 * len(envs), 0.35 * table.agent.nunique() + 1.5),
                             squeeze=False)
    for ax, env in zip(axes[0], envs, strict=True):
        sub = table[table.env == env].sort_values("iqm")
        y = np.arange(len(sub))
        ax.errorbar(sub.iqm, y, xerr=[(sub.iqm - sub.ci_low).clip(lower=0), (sub.ci_high - sub.iqm).clip(lower=0)],
                    fmt="o", capsize=3)
        ax.set_yticks(y, [_label(a, h) for a, h in zip(sub.agent, sub.hyperparams, strict=True)], fontsize=7)
        ax.axvline(0, color="grey", lw=0.5)
        ax.axvline(1, color="grey", lw=0.5, ls="--")
        ax.set_title(env, fontsize=9)
        ax.set_xlabel("normalised score (IQM, 95% CI)", fontsize=7)
    fig.tight_layout()
    paths = [out / "scores.png"]
    _write_atomic(paths[0], lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)

    tracks = [t for t in TRACKS if (table.track == t).any()]
    if tracks:
        taus = np.linspace(-0.25, 1.25, 121)
        fig, axes = plt.subplots(1, len(tracks), figsize=(4.5 * len(tracks), 3.4), squeeze=False)
        for ax, track in zip(axes[0], tracks, strict=True):
            by_agent: dict[str, list[float]] = defaultdict(list)
            for r in results:
                env = r["spec"]["env_id"].split("/")[-1]
                if _track_of(env) == track and r["spec"]["agent"] not in ("random",):
                    by_agent[r["spec"]["agent"]].append(r["normalized_score"])
            for agent, sc in sorted(by_agent.items()):
                ax.plot(taus, stats.performance_profile([sc], taus), label=agent, lw=1)
            ax.set_title(f"{track}: performance profile", fontsize=9)
            ax.set_xlabel("normalised score tau", fontsize=7)
            ax.set_ylabel("share of runs with score > tau", fontsize=7)
            ax.legend(fontsize=6)
        fig.tight_layout()
        paths.append(out / "profiles.png")
        _write_atomic(paths[-1], lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
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

    if offline is not None and len(offline):
        fig, ax = plt.subplots(figsize=(5, 3.6))
        for env, part in offline.groupby("env"):
            ax.plot(part["ndcg@10"], part["score"], "o", label=f"{env} (rho {_fmt(part.spearman.iloc[0], 2)})")
            for _, r in part.iterrows():
                ax.annotate(r.agent, (r["ndcg@10"], r.score), fontsize=6)
        ax.set_xlabel("NDCG@10 on held-out playlists (offline)", fontsize=8)
        ax.set_ylabel("normalised score in the simulator", fontsize=8)
        ax.legend(fontsize=6)
        fig.tight_layout()
        paths.append(out / "offline.png")
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
    improvement = improvements(results, agg)
    offline = offline_versus_simulator(table)
    md = to_markdown(table, agg, title, improvement, offline)
    _write_atomic(out / "leaderboard.md", lambda tmp: tmp.write_text(md))
    _write_atomic(out / "leaderboard.csv", lambda tmp: table.to_csv(tmp, index=False))

    def records(df: pd.DataFrame) -> list[dict[str, Any]]:
        return df.astype(object).where(df.notna(), None).to_dict(orient="records")  # NaN -> null

    doc = json.dumps({"envs": records(table), "aggregate": records(agg), "improvement": records(improvement),
                      "offline": records(offline)}, indent=1)
    _write_atomic(out / "leaderboard.json", lambda tmp: tmp.write_text(doc))
    files = [out / "leaderboard.md", out / "leaderboard.csv", out / "leaderboard.json",
             *plot(results, table, out, offline)]
    return md, files


def _write_atomic(path: Path, write: Callable[[Path], Any]) -> None:
    """`write` a temporary file beside `path`, then rename it to `path`: readers see a whole file, old or new."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
