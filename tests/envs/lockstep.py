"""Lockstep runs of a fused env against its twin stepping by parts (``core._fused = False``).

`same_exact` is the comparator of Playlist-v0's and Taste-v0's fused tests. The runs through
`random_fill`'s completion are shared by Taste-v0's and Session-v0's; each passes its comparator `same`
(Session-v0's allows a relative 1e-12 and checks the key set).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from musicgym.envs import slates


def same_exact(a: Any, b: Any) -> None:
    """Assert two step (or reset) results equal exactly: key order, types, dtypes and every bit."""
    if isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            same_exact(a[k], b[k])
        return
    if isinstance(a, tuple):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            same_exact(x, y)
        return
    assert type(a) is type(b)
    if isinstance(a, float) and np.isnan(a):
        assert np.isnan(b)
        return
    if not isinstance(a, np.ndarray):
        assert a == b
        return
    assert a.shape == b.shape and a.dtype == b.dtype
    np.testing.assert_array_equal(a, b)  # exactly: the same kernels in the same order


def counting_completions(monkeypatch: Any) -> list[int]:
    """Count the calls of `random_fill`'s completion by parts (the fused kernels make theirs inside numba)."""
    calls: list[int] = []
    bounds = slates.completion_bounds

    def counted(*a):
        calls.append(1)
        return bounds(*a)

    monkeypatch.setattr(slates, "completion_bounds", counted)
    return calls


def episodes(fused: Any, parts: Any, same: Callable[[Any, Any], None], calls: list[int],
             seeds: tuple[int, ...] = (0, 1), action_seed: int = 1) -> tuple[int, int]:
    """Play single envs `fused` and `parts` in lockstep to each episode's end, one episode per seed.

    The same random actions on both; `same` checks every reset and step. Returns the completions
    (`counting_completions`' `calls`) made during the fused and the by-parts steps.
    """
    rng = np.random.default_rng(action_seed)
    in_fused = in_parts = 0
    for seed in seeds:
        same(fused.reset(seed=seed), parts.reset(seed=seed))
        while True:
            a = int(rng.integers(fused.action_space.n))
            n = len(calls)
            got = fused.step(a)
            m = len(calls)
            want = parts.step(a)
            in_fused += m - n
            in_parts += len(calls) - m
            same(got, want)
            if got[2]:
                break
    return in_fused, in_parts


def vector_steps(fused: Any, parts: Any, same: Callable[[Any, Any], None], calls: list[int], steps: int = 400,
                 seed: int = 2, action_seed: int = 3) -> tuple[int, int]:
    """Step vector envs `fused` and `parts` in lockstep: `steps` steps of the same random actions.

    After a reset with `seed`; `same` checks each. Returns the completions as `episodes` does.
    """
    same(fused.reset(seed=seed), parts.reset(seed=seed))
    rng = np.random.default_rng(action_seed)
    in_fused = in_parts = 0
    for _ in range(steps):
        actions = rng.integers(0, fused.single_action_space.n, fused.num_envs)
        n = len(calls)
        got = fused.step(actions)
        m = len(calls)
        want = parts.step(actions)
        in_fused += m - n
        in_parts += len(calls) - m
        same(got, want)
    return in_fused, in_parts
