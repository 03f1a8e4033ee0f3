"""The realism report: every target against sessions simulated the way an env would run them.

`realism_report` simulates sessions of a `SessionListener` under the behaviour policy with sampled
outcomes and sampled leaving (no smoothing: what an env produces), truncated at `max_len` plays, and
measures every target: the listener targets (`targets.LISTENER_TARGETS`) with `stats.statistics` and
the behaviour figures (`targets.BEHAVIOUR_TARGETS`) with `simulate.behaviour_statistics`. Each
simulated value gets a 95% percentile confidence interval from a bootstrap over the simulated
sessions, and is "within" when it lies within the target's tolerance of the real value. Two plots
show the skip_2 rate by position and the session lengths (survival and end hazard), simulated
against real. `write` saves the table as Markdown and CSV beside the plots.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from musicgym.catalog import Catalog, load_catalog
from musicgym.listeners.session import SessionListener, SessionParams
from musicgym.realism.simulate import behaviour_per_session, behaviour_statistics, simulate
from musicgym.realism.stats import HAZARD_POSITIONS, POSITIONS, statistics
from musicgym.realism.targets import BEHAVIOUR_TARGETS, LISTENER_TARGETS, SHUFFLE_SHARE, Target


@dataclass
class RealismReport:
    """The outcome of `realism_report`.

    Attributes:
        table: one row per target: kind (listener / behaviour), name, real value, simulated value,
            ci_low, ci_high (95% bootstrap), tolerance, within, source.
        catalog: the catalog's name; fingerprint: its fingerprint.
        sessions: simulated sessions; seed: their seed; max_len: plays at most per session.
        lengths: (S,) simulated session lengths; survival_ci: (max_len, 2) 95% CI of P(length >= k).
        plots: paths of the saved plots (after `write`).
    """

    table: pd.DataFrame
    catalog: str
    fingerprint: str
    sessions: int
    seed: int
    max_len: int
    lengths: np.ndarray
    survival_ci: np.ndarray
    plots: list[Path] = field(default_factory=list)

    def summary(self) -> str:
        """One line per kind: how many targets are within tolerance."""
        lines = []
        for kind, g in self.table.groupby("kind", sort=False):
            lines.append(f"{kind} targets within tolerance: {int(g['within'].sum())}/{len(g)}")
        return "\n".join(lines)

    def markdown(self) -> str:
        """The table as Markdown, with a header naming the catalog and the simulation."""
        head = (f"Realism of SessionListener on catalog `{self.catalog}` (fingerprint {self.fingerprint}): "
                f"{self.sessions} simulated sessions (seed {self.seed}, behaviour policy, sampled outcomes and "
                f"leaving, at most {self.max_len} plays); 95% CI by bootstrap over sessions.\n\n")
        cols = ("| kind | target | real | simulated | 95% CI | tolerance | within | source |\n"
                "|---|---|---|---|---|---|---|---|\n")
        rows = "".join(
            f"| {r.kind} | {r.name} | {r.real:.3f} | {r.simulated:.3f} | [{r.ci_low:.3f}, {r.ci_high:.3f}] | "
            f"±{r.tolerance:.3f} | {'yes' if r.within else '**no**'} | {r.source} |\n"
            for r in self.table.itertuples()
        )
        return head + cols + rows + "\n" + self.summary() + "\n"

    def write(self, out_dir: str | Path, prefix: str = "realism") -> list[Path]:
        """Save ``<prefix>.md``, ``<prefix>.csv`` and the two plots in `out_dir`; returns the paths."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = [out / f"{prefix}.md", out / f"{prefix}.csv"]
        paths[0].write_text(self.markdown())
        self.table.to_csv(paths[1], index=False)
        self.plots = plot(self, out, prefix)
        return paths + self.plots


def _bootstrap(fn: Any, n: int, n_boot: int, seed: int) -> list[dict[str, float]]:
    rng = np.random.default_rng(seed)
    return [fn(rng.integers(0, n, n)) for _ in range(n_boot)]


def realism_report(
    catalog: Catalog | str = "default",
    params: SessionParams | str | Path | None = None,
    targets: list[Target] | tuple[Target, ...] = LISTENER_TARGETS,
    behaviour_targets: list[Target] | tuple[Target, ...] = BEHAVIOUR_TARGETS,
    n_sessions: int = 10_000,
    seed: int = 1,
    max_len: int = 50,
    n_boot: int = 400,
    shuffle_share: float = SHUFFLE_SHARE,
) -> RealismReport:
    """Simulate `n_sessions` sessions and measure every target with a bootstrap 95% CI (module docstring).

    Args:
        catalog: a `Catalog` or a `load_catalog` spec.
        params: the listener's parameters (default: the shipped fit) or a calibration JSON path.
        targets: the listener targets.
        behaviour_targets: the behaviour figures (weight 0 targets, reported only).
        n_sessions: simulated sessions.
        seed: the simulation's seed (the default differs from the calibration's 0, so the report checks
            the fit on fresh sessions).
        max_len: plays at most per session (the env's truncation).
        n_boot: bootstrap resamples.
        shuffle_share: share of shuffled sessions of the behaviour policy.
    """
    cat = load_catalog(catalog)
    sim = simulate(SessionListener(params), cat, n_sessions, seed=seed, max_len=max_len, shuffle_share=shuffle_share)
    plays = sim.plays(smooth=False)
    point = statistics(plays)
    boots = _bootstrap(lambda idx: statistics(plays.take(idx)), n_sessions, n_boot, seed)
    per_session = behaviour_per_session(sim, cat, seed=seed)
    b_point = behaviour_statistics(per_session)
    b_boots = _bootstrap(lambda idx: behaviour_statistics(per_session, idx), n_sessions, n_boot, seed + 1)
    rows = []
    for kind, tgts, pt, bs in (("listener", targets, point, boots), ("behaviour", behaviour_targets, b_point, b_boots)):
        for t in tgts:
            v = float(pt.get(t.name, np.nan))
            sample = np.array([b.get(t.name, np.nan) for b in bs], dtype=np.float64)
            lo, hi = np.nanpercentile(sample, [2.5, 97.5]) if np.isfinite(sample).any() else (np.nan, np.nan)
            rows.append({"kind": kind, "name": t.name, "real": t.value, "simulated": v, "ci_low": float(lo),
                         "ci_high": float(hi), "tolerance": t.tolerance,
                         "within": bool(np.isfinite(v) and abs(v - t.value) <= t.tolerance), "source": t.source})
    survival = np.array([[(sim.length[idx] >= k).mean() for k in range(1, max_len + 1)]
                         for idx in np.random.default_rng(seed + 2).integers(0, n_sessions, (n_boot, n_sessions))])
    return RealismReport(pd.DataFrame(rows), cat.name, cat.fingerprint, n_sessions, seed, max_len, sim.length,
                         np.percentile(survival, [2.5, 97.5], axis=0).T)


def policy_comparison(
    catalog: Catalog | str = "default",
    params: SessionParams | str | Path | None = None,
    n_sessions: int = 2000,
    n_greedy: int = 200,
    seed: int = 1,
    max_len: int = 20,
) -> pd.DataFrame:
    """Skip rates, session lengths and listening time of the behaviour, random and taste-greedy policies.

    The greedy policy plays the catalog track of highest expected fraction heard given the hidden
    listener (``reward="fraction"``, so that it is not drawn to long tracks), never one twice; it scans
    the whole catalog every step, hence fewer sessions (`n_greedy`). Sessions end when the listener
    leaves or at `max_len` plays.

    Returns:
        One row per policy: sessions, skip_2 and not_skipped rates over all plays, mean plays and
        minutes listened per session.
    """
    cat = load_catalog(catalog)
    rows = []
    for policy, n in (("behaviour", n_sessions), ("random", n_sessions), ("greedy", n_greedy)):
        sim = simulate(SessionListener(params, reward="fraction"), cat, n, seed=seed, policy=policy, max_len=max_len)
        valid = sim.valid
        rows.append({"policy": policy, "sessions": n, "skip_2": float((sim.outcome <= 1)[valid].mean()),
                     "not_skipped": float((sim.outcome == 3)[valid].mean()), "plays": float(sim.length.mean()),
                     "minutes": float((sim.minutes * valid).sum(axis=1).mean())})
    return pd.DataFrame(rows)


def plot(report: RealismReport, out_dir: Path, prefix: str = "realism") -> list[Path]:
    """Save the skip-by-position plot and the session-length plot (PNG); returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tab = report.table.set_index("name")
    paths = []

    fig, ax = plt.subplots(figsize=(7, 4))
    names = [f"skip_2@{k}" for k in POSITIONS if f"skip_2@{k}" in tab.index]
    ks = [int(n.split("@")[1]) for n in names]
    sub = tab.loc[names]
    ax.fill_between(ks, sub["ci_low"], sub["ci_high"], alpha=0.3, color="C0", label="simulated, 95% CI")
    ax.plot(ks, sub["simulated"], "o-", color="C0", label="simulated")
    ax.errorbar(ks, sub["real"], yerr=sub["tolerance"], fmt="s", color="C3", capsize=3,
                label="MSSD (± tolerance; 11-20: the 0.51-0.55 band)")
    ax.set_xlabel("position in session")
    ax.set_ylabel("skip_2 rate")
    ax.set_title(f"Skips by position: simulated vs MSSD ({report.catalog})")
    ax.set_xticks(ks)
    ax.legend(fontsize=8)
    fig.tight_layout()
    paths.append(out_dir / f"{prefix}_skip_by_position.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4))
    k = np.arange(1, report.max_len + 1)
    surv = np.array([(report.lengths >= j).mean() for j in k])
    a1.fill_between(k, report.survival_ci[:, 0], report.survival_ci[:, 1], alpha=0.3, color="C0")
    a1.plot(k, surv, "-", color="C0", label="simulated P(length >= k)")
    reach = [n for n in tab.index if n.startswith("reach@")]
    if reach:
        a1.errorbar([int(n.split("@")[1]) for n in reach], tab.loc[reach, "real"], yerr=tab.loc[reach, "tolerance"],
                    fmt="s", color="C3", capsize=3, label="Last.fm-1K sessions (± tolerance)")
    a1.set_xlabel("session length k (plays)")
    a1.set_ylabel("share of sessions of k+ plays")
    a1.set_title(f"Session lengths ({report.catalog}; truncated at {report.max_len})")
    a1.legend(fontsize=8)
    names = [f"end@{j}" for j in HAZARD_POSITIONS if f"end@{j}" in tab.index]
    js = [int(n.split("@")[1]) for n in names]
    sub = tab.loc[names]
    a2.fill_between(js, sub["ci_low"], sub["ci_high"], alpha=0.3, color="C0", label="simulated, 95% CI")
    a2.plot(js, sub["simulated"], "o-", color="C0", label="simulated")
    a2.errorbar(js, sub["real"], yerr=sub["tolerance"], fmt="s", color="C3", capsize=3,
                label="MSSD training set (± tolerance)")
    a2.set_xlabel("play k")
    a2.set_ylabel("P(session ends at k | reached k)")
    a2.set_title("End-of-session hazard")
    a2.legend(fontsize=8)
    fig.tight_layout()
    paths.append(out_dir / f"{prefix}_session_length.png")
    fig.savefig(paths[-1], dpi=120)
    plt.close(fig)
    return paths
