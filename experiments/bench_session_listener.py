"""Speed and memory of `SessionListener`: the per-step calls an env makes, at B = 1 and B = 1,024.

Prints, per catalog, the resident memory (RSS) before loading it, with it, and with a listener set up
for 1,024 sessions (the population prior is derived once per catalog), then the median microseconds
per call of ``respond``, ``update`` and ``expected_reward`` over K = 20 candidates (the env's step
budget: about 40 us for the three at B = 1, 2 ms at B = 1,024).

    python experiments/bench_session_listener.py [--catalogs default synthetic-100k] [--repeats 2000]
"""

from __future__ import annotations

import argparse
import gc
import os
import time

import numpy as np


def rss_mb() -> float:
    """Resident set size of this process in MB (Linux /proc; NaN elsewhere)."""
    try:
        with open(f"/proc/{os.getpid()}/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6
    except OSError:
        return float("nan")


def bench(catalog, num: int, k: int = 20, repeats: int = 2000, seed: int = 0) -> dict[str, float]:
    """Median and best microseconds per respond, update and expected_reward (R = num, K = k), `repeats` steps.

    The median of the single calls, not the mean: on a shared machine, other processes' bursts would
    otherwise count as the listener's time; the best call shows the speed without contention.
    """
    from musicgym.listeners.session import SessionListener

    listener = SessionListener()
    listener.setup(catalog, num)
    rng = np.random.default_rng(seed)
    rows = np.arange(num)
    n = len(catalog)
    times: dict[str, list[float]] = {"respond": [], "update": [], "expected_reward": []}
    warm = 50
    for i in range(repeats + warm):
        if i % 50 == 0:  # a new episode every 50 steps (the env's truncation), as an env would
            listener.sample(rng, rows)
            listener.start(rows, listener.initial_tracks(rows)[:, None])
        cand = rng.integers(0, n, (num, k))
        t0 = time.perf_counter()
        listener.expected_reward(rows, cand)
        t1 = time.perf_counter()
        tracks = cand[:, 0]
        res = listener.respond(rng, rows, tracks)
        t2 = time.perf_counter()
        listener.update(rows, tracks, res)
        t3 = time.perf_counter()
        if i >= warm:
            times["expected_reward"].append(t1 - t0)
            times["respond"].append(t2 - t1)
            times["update"].append(t3 - t2)
    out = {name: 1e6 * float(np.median(v)) for name, v in times.items()}
    out["total"] = sum(out.values())
    best = {name: 1e6 * float(np.min(v)) for name, v in times.items()}
    out.update({f"{name}_best": v for name, v in best.items()})
    out["total_best"] = sum(best.values())
    return out


def main() -> None:
    """Print, per catalog, the memory the listener adds and the timings at B = 1 and B = 1,024."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--catalogs", nargs="+", default=["default", "synthetic-100k"])
    ap.add_argument("--repeats", type=int, default=2000, help="timed steps at B = 1 (B = 1,024 runs a tenth)")
    args = ap.parse_args()
    import musicgym
    from musicgym.listeners.session import SessionListener

    rows = []
    for spec in args.catalogs:
        gc.collect()
        start = rss_mb()
        t0 = time.perf_counter()
        cat = musicgym.load_catalog(spec)
        loaded, load_s = rss_mb(), time.perf_counter() - t0
        t0 = time.perf_counter()
        listener = SessionListener()
        listener.setup(cat, 1024)  # the population prior (once per catalog) and 1,024 sessions' state
        setup_s = time.perf_counter() - t0
        print(f"{spec}: {len(cat):,} tracks, {len(cat.playlists):,} playlists; RSS {start:.0f} MB before loading, "
              f"{loaded:.0f} MB with the catalog ({load_s:.1f} s), {rss_mb():.0f} MB with the listener set up for "
              f"1,024 sessions ({setup_s:.1f} s): the listener adds {rss_mb() - loaded:.0f} MB", flush=True)
        del listener
        for num, reps in ((1, args.repeats), (1024, max(args.repeats // 10, 20))):
            rows.append((spec, num, bench(cat, num, repeats=reps)))
    print(f"\nmicroseconds per call, median (best) over the timed steps; load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} CPUs")
    print(f"{'catalog':>16} {'B':>5} {'respond':>16} {'update':>16} {'E[r], K = 20':>16} {'total':>16}")
    for spec, num, r in rows:
        cells = [f"{r[k]:.1f} ({r[k + '_best']:.1f})" for k in ("respond", "update", "expected_reward", "total")]
        print(f"{spec:>16} {num:>5} " + " ".join(f"{c:>16}" for c in cells))


if __name__ == "__main__":
    main()
