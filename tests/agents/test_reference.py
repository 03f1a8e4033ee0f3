"""Reference policies: planted patterns, acting in every env, persistence, errors."""

from __future__ import annotations

import numpy as np
import pytest

import musicgym
from musicgym import agents
from musicgym.catalog import Playlists
from musicgym.registration import registered_ids

CATALOG = {"catalog": "synthetic-2000"}
NAMES = ["popularity", "item_cf", "user_cf", "sasrec", "set_transformer"]
#: small training budgets for the neural policies, so that the tests stay quick
FAST = {"sasrec": {"max_epochs": 2}, "set_transformer": {"max_epochs": 1}}


def planted(agent):
    """Playlists where track 7 always comes with track 11, and track 3 is in every playlist."""
    rng = np.random.default_rng(0)
    pls = []
    for i in range(200):
        noise = rng.choice(np.arange(20, 2000), 5, replace=False)
        core = [7, 11] if i % 2 == 0 else []
        pls.append(np.array([3, *core, *noise]))
    return agent.fit(Playlists(pls))


def test_item_cf_ranks_the_co_occurring_track_first():
    cf = planted(agents.make("item_cf", "MusicGym/Taste-v0", env_kwargs=CATALOG))
    ranked = cf.rank([np.array([7])], 3)
    assert ranked[0, 0] == 11
    assert 7 not in ranked[0]


def test_user_cf_recommends_what_similar_playlists_hold():
    ucf = planted(agents.make("user_cf", "MusicGym/Taste-v0", env_kwargs=CATALOG, n_neighbours=20))
    assert ucf.rank([np.array([3, 7])], 1)[0, 0] == 11


def test_popularity_ranks_the_most_frequent_track_first_and_skips_played():
    pop = planted(agents.make("popularity", "MusicGym/Taste-v0", env_kwargs=CATALOG))
    assert pop.rank([np.array([], dtype=int)], 1)[0, 0] == 3
    assert pop.rank([np.array([3])], 1)[0, 0] in (7, 11)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("env_id", registered_ids())
def test_acts_as_a_policy_in_every_env(name, env_id):
    policy = agents.make(name, env_id, env_kwargs=CATALOG, **FAST.get(name, {})).learn()
    result = musicgym.evaluate(policy, env_id, n_episodes=3, seed=0, **CATALOG)
    assert np.isfinite(result.normalized_score)
    assert all(length > 0 for length in result.episode_lengths)


@pytest.mark.parametrize("name", NAMES)
def test_save_load_roundtrip(name, tmp_path):
    a = agents.make(name, "MusicGym/Preference-v0", env_kwargs=CATALOG, **FAST.get(name, {})).learn()
    a.save(tmp_path / "p.pkl")
    b = agents.load(tmp_path / "p.pkl")
    h = [np.array([1, 2, 3]), np.array([], dtype=int)]
    assert np.array_equal(a.rank(h, 10), b.rank(h, 10))


def test_errors_are_clear():
    a = agents.make("item_cf", "MusicGym/Taste-v0", env_kwargs=CATALOG)
    with pytest.raises(ValueError, match="not fitted yet"):
        a.rank([np.array([1])], 5)
    with pytest.raises(ValueError, match="needs playlists"):
        a.fit(Playlists([]))
    a.learn()
    with pytest.raises(ValueError, match="pass info="):
        a.predict(np.zeros(9 * 21, np.float32))


@pytest.mark.parametrize("name", NAMES)
def test_bad_histories_and_empty_histories(name):
    a = agents.make(name, "MusicGym/Taste-v0", env_kwargs=CATALOG, **FAST.get(name, {})).learn()
    with pytest.raises(ValueError, match=r"unknown track id\(s\) \[2000\]"):
        a.rank([np.array([1, 2000])], 5)
    with pytest.raises(ValueError, match="unknown track id"):
        a.rank([np.array([-3])], 5)
    top = a.rank([np.array([], dtype=int)], 5)  # documented fallback, never a crash
    assert top.shape == (1, 5) and (top >= 0).all() and len(set(top[0])) == 5


# ------------------------------------------------------------------ ties: the same tracks on every machine
def _top_by_value_then_id(s: np.ndarray, k: int) -> np.ndarray:
    return np.stack([np.lexsort((np.arange(len(row)), -row))[:k] for row in s])


@pytest.mark.parametrize("k", [1, 3, 10, 40])
def test_top_rows_breaks_ties_by_track_id(k):
    """Many equal scores around the k-th place (as popularity counts have): the lowest ids win, best first."""
    from musicgym.agents.item_cf import top_rows, top_unplayed

    rng = np.random.default_rng(k)
    s = rng.integers(0, 4, size=(50, 40)).astype(np.float64)
    s[rng.random(s.shape) < 0.1] = -np.inf
    assert np.array_equal(top_rows(s, k), _top_by_value_then_id(s, k))
    history = np.full((50, 3), -1)
    history[:, 0] = 7
    ids, sc = top_unplayed(s, history, k)
    s_played = s.copy()
    s_played[:, 7] = -np.inf
    want = _top_by_value_then_id(s_played, k)
    want_sc = np.take_along_axis(s_played, want, 1)
    assert np.array_equal(ids, np.where(np.isfinite(want_sc), want, -1)) and np.array_equal(sc, want_sc)


def test_item_cf_pruning_keeps_the_lowest_ids_among_equal_similarities():
    from musicgym.agents.item_cf import _prune_rows
    from scipy import sparse

    row = np.array([0.5, 0.2, 0.5, 0.9, 0.5, 0.5, 0.1])
    m = sparse.csr_matrix(np.vstack([row, row[::-1]]))
    kept = _prune_rows(m, 3).toarray()
    assert np.flatnonzero(kept[0]).tolist() == [0, 2, 3]  # 0.9, then the first two of the four 0.5s
    assert np.flatnonzero(kept[1]).tolist() == [1, 2, 3]  # reversed: 0.9 at 3, the 0.5s at 1, 2, 4 and 6
