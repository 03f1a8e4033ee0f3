"""Benchmark of the shared FAISS candidate index (a script that prints figures, not a test).

For synthetic catalogs of 20k, 100k and 1M tracks and each feature space, prints: build time, the
kind chosen, single-query latency (k=4, as the Playlist env asks), batched latency (1,024 queries,
k=20, 10 excluded tracks per row, as the vector envs ask), recall@10 against exact search, and the
neighbour-table build and lookup times.

Goals on 2 cores: 1M-track HNSW build under 60 s; single query under 50 us at 100k; neighbour-table
lookup under 1 us.

Usage: python experiments/bench_index.py [--sizes 20000 100000 1000000] [--spaces latent taste attributes]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field

import numpy as np

from musicgym.catalog import synthetic
from musicgym.index import CandidateIndex, _space_vectors, recall_at_k


@dataclass
class Args:
    """Benchmark arguments."""

    sizes: list[int] = field(default_factory=lambda: [20_000, 100_000, 1_000_000])
    """Catalog sizes (tracks)."""
    spaces: list[str] = field(default_factory=lambda: ["latent", "taste", "attributes"])
    """Feature spaces to index."""
    single_queries: int = 5_000
    """Number of single queries timed."""
    seed: int = 0
    """Seed of the synthetic catalogs and queries."""


def timeit(fn, repeat: int = 1) -> float:
    """Mean seconds per call of `fn` over `repeat` calls."""
    t = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - t) / repeat


def main(args: Args) -> None:
    """Run the benchmark and print one row per (catalog size, space)."""
    rng = np.random.default_rng(args.seed)
    spaces = _space_vectors()
    print(f"{'tracks':>9} {'space':10} {'kind':6} {'build s':>8} {'1-query us':>10} {'batch1024 ms':>12} "
          f"{'recall@10':>9} {'table s':>8} {'lookup ns':>9}")
    for n in args.sizes:
        t = time.perf_counter()
        cat = synthetic(n, seed=args.seed, n_playlists=0)
        gen_s = time.perf_counter() - t
        print(f"# synthetic catalog of {n} tracks generated in {gen_s:.1f} s")
        for space in args.spaces:
            metric, fn = spaces[space]
            t = time.perf_counter()
            vectors = fn(cat)
            feat_s = time.perf_counter() - t
            t = time.perf_counter()
            idx = CandidateIndex(vectors, metric=metric, kind="auto", name=space)
            build_s = time.perf_counter() - t
            q_single = idx.vectors[rng.integers(0, n, args.single_queries)]
            t = time.perf_counter()
            for i in range(args.single_queries):
                idx.search(q_single[i], 4)
            single_us = (time.perf_counter() - t) / args.single_queries * 1e6
            qb = idx.vectors[rng.integers(0, n, 1024)]
            excl = rng.integers(0, n, (1024, 10))
            idx.search(qb, 20, exclude=excl)
            batch_ms = timeit(lambda: idx.search(qb, 20, exclude=excl), repeat=5) * 1e3  # noqa: B023 (called at once)
            if idx.kind == "flat":
                recall = 1.0
            else:
                exact = CandidateIndex(vectors, metric=metric, kind="flat")
                recall = recall_at_k(idx, exact, idx.vectors[rng.integers(0, n, 1000)], 10)
            t = time.perf_counter()
            table = idx.neighbours(4)
            table_s = time.perf_counter() - t
            rows = rng.integers(0, n, 100_000).tolist()
            t = time.perf_counter()
            for r in rows:
                table[r]
            lookup_ns = (time.perf_counter() - t) / len(rows) * 1e9
            print(f"{n:>9} {space:10} {idx.kind:6} {build_s:>8.2f} {single_us:>10.1f} {batch_ms:>12.2f} "
                  f"{recall:>9.4f} {table_s:>8.2f} {lookup_ns:>9.0f}   (features {feat_s:.1f} s)")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=Args().sizes)
    p.add_argument("--spaces", nargs="+", default=Args().spaces, choices=["latent", "taste", "attributes"])
    p.add_argument("--single-queries", type=int, default=Args.single_queries)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    main(Args(sizes=a.sizes, spaces=a.spaces, single_queries=a.single_queries, seed=a.seed))
