"""experiments/preference_ceiling.py: greedy play on a ridge estimate of PreferenceHidden-v0's preferences."""

import numpy as np
from musicgym.experiments import preference_ceiling as pc


def test_the_ridge_estimate_recovers_every_songs_reward_from_exact_rewards():
    # (the embedded catalog's 21 attributes have rank 20: one direction of the preferences changes no
    # song's reward, so the estimate is checked on the rewards it predicts)
    policy = pc.RidgeGreedy(lam=1e-9)
    rng = np.random.default_rng(0)
    p = rng.uniform(-1, 1, policy.attrs.shape[1])
    rows = policy.attrs[rng.choice(len(policy.attrs), 200, replace=False)]
    assert np.linalg.matrix_rank(rows) == np.linalg.matrix_rank(policy.attrs)
    policy.x, policy.y = list(rows), list(rows @ p)
    np.testing.assert_allclose(policy.attrs @ policy.estimate(), policy.attrs @ p, atol=1e-5)
    assert not pc.RidgeGreedy(lam=0.1).estimate().any()  # no feedback yet: no preference


def test_the_script_scores_both_policies_on_the_same_episodes(capsys):
    scores = pc.main(["--episodes", "10", "--lams", "0.1"])
    assert list(scores) == ["posterior_greedy", "ridge_greedy lam=0.1"]
    # both learn the listener within the episode: far above random (0), below the planner (1)
    assert all(0.3 < s < 1.0 for s in scores.values()), scores
    assert "ridge_greedy lam=0.1" in capsys.readouterr().out
