"""Agents with a memory of the session: recurrent_ppo and the posterior_greedy / posterior_planner references."""

from __future__ import annotations

import numpy as np
import pytest

import musicgym
from musicgym import agents


@pytest.mark.parametrize("env_id", ["MusicGym/PlaylistPOMDP-v0", "MusicGym/PreferenceHidden-v0"])
def test_posterior_greedy_beats_random_on_the_hard_track(env_id):
    policy = agents.make("posterior_greedy", env_id)
    r = musicgym.evaluate(policy, env_id, n_episodes=20, seed=1000)
    assert r.normalized_score > 0.0, r


def test_posterior_greedy_filter_explains_every_reward_it_has_seen():
    """After each song, the posterior mean predicts that song's (exact) reward, drift included."""
    import gymnasium as gym

    policy = agents.make("posterior_greedy", "MusicGym/PreferenceHidden-v0")
    env = gym.make("MusicGym/PreferenceHidden-v0")
    obs, info = env.reset(seed=0, options={"preferences": np.linspace(-1, 1, 21)})
    reward = None
    for _ in range(12):
        action, _ = policy.predict(obs, info=info)  # takes in the reward of the previous step first
        if reward is not None:
            assert policy.fitted_reward == pytest.approx(reward, abs=0.02)
        obs, reward, term, trunc, info = env.step(int(action))


def test_posterior_greedy_refuses_envs_it_has_no_model_of(tmp_path):
    with pytest.raises(ValueError, match="supports"):
        agents.make("posterior_greedy", "MusicGym/Taste-v0")
    policy = agents.make("posterior_greedy", "MusicGym/Playlist-v0")
    policy.save(tmp_path / "pg")
    assert agents.load(tmp_path / "pg").env_id == "MusicGym/Playlist-v0"


def test_recurrent_ppo_trains_and_carries_its_state():
    a = agents.make("recurrent_ppo", "MusicGym/PreferenceHidden-v0", env_kwargs={"catalog": "synthetic-300"},
                    n_envs=2, n_steps=32, batch_size=32, n_epochs=1)
    a.learn(64)
    obs = np.zeros((1, a.music_env.observation_space.shape[0]), dtype=np.float32)
    act, state = a.predict(obs, state=None, episode_start=np.ones(1, dtype=bool))
    act2, state2 = a.predict(obs, state=state, episode_start=np.zeros(1, dtype=bool))
    assert state is not None and not np.array_equal(state[0], state2[0])  # the LSTM state moved on
    r = musicgym.evaluate(a, "MusicGym/PreferenceHidden-v0", n_episodes=2, catalog="synthetic-300")
    assert np.isfinite(r.normalized_score)


def test_posterior_planner_plans_beyond_posterior_greedy_on_the_same_posterior():
    env_id, cat = "MusicGym/PlaylistPOMDP-v0", {"catalog": "synthetic-2000"}
    planner = musicgym.evaluate(agents.make("posterior_planner", env_id, env_kwargs=cat), env_id, n_episodes=30,
                                seed=1000, **cat)
    greedy = musicgym.evaluate(agents.make("posterior_greedy", env_id, env_kwargs=cat), env_id, n_episodes=30,
                               seed=1000, **cat)
    assert planner.normalized_score > greedy.normalized_score + 0.1, (planner, greedy)
    assert planner.normalized_score < 1.0  # it does not know the drawn listener: not the exact planner
    with pytest.raises(ValueError, match="agent 'posterior_planner' supports"):
        agents.make("posterior_planner", "MusicGym/PreferenceHidden-v0")
    with pytest.raises(ValueError, match="info"):
        agents.make("posterior_planner", env_id, env_kwargs=cat).predict(np.zeros(27))
