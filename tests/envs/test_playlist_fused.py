"""Playlist-v0's fused step and reset (numba kernels that draw from the env's generator) against the step by parts.

`PlaylistCore` steps and resets in one kernel call with its built-in `ClusterListener`; ``core._fused =
False`` makes it take the generic path (`Core.step`, `Core.reset`: the listener's methods and NumPy
draws). Both must give the same trajectory from the same seed, every info key included, and leave the
generator in the same state, also on the rare paths: a neighbour table that runs out (index search), a
history that must grow, empty slots (repeats) and out-of-range actions.
"""

from __future__ import annotations

import numpy as np
import pytest

import musicgym  # noqa: F401
from musicgym.envs import playlist as P
from musicgym.envs.playlist import PlaylistEnv, PlaylistVectorEnv
from tests.envs import lockstep

_same = lockstep.same_exact


#: a long playlist on a tiny catalog: the 16-neighbour table runs out (index search), the history grows
#: past its 16 slots and, near the catalog's end, slots are empty (repeats, by parts)
LONG = {"catalog": "synthetic-300", "playlist_length": 300}
CASES = [
    {"catalog": "synthetic-300"},
    {"catalog": "synthetic-300", "listener": "population"},
    {"catalog": "synthetic-300", "observation": "latent", "reward_scale": 0.01},
    LONG,
]


@pytest.mark.parametrize("kwargs", CASES)
def test_single_env_fused_equals_by_parts(kwargs):
    fused, parts = (PlaylistEnv(**kwargs) for _ in range(2))
    parts.core._fused = False
    rng = np.random.default_rng(1)
    _same(fused.reset(seed=5), parts.reset(seed=5))
    for t in range(700):
        a = int(rng.integers(fused.action_space.n))
        got, want = fused.step(a), parts.step(a)
        _same(got, want)
        if got[2] or got[3]:
            _same(fused.reset(), parts.reset())
        elif t % 37 == 36:  # a reset mid-episode, with a new seed or a start track
            options = {"start_track": t % 300} if t % 2 else None
            _same(fused.reset(seed=t, options=options), parts.reset(seed=t, options=options))
    assert fused.np_random.random() == parts.np_random.random()


@pytest.mark.parametrize("oracle", [True, False])
@pytest.mark.parametrize("mode", ["NextStep", "SameStep"])
@pytest.mark.parametrize("kwargs", [CASES[1], LONG])
def test_vector_env_fused_equals_by_parts(oracle, mode, kwargs):
    fused, parts = (PlaylistVectorEnv(num_envs=8, oracle=oracle, autoreset_mode=mode, **kwargs) for _ in range(2))
    parts.core._fused = False
    lockstep.vector_steps(fused, parts, _same, steps=400)
    assert fused.np_random.random() == parts.np_random.random()


def test_fused_step_takes_the_rare_paths():
    """A long playlist exhausts the table (index search), grows the history and meets empty slots (by parts)."""
    calls = {"short": 0, "by_parts": 0, "grow": 0}
    short, by_parts, grow = P.PlaylistCore._finish_short, P.Core.step, P.Core._grow_history

    def count(name, f):
        return lockstep.counter(calls, name, f)

    mp = pytest.MonkeyPatch()
    mp.setattr(P.PlaylistCore, "_finish_short", count("short", short))
    mp.setattr(P.Core, "step", count("by_parts", by_parts))
    mp.setattr(P.Core, "_grow_history", count("grow", grow))
    try:
        env = PlaylistEnv(**LONG)
        env.reset(seed=0)
        for _ in range(305):  # the last slot, empty once fewer than 4 tracks are left: repeats
            _, _, terminated, _, _ = env.step(3)
            assert not terminated
    finally:
        mp.undo()
    assert calls["short"] > 0 and calls["by_parts"] > 0 and calls["grow"] > 0, calls


def test_out_of_range_action_is_refused_without_a_draw():
    lockstep.refuses_without_a_draw("MusicGym/Playlist-v0", 4, catalog="synthetic-300")


def test_track_records_hold_the_listener_and_index_values():
    env = PlaylistEnv(catalog="synthetic-300", listener="population", proximity_weight=0.37, reward_scale=0.01)
    core = env.core
    lis, rec = core.listener, core._rec
    assert rec.latents.ctypes.data % 64 == 0  # one cache line per record
    np.testing.assert_array_equal(rec.latents, core.latents)
    np.testing.assert_array_equal(rec.cluster, lis.cluster)
    np.testing.assert_array_equal(rec.proximity, lis.reward.world.proximity)
    assert P.track_records(core.latents, lis.reward.world) is rec  # shared by the cores of a process
    # the expected reward adds w_prox * proximity as NumPy's precomputed prox_value does, to the last bit
    env.reset(seed=0)
    rows = np.zeros(1, dtype=np.int64)
    tracks = np.arange(len(core.catalog))[None, :]
    want = lis.cluster_value[0, lis.cluster[tracks]] + lis.reward.prox_value[tracks]
    np.testing.assert_array_equal(lis.expected_reward(rows, tracks), want)
