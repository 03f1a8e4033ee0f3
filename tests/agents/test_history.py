"""Agents with a memory of the session: ``history`` / ``history_hidden`` of ``ah_dqn`` and ``actor_critic``.

The stack of past observation heads (`musicgym.agents.history`), ``history=0`` as the agents without it,
a short run, save / load / predict with SB3's recurrent convention, `musicgym.evaluate` passing the
state back, exact resume from a checkpoint (the machinery of ``test_resume.py``), bad values.
"""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest
from musicgym.agents.history import HistoryStack, initial_state, next_state, predict_stacks

import musicgym
from musicgym import agents
from tests.agents import test_resume as resume
from tests.agents.device_check import tensors_on_one_device

CATALOG = {"catalog": "synthetic-2000"}
POMDP = "MusicGym/PlaylistPOMDP-v0"
FAST = {
    "ah_dqn": {"n_envs": 4, "learning_starts": 50, "buffer_size": 1000},
    "actor_critic": {"n_envs": 4, "n_steps": 32, "batch_size": 64, "n_epochs": 1},
    "cf_actor_critic": {"n_envs": 4, "n_steps": 16, "batch_size": 32, "n_epochs": 1, "n_candidates": 16},
}
HISTORY = {"history": 4, "history_hidden": 16}


def make(name: str, env_id: str = POMDP, **hp):
    return agents.make(name, env_id, seed=0, env_kwargs=CATALOG, **FAST[name], **hp)


# ------------------------------------------------------------------------------------------ the stack
def test_the_stack_keeps_the_last_heads_oldest_first_and_zeroes_at_episode_ends():
    stack = HistoryStack(n=2, length=3, head_dim=2)
    assert stack.data.shape == (2, 3, 2) and not stack.data.any()
    for t in (1, 2):
        before = stack.data
        stack.push(np.array([[t, t], [10 * t, 10 * t]], np.float32))
        assert stack.data is not before  # a new array: a rollout's stored stacks stay as they were
    assert stack.data[0].tolist() == [[0, 0], [1, 1], [2, 2]]  # zeros before the episode's start
    stack.push(np.array([[3, 3], [30, 30]], np.float32))
    stack.push(np.array([[4, 4], [40, 40]], np.float32))
    assert stack.data[0].tolist() == [[2, 2], [3, 3], [4, 4]]  # the oldest fell out of the window
    assert stack.data[1, -1].tolist() == [40, 40]
    saved = stack.state()
    stack.reset(np.array([False, True]))  # session 1's episode ended
    assert stack.data[0].tolist() == [[2, 2], [3, 3], [4, 4]] and not stack.data[1].any()
    stack.load(saved)
    assert stack.data[1, -1].tolist() == [40, 40]
    stack.reset()
    assert not stack.data.any()
    with pytest.raises(ValueError, match="shape"):
        stack.load(np.zeros((2, 4, 2)))
    with pytest.raises(ValueError, match="length >= 1"):
        HistoryStack(1, 0, 2)


def test_predict_state_follows_sb3s_recurrent_convention():
    heads = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)
    stacks, state = predict_stacks(2, heads, None, None, "a")  # None: a fresh stack
    assert not stacks.any() and state[:, -1].tolist() == heads.tolist()
    stacks, state2 = predict_stacks(2, heads + 1, state, np.array([False, True]), "a")
    assert stacks[0].tolist() == state[0].tolist() and not stacks[1].any()  # episode_start zeroes session 1
    assert state2[0].tolist() == [[1, 2], [2, 3]] and state2[1].tolist() == [[0, 0], [4, 5]]
    assert np.array_equal(next_state(state, heads + 1)[0], state2[0])
    assert predict_stacks(0, heads, "anything", None, "a") == (None, "anything")  # no history: state passes
    assert not initial_state(state, True, 2, 2, 2, "a").any()  # one episode_start for every session
    with pytest.raises(ValueError, match="agent 'a': state of shape"):
        predict_stacks(3, heads, state, None, "a")
    with pytest.raises(ValueError, match="episode_start of 3 values"):
        predict_stacks(2, heads, state, np.ones(3, bool), "a")


# ------------------------------------------------------------------------------------- history = 0
@pytest.mark.parametrize("name", ["ah_dqn", "actor_critic"])
def test_history_0_is_the_agent_without_a_history(name, tmp_path):
    """Same modules, same weights after the same training, the same sidecar (``history_hidden`` unused)."""
    plain = make(name, "MusicGym/Playlist-v0").learn(200)
    off = make(name, "MusicGym/Playlist-v0", history=0, history_hidden=8).learn(200)
    assert sorted(plain.modules) == sorted(off.modules) and "encoder" not in "".join(off.modules)
    meta = resume.assert_same_agent_files(plain, off, tmp_path)
    assert "history" not in meta["hyperparams"] and "history_hidden" not in meta["hyperparams"]


# ------------------------------------------------------------------------------------- history = L
def run_episode(agent, back, env_id: str, seed: int = 1) -> int:
    """One episode acted by `agent` with its state passed back; `back` (its saved copy) must agree."""
    env = gym.make(env_id, **CATALOG)
    obs, info = env.reset(seed=seed)
    state = back_state = None
    start, steps, done = np.ones(1, bool), 0, False
    head = agent.env.head_dim
    while not done:
        a1, new_state = agent.predict(obs, state=state, episode_start=start, deterministic=True, info=info)
        a2, back_state = back.predict(obs, state=back_state, episode_start=start, deterministic=True, info=info)
        assert np.array_equal(a1, a2) and np.array_equal(new_state, back_state)
        assert new_state.shape == (1, agent.hp["history"], head)
        assert np.allclose(new_state[0, -1], obs[:head])  # the stack passed back ends with this head
        if state is not None:
            assert np.array_equal(new_state[0, :-1], state[0, 1:])
        state, start = new_state, np.zeros(1, bool)
        obs, _, term, trunc, info = env.step(int(a1))
        steps, done = steps + 1, term or trunc
    return steps


@pytest.mark.parametrize("name", ["ah_dqn", "actor_critic"])
def test_a_short_run_saves_loads_and_predicts_with_a_history(name, tmp_path):
    agent = make(name, **HISTORY)
    encoders = {"encoder", "encoder_target"} if name == "ah_dqn" else {"pi_encoder", "v_encoder"}
    assert encoders <= set(agent.modules)
    agent.learn(300)
    assert agent.num_timesteps >= 300
    agent.save(tmp_path / "agent")
    meta = json.loads((tmp_path / "agent.json").read_text())
    assert meta["hyperparams"]["history"] == 4 and meta["hyperparams"]["history_hidden"] == 16
    back = agents.load(tmp_path / "agent")
    assert back.hp["history"] == 4 and back.n_history == 4
    resume.assert_same_weights(agent, back)
    assert run_episode(agent, back, POMDP) > 1

    # the memory is read: the same observation with another past gets other scores
    env = gym.make(POMDP, **CATALOG)
    obs, info = env.reset(seed=2)
    past = np.random.default_rng(0).normal(size=(1, 4, agent.env.head_dim)).astype(np.float32)
    fresh = agent.action_scores(obs, info)[1]
    assert not np.allclose(fresh, agent.action_scores(obs, info, state=past)[1])
    assert np.allclose(fresh, agent.action_scores(obs, info, state=np.zeros_like(past))[1])


@pytest.mark.parametrize("name", ["ah_dqn", "actor_critic"])
def test_evaluate_passes_the_state_back(name, monkeypatch):
    agent = make(name, **HISTORY).learn(64)
    seen = []
    predict = agent.predict

    def spy(obs, state=None, episode_start=None, **kw):
        out = predict(obs, state=state, episode_start=episode_start, **kw)
        seen.append((state, bool(np.asarray(episode_start).all()), out[1]))
        return out

    monkeypatch.setattr(agent, "predict", spy)
    r = musicgym.evaluate(agent, POMDP, n_episodes=2, **CATALOG)
    assert np.isfinite(r.normalized_score)
    assert seen[0][0] is None and seen[0][1]
    for (_, _, returned), (given, start, _) in zip(seen, seen[1:], strict=False):
        assert start or given is returned  # within an episode, the state predict returned comes back


def test_cf_actor_critic_takes_a_history_too(tmp_path):
    agent = make("cf_actor_critic", "MusicGym/TasteCatalog-v0", history=2, history_hidden=8).learn(64)
    agent.save(tmp_path / "agent")
    back = agents.load(tmp_path / "agent")
    resume.assert_same_weights(agent, back)
    assert run_episode(agent, back, "MusicGym/TasteCatalog-v0") > 1


@pytest.mark.parametrize("name,env_id", [("ah_dqn", "MusicGym/TasteCatalog-v0"), ("actor_critic", POMDP)])
def test_no_tensor_leaves_the_model_device_with_a_history(name, env_id, monkeypatch, tmp_path):
    """The device check of ``test_devices.py`` (a tensor made without the agent's device lands on "meta")."""
    agent = make(name, env_id, **HISTORY)
    with tensors_on_one_device(monkeypatch) as check:
        agent.learn(128)
        agent.save(tmp_path / "agent")
        run_episode(agent, agents.load(tmp_path / "agent"), env_id)
    assert check.calls > 100


# ------------------------------------------------------------------------------------------- resume
RESUME_CASES = [
    ("ah_dqn", POMDP),
    ("ah_dqn", "MusicGym/TasteCatalog-v0"),  # the actor reads the encoding, retrieval with it
    ("actor_critic", POMDP),
]


@pytest.mark.parametrize("name,env_id", RESUME_CASES)
def test_a_run_with_a_history_killed_mid_way_resumes_exactly(name, env_id, tmp_path):
    """``test_resume.py``'s check with ``history=4``: the stacks in hand are in the checkpoint."""
    # the env's first build in this process (Playlist-v0's cluster world, under threadpoolctl's OpenMP
    # limit) resets torch's thread count after the agent set it: build it before the runs compared
    resume.make(name, env_id, {"history": 4})
    straight = resume.make(name, env_id, {"history": 4}).learn(resume.N)
    ckpt = {"checkpoint_dir": str(tmp_path / "ckpt"), "checkpoint_freq": resume.FREQ}
    killed = resume.make(name, env_id, {"history": 4}, **ckpt)
    with pytest.raises(resume.Killed):
        killed.learn(resume.N, callback=resume._kill_after(name, resume.KILL_AT))
    resumed = resume.make(name, env_id, {"history": 4}, **ckpt)
    resumed.learn(resume.N)
    assert resumed.resumed_from is not None and 0 < resumed.resumed_from < resume.KILL_AT
    assert resumed.num_timesteps == straight.num_timesteps
    resume.assert_same_weights(resumed, straight)
    assert any(k.startswith(".encoder") or k.startswith(".pi_encoder") for k in resume.weights(resumed))


def test_a_checkpoint_with_a_history_does_not_resume_a_run_without_one(tmp_path):
    ckpt = {"checkpoint_dir": str(tmp_path / "ckpt")}
    resume.make("actor_critic", POMDP, {"history": 4}, **ckpt).learn(64)
    with pytest.raises(ValueError, match=r"other hyperparameters \(\['history', 'history_hidden'\]\)"):
        resume.make("actor_critic", POMDP, {}, **ckpt).learn(128)


# ----------------------------------------------------------------------------------- bad values
@pytest.mark.parametrize("name", ["ah_dqn", "actor_critic", "cf_actor_critic"])
@pytest.mark.parametrize("hp,match", [
    ({"history": -1}, "history must be an integer >= 0"),
    ({"history": 2.5}, "history must be an integer >= 0"),
    ({"history": True}, "history must be an integer >= 0"),
    ({"history": 4, "history_hidden": 0}, "history_hidden must be a positive integer"),
    ({"history_hidden": "wide"}, "history_hidden must be a positive integer"),
])  # fmt: skip
def test_a_bad_history_hyperparameter_is_refused_by_name(name, hp, match):
    env_id = "MusicGym/TasteCatalog-v0" if name == "cf_actor_critic" else POMDP
    with pytest.raises(ValueError, match=f"agent '{name}': {match}"):
        agents.make(name, env_id, env_kwargs=CATALOG, **hp)


def test_fine_tuning_from_logs_refuses_an_agent_with_a_history():
    from musicgym.agents.finetune import finetune

    agent = make("ah_dqn", "MusicGym/Playlist-v0", history=2)
    with pytest.raises(ValueError, match="history=2.*does not support"):
        finetune(agent, log=None, steps=10)
