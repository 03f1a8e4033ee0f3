"""``ah_dqn``'s memory options: ``history_played`` (the played track's features beside each head) and
``history_encoder="deepsets"`` (a permutation-invariant encoder of the episode's steps).

The defaults are today's agent (same sidecar, same weights); the played track's features are those of
the track the head's feedback is about; the set encoder ignores order and padding; save / load /
predict with the state passed back, exact resume, bad values.
"""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest
import torch
from musicgym.agents.history import HistoryEncoder, SetEncoder, last_played

from musicgym import agents
from tests.agents import test_resume as resume

CATALOG = {"catalog": "synthetic-2000"}
HIDDEN = "MusicGym/PreferenceHidden-v0"
FAST = {"n_envs": 4, "learning_starts": 50, "buffer_size": 1000}
PLAYED = {"history": 4, "history_hidden": 16, "history_played": True, "history_encoder": "deepsets"}


def make(env_id: str = HIDDEN, **hp):
    return agents.make("ah_dqn", env_id, seed=0, env_kwargs=CATALOG, **FAST, **hp)


# ------------------------------------------------------------------------------------ the pieces
def test_last_played_is_each_sessions_last_track():
    assert last_played(np.array([7, 3, 9]), "a").tolist() == [9]  # one session: its playlist
    padded = np.array([[4, 5, -1, -1], [1, 2, 3, 8]])
    assert last_played(padded, "a").tolist() == [5, 8]  # a vector env's: -1 padded
    with pytest.raises(ValueError, match="agent 'a' with history_played reads info\\['history'\\]"):
        last_played(None, "a")
    with pytest.raises(ValueError, match="a session with no track"):
        last_played(np.array([[3, -1], [-1, -1]]), "a")


def test_the_set_encoder_ignores_order_and_padding_but_not_the_entries():
    torch.manual_seed(0)
    enc = SetEncoder(3, 8)
    x = torch.tensor([[[0, 0, 0], [0, 0, 0], [1.0, 0, 0.5], [0, 1, -0.3]]])
    shuffled = x[:, [3, 0, 2, 1]]
    assert torch.allclose(enc(x), enc(shuffled))  # order does not matter, nor where the padding is
    other = x.clone()
    other[0, 3, 2] = 0.7  # another reward for the same track
    assert not torch.allclose(enc(x), enc(other))
    one_more = x.clone()
    one_more[0, 0] = x[0, 2]  # the same step twice: the same mean, another count
    assert not torch.allclose(enc(x), enc(one_more))
    assert enc(torch.zeros(2, 4, 3)).shape == (2, 8) and torch.isfinite(enc(torch.zeros(1, 4, 3))).all()


# ------------------------------------------------------------------------------------ the defaults
def test_the_default_options_are_todays_agent(tmp_path):
    """history_played False and history_encoder gru: same modules, weights and sidecar as without them."""
    plain = make(POMDP := "MusicGym/PlaylistPOMDP-v0", history=4, history_hidden=16).learn(200)
    same = make(POMDP, history=4, history_hidden=16, history_played=False, history_encoder="gru").learn(200)
    meta = resume.assert_same_agent_files(plain, same, tmp_path)
    assert "history_played" not in meta["hyperparams"] and "history_encoder" not in meta["hyperparams"]
    off = make(POMDP, history_played=True, history_encoder="deepsets")  # no history: the options do nothing
    assert off.head_dim == off.env.head_dim and "encoder" not in off.modules
    assert "history_played" not in off.describe()["hyperparams"]


# ------------------------------------------------------------------------------------ the played track
@pytest.mark.parametrize("encoder", ["gru", "deepsets"])
def test_each_head_carries_the_features_of_the_track_its_feedback_is_about(encoder):
    agent = make(**{**PLAYED, "history_encoder": encoder}).learn(200)
    h, items = agent.env.head_dim, agent.env.item_features
    assert agent.head_dim == h + items.shape[1]
    buf = agent.buffer
    assert buf.s.shape[1] == agent.head_dim and buf.hs.shape[2] == agent.head_dim
    n = buf.n
    # s' is the observation after playing a: its head's reward is a's, and the features beside it are a's
    assert np.array_equal(buf.s2[:n, h:], items[buf.a[:n]])
    # PreferenceHidden-v0's head ends with the last reward: the transition's reward (reward_scale 1)
    assert np.allclose(buf.s2[:n, h - 1], buf.r[:n])
    # within an episode (4 sessions a step, added in order), the next s is this s' (the same played track)
    going = np.flatnonzero(buf.done[: n - 4] == 0)
    assert len(going) > 100 and np.array_equal(buf.s[going + 4], buf.s2[going])
    assert isinstance(agent.encoder, SetEncoder if encoder == "deepsets" else HistoryEncoder)


def run_episode(agent, back, env_id: str = HIDDEN, seed: int = 1) -> int:
    """One episode acted by `agent` with its state passed back; `back` (its saved copy) must agree."""
    env = gym.make(env_id, **CATALOG)
    obs, info = env.reset(seed=seed)
    state = back_state = None
    start, steps, done = np.ones(1, bool), 0, False
    h, items = agent.env.head_dim, agent.env.item_features
    while not done:
        a1, new_state = agent.predict(obs, state=state, episode_start=start, deterministic=True, info=info)
        a2, back_state = back.predict(obs, state=back_state, episode_start=start, deterministic=True, info=info)
        assert np.array_equal(a1, a2) and np.array_equal(new_state, back_state)
        assert new_state.shape == (1, agent.hp["history"], agent.head_dim)
        # the stack passed back ends with this head and the features of the track last played
        assert np.allclose(new_state[0, -1, :h], obs[:h])
        assert np.array_equal(new_state[0, -1, h:], items[info["history"][-1]])
        state, start = new_state, np.zeros(1, bool)
        obs, _, term, trunc, info = env.step(int(a1))
        steps, done = steps + 1, term or trunc
    return steps


def test_a_short_run_saves_loads_and_predicts_with_the_played_tracks(tmp_path):
    agent = make(**PLAYED).learn(300)
    agent.save(tmp_path / "agent")
    meta = json.loads((tmp_path / "agent.json").read_text())
    assert meta["hyperparams"]["history_played"] is True and meta["hyperparams"]["history_encoder"] == "deepsets"
    back = agents.load(tmp_path / "agent")
    assert back.played and back.set_encoder and isinstance(back.encoder, SetEncoder)
    resume.assert_same_weights(agent, back)
    assert run_episode(agent, back) > 1

    env = gym.make(HIDDEN, **CATALOG)
    obs, info = env.reset(seed=2)
    # the memory is read: another past gets other scores; the current step counts in the set
    past = np.random.default_rng(0).normal(size=(1, 4, agent.head_dim)).astype(np.float32)
    fresh = agent.action_scores(obs, info)[1]
    assert not np.allclose(fresh, agent.action_scores(obs, info, state=past)[1])
    # the played track is read: the same observation after another track scores otherwise
    moved = {**info, "history": np.array([(int(info["history"][-1]) + 1) % len(agent.env.item_features)])}
    assert not np.allclose(fresh, agent.action_scores(obs, moved)[1])
    with pytest.raises(ValueError, match="reads info\\['history'\\]"):
        agent.predict(obs)


def test_evaluate_runs_an_agent_with_the_played_tracks():
    import musicgym

    r = musicgym.evaluate(make(**PLAYED).learn(64), HIDDEN, n_episodes=2, **CATALOG)
    assert np.isfinite(r.normalized_score)


@pytest.mark.parametrize("env_id", [HIDDEN, "MusicGym/TasteCatalog-v0"])
def test_a_run_with_the_played_tracks_killed_mid_way_resumes_exactly(env_id, tmp_path):
    """``test_resume.py``'s check with the played tracks and the set encoder (catalog mode too)."""
    resume.make("ah_dqn", env_id, PLAYED)
    straight = resume.make("ah_dqn", env_id, PLAYED).learn(resume.N)
    ckpt = {"checkpoint_dir": str(tmp_path / "ckpt"), "checkpoint_freq": resume.FREQ}
    killed = resume.make("ah_dqn", env_id, PLAYED, **ckpt)
    with pytest.raises(resume.Killed):
        killed.learn(resume.N, callback=resume._kill_after("ah_dqn", resume.KILL_AT))
    resumed = resume.make("ah_dqn", env_id, PLAYED, **ckpt)
    resumed.learn(resume.N)
    assert resumed.resumed_from is not None and 0 < resumed.resumed_from < resume.KILL_AT
    resume.assert_same_weights(resumed, straight)
    assert any(k.startswith(".encoder.phi") for k in resume.weights(resumed))


@pytest.mark.parametrize("hp,match", [
    ({"history": 4, "history_played": 1}, "history_played must be True or False"),
    ({"history": 4, "history_encoder": "lstm"}, "history_encoder must be 'gru', 'deepsets' or 'ridge'"),
])  # fmt: skip
def test_a_bad_memory_option_is_refused_by_name(hp, match):
    with pytest.raises(ValueError, match=f"agent 'ah_dqn': {match}"):
        agents.make("ah_dqn", HIDDEN, env_kwargs=CATALOG, **hp)


# ------------------------------------------------------------------------------------ q_bilinear
def test_the_bilinear_q_network_adds_the_tracks_inner_product_with_a_map_of_the_state():
    from musicgym.agents.ah_dqn import BilinearQ

    torch.manual_seed(0)
    net = BilinearQ(state_dim=3, d=2, hidden=8)
    x = torch.randn(5, 4, 5)  # (B, K, state + track), as with_head lays the rows out
    plain = net.mlp(x)
    u = net.u(x[..., :3])
    assert torch.allclose(net(x), plain + (u * x[..., 3:]).sum(-1, keepdim=True), atol=1e-6)
    with torch.no_grad():
        net.u.weight.zero_()
        net.u.bias.copy_(torch.tensor([1.0, -2.0]))
    assert torch.allclose(net(x) - plain, x[..., 3:4] - 2 * x[..., 4:5], atol=1e-6)


def test_q_bilinear_off_is_todays_agent_and_on_saves_loads_and_resumes(tmp_path):
    plain = make("MusicGym/Playlist-v0").learn(200)
    off = make("MusicGym/Playlist-v0", q_bilinear=False).learn(200)
    resume.assert_same_weights(plain, off)
    assert "q_bilinear" not in off.describe()["hyperparams"]
    agent = make(**PLAYED, q_bilinear=True).learn(200)
    assert agent.describe()["hyperparams"]["q_bilinear"] is True and any(".q.u." in k for k in resume.weights(agent))
    agent.save(tmp_path / "agent")
    back = agents.load(tmp_path / "agent")
    resume.assert_same_weights(agent, back)
    assert run_episode(agent, back) > 1
    with pytest.raises(ValueError, match="agent 'ah_dqn': q_bilinear must be True or False"):
        make(q_bilinear="yes")


def test_a_run_with_q_bilinear_killed_mid_way_resumes_exactly(tmp_path):
    extra = {**PLAYED, "q_bilinear": True}
    straight = resume.make("ah_dqn", "MusicGym/TasteCatalog-v0", extra).learn(resume.N)  # the actor reads q too
    ckpt = {"checkpoint_dir": str(tmp_path / "ckpt"), "checkpoint_freq": resume.FREQ}
    killed = resume.make("ah_dqn", "MusicGym/TasteCatalog-v0", extra, **ckpt)
    with pytest.raises(resume.Killed):
        killed.learn(resume.N, callback=resume._kill_after("ah_dqn", resume.KILL_AT))
    resumed = resume.make("ah_dqn", "MusicGym/TasteCatalog-v0", extra, **ckpt)
    resumed.learn(resume.N)
    assert resumed.resumed_from is not None
    resume.assert_same_weights(resumed, straight)


# ------------------------------------------------------------------------------------ the ridge encoder
def test_the_ridge_encoder_recovers_a_linear_listener_from_the_steps():
    from musicgym.agents.history import RidgeEncoder

    rng = np.random.default_rng(0)
    h, d = 3, 5
    enc = RidgeEncoder(h, d, readouts=2, lam=1e-6)
    with torch.no_grad():  # readout 0: the head's last value (the reward); readout 1: twice its first
        enc.readout.weight.zero_()
        enc.readout.bias.zero_()
        enc.readout.weight[0, 2] = 1.0
        enc.readout.weight[1, 0] = 2.0
    p = rng.normal(size=d)
    x = rng.integers(0, 2, size=(12, d)).astype(np.float32)
    x[:, 0] = 1.0  # no step is all zeros
    head = np.zeros((12, h), np.float32)
    head[:, 2] = x @ p
    head[:, 0] = 1.0
    steps = np.concatenate([head, x], axis=1)
    stacks = np.zeros((1, 16, h + d), np.float32)
    stacks[0, 4:] = steps  # 4 empty steps before the episode's start
    out = enc(torch.from_numpy(stacks))[0].detach().numpy()
    assert out.shape == (d * 2 + 1,) and out[-1] == pytest.approx(12 / 16)
    est = out[:-1].reshape(d, 2)
    assert np.allclose(est[:, 0], p, atol=1e-3)  # the listener's weights
    assert np.allclose(est[:, 1], 2 * np.linalg.lstsq(x, np.ones(12), rcond=None)[0], atol=1e-3)
    shuffled = np.concatenate([stacks[:, 10:], stacks[:, :10]], axis=1)  # a set: order does not matter
    assert np.allclose(enc(torch.from_numpy(shuffled)).detach().numpy(), out[None], atol=1e-4)
    assert torch.isfinite(enc(torch.zeros(2, 4, h + d))).all()  # an empty stack: zeros, no NaN


RIDGE = {"history": 4, "history_played": True, "history_encoder": "ridge", "q_bilinear": True}


def test_an_agent_with_the_ridge_encoder_runs_saves_loads_and_resumes(tmp_path):
    from musicgym.agents.history import RidgeEncoder

    with pytest.raises(ValueError, match="it needs history_played=True"):
        make(history=4, history_encoder="ridge", history_played=False)
    agent = make(**RIDGE).learn(300)
    assert isinstance(agent.encoder, RidgeEncoder) and isinstance(agent.encoder_target, RidgeEncoder)
    agent.save(tmp_path / "agent")
    back = agents.load(tmp_path / "agent")
    resume.assert_same_weights(agent, back)
    assert run_episode(agent, back) > 1

    straight = resume.make("ah_dqn", HIDDEN, RIDGE).learn(resume.N)
    ckpt = {"checkpoint_dir": str(tmp_path / "ckpt"), "checkpoint_freq": resume.FREQ}
    with pytest.raises(resume.Killed):
        resume.make("ah_dqn", HIDDEN, RIDGE, **ckpt).learn(resume.N, callback=resume._kill_after("ah_dqn",
                                                                                                  resume.KILL_AT))
    resumed = resume.make("ah_dqn", HIDDEN, RIDGE, **ckpt)
    resumed.learn(resume.N)
    assert resumed.resumed_from is not None
    resume.assert_same_weights(resumed, straight)
    assert any(k.startswith(".encoder.readout") for k in resume.weights(resumed))


# ------------------------------------------------------------------------------------ the learning-rate decay
def test_the_learning_rate_decays_over_the_agents_steps_not_a_learn_calls():
    """Linear from learning_rate to learning_rate_final over learning_rate_decay_steps, then held; the same
    weights whether trained in one `learn` call or in several (a sweep's curve points)."""
    # (epsilon held constant: its schedule, like SB3's, is over each learn call's target)
    decay = {"learning_rate": 1e-3, "learning_rate_final": 1e-4, "learning_rate_decay_steps": 400,
             "exploration_initial_eps": 0.2, "exploration_final_eps": 0.2}
    agent = make(**decay)
    assert "learning_rate_final" in agent.describe()["hyperparams"]
    agent.learn(200)
    assert agent.opt.param_groups[0]["lr"] == pytest.approx(1e-3 - 0.9e-3 * 200 / 400)  # the last update's, at step 200
    agent.learn(600)
    assert agent.opt.param_groups[0]["lr"] == pytest.approx(1e-4)
    in_one = make(**decay).learn(600)
    resume.assert_same_weights(agent, in_one)
    constant = make(learning_rate=1e-3, exploration_initial_eps=0.2, exploration_final_eps=0.2).learn(200)
    assert constant.opt.param_groups[0]["lr"] == 1e-3 and "learning_rate_final" not in constant.describe()["hyperparams"]
    with pytest.raises(AssertionError):  # and the decay is used: other weights than at the constant rate
        resume.assert_same_weights(make(**decay).learn(200), constant)


@pytest.mark.parametrize("hp", [{"learning_rate_final": 1e-4}, {"learning_rate_decay_steps": 100}])
def test_a_learning_rate_decay_needs_both_its_rate_and_its_steps(hp):
    with pytest.raises(ValueError, match="agent 'ah_dqn': learning_rate_final and learning_rate_decay_steps go together"):
        make(**hp)
