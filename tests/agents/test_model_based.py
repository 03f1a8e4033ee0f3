"""The model_based agent: a learned listener model and exhaustive planning on the playlist envs."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from musicgym.agents.model_based import _conditional, _covariance

import musicgym
from musicgym import agents

CAT = {"catalog": "synthetic-2000"}
PLAYLIST, POMDP = "MusicGym/Playlist-v0", "MusicGym/PlaylistPOMDP-v0"


def _score(agent, env_id, n=30, seed=1000):
    return musicgym.evaluate(agent, env_id, n_episodes=n, seed=seed, **CAT)


def test_planning_on_the_true_rewards_is_the_exact_planner():
    """Given the listener's true expected rewards, the agent's search plays the planner's playlists."""
    agent = agents.make("model_based", PLAYLIST, env_kwargs=CAT)
    core = gym.make(PLAYLIST, **CAT).unwrapped.core
    assert np.array_equal(agent.table, core.table)  # the documented candidate rule, rebuilt from env.index
    true = core.listener.expected_reward(np.array([0]), np.arange(core.n_tracks)[None, :])[0]
    agent._model = {"mu_r": np.asarray(true, dtype=np.float64), "parts": [], "beta": 0.0}
    r = _score(agent, PLAYLIST, n=10)
    assert r.reference == "planner" and r.reference_exact
    assert r.mean_expected_return == pytest.approx(r.planner_return, rel=1e-12)
    agent._model["mu_r"] = -agent._model["mu_r"]  # the worst playlists: a check that can fail
    assert _score(agent, PLAYLIST, n=10).normalized_score < 0


def test_learns_the_fixed_listener_from_its_own_episodes():
    agent = agents.make("model_based", PLAYLIST, seed=0, env_kwargs=CAT)
    agent.learn(3000)
    assert agent.num_timesteps == 3000 and len(agent.tracks) >= 2990  # the running episode joins when it ends
    assert _score(agent, PLAYLIST).normalized_score >= 0.85
    agent.rewards = np.random.default_rng(0).permutation(agent.rewards)  # no link of reward to track left
    agent._model = None
    assert _score(agent, PLAYLIST).normalized_score < 0.5


def test_the_episode_model_beats_posterior_greedy_on_the_hard_track():
    agent = agents.make("model_based", POMDP, seed=0, env_kwargs=CAT)
    agent.learn(3000)
    model = agent.fit_model()
    assert len(model["parts"]) == 12 and model["beta"] > 0  # shares and rewards rise together
    with_memory = _score(agent, POMDP).normalized_score
    greedy = _score(agents.make("posterior_greedy", POMDP, env_kwargs=CAT), POMDP).normalized_score
    assert with_memory > greedy
    agent.hp["partitions"], agent._model = 0, None  # no within-episode model: the population's means only
    assert _score(agent, POMDP).normalized_score < with_memory - 0.1


def test_the_cells_covariance_is_recovered_and_conditioned_on():
    rng = np.random.default_rng(0)
    sd = np.array([2.0, 1.0, 0.0])
    n_ep, m = 4000, 6
    cell = rng.integers(0, 3, size=(n_ep, m))
    cell[:, 5] = 0  # episodes of two lengths: a play of cell 0 left out of some of them
    effect = rng.standard_normal((n_ep, 3)) * sd  # one draw per episode and cell
    dev = np.take_along_axis(effect, cell, axis=1) + 0.5 * rng.standard_normal((n_ep, m))
    keep = np.ones((n_ep, m), dtype=bool)
    keep[::2, 5] = False
    episode = np.repeat(np.arange(n_ep), m).reshape(n_ep, m)
    cov = _covariance(cell[keep], dev[keep], episode[keep], 3, min_pairs=20)
    np.testing.assert_allclose(cov, np.diag(sd**2), atol=0.15)
    # the conditional: a Gaussian's, with the tracks' covariance the mean of two partitions' cells'
    track_cell = np.array([0, 0, 1, 2, 1])
    other_cell = np.array([1, 0, 0, 1, 1])
    other = np.array([[1.0, 0.5], [0.5, 2.0]])
    parts = [(track_cell, cov), (other_cell, other)]
    played, seen, noise = np.array([0, 2, 3]), np.array([1.0, 3.0, -1.0]), 0.3
    full = (cov[np.ix_(track_cell, track_cell)] + other[np.ix_(other_cell, other_cell)]) / 2
    expect = full[:, played] @ np.linalg.solve(full[np.ix_(played, played)] + noise * np.eye(3), seen)
    np.testing.assert_allclose(_conditional(parts, noise, played, seen), expect)


def test_exploration_is_seeded_and_split_calls_explore_as_one(tmp_path):
    a = agents.make("model_based", POMDP, seed=3, env_kwargs=CAT, cells=8)
    a.learn(500)
    a.learn(1000)
    b = agents.make("model_based", POMDP, seed=3, env_kwargs=CAT, cells=8)
    b.learn(1000)
    assert np.array_equal(a.tracks, b.tracks) and np.array_equal(a.rewards, b.rewards)
    a.save(tmp_path / "mb")
    back = agents.load(tmp_path / "mb")
    assert np.array_equal(back.tracks, a.tracks) and back.num_timesteps == 1000
    np.testing.assert_array_equal(back.expected_rewards(), a.expected_rewards())
    back.learn(1200)  # goes on exploring in a fresh env
    assert back.num_timesteps == 1200


def test_bad_uses_are_named(tmp_path):
    with pytest.raises(ValueError, match="supports"):
        agents.make("model_based", "MusicGym/Taste-v0", env_kwargs=CAT)
    with pytest.raises(ValueError, match="cells"):
        agents.make("model_based", PLAYLIST, env_kwargs=CAT, cells=-1)
    agent = agents.make("model_based", PLAYLIST, env_kwargs=CAT)
    env = gym.make(PLAYLIST, **CAT)
    obs, info = env.reset(seed=0)
    with pytest.raises(ValueError, match="learn"):
        agent.predict(obs, info=info)  # nothing explored yet
    agent.learn(100)
    agents.make("model_based", POMDP, seed=2**40, env_kwargs=CAT).learn(20)  # k-means takes seeds < 2**32 only
    with pytest.raises(ValueError, match="info"):
        agent.predict(obs)
    agent.save(tmp_path / "mb")
    other = agents.make("model_based", PLAYLIST, env_kwargs=CAT)
    other.rewards, other.shares, other.episodes = np.ones(1), np.ones(1), np.zeros(1, dtype=np.int64)
    other.tracks = np.array([5000])
    other.save(tmp_path / "bad")
    (tmp_path / "bad.json").write_text((tmp_path / "mb.json").read_text())
    with pytest.raises(ValueError, match="catalog"):
        agents.load(tmp_path / "bad")
    other.tracks, other.rewards = np.array([5]), np.array([np.nan])
    other.save(tmp_path / "nan")
    (tmp_path / "nan.json").write_text((tmp_path / "mb.json").read_text())
    with pytest.raises(ValueError, match="NaN"):
        agents.load(tmp_path / "nan")
