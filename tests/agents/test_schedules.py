"""Training in several `learn` calls (a sweep's learning-curve points) with ``schedule_timesteps`` set to the
whole budget gives the agent of one call: the exploration rate decays over the budget, not each call's target.

Without it, a run of 5 curve points reached its final epsilon after 30% of the first fifth of its steps.
"""

from __future__ import annotations

import pytest

from tests.agents import test_resume as resume

N = 384
CASES = [("dqn", "MusicGym/Taste-v0"), ("ah_dqn", "MusicGym/Preference-v0")]
#: epsilon still decaying at the first call's end (1.0 -> 0.05 over all of N)
DECAY = {"dqn": {"exploration_fraction": 1.0, "exploration_final_eps": 0.05},
         "ah_dqn": {"exploration_fraction": 1.0, "exploration_final_eps": 0.05}}


def _epsilon(agent) -> float:
    return agent.model.exploration_rate if hasattr(agent, "model") else agent._epsilon(N // 2)


@pytest.mark.parametrize("name,env_id", CASES)
def test_learn_calls_with_the_whole_budget_train_the_agent_of_one_call(name, env_id):
    one = resume.make(name, env_id, DECAY[name]).learn(N)
    parts = resume.make(name, env_id, DECAY[name])
    parts.schedule_timesteps = N
    parts.learn(N // 2)
    assert _epsilon(parts) == pytest.approx(1.0 - 0.95 * 0.5, abs=0.02)  # half way through its decay
    parts.learn(N)
    resume.assert_same_weights(one, parts)

    # with the budget of the one call it is the same agent (a sweep's run of one curve point)
    same = resume.make(name, env_id, DECAY[name])
    same.schedule_timesteps = N
    resume.assert_same_weights(one, same.learn(N))

    # and without it, the first call's schedule ends at its own target: another agent
    unset = resume.make(name, env_id, DECAY[name])
    unset.learn(N // 2)
    assert _epsilon(unset) == pytest.approx(0.05)
    unset.learn(N)
    with pytest.raises(AssertionError, match="tensors differ"):
        resume.assert_same_weights(one, unset)
