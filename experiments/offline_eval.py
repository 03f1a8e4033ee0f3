"""Offline ranking table of the supervised reference policies on a catalog's playlists.

Splits the catalog's playlists by playlist (`musicgym.offline.split_playlists`), fits every policy
on the train part and prints Hit@K, NDCG@K, MRR, R-precision, coverage and diversity on the test
queries, with the fitting time.

Usage::

    python experiments/offline_eval.py --catalog default
    python experiments/offline_eval.py --catalog ../shared/data/tidytuesday_spotify_songs/spotify_songs.csv
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, field

import musicgym
from musicgym import agents
from musicgym.offline import evaluate_ranker, split_playlists


@dataclass
class Args:
    """Arguments."""

    catalog: str = "default"
    """Catalog preset or path (it must have playlists or sessions)."""
    policies: list[str] = field(default_factory=lambda: ["popularity", "item_cf", "user_cf", "sasrec", "set_transformer"])
    """Reference policies to compare."""
    k: int = 10
    """Cut-off of Hit@K and NDCG@K."""
    seed: int = 0
    """Seed of the split."""


def main(args: Args) -> None:
    """Print one row per policy."""
    catalog = musicgym.load_catalog(args.catalog)
    split = split_playlists(catalog, seed=args.seed)
    kind = "sessions (next item)" if catalog.playlists.ordered else "playlists (hidden items)"
    print(f"{catalog!r}: {len(split.train)} train and {len(split.test_queries)} test {kind}")
    print(f"{'policy':16} {f'hit@{args.k}':>8} {f'ndcg@{args.k}':>8} {'mrr':>7} {'r-prec':>7} {'coverage':>9} "
          f"{'diversity':>9} {'fit s':>6}")
    for name in args.policies:
        policy = agents.make(name, "MusicGym/Taste-v0", env_kwargs={"catalog": catalog})
        t = time.perf_counter()
        policy.fit(split.train)
        fit_s = time.perf_counter() - t
        m = evaluate_ranker(policy, split.test_queries, split.test_targets, catalog, k=args.k,
                            titles=split.test_titles)
        print(f"{name:16} {m[f'hit@{args.k}']:>8.4f} {m[f'ndcg@{args.k}']:>8.4f} {m['mrr']:>7.4f} "
              f"{m['r_precision']:>7.4f} {m['coverage']:>9.4f} {m['diversity']:>9.4f} {fit_s:>6.1f}")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    d = Args()
    p.add_argument("--catalog", default=d.catalog)
    p.add_argument("--policies", nargs="+", default=d.policies)
    p.add_argument("--k", type=int, default=d.k)
    p.add_argument("--seed", type=int, default=d.seed)
    a = p.parse_args()
    main(Args(a.catalog, a.policies, a.k, a.seed))
