from __future__ import annotations

import math

import numpy as np
import pytest

from musicgym.catalog import CatalogError, Playlists, synthetic
from musicgym.offline import (
    evaluate_ranker,
    hit_at_k,
    intra_list_diversity,
    ndcg_at_k,
    r_precision,
    reciprocal_rank,
    split_playlists,
)


def test_metrics_against_hand_computed_values():
    ranked = np.array([5, 3, 9, 1, 7])
    targets = np.array([9, 7, 42])
    assert hit_at_k(ranked, targets, 2) == 0.0 and hit_at_k(ranked, targets, 3) == 1.0
    dcg = 1 / math.log2(4) + 1 / math.log2(6)  # hits at ranks 3 and 5
    idcg = 1 / math.log2(2) + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at_k(ranked, targets, 5) == pytest.approx(dcg / idcg)
    assert ndcg_at_k(ranked, np.array([5]), 5) == pytest.approx(1.0)
    assert reciprocal_rank(ranked, targets) == pytest.approx(1 / 3)
    assert reciprocal_rank(ranked, np.array([0])) == 0.0
    assert r_precision(ranked, targets) == pytest.approx(1 / 3)  # 9 among the first 3
    feats = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    # pairs: (0,1) cos 0, (0,2) cos 1/sqrt2, (1,2) cos 1/sqrt2 -> mean 1 - sqrt2/3
    assert intra_list_diversity(np.array([0, 1, 2]), feats) == pytest.approx(1 - math.sqrt(2) / 3)


def test_split_by_playlist_next_item_and_hidden_items():
    cat = synthetic(500, seed=1, n_playlists=60)
    s = split_playlists(cat, val_frac=0.2, test_frac=0.2, seed=0)
    assert len(s.val_queries) == 12 and len(s.test_queries) == 12 and len(s.train) == 36
    # ordered sessions: the target is the last track
    for q, t in zip(s.test_queries, s.test_targets, strict=True):
        assert len(t) == 1 and not np.isin(t, q).any()
    cat.playlists.ordered = False
    s2 = split_playlists(cat, val_frac=0.2, test_frac=0.2, hide_frac=0.5, seed=0)
    for q, t in zip(s2.test_queries, s2.test_targets, strict=True):
        assert len(t) >= 1 and len(q) >= 1 and not np.isin(t, q).any()
    assert split_playlists(cat, seed=3).test_titles == split_playlists(cat, seed=3).test_titles


def test_split_errors():
    cat = synthetic(200, seed=1, n_playlists=0)
    with pytest.raises(CatalogError, match="no playlists or sessions of 2 or more tracks"):
        split_playlists(cat)
    cat.playlists = Playlists([np.array([0, 1, 2])])
    with pytest.raises(ValueError, match="hide_frac"):
        split_playlists(cat, hide_frac=1.0)


def test_evaluate_ranker_with_a_perfect_and_a_useless_ranker():
    cat = synthetic(300, seed=2, n_playlists=30)
    s = split_playlists(cat, seed=0)

    class Oracle:
        def rank(self, histories, k):
            out = np.full((len(histories), k), -1)
            for i, t in enumerate(s.test_targets):
                out[i, : len(t)] = t[:k]
            return out

    class Worst:
        def rank(self, histories, k):
            return np.full((len(histories), k), -1)

    good = evaluate_ranker(Oracle(), s.test_queries, s.test_targets, cat, k=10)
    assert good["hit@10"] == 1.0 and good["ndcg@10"] == pytest.approx(1.0) and good["mrr"] == 1.0
    bad = evaluate_ranker(Worst(), s.test_queries, s.test_targets, cat, k=10)
    assert bad["hit@10"] == 0.0 and bad["coverage"] == 0.0
