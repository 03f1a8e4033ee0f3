"""Planners: the exact Playlist-v0 search is the optimum; rollouts improve on the greedy oracle."""

from __future__ import annotations

import itertools

import gymnasium as gym
import numpy as np
import pytest

import musicgym  # noqa: F401
from musicgym import OraclePolicy, PlannerPolicy, evaluate


def _expected_return(env, seed, key):
    obs, info = env.reset(seed=seed)
    total, done, first_value = 0.0, False, info.get("plan_value")
    while not done:
        before = info["oracle_reward"]
        obs, _, term, trunc, info = env.step(int(info[key]))
        total += before - info["regret"]
        done = term or trunc
    return total, first_value


def _brute_force(env, seed, picks):
    """Every sequence of slot choices, replayed in the real env: the best expected return."""
    best = -np.inf
    for path in itertools.product(range(4), repeat=picks):
        obs, info = env.reset(seed=seed)
        total = 0.0
        for a in path:
            before = info["oracle_reward"]
            obs, _, term, trunc, info = env.step(a)
            total += before - info["regret"]
            if term or trunc:
                break
        best = max(best, total)
    return best


@pytest.mark.parametrize("listener", ["fixed", "population"])
def test_the_exact_playlist_planner_equals_brute_force_on_short_playlists(listener):
    env = gym.make("MusicGym/Playlist-v0", listener=listener, playlist_length=5, plan=True)
    for seed in range(3):
        planned, value = _expected_return(env, seed, "plan_action")
        assert value == pytest.approx(planned)
        assert planned == pytest.approx(_brute_force(env, seed, 4))


@pytest.mark.parametrize("listener", ["fixed", "population"])
def test_the_planner_is_at_least_the_greedy_oracle_on_every_playlist_episode(listener):
    env = gym.make("MusicGym/Playlist-v0", listener=listener, plan=True)
    for seed in range(8):
        planned, value = _expected_return(env, seed, "plan_action")
        greedy, _ = _expected_return(env, seed, "oracle_action")
        _, info = env.reset(seed=seed)
        assert info["plan_exact"] and value == pytest.approx(planned) and planned >= greedy - 1e-9


@pytest.mark.parametrize("env_id", ["MusicGym/Preference-v0", "MusicGym/PreferenceHidden-v0"])
def test_rollouts_improve_on_the_greedy_oracle(env_id):
    env = gym.make(env_id, plan=True, plan_horizon=gym.spec(env_id).max_episode_steps)
    plans = [_expected_return(env, s, "plan_action")[0] for s in range(5)]
    greedy = [_expected_return(env, s, "oracle_action")[0] for s in range(5)]
    assert all(p >= g - 1e-9 for p, g in zip(plans, greedy, strict=True)) and sum(plans) > sum(greedy)


def test_planning_changes_nothing_else():
    a = gym.make("MusicGym/Preference-v0", plan=True, plan_horizon=20)
    b = gym.make("MusicGym/Preference-v0")
    oa, _ = a.reset(seed=1)
    ob, _ = b.reset(seed=1)
    for t in range(20):
        oa, ra, *_ = a.step(t % 20)
        ob, rb, *_ = b.step(t % 20)
        assert np.array_equal(oa, ob) and ra == rb


def test_planner_policy_in_evaluate_and_its_errors():
    r = evaluate(PlannerPolicy(), "MusicGym/Playlist-v0", n_episodes=4, seed=0)
    o = evaluate(OraclePolicy(), "MusicGym/Playlist-v0", n_episodes=4, seed=0)
    assert r.mean_expected_return >= o.mean_expected_return
    with pytest.raises(ValueError, match="plan_horizon"):
        gym.make("MusicGym/Taste-v0", plan=True)
    with pytest.raises(ValueError, match="expected rewards"):
        gym.make("MusicGym/Playlist-v0", listener="external", plan=True)
    with pytest.raises(TypeError, match="plan must be True or False"):
        gym.make("MusicGym/Playlist-v0", plan="yes")
