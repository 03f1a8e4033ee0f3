"""Taste-v0's fused step and reset (numba kernels that draw from the env's generator) against the step by parts.

`TasteCore` steps and resets in one kernel call in candidates mode with its built-in `TasteUser`;
``core._fused = False`` makes it take the generic path (`Core.step`, `Core.reset`: the listener's methods
and NumPy draws). Both must give the same trajectory from the same seed, every info key included, and
leave the generator in the same state, also on the rare paths: a neighbour table that runs out and a
catalog nearly played through (the slates by `nearest_plus_random`), a history that must grow, empty
slots (repeats) and out-of-range actions.
"""

from __future__ import annotations

import numpy as np
import pytest

import musicgym  # noqa: F401
from musicgym.envs import core as C
from musicgym.envs import slates
from musicgym.envs import taste as T
from musicgym.envs.taste import TasteEnv, TasteVectorEnv
from tests.envs import lockstep

_same = lockstep.same_exact


#: no time limit on a tiny catalog: the 64-neighbour table runs out (slates by `nearest_plus_random`), the
#: history grows past its 16 slots and slots end up empty (repeats). (No random slots: `THROUGH` has them.)
LONG = {"catalog": "synthetic-300", "n_random": 0}
CASES = [
    {"catalog": "synthetic-300"},
    {"catalog": "synthetic-2000", "k": 8, "n_random": 0},  # no random slots: the near ones shuffled
    {"catalog": "synthetic-2000", "k": 6, "n_random": 6, "window": 3},  # only random slots
    {"catalog": "synthetic-2000", "window": 20},  # a window past the history's 16 slots: reset by parts
]


@pytest.mark.parametrize("kwargs", CASES)
def test_single_env_fused_equals_by_parts(kwargs):
    fused, parts = (TasteEnv(**kwargs) for _ in range(2))
    assert fused.core._fused
    parts.core._fused = False
    rng = np.random.default_rng(1)
    _same(fused.reset(seed=5), parts.reset(seed=5))
    for t in range(700):
        a = int(rng.integers(fused.action_space.n))
        got, want = fused.step(a), parts.step(a)
        _same(got, want)
        if got[2] or got[3] or t % 50 == 49:
            _same(fused.reset(), parts.reset())
        elif t % 37 == 36:  # a reset mid-episode, with a new seed
            _same(fused.reset(seed=t), parts.reset(seed=t))
    assert fused.np_random.random() == parts.np_random.random()
    assert fused.core.history.shape == parts.core.history.shape


@pytest.mark.parametrize("oracle", [True, False])
@pytest.mark.parametrize("mode", ["NextStep", "SameStep"])
@pytest.mark.parametrize(("kwargs", "steps"), [(CASES[0], 50), (CASES[0], 150), (LONG, None)])
def test_vector_env_fused_equals_by_parts(oracle, mode, kwargs, steps):
    fused, parts = (TasteVectorEnv(num_envs=8, oracle=oracle, autoreset_mode=mode, max_episode_steps=steps, **kwargs)
                    for _ in range(2))
    parts.core._fused = False
    lockstep.vector_steps(fused, parts, _same, steps=400)
    assert fused.np_random.random() == parts.np_random.random()
    _same(fused.get_state()["core"], parts.get_state()["core"])


#: random slots on a 300-track catalog played through: 100 rounds of redraws leave bad ones, completed
#: exactly (`random_fill`). With near slots the 64-neighbour table has run out by then, so the fused step's
#: slates go by parts (`nearest_plus_random`); with random slots only, the kernel completes them itself.
THROUGH = [({"catalog": "synthetic-300"}, False), ({"catalog": "synthetic-300", "k": 6, "n_random": 6}, True)]


@pytest.mark.parametrize(("kwargs", "in_kernel"), THROUGH)
def test_single_env_fused_equals_by_parts_through_the_completion(monkeypatch, kwargs, in_kernel):
    calls = lockstep.counting_completions(monkeypatch)
    fused, parts = (TasteEnv(**kwargs) for _ in range(2))
    parts.core._fused = False
    in_fused, in_parts = lockstep.episodes(fused, parts, _same, calls)
    assert in_parts > 0  # the step by parts completed: so did the fused step, to the same slates
    assert (in_fused < in_parts) == in_kernel  # some of the fused step's completions in the kernel
    assert fused.np_random.random() == parts.np_random.random()


@pytest.mark.parametrize(("kwargs", "in_kernel"), THROUGH)
def test_vector_env_fused_equals_by_parts_through_the_completion(monkeypatch, kwargs, in_kernel):
    calls = lockstep.counting_completions(monkeypatch)
    fused, parts = (TasteVectorEnv(num_envs=4, max_episode_steps=None, **kwargs) for _ in range(2))
    parts.core._fused = False
    in_fused, in_parts = lockstep.vector_steps(fused, parts, _same, calls)
    assert in_parts > 0
    assert (in_fused < in_parts) == in_kernel
    assert fused.np_random.random() == parts.np_random.random()
    _same(fused.get_state()["core"], parts.get_state()["core"])


def test_fused_step_takes_the_rare_paths():
    """A tiny catalog played through: slates by parts, a grown history and empty slots (steps by parts)."""
    calls = {"slates": 0, "by_parts": 0, "grow": 0, "fused_reset": 0}
    after, by_parts, grow, reset = T.TasteCore._after_slates, C.Core.step, C.Core._grow_history, T._fused_reset

    def count(name, f):
        return lockstep.counter(calls, name, f)

    def count_slates(self, rng, rows, status, *a):
        calls["slates"] += status == slates.BY_PARTS
        return after(self, rng, rows, status, *a)

    mp = pytest.MonkeyPatch()
    mp.setattr(T.TasteCore, "_after_slates", count_slates)
    mp.setattr(C.Core, "step", count("by_parts", by_parts))
    mp.setattr(C.Core, "_grow_history", count("grow", grow))
    mp.setattr(T, "_fused_reset", count("fused_reset", reset))
    try:
        env = TasteEnv(**LONG)
        env.reset(seed=0)
        assert calls == {"slates": 0, "by_parts": 0, "grow": 0, "fused_reset": 1}
        terminated = False
        while not terminated:  # the last slot, empty once fewer than 20 unplayed tracks are left: repeats
            _, _, terminated, _, _ = env.step(19)
    finally:
        mp.undo()
    assert calls["slates"] > 0 and calls["by_parts"] > 0 and calls["grow"] > 0, calls


def test_catalog_mode_and_custom_listeners_go_by_parts():
    assert not TasteEnv(catalog="synthetic-300", action_mode="catalog").core._fused

    class Mine(musicgym.listeners.TasteUser):
        pass

    assert not TasteEnv(catalog="synthetic-300", listener=Mine(5)).core._fused


def test_out_of_range_action_is_refused_without_a_draw():
    lockstep.refuses_without_a_draw("MusicGym/Taste-v0", 20, catalog="synthetic-300")


def test_kernel_arrays_hold_the_catalog_values():
    core = TasteEnv(catalog="synthetic-300").core
    assert core._taste_c.flags.c_contiguous and core._table_k.dtype == np.int32
    np.testing.assert_array_equal(core._taste_c, core.catalog.taste_features)
    np.testing.assert_array_equal(core._table_k, core.table)
    groups = [core._group_rows[a:b] for a, b in zip(core._group_start[:-1], core._group_start[1:], strict=True)]
    assert len(groups) == len(core._start_groups)
    for g, want in zip(groups, core._start_groups, strict=True):
        np.testing.assert_array_equal(g, want)
