"""Run-level statistics of the leaderboard, after rliable (Agarwal et al., NeurIPS 2021).

"Deep Reinforcement Learning at the Edge of the Statistical Precipice". The unit is a *run* (one agent trained with one seed on one task, scored by its mean normalised score
over its evaluation episodes), never a single episode. Per agent the scores form a (runs, tasks)
matrix. The interquartile mean (IQM) is the 25%-trimmed mean of all its entries; its 95% confidence
interval is a percentile *stratified* bootstrap: every replicate resamples, with replacement, the runs
of each task separately (the tasks are the strata). The probability of improvement P(X > Y) is the
Mann-Whitney statistic of the two agents' runs on each task (ties count one half), averaged over the
tasks, with the same bootstrap. A performance profile gives, for each threshold tau, the share of
(run, task) scores above tau.

rliable itself is not a dependency: its ``arch < 8`` pin fails to import with pandas 3 (the
``deprecate_kwarg`` signature), so these are the same computations in numpy; `tests/test_stats.py`
checks them against hand-computed values.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy.stats import trim_mean

#: bootstrap replications of every interval
REPS = 2000


def iqm(scores: np.ndarray) -> float:
    """Interquartile mean: the mean of the middle 50% of all entries (25% trimmed from each end)."""
    x = np.asarray(scores, dtype=float).ravel()
    x = x[np.isfinite(x)]
    return float(trim_mean(x, 0.25)) if x.size else float("nan")


def _resample(tasks: Sequence[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """One stratified bootstrap replicate: the runs of every task drawn with replacement."""
    return [t[rng.integers(0, len(t), size=len(t))] for t in tasks]


def _as_tasks(scores: np.ndarray | Sequence[Sequence[float]]) -> list[np.ndarray]:
    """Per task, the runs' scores: from a (runs, tasks) matrix or a list of per-task run lists."""
    if isinstance(scores, np.ndarray) and scores.ndim == 2:
        return [np.asarray(scores[:, j], dtype=float) for j in range(scores.shape[1])]
    return [np.asarray(t, dtype=float) for t in scores]


def interval(
    scores: np.ndarray | Sequence[Sequence[float]],
    statistic: Callable[[np.ndarray], float] = iqm,
    reps: int = REPS,
    seed: int = 0,
) -> tuple[float, float, float]:
    """(point estimate, 2.5%, 97.5%) of `statistic` over the runs x tasks, stratified bootstrap over runs.

    Args:
        scores: a (runs, tasks) matrix, or one sequence of run scores per task (tasks may have
            different numbers of runs).
        statistic: of the concatenated run scores (the IQM by default).
        reps: bootstrap replicates.
        seed: of the bootstrap's generator.
    """
    tasks = _as_tasks(scores)
    if not tasks or any(len(t) == 0 for t in tasks) or not all(np.isfinite(t).all() for t in tasks):
        return float("nan"), float("nan"), float("nan")
    point = statistic(np.concatenate(tasks))
    rng = np.random.default_rng(seed)
    if statistic is iqm:  # the replicates as one (reps, runs) matrix: one trimmed mean over its rows
        draws = np.array([np.concatenate(_resample(tasks, rng)) for _ in range(reps)])
        boot = trim_mean(draws, 0.25, axis=1)
    else:
        boot = np.array([statistic(np.concatenate(_resample(tasks, rng))) for _ in range(reps)])
    lo, hi = np.percentile(boot, [2.5, 97.5])
    return float(point), float(lo), float(hi)


def _p_improve(x_tasks: list[np.ndarray], y_tasks: list[np.ndarray]) -> float:
    """Mean over tasks of P(X > Y) + P(X = Y) / 2 for runs X of x and Y of y."""
    out = []
    for x, y in zip(x_tasks, y_tasks, strict=True):
        greater = (x[:, None] > y[None, :]).mean()
        ties = (x[:, None] == y[None, :]).mean()
        out.append(greater + 0.5 * ties)
    return float(np.mean(out))


def probability_of_improvement(
    x: np.ndarray | Sequence[Sequence[float]],
    y: np.ndarray | Sequence[Sequence[float]],
    reps: int = REPS,
    seed: int = 0,
) -> tuple[float, float, float]:
    """P(X > Y) of agent x over agent y on the same tasks, with its stratified bootstrap 95% CI."""
    xt, yt = _as_tasks(x), _as_tasks(y)
    if len(xt) != len(yt):
        raise ValueError(f"probability_of_improvement: {len(xt)} tasks for x, {len(yt)} for y")
    if not xt or any(len(t) == 0 for t in xt + yt):
        return float("nan"), float("nan"), float("nan")
    point = _p_improve(xt, yt)
    rng = np.random.default_rng(seed)
    boot = np.array([_p_improve(_resample(xt, rng), _resample(yt, rng)) for _ in range(reps)])
    lo, hi = np.percentile(boot, [2.5, 97.5])
    return point, float(lo), float(hi)


def performance_profile(scores: np.ndarray | Sequence[Sequence[float]], taus: np.ndarray) -> np.ndarray:
    """Share of (run, task) scores above each threshold in `taus` (rliable's run-score distribution)."""
    flat = np.concatenate(_as_tasks(scores))
    return np.array([(flat > t).mean() for t in np.asarray(taus, dtype=float)])
