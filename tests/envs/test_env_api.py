"""The env API around the dynamics: reset order, autoreset modes, seeds, and the public face."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.error import ResetNeeded
from gymnasium.vector import AutoresetMode

import musicgym  # noqa: F401
from musicgym.registration import registered_ids

IDS = registered_ids()


@pytest.mark.parametrize("env_id", IDS)
def test_stepping_before_reset_or_after_termination_is_refused(env_id):
    env = gym.make(env_id).unwrapped
    with pytest.raises(ResetNeeded, match="call reset"):
        env.step(0)
    venv = gym.make_vec(env_id, num_envs=2, vectorization_mode="vector_entry_point")
    with pytest.raises(ResetNeeded, match="call reset"):
        venv.step(np.zeros(2, dtype=int))


def test_stepping_after_a_terminated_playlist_is_refused():
    env = gym.make("MusicGym/Playlist-v0", playlist_length=3).unwrapped
    env.reset(seed=0)
    env.step(0)
    _, _, terminated, _, _ = env.step(0)
    assert terminated
    with pytest.raises(ResetNeeded, match="terminated"):
        env.step(0)
    env.reset()
    env.step(0)  # fine again


@pytest.mark.parametrize("env_id", ["MusicGym/Playlist-v0", "MusicGym/Taste-v0"])
def test_same_step_autoreset_gives_the_final_observation_and_matches_next_step_mode(env_id):
    kw = {"playlist_length": 4} if "Playlist" in env_id else {"max_episode_steps": 3}  # 3 steps each
    nxt = gym.make_vec(env_id, num_envs=2, vectorization_mode="vector_entry_point", **kw)
    same = gym.make_vec(env_id, num_envs=2, vectorization_mode="vector_entry_point",
                        autoreset_mode=AutoresetMode.SAME_STEP, **kw)
    assert same.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    o1, _ = nxt.reset(seed=4)
    o2, _ = same.reset(seed=4)
    assert np.array_equal(o1, o2)
    a = np.zeros(2, dtype=np.int64)
    for _ in range(2):
        o1, r1, *_ = nxt.step(a)
        o2, r2, *_ = same.step(a)
        assert np.array_equal(o1, o2) and np.array_equal(r1, r2)
    o1, r1, t1, u1, i1 = nxt.step(a)  # the episode ends for both sessions
    o2, r2, t2, u2, i2 = same.step(a)
    assert (t1 | u1).all() and np.array_equal(t1, t2) and np.array_equal(u1, u2) and np.array_equal(r1, r2)
    assert i2["_final_obs"].all() and np.array_equal(i2["final_obs"], o1)
    assert np.array_equal(i2["final_info"]["candidates"], i1["candidates"])
    o1, r1, *_ = nxt.step(a)  # next-step mode resets now, returning reward 0
    assert (r1 == 0).all() and np.array_equal(o1, o2)  # the same new sessions, one step apart


def test_vector_reset_takes_a_list_of_seeds():
    venv = gym.make_vec("MusicGym/Taste-v0", num_envs=3, vectorization_mode="vector_entry_point")
    a, _ = venv.reset(seed=[5, None, None])
    b, _ = venv.reset(seed=5)
    assert np.array_equal(a, b)
    c, _ = venv.reset(seed=[1, 2, 3])
    d, _ = venv.reset(seed=[1, 2, 3])
    assert np.array_equal(c, d) and not np.array_equal(c, a)
    with pytest.raises(ValueError, match="one entry per session"):
        venv.reset(seed=[1, 2])


def test_bad_autoreset_mode_and_oracle_flag():
    with pytest.raises(ValueError, match="autoreset_mode must be one of"):
        gym.make_vec("MusicGym/Taste-v0", num_envs=2, vectorization_mode="vector_entry_point", autoreset_mode="x")
    with pytest.raises(TypeError, match="oracle must be True or False"):
        gym.make_vec("MusicGym/Taste-v0", num_envs=2, vectorization_mode="vector_entry_point", oracle="yes")


def test_the_oracle_can_be_switched_off_without_changing_the_trajectory():
    on = gym.make_vec("MusicGym/Preference-v0", num_envs=3, vectorization_mode="vector_entry_point")
    off = gym.make_vec("MusicGym/Preference-v0", num_envs=3, vectorization_mode="vector_entry_point", oracle=False)
    o1, _ = on.reset(seed=2)
    o2, _ = off.reset(seed=2)
    for t in range(10):
        a = np.full(3, t % 20)
        o1, r1, *_ = on.step(a)
        o2, r2, *_ = off.step(a)
        assert np.array_equal(o1, o2) and np.array_equal(r1, r2)


@pytest.mark.parametrize("env_id", IDS)
def test_the_public_face(env_id):
    env = gym.make(env_id).unwrapped
    obs, info = env.reset(seed=0)
    assert env.item_features.shape[0] == len(env.catalog)
    assert env.action_mode in ("candidates", "catalog") and env.index.n == len(env.catalog)
    assert 0 < env.head_dim <= obs.shape[0]
    if env.action_mode == "candidates":
        slots = obs[env.head_dim:].reshape(len(info["candidates"]), -1)
        np.testing.assert_allclose(slots, env.item_features[info["candidates"]], rtol=1e-6)
    assert np.array_equal(env.history(), info["history"])


@pytest.mark.parametrize("env_id,kw", [("MusicGym/Playlist-v0", {"listener": "population"}),
                                       ("MusicGym/Taste-v0", {}), ("MusicGym/PreferenceCatalog-v0", {}),
                                       ("MusicGym/Preference-v0", {"observe_preferences": False})])
def test_a_vector_env_snapshot_continues_exactly(env_id, kw):
    a = gym.make_vec(env_id, num_envs=3, vectorization_mode="vector_entry_point", **kw)
    b = gym.make_vec(env_id, num_envs=3, vectorization_mode="vector_entry_point", **kw)
    a.reset(seed=0)
    b.reset(seed=99)
    rng = np.random.default_rng(0)
    n = a.single_action_space.n
    for _ in range(7):
        a.step(rng.integers(n, size=3))
    b.unwrapped.set_state(a.unwrapped.get_state())
    for _ in range(25):
        act = rng.integers(n, size=3)
        oa, ra, ta, ua, ia = a.step(act)
        ob, rb, tb, ub, ib = b.step(act)
        assert np.array_equal(oa, ob) and np.array_equal(ra, rb) and np.array_equal(ta, tb) and np.array_equal(ua, ub)
        assert np.array_equal(ia["oracle_action"], ib["oracle_action"])


@pytest.mark.parametrize("env_id", IDS)
def test_a_one_track_catalog_gets_one_sentence_naming_the_env(env_id, tmp_path):

    cat = musicgym.catalog.synthetic(300, seed=1)
    one = musicgym.Catalog(cat.tracks.iloc[:1].reset_index(drop=True), name="one-track")
    with pytest.raises(musicgym.CatalogError, match="needs at least .* tracks, but catalog 'one-track' has 1"):
        gym.make(env_id, catalog=one)
