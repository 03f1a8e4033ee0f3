"""Offline evaluation of track rankers on a catalog's playlists or listening sessions.

Splits are by playlist: a playlist is wholly in train, validation or test. A held-out playlist
becomes a query and its targets: for ordered sessions the query is every track but the last and the
target is the last (next-item prediction); for unordered playlists a random share of the tracks is
hidden (at least one) and the rest is the query (playlist continuation, as the set-transformer
project evaluated).

Metrics for one ranked list ``r`` (best first, history excluded) and target set ``T``:

* ``hit@k``: 1 if any target is in ``r[:k]``;
* ``ndcg@k``: ``sum_{i<k, r_i in T} 1/log2(i+2)`` divided by its best value ``sum_{i<min(|T|,k)} 1/log2(i+2)``;
* ``mrr``: 1 / (1-based rank of the first target in ``r``), 0 if none;
* ``r_precision``: share of targets among the first ``|T|`` tracks;
* ``coverage``: distinct tracks in all top-k lists / catalog size;
* ``diversity``: mean pairwise (1 - cosine similarity) of the top-k tracks' taste features (NaN for a
  catalog whose tracks lack audio features, e.g. an MPD slice loaded without a feature file).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from musicgym.catalog import Catalog, CatalogError, Playlists


@dataclass
class Split:
    """Train playlists plus validation and test queries with their held-out targets."""

    train: Playlists
    val_queries: list[np.ndarray] = field(default_factory=list)
    val_targets: list[np.ndarray] = field(default_factory=list)
    test_queries: list[np.ndarray] = field(default_factory=list)
    test_targets: list[np.ndarray] = field(default_factory=list)
    val_titles: list[str] = field(default_factory=list)
    test_titles: list[str] = field(default_factory=list)


def split_playlists(
    catalog: Catalog, val_frac: float = 0.1, test_frac: float = 0.1, hide_frac: float = 0.5, seed: int = 0
) -> Split:
    """Split `catalog.playlists` by playlist (see module docstring).

    Raises:
        CatalogError: the catalog has no playlist with at least 2 tracks.
    """
    if not (0 <= val_frac < 1 and 0 <= test_frac < 1 and val_frac + test_frac < 1):
        raise ValueError(f"val_frac and test_frac must be in [0, 1) with a sum below 1, got {val_frac}, {test_frac}")
    if not 0 < hide_frac < 1:
        raise ValueError(f"hide_frac must be in (0, 1), got {hide_frac}")
    pls = catalog.playlists
    usable = [i for i, p in enumerate(pls.tracks) if len(p) >= 2]
    if not usable:
        raise CatalogError(f"catalog {catalog.name!r} has no playlists or sessions of 2 or more tracks to evaluate on")
    rng = np.random.default_rng(seed)
    order = rng.permutation(usable)
    n_val, n_test = int(round(val_frac * len(order))), int(round(test_frac * len(order)))
    val, test = order[:n_val], order[n_val : n_val + n_test]
    held = set(val.tolist()) | set(test.tolist())
    train_idx = [i for i in range(len(pls)) if i not in held]
    split = Split(train=pls.subset(train_idx))
    for ids, queries, targets, titles in (
        (val, split.val_queries, split.val_targets, split.val_titles),
        (test, split.test_queries, split.test_targets, split.test_titles),
    ):
        for i in ids:
            q, t = query_and_targets(pls.tracks[i], pls.ordered, hide_frac, rng)
            queries.append(q)
            targets.append(t)
            titles.append(pls.titles[i])
    return split


def query_and_targets(
    tracks: np.ndarray, ordered: bool, hide_frac: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """One held-out playlist as (query, targets): next item if `ordered`, else a random hidden share."""
    if ordered:
        return tracks[:-1], np.unique(tracks[-1:])
    n_hide = min(len(tracks) - 1, max(1, int(round(hide_frac * len(tracks)))))
    hide = np.zeros(len(tracks), dtype=bool)
    hide[rng.choice(len(tracks), n_hide, replace=False)] = True
    return tracks[~hide], np.unique(tracks[hide])


def holdout(
    playlists: Playlists, frac: float, rng: np.random.Generator, hide_frac: float = 0.5
) -> tuple[Playlists, list[np.ndarray], list[np.ndarray], list[str]]:
    """Hold out `frac` of the playlists of 2+ tracks (for a policy's early stopping).

    Returns the remaining playlists and the held-out ones' queries, targets and titles.
    """
    usable = [i for i, p in enumerate(playlists.tracks) if len(p) >= 2]
    held = rng.permutation(usable)[: int(round(frac * len(usable)))]
    held_set = set(held.tolist())
    keep = [i for i in range(len(playlists)) if i not in held_set]
    rest = playlists.subset(keep)
    qt = [query_and_targets(playlists.tracks[i], playlists.ordered, hide_frac, rng) for i in held]
    return rest, [q for q, _ in qt], [t for _, t in qt], [playlists.titles[i] for i in held]


def hit_at_k(ranked: np.ndarray, targets: np.ndarray, k: int) -> float:
    """1.0 if a target is among the first k."""
    return float(np.isin(ranked[:k], targets).any())


def ndcg_at_k(ranked: np.ndarray, targets: np.ndarray, k: int) -> float:
    """Normalised discounted cumulative gain of the first k (binary relevance)."""
    rel = np.isin(ranked[:k], targets)
    dcg = float((rel / np.log2(np.arange(2, len(rel) + 2))).sum())
    ideal = float((1.0 / np.log2(np.arange(2, min(len(targets), k) + 2))).sum())
    return dcg / ideal if ideal > 0 else 0.0


def reciprocal_rank(ranked: np.ndarray, targets: np.ndarray) -> float:
    """1 / rank of the first target (1-based), 0 if no target is ranked."""
    hits = np.flatnonzero(np.isin(ranked, targets))
    return 1.0 / (hits[0] + 1) if hits.size else 0.0


def r_precision(ranked: np.ndarray, targets: np.ndarray) -> float:
    """Share of targets among the first |targets| ranked tracks."""
    r = len(targets)
    return float(np.isin(ranked[:r], targets).sum()) / r if r else 0.0


def intra_list_diversity(ids: np.ndarray, features: np.ndarray) -> float:
    """Mean pairwise 1 - cosine similarity of the tracks `ids` (0 for fewer than 2)."""
    ids = ids[ids >= 0]
    if len(ids) < 2:
        return 0.0
    x = features[ids].astype(np.float64)
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    sim = x @ x.T
    n = len(ids)
    return float(1.0 - (sim.sum() - np.trace(sim)) / (n * (n - 1)))


class Ranker(Protocol):
    """Anything that ranks catalog tracks for listening histories."""

    def rank(self, histories: list[np.ndarray], k: int, titles: list[str] | None = None) -> np.ndarray:
        """(B, k) catalog rows per history, best first, history tracks excluded (-1 pads).

        `titles` (one per history, or None) are read by title-conditioned rankers.
        """
        ...


def evaluate_ranker(
    ranker: Ranker,
    queries: list[np.ndarray],
    targets: list[np.ndarray],
    catalog: Catalog,
    k: int = 10,
    titles: list[str] | None = None,
) -> dict[str, float]:
    """Mean hit@k, ndcg@k, mrr and r_precision over the queries, plus coverage and diversity.

    MRR and R-precision read the ranker's list up to ``max(k, |targets|)`` tracks. `titles` (the
    held-out playlists' titles) are passed on to the ranker.
    """
    if not queries:
        raise ValueError("no queries to evaluate")
    depth = max(k, max(len(t) for t in targets))
    ranked = ranker.rank(queries, depth) if titles is None else ranker.rank(queries, depth, titles)
    feats = catalog.taste_features if catalog.has_features.all() else None
    rows = {"hit": [], "ndcg": [], "mrr": [], "rprec": [], "div": []}
    for r, t in zip(ranked, targets, strict=True):
        rows["hit"].append(hit_at_k(r, t, k))
        rows["ndcg"].append(ndcg_at_k(r, t, k))
        rows["mrr"].append(reciprocal_rank(r, t))
        rows["rprec"].append(r_precision(r, t))
        rows["div"].append(np.nan if feats is None else intra_list_diversity(r[:k], feats))
    top = ranked[:, :k]
    return {
        f"hit@{k}": float(np.mean(rows["hit"])),
        f"ndcg@{k}": float(np.mean(rows["ndcg"])),
        "mrr": float(np.mean(rows["mrr"])),
        "r_precision": float(np.mean(rows["rprec"])),
        "coverage": len(np.unique(top[top >= 0])) / len(catalog),
        "diversity": float(np.mean(rows["div"])),
    }
