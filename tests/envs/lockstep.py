"""Lockstep runs of a fused env against its twin stepping by parts (``core._fused = False``).

The fused tests of Playlist-v0, Taste-v0 and Session-v0 share these: the comparators (`same_exact`
for Playlist and Taste; `same_close` for Session, within a relative 1e-12 and checking the key set),
the lockstep loops (`episodes`, `vector_steps`, counting `random_fill`'s completions where asked), the
call counter of the rare-path tests and the out-of-range check.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from musicgym.envs import slates


def same(a: Any, b: Any, rtol: float = 0.0, ordered_keys: bool = True) -> None:
    """Assert two step (or reset) results equal: key order (or set), types, dtypes, and every bit (rtol 0).

    With `rtol` > 0 floating-point arrays and numbers may differ by that relative amount (NaN equal to NaN).
    """
    if isinstance(a, dict):
        assert list(a) == list(b) if ordered_keys else a.keys() == b.keys()
        for k in a:
            same(a[k], b[k], rtol, ordered_keys)
        return
    if isinstance(a, tuple):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            same(x, y, rtol, ordered_keys)
        return
    assert type(a) is type(b)
    if rtol:
        a, b = np.asarray(a), np.asarray(b)
        assert a.shape == b.shape and a.dtype == b.dtype
        if a.dtype.kind == "f":
            np.testing.assert_allclose(a, b, rtol=rtol, atol=0, equal_nan=True)
        else:
            np.testing.assert_array_equal(a, b)
        return
    if isinstance(a, float) and np.isnan(a):
        assert np.isnan(b)
        return
    if not isinstance(a, np.ndarray):
        assert a == b
        return
    assert a.shape == b.shape and a.dtype == b.dtype
    np.testing.assert_array_equal(a, b)  # exactly: the same kernels in the same order


def same_exact(a: Any, b: Any) -> None:
    """`same` exactly: key order, types, dtypes and every bit."""
    same(a, b)


def same_close(a: Any, b: Any) -> None:
    """`same` within a relative 1e-12 for floats, the key set in any order."""
    same(a, b, rtol=1e-12, ordered_keys=False)


def counter(calls: dict[str, int], name: str, f: Callable[..., Any]) -> Callable[..., Any]:
    """`f`, counting its calls in ``calls[name]`` (for monkeypatching the rare paths a test must take)."""

    def counted(*a: Any, **k: Any) -> Any:
        calls[name] += 1
        return f(*a, **k)

    return counted


def refuses_without_a_draw(env_id: str, bad_action: int, **env_kwargs: Any) -> None:
    """Assert `env_id`'s core refuses the out-of-range `bad_action` with a ValueError, drawing nothing."""
    import gymnasium as gym
    import pytest

    env = gym.make(env_id, **env_kwargs)
    env.reset(seed=0)
    core, rng = env.unwrapped.core, env.unwrapped.np_random
    state = rng.bit_generator.state
    with pytest.raises(ValueError, match="out of range"):
        core.step(rng, np.zeros(1, dtype=np.int64), np.array([bad_action]))
    assert rng.bit_generator.state == state


def counting_completions(monkeypatch: Any) -> list[int]:
    """Count the calls of `random_fill`'s completion by parts (the fused kernels make theirs inside numba)."""
    calls: list[int] = []
    bounds = slates.completion_bounds

    def counted(*a):
        calls.append(1)
        return bounds(*a)

    monkeypatch.setattr(slates, "completion_bounds", counted)
    return calls


def _step_both(fused: Any, parts: Any, action: Any, calls: list[int]) -> tuple[Any, Any, int, int]:
    """Step `fused`, then `parts`, with `action`; and the completions (`calls`) each made."""
    n = len(calls)
    got = fused.step(action)
    m = len(calls)
    want = parts.step(action)
    return got, want, m - n, len(calls) - m


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
            got, want, df, dp = _step_both(fused, parts, int(rng.integers(fused.action_space.n)), calls)
            in_fused, in_parts = in_fused + df, in_parts + dp
            same(got, want)
            if got[2]:
                break
    return in_fused, in_parts


def vector_steps(fused: Any, parts: Any, same: Callable[[Any, Any], None], calls: list[int] | None = None,
                 steps: int = 400, seed: int = 2, action_seed: int = 3) -> tuple[int, int]:
    """Step vector envs `fused` and `parts` in lockstep: `steps` steps of the same random actions.

    After a reset with `seed`; `same` checks each. Returns the completions as `episodes` does (0, 0
    without `calls`).
    """
    calls = [] if calls is None else calls
    same(fused.reset(seed=seed), parts.reset(seed=seed))
    rng = np.random.default_rng(action_seed)
    in_fused = in_parts = 0
    for _ in range(steps):
        got, want, df, dp = _step_both(fused, parts, rng.integers(0, fused.single_action_space.n, fused.num_envs),
                                       calls)
        in_fused, in_parts = in_fused + df, in_parts + dp
        same(got, want)
    return in_fused, in_parts
