"""Registry-driven tests: every registered MusicGym/* id."""

from __future__ import annotations

import multiprocessing as mp

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import musicgym
from musicgym import OraclePolicy, PlannerPolicy, RandomPolicy, evaluate
from musicgym.registration import registered_ids

IDS = registered_ids()
#: the ids, the two slowest catalog-mode ones marked slow (their greedy oracle and planner score all
#: 20,000 tracks at every step: minutes per test on 2 cores); PreferenceCatalog-v0 keeps catalog mode
#: in the default run
IDS_FAST = [pytest.param(e, marks=pytest.mark.slow) if e in ("MusicGym/TasteCatalog-v0", "MusicGym/SessionCatalog-v0")
            else e for e in IDS]


def test_all_envs_registered():
    assert IDS == [
        "MusicGym/Playlist-v0",
        "MusicGym/PlaylistPOMDP-v0",
        "MusicGym/Preference-v0",
        "MusicGym/PreferenceCatalog-v0",
        "MusicGym/PreferenceHidden-v0",
        "MusicGym/Session-v0",
        "MusicGym/SessionCatalog-v0",
        "MusicGym/Taste-v0",
        "MusicGym/TasteCatalog-v0",
    ]
    assert musicgym.register_musicgym_envs() == IDS  # idempotent


@pytest.mark.parametrize("env_id", IDS)
def test_gymnasium_and_sb3_checkers(env_id):
    gym_check_env(gym.make(env_id).unwrapped, skip_render_check=True)
    sb3_check_env(gym.make(env_id))


def rollout(env_id, seed, n_steps=60, **kw):
    env = gym.make(env_id, **kw)
    policy = RandomPolicy(env.action_space, seed=seed)
    obs, info = env.reset(seed=seed)
    trace = [obs.copy()]
    for _ in range(n_steps):
        action, _ = policy.predict(obs, info=info)
        obs, reward, term, trunc, info = env.step(int(action))
        trace += [obs.copy(), reward, info["track"], info["oracle_action"], term, trunc]
        if term or trunc:
            obs, info = env.reset()
            trace.append(obs.copy())
    return trace


def same(a, b):
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("env_id", IDS)
def test_same_seed_same_trajectory(env_id):
    assert same(rollout(env_id, 7), rollout(env_id, 7))
    assert not same(rollout(env_id, 7), rollout(env_id, 8))


def _spawn_worker(queue):
    import gymnasium as gym

    env = gym.make("musicgym:MusicGym/Playlist-v0")
    obs, _ = env.reset(seed=3)
    obs2, reward, *_ = env.step(0)
    queue.put((obs, obs2, reward))


def test_spawned_worker_makes_prefixed_id():
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_spawn_worker, args=(queue,))
    proc.start()
    obs, obs2, reward = queue.get(timeout=120)
    proc.join(timeout=60)
    assert proc.exitcode == 0
    env = gym.make("MusicGym/Playlist-v0")
    here, _ = env.reset(seed=3)
    here2, r, *_ = env.step(0)
    assert np.array_equal(obs, here) and np.array_equal(obs2, here2) and reward == r  # same seed, any process


@pytest.mark.parametrize("env_id", IDS)
def test_render_modes(env_id, capsys):
    env = gym.make(env_id, render_mode="ansi")
    env.reset(seed=0)
    env.step(0)
    text = env.render()
    row = int(env.unwrapped.history()[0])
    assert isinstance(text, str) and env.unwrapped.catalog.tracks["name"].iat[row] in text
    assert "reward" in text or "heard" in text  # the feedback on the step: a reward, or minutes heard
    env = gym.make(env_id, render_mode="human")
    env.reset(seed=0)
    env.step(0)
    assert "playlist" in capsys.readouterr().out
    with pytest.raises(ValueError, match="render_mode must be None or one of"), pytest.warns(UserWarning):
        gym.make(env_id, render_mode="rgb_array")


@pytest.mark.parametrize("env_id", IDS)
def test_info_contract_and_no_repeats(env_id):
    env = gym.make(env_id)
    policy = RandomPolicy(env.action_space, seed=1)
    obs, info = env.reset(seed=1)
    for key in ("history", "candidates", "action_mask", "oracle_action", "oracle_reward", "track"):
        assert key in info
    done = False
    while not done:
        action, _ = policy.predict(obs, info=info)
        obs, reward, term, trunc, info = env.step(int(action))
        assert {"track", "regret", "rewards", "repeat"} <= set(info)
        assert info["regret"] >= -1e-9
        done = term or trunc
    hist = info["history"]
    assert len(hist) == len(set(hist.tolist()))
    assert np.array_equal(env.unwrapped.action_masks(), info["action_mask"])


@pytest.mark.parametrize("env_id", ["MusicGym/TasteCatalog-v0", "MusicGym/PreferenceCatalog-v0"])
def test_repeat_in_catalog_mode_is_penalised(env_id):
    env = gym.make(env_id)
    _, info = env.reset(seed=0)
    played = int(info["history"][0])
    assert not info["action_mask"][played]
    before = info["history"].copy()
    obs, reward, term, trunc, info = env.step(played)
    assert reward == -1.0 and info["repeat"] and info["track"] == -1
    assert np.array_equal(info["history"], before)


@pytest.mark.parametrize("env_id", IDS_FAST)
def test_oracle_beats_random_and_the_reference_scores_one(env_id):
    result = evaluate(OraclePolicy(), env_id, n_episodes=10, seed=0)
    assert result.oracle_return > result.random_return
    assert result.mean_regret == pytest.approx(0.0, abs=1e-9)
    assert result.normalized_score <= 1.0 + 1e-9  # the reference is the better of oracle and planner
    best = OraclePolicy() if result.reference == "oracle" else PlannerPolicy()
    assert evaluate(best, env_id, n_episodes=10, seed=0).normalized_score == pytest.approx(1.0)


def _episode_steps(env_id: str) -> int:
    """Steps in a full episode: the time limit, or (Playlist-v0, which terminates by itself) 9 picks."""
    return gym.spec(env_id).max_episode_steps or 9


def test_playlist_ends_with_a_termination_after_ten_tracks():
    env = gym.make("MusicGym/Playlist-v0")
    assert env.spec.max_episode_steps is None
    env.reset(seed=0)
    for t in range(9):
        _, _, terminated, truncated, info = env.step(0)
        assert terminated == (t == 8) and not truncated
    assert len(info["history"]) == 10
    env = gym.make("MusicGym/Playlist-v0", playlist_length=4)
    env.reset(seed=0)
    assert [env.step(0)[2] for _ in range(3)] == [False, False, True]
    with pytest.raises(ValueError, match="playlist_length"):
        gym.make("MusicGym/Playlist-v0", playlist_length=1)


@pytest.mark.parametrize("env_id", IDS)
def test_one_session_vector_env_reproduces_single_env(env_id):
    env = gym.make(env_id)
    venv = gym.make_vec(env_id, num_envs=1, vectorization_mode="vector_entry_point")
    o1, _ = env.reset(seed=3)
    o2, _ = venv.reset(seed=3)
    assert np.array_equal(o1, o2[0])
    info = {"oracle_action": 0}
    for t in range(_episode_steps(env_id)):
        a = int(info["oracle_action"]) if t % 2 else 0
        o1, r1, te1, tr1, i1 = env.step(a)
        o2, r2, te2, tr2, i2 = venv.step(np.array([a]))
        info = i1
        assert np.array_equal(o1, o2[0]) and r1 == r2[0] and (te1, tr1) == (te2[0], tr2[0])
        assert i1["oracle_action"] == i2["oracle_action"][0] and i1["regret"] == i2["regret"][0]
        assert np.array_equal(i1["candidates"], i2["candidates"][0]) and i1["track"] == i2["track"][0]
        if te1 or tr1:  # the episode ended (a Session-v0 listener may leave)
            break


@pytest.mark.parametrize("env_id", IDS_FAST)
def test_vector_env_matches_single_env_statistics(env_id):
    """Random-policy episode mean rewards agree (each episode, one hidden user, is one sample)."""
    venv = gym.make_vec(env_id, num_envs=64, vectorization_mode="vector_entry_point")
    policy = RandomPolicy(venv.single_action_space, seed=0)
    obs, info = venv.reset(seed=0)
    done_prev = np.zeros(64, bool)
    total, steps, episodes = np.zeros(64), np.zeros(64), []
    for _ in range(3 * _episode_steps(env_id)):
        action, _ = policy.predict(obs, info={"action_mask": venv.unwrapped.action_masks()})
        obs, reward, term, trunc, info = venv.step(action)
        assert (reward[done_prev] == 0).all()  # next-step autoreset
        total += reward
        steps += ~done_prev
        done_prev = term | trunc
        for b in np.flatnonzero(done_prev):
            episodes.append(total[b] / steps[b])
            total[b], steps[b] = 0.0, 0
    v = np.array(episodes)
    env = gym.make(env_id)
    policy = RandomPolicy(env.action_space, seed=1)
    s = []
    for ep in range(120):
        obs, info = env.reset(seed=100 + ep)
        done, rewards = False, []
        while not done:
            action, _ = policy.predict(obs, info=info)
            obs, r, term, trunc, info = env.step(int(action))
            rewards.append(r)
            done = term or trunc
        s.append(np.mean(rewards))
    s = np.array(s)
    se = np.sqrt(v.var() / len(v) + s.var() / len(s))
    assert abs(v.mean() - s.mean()) < 4 * se, (v.mean(), s.mean(), se)


def test_envs_on_one_catalog_share_indexes():
    a = gym.make("MusicGym/Taste-v0").unwrapped
    b = gym.make("MusicGym/TasteCatalog-v0").unwrapped
    assert a.index is b.index
    assert a.catalog is b.catalog


def test_synthetic_preset_catalog():
    env = gym.make("MusicGym/Preference-v0", catalog="synthetic-3000")
    obs, _ = env.reset(seed=0)
    assert env.unwrapped.catalog.name.startswith("synthetic-3000") and obs.shape == env.observation_space.shape


@pytest.mark.parametrize(
    "env_id,kwargs,error,match",
    [
        ("MusicGym/Playlist-v0", {"catalog": "nope"}, musicgym.CatalogError, "presets are default"),
        ("MusicGym/Taste-v0", {"k": 0}, ValueError, r"k \(candidate slots\) must be an integer from 1"),
        ("MusicGym/Preference-v0", {"k": 10**6}, ValueError, r"with k=1000000 candidate slots needs at least 1000001 tracks"),
        ("MusicGym/Taste-v0", {"n_random": 30}, ValueError, "n_random must be an integer from 0 to k=20"),
        ("MusicGym/Playlist-v0", {"max_episode_steps": 0}, Exception, "max_episode_steps"),
        ("MusicGym/Playlist-v0", {"listener": "alien"}, ValueError, "listener must be 'fixed', 'population', 'external' or 'replay' or a musicgym.listeners.Listener"),
        ("MusicGym/Playlist-v0", {"observation": "pixels"}, ValueError, "observation must be 'full' or 'latent'"),
        ("MusicGym/Taste-v0", {"action_mode": "slate"}, ValueError, r"action_mode must be one of \('candidates', 'catalog'\)"),
        ("MusicGym/Playlist-v0", {"temperature": 2}, TypeError, r"unknown argument\(s\) \['temperature'\]; accepted: catalog, render_mode, listener"),
        ("MusicGym/Preference-v0", {"drift": 2.0}, ValueError, r"drift must be >= 0.0 and <= 1.0, got 2.0"),
    ],
)
def test_bad_arguments(env_id, kwargs, error, match):
    with pytest.raises(error, match=match):
        gym.make(env_id, **kwargs)


def test_vector_bad_arguments():
    with pytest.raises(ValueError, match="num_envs must be a positive integer"):
        gym.make_vec("MusicGym/Taste-v0", num_envs=0, vectorization_mode="vector_entry_point")
    venv = gym.make_vec("MusicGym/Taste-v0", num_envs=4, vectorization_mode="vector_entry_point")
    venv.reset(seed=0)
    with pytest.raises(ValueError, match=r"integer array of shape \(4,\)"):
        venv.step(np.zeros(3, dtype=int))
    with pytest.raises(ValueError, match=r"action out of range: \[20\]; the action space is Discrete\(20\)"):
        venv.step(np.array([0, 20, 1, 2]))


@pytest.mark.parametrize("action", [4, -1, 1.5, "a", [0, 1]])
def test_bad_actions(action):
    env = gym.make("MusicGym/Playlist-v0").unwrapped
    env.reset(seed=0)
    with pytest.raises(ValueError, match="Discrete\\(4\\)"):
        env.step(action)


def test_catalog_without_features_is_refused(tmp_path):
    import json

    doc = {"playlists": [{"name": "x", "tracks": [{"pos": i, "track_uri": f"spotify:track:{i}"} for i in range(10)]}]}
    path = tmp_path / "mpd.json"
    path.write_text(json.dumps(doc))
    for env_id in IDS:
        with pytest.raises(musicgym.CatalogError, match="needs audio features for every track"):
            gym.make(env_id, catalog=str(path))


def test_single_playlist_env_matches_vector_env_when_the_neighbour_table_runs_out():
    """A long playlist on a tiny catalog exhausts the neighbour table: the fast path hands over to the batched one."""
    kw = {"catalog": "synthetic-300", "playlist_length": 250}
    env = gym.make("MusicGym/Playlist-v0", **kw)
    venv = gym.make_vec("MusicGym/Playlist-v0", num_envs=1, vectorization_mode="vector_entry_point", **kw)
    o1, _ = env.reset(seed=1)
    o2, _ = venv.reset(seed=1)
    for t in range(249):
        a = t % 4
        if not env.unwrapped.action_masks()[a]:
            a = int(np.flatnonzero(env.unwrapped.action_masks())[0])
        o1, r1, te1, _, i1 = env.step(a)
        o2, r2, te2, _, i2 = venv.step(np.array([a]))
        assert np.array_equal(o1, o2[0]) and r1 == r2[0] and te1 == te2[0], t
        assert np.array_equal(i1["candidates"], i2["candidates"][0]), t
        if te1:
            break
    assert t > 100  # well past the 16-neighbour table
