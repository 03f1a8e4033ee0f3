"""Session-v0's kernels read the catalog through layouts chosen for speed; the results must not depend on them.

* The slate scan (`_near_and_recent`) against a plain reference of its rule, on random histories.
* The int32 copy of the neighbour table against the int64 table itself (the kernels read the int64 one
  on a catalog too large for the copy): the same trajectories.
"""

from __future__ import annotations

import numpy as np
import pytest

import musicgym  # noqa: F401
from musicgym.catalog import synthetic
from musicgym.envs import lookup
from musicgym.envs import session as S
from musicgym.envs.session import SessionVectorEnv


def _reference(table, played, n_near, n_recent, recent):
    """The slate's nearest and recent slots by the rule in `_near_and_recent`'s docstring, in plain Python."""
    out: list[int] = []
    cur = played[-1]
    for t in table[cur]:
        if len(out) == n_near:
            break
        if t >= 0 and t not in played and t not in out:
            out.append(int(t))
    sources = [played[-2 - s] for s in range(min(recent, len(played) - 1))] or [cur]
    pos = [0] * len(sources)
    stalled, s = 0, 0
    while len(out) < n_near + n_recent and stalled < len(sources):
        placed = False
        while pos[s] < table.shape[1]:
            t = table[sources[s], pos[s]]
            pos[s] += 1
            if t >= 0 and t not in played and t not in out:
                out.append(int(t))
                placed = True
                break
        stalled = 0 if placed else stalled + 1
        s = (s + 1) % len(sources)
    return out


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_slate_scan_follows_its_rule(dtype):
    rng = np.random.default_rng(0)
    n_tracks, width = 300, 12
    table = rng.integers(0, n_tracks, (n_tracks, width)).astype(dtype)
    table[rng.random(table.shape) < 0.05] = -1
    rows = np.arange(64)
    history = np.full((64, 60), -1, dtype=np.int64)
    length = rng.integers(1, 60, 64)
    for r in rows:
        # sessions that walk through neighbours, so that played tracks fill the table rows
        t = int(rng.integers(n_tracks))
        seen = [t]
        while len(seen) < length[r]:
            t = int(table[t, rng.integers(width)]) if rng.random() < 0.8 else int(rng.integers(n_tracks))
            if t >= 0 and t not in seen:
                seen.append(t)
            elif rng.random() < 0.2:
                seen.append(next(x for x in range(n_tracks) if x not in seen))
        history[r, : length[r]] = seen
    for n_near, n_recent, recent in [(11, 5, 5), (3, 2, 1), (0, 4, 3), (6, 0, 5)]:
        out = np.full((64, n_near + n_recent), -7, dtype=np.int64)
        short = np.zeros(64, dtype=np.bool_)
        n_short = S._near_and_recent(table, history, length, rows, n_near, n_recent, recent, out, short)
        for r in rows:
            want = _reference(table, list(history[r, : length[r]]), n_near, n_recent, recent)
            assert list(out[r, : len(want)]) == want
            assert short[r] == (len(want) < n_near + n_recent)
        assert n_short == short.sum()


def test_int64_table_gives_the_same_trajectories(monkeypatch):
    catalog = synthetic(3_000, seed=4)
    small = SessionVectorEnv(num_envs=16, catalog=catalog)
    monkeypatch.setattr(lookup, "TABLE32_MAX_BYTES", 0)
    large = SessionVectorEnv(num_envs=16, catalog=catalog)
    assert small.core._table_k.dtype == np.int32 and large.core._table_k.dtype == np.int64
    np.testing.assert_array_equal(small.core._table_k, large.core._table_k)
    (obs_a, info_a), (obs_b, info_b) = small.reset(seed=1), large.reset(seed=1)
    np.testing.assert_array_equal(obs_a, obs_b)
    np.testing.assert_array_equal(info_a["candidates"], info_b["candidates"])
    rng = np.random.default_rng(2)
    for _ in range(120):
        actions = rng.integers(0, 20, 16)
        got, want = small.step(actions), large.step(actions)
        for a, b in zip(got[:4], want[:4], strict=True):
            np.testing.assert_array_equal(a, b)
        assert got[4].keys() == want[4].keys()
        for k in got[4]:
            np.testing.assert_array_equal(got[4][k], want[4][k])


def test_taste_features_in_c_order_are_the_catalogs():
    env = SessionVectorEnv(num_envs=2, catalog=synthetic(500, seed=1))
    assert env.core.taste.flags.c_contiguous
    np.testing.assert_array_equal(env.core.taste, env.core.catalog.taste_features)
    assert env.item_features is env.core.catalog.taste_features
