"""How realistic is SessionListener? Every calibration target against simulated sessions, per catalog.

For each catalog, simulates sessions of the shipped listener (``assets/session_listener.json``, fitted
on the default catalog) under the behaviour policy, the way an env runs them, and writes the realism
table (target, real value, simulated value with a bootstrap 95% CI, tolerance, within) and two plots
(skips by position; session lengths and end hazard) to ``<out>/<catalog>/``, and compares the skip
rates of the behaviour, random and taste-greedy policies (``policies.csv``). With ``--calibrate``,
a catalog other than the default is also refitted (`musicgym.realism.calibrate.calibrate`) and
reported with its own fit (``<out>/<catalog>/refit/``).

Usage::

    python experiments/realism_report.py [--catalogs default /path/to/spotify_songs.csv] [--calibrate]
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass, field, fields
from pathlib import Path

from musicgym.realism.calibrate import calibrate
from musicgym.realism.measure import TIDYTUESDAY, data_dir
from musicgym.realism.report import policy_comparison, realism_report


@dataclass
class Args:
    """The script's arguments."""

    catalogs: list[str] = field(default_factory=lambda: ["default", str(data_dir() / TIDYTUESDAY)])
    """catalog specs (`musicgym.load_catalog`); a path that does not exist is skipped with a note"""
    out: str = "runs/realism"
    """output folder (one sub-folder per catalog)"""
    sessions: int = 10_000
    """simulated sessions per report"""
    seed: int = 1
    """seed of the report's simulation (the calibration uses 0)"""
    n_boot: int = 400
    """bootstrap resamples for the 95% confidence intervals"""
    calibrate: bool = False
    """also refit the listener on each catalog other than the default, and report the refit"""
    calibration_sessions: int = 20_000
    """simulated sessions per calibration evaluation"""
    policy_sessions: int = 2000
    """sessions per policy in the behaviour / random / greedy comparison (greedy: a tenth)"""


def parse() -> Args:
    """Args from the command line (one flag per field, its docstring as help)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    defaults = Args()
    for f in fields(Args):
        value = getattr(defaults, f.name)
        flag = "--" + f.name.replace("_", "-")
        if isinstance(value, bool):
            ap.add_argument(flag, action="store_true")
        elif isinstance(value, list):
            ap.add_argument(flag, nargs="+", default=value)
        else:
            ap.add_argument(flag, type=type(value), default=value)
    return Args(**vars(ap.parse_args()))


def slug(spec: str) -> str:
    """A folder name for a catalog spec."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(spec).stem if "/" in spec else spec)


def main() -> None:
    """Report every catalog (and refit, with --calibrate)."""
    args = parse()
    for spec in args.catalogs:
        if spec != "default" and not spec.startswith("synthetic") and not Path(spec).exists():
            print(f"{spec}: skipped (no such file)")
            continue
        out = Path(args.out) / slug(spec)
        report = realism_report(spec, n_sessions=args.sessions, seed=args.seed, n_boot=args.n_boot)
        paths = report.write(out)
        print(report.markdown())
        print("wrote", ", ".join(str(p) for p in paths), "\n")
        policies = policy_comparison(spec, n_sessions=args.policy_sessions, n_greedy=max(args.policy_sessions // 10, 1),
                                     seed=args.seed)
        policies.to_csv(out / "policies.csv", index=False)
        print(f"policies on {spec} (reward 'fraction', at most 20 plays):")
        print(policies.to_string(index=False, float_format=lambda v: f"{v:.3f}"), "\n")
        if args.calibrate and spec != "default":
            fit_path = out / "refit" / "session_listener.json"
            doc = calibrate(spec, n_sessions=args.calibration_sessions, out=fit_path)
            fe = doc["fit_error"]
            print(f"refit on {spec}: {fe['targets_within']}/{fe['targets']} targets within tolerance in the fit, "
                  f"{doc['optimizer']['evaluations']} simulations, {doc['optimizer']['seconds']} s; wrote {fit_path}")
            refit = realism_report(spec, params=fit_path, n_sessions=args.sessions, seed=args.seed, n_boot=args.n_boot)
            paths = refit.write(out / "refit")
            print(refit.markdown())
            print("wrote", ", ".join(str(p) for p in paths), "\n")


if __name__ == "__main__":
    main()
