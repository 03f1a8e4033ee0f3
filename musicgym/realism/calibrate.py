"""Fit `SessionListener`'s parameters to real listening statistics by simulation (`calibrate`).

The fit is simulated-moments least squares: sessions are simulated under the behaviour policy
(`simulate.simulate`: the listener's source playlist in order, a share shuffled) with one fixed seed,
so every evaluation sees the same listeners, tracks and uniform draws (common random numbers), and
each statistic of `stats.statistics` is measured in its smooth (Rao-Blackwellised) form, which moves
continuously with the parameters. The residual of a target is (simulated - real) / tolerance, times
the square root of its weight; `scipy.optimize.least_squares` (trust-region reflective, bounded,
finite differences) minimises their sum of squares over the free parameters `FREE`.

The others stay at their values in `base` (the shipped fit, or `SessionParams` defaults): they are
fixed by a published figure (the decay exponent) or are modelling choices that no target here
identifies (see `SessionParams`).

``python -m musicgym.realism.calibrate [catalog] [--out PATH] [--sessions N] [--seed S]`` refits and
writes the JSON; with the default catalog and path it rewrites the shipped default.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

from musicgym.catalog import Catalog, load_catalog
from musicgym.listeners.session import (
    DEFAULT_PARAMS_PATH,
    SCHEMA_VERSION,
    SessionListener,
    SessionParams,
    load_params,
)
from musicgym.realism.simulate import simulate
from musicgym.realism.stats import statistics
from musicgym.realism.targets import LISTENER_TARGETS, SHUFFLE_SHARE, Target, targets_from_mssd

#: The calibrated parameters and their bounds. cut_2 and cut_3 are fitted as their gaps above the cut
#: below (``gap_2 = cut_2 - cut_1``, ``gap_3 = cut_3 - cut_2``), so the cuts stay ordered.
FREE: dict[str, tuple[float, float]] = {
    "cut_1": (-6.0, 6.0),
    "gap_2": (0.02, 6.0),
    "gap_3": (0.02, 6.0),
    "listener_sd": (0.0, 3.0),
    "first_track": (-3.0, 5.0),
    "position_slope": (-2.0, 2.0),
    "mood_weight": (0.0, 6.0),
    "mood_decay": (0.0, 0.95),
    "genre_satiation": (0.0, 3.0),
    "leave_base": (-8.0, 2.0),
    "leave_position": (-4.0, 3.0),
    "leave_sd": (0.0, 3.0),
}


def _to_vector(p: SessionParams, free: list[str]) -> np.ndarray:
    values = p.to_dict() | {"gap_2": p.cut_2 - p.cut_1, "gap_3": p.cut_3 - p.cut_2}
    return np.array([values[n] for n in free], dtype=np.float64)


def _from_vector(x: np.ndarray, base: SessionParams, free: list[str]) -> SessionParams:
    values = dict(zip(free, (float(v) for v in x), strict=True))
    gap_2 = values.pop("gap_2", base.cut_2 - base.cut_1)
    gap_3 = values.pop("gap_3", base.cut_3 - base.cut_2)
    cut_1 = values.get("cut_1", base.cut_1)
    values["cut_2"] = cut_1 + gap_2
    values["cut_3"] = cut_1 + gap_2 + gap_3
    return base.with_values(**values)


@dataclass
class Simulator:
    """Simulated statistics of the behaviour policy's sessions for given parameters (common random numbers).

    Args:
        catalog: the catalog the listeners and playlists come from.
        n_sessions: sessions per evaluation.
        seed: the one seed of every evaluation.
        max_len: plays per session (20: MSSD's longest).
        shuffle_share: share of shuffled sessions of the behaviour policy.
    """

    catalog: Catalog
    n_sessions: int = 20_000
    seed: int = 0
    max_len: int = 20
    shuffle_share: float = SHUFFLE_SHARE

    def __post_init__(self) -> None:
        self._sequences: np.ndarray | None = None
        self.evaluations = 0

    def statistics(self, params: SessionParams, smooth: bool = True) -> dict[str, float]:
        """Every `stats.STATISTICS` figure of the simulated sessions under `params`."""
        sim = simulate(SessionListener(params), self.catalog, self.n_sessions, seed=self.seed, max_len=self.max_len,
                       shuffle_share=self.shuffle_share, sequences=self._sequences)
        # the behaviour policy's tracks do not depend on the parameters: draw them once, reuse them after
        self._sequences = sim.tracks
        self.evaluations += 1
        return statistics(sim.plays(smooth=smooth))


def residuals(stats: dict[str, float], targets: list[Target]) -> np.ndarray:
    """(simulated - real) / tolerance x sqrt(weight) per target with weight > 0 (NaN statistics count as 10)."""
    out = []
    for t in targets:
        if t.weight <= 0:
            continue
        v = stats.get(t.name, np.nan)
        out.append(10.0 if not np.isfinite(v) else (v - t.value) / t.tolerance * math.sqrt(t.weight))
    return np.array(out)


def target_table(stats: dict[str, float], targets: list[Target]) -> list[dict[str, Any]]:
    """One dict per target: name, real value, tolerance, source, weight, simulated value, error, within."""
    rows = []
    for t in targets:
        v = float(stats.get(t.name, np.nan))
        rows.append({"name": t.name, "value": t.value, "tolerance": t.tolerance, "weight": t.weight, "source": t.source,
                     "simulated": v, "error": v - t.value, "within": bool(abs(v - t.value) <= t.tolerance)})
    return rows


def calibrate(
    catalog: Catalog | str = "default",
    targets: list[Target] | tuple[Target, ...] | pd.DataFrame = LISTENER_TARGETS,
    seed: int = 0,
    n_sessions: int = 20_000,
    free: list[str] | tuple[str, ...] | None = None,
    base: SessionParams | None = None,
    max_evaluations: int = 400,
    shuffle_share: float = SHUFFLE_SHARE,
    out: str | Path | None = None,
    verbose: bool = False,
) -> dict[str, Any]:
    """Fit the listener's free parameters so that simulated sessions match `targets`.

    Args:
        catalog: a `Catalog` or a `load_catalog` spec; its playlists are the behaviour policy's and the
            listener population's.
        targets: `Target` s (default: MSSD's and Last.fm's, `targets.LISTENER_TARGETS`), or a DataFrame
            of your own MSSD-format log (its targets come from `targets.targets_from_mssd`).
        seed: the seed of every simulation (common random numbers).
        n_sessions: simulated sessions per evaluation.
        free: the parameters to fit (names of `FREE`; default all of them).
        base: the values of the fixed parameters and the starting point (default: `SessionParams()`,
            with the free parameters started at the shipped fit's values where it exists).
        max_evaluations: simulation budget of the optimiser.
        shuffle_share: share of shuffled sessions of the behaviour policy.
        out: where to write the JSON (`load_params` reads it; ``SessionListener(params=out)`` uses it).
        verbose: print the optimiser's progress.

    Returns:
        The calibration document (what `out` receives): schema version, parameters, targets with their
        simulated values and errors, the fit error, the catalog's fingerprint and the seed.

    Raises:
        ValueError: an unknown free parameter, or no target with weight > 0.
    """
    cat = load_catalog(catalog)
    if isinstance(targets, pd.DataFrame):
        targets = targets_from_mssd(targets)
    targets = list(targets)
    if not any(t.weight > 0 for t in targets):
        raise ValueError("calibrate needs at least one target with weight > 0")
    free = list(FREE) if free is None else list(free)
    unknown = [n for n in free if n not in FREE]
    if unknown:
        raise ValueError(f"unknown free parameters {unknown}; accepted: {list(FREE)}")
    if base is None:
        base = SessionParams()
        if DEFAULT_PARAMS_PATH.exists():
            shipped = load_params()
            base = _from_vector(_to_vector(shipped, free), base, free)
    sim = Simulator(cat, n_sessions=n_sessions, seed=seed, shuffle_share=shuffle_share)
    lo = np.array([FREE[n][0] for n in free])
    hi = np.array([FREE[n][1] for n in free])
    x0 = np.clip(_to_vector(base, free), lo, hi)
    t0 = time.perf_counter()

    def fun(x: np.ndarray) -> np.ndarray:
        r = residuals(sim.statistics(_from_vector(x, base, free)), targets)
        if verbose and sim.evaluations % 10 == 0:
            print(f"  evaluation {sim.evaluations}: sum of squares {float(r @ r):.3f}", flush=True)
        return r

    fit = least_squares(fun, x0, bounds=(lo, hi), method="trf", diff_step=0.02, x_scale=1.0,
                        max_nfev=max(max_evaluations // (len(free) + 1), 1))
    params = _from_vector(fit.x, base, free)
    stats = sim.statistics(params)
    table = target_table(stats, targets)
    res = residuals(stats, targets)
    doc = {
        "schema_version": SCHEMA_VERSION,
        "musicgym_version": _version(),
        "catalog": {"name": cat.name, "fingerprint": cat.fingerprint, "tracks": len(cat),
                    "playlists": len(cat.playlists)},
        "seed": seed,
        "simulation": {"sessions": n_sessions, "max_len": sim.max_len, "shuffle_share": shuffle_share,
                       "policy": "behaviour", "statistics": "smooth (model probabilities, MSSD view)"},
        "free": free,
        "optimizer": {"method": "scipy.optimize.least_squares (trf, bounded, finite differences)",
                      "evaluations": sim.evaluations, "status": int(fit.status), "message": str(fit.message),
                      "seconds": round(time.perf_counter() - t0, 1)},
        "fit_error": {"sum_of_squares": float(res @ res), "rms": float(np.sqrt(np.mean(res**2))),
                      "targets_within": int(sum(r["within"] for r in table)), "targets": len(table)},
        "params": params.to_dict(),
        "targets": table,
    }
    if out is not None:
        _write(Path(out), doc)
    return doc


def _version() -> str:
    try:
        return version("musicgym")
    except PackageNotFoundError:
        return "unknown"


def _write(path: Path, doc: dict[str, Any]) -> None:
    """Write atomically (a temporary file renamed over the target)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(doc, indent=1, sort_keys=False) + "\n")
    tmp.replace(path)


def main(argv: list[str] | None = None) -> None:
    """Command line: calibrate on a catalog and write the JSON."""
    ap = argparse.ArgumentParser(description="Calibrate SessionListener to MSSD (or your MSSD-format log).")
    ap.add_argument("catalog", nargs="?", default="default", help="catalog spec (default: the embedded default)")
    ap.add_argument("--log", help="your MSSD-format log (CSV) to take the targets from")
    ap.add_argument("--out", default=str(DEFAULT_PARAMS_PATH), help="JSON to write")
    ap.add_argument("--sessions", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-evaluations", type=int, default=400)
    args = ap.parse_args(argv)
    targets: Any = pd.read_csv(args.log) if args.log else LISTENER_TARGETS
    doc = calibrate(args.catalog, targets, seed=args.seed, n_sessions=args.sessions,
                    max_evaluations=args.max_evaluations, out=args.out, verbose=True)
    fe = doc["fit_error"]
    print(f"wrote {args.out}: {fe['targets_within']}/{fe['targets']} targets within tolerance, "
          f"rms error {fe['rms']:.3f} tolerances, {doc['optimizer']['evaluations']} evaluations")
    for row in doc["targets"]:
        print(f"  {row['name']:20s} real {row['value']:.3f}  sim {row['simulated']:.3f}  "
              f"{'ok' if row['within'] else 'OUT'}")


if __name__ == "__main__":
    main()
