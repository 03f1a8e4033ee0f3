"""Every agent on every env it supports: a short run, save/load/predict, errors, logging, resume."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import musicgym
from musicgym import agents
from musicgym.registration import registered_ids

CATALOG = {"catalog": "synthetic-2000"}
#: small settings so that every agent trains a few hundred steps quickly
FAST = {
    "ppo": {"n_envs": 4, "n_steps": 32, "batch_size": 64, "n_epochs": 1},
    "maskable_ppo": {"n_envs": 4, "n_steps": 32, "batch_size": 64, "n_epochs": 1},
    "dqn": {"n_envs": 4, "learning_starts": 50, "buffer_size": 1000, "target_update_interval": 4},
    "ah_dqn": {"n_envs": 4, "learning_starts": 50, "buffer_size": 1000},
    "actor_critic": {"n_envs": 4, "n_steps": 32, "batch_size": 64, "n_epochs": 1},
    "cf_actor_critic": {"n_envs": 4, "n_steps": 32, "batch_size": 64, "n_epochs": 1, "n_candidates": 16},
    "model_based": {},
}
CASES = [(a, e) for a in FAST for e in registered_ids() if agents.supports(a, e)]


def _fast_cases(cases: list[tuple[str, str]]) -> list:
    """Every case, the ones beyond the first per (agent, action mode) and per env marked slow: each agent
    still trains in both modes and each env still trains an agent in the default run."""
    seen: set = set()
    out = []
    for agent, env_id in cases:
        keys = {(agent, "Catalog" in env_id), env_id}
        out.append(pytest.param(agent, env_id, marks=() if keys - seen else pytest.mark.slow))
        seen |= keys
    return out


def test_registry_lists_every_agent():
    assert agents.available() == [
        "actor_critic", "ah_dqn", "cf_actor_critic", "dqn", "item_cf", "maskable_ppo", "model_based", "popularity",
        "posterior_greedy", "posterior_planner", "ppo", "recurrent_ppo", "sasrec", "set_transformer", "user_cf",
    ]  # fmt: skip
    assert {a for a, _ in CASES} == set(FAST) and {e for _, e in CASES} == set(registered_ids())
    assert ("cf_actor_critic", "MusicGym/Taste-v0") not in CASES  # catalog mode only


@pytest.mark.parametrize("name,env_id", _fast_cases(CASES))
def test_short_run_save_load_predict(name, env_id, tmp_path):
    agent = agents.make(name, env_id, seed=0, env_kwargs=CATALOG, **FAST[name])
    agent.learn(300)
    assert agent.num_timesteps >= 300
    agent.save(tmp_path / "agent")
    back = agents.load(tmp_path / "agent")
    assert type(back) is type(agent) and back.env_id == env_id
    env = gym.make(env_id, **CATALOG)
    obs, info = env.reset(seed=1)
    for _ in range(5):
        kw = {"info": info} if agent.uses_info else {}
        a1, _ = agent.predict(obs, deterministic=True, **kw)
        a2, _ = back.predict(obs, deterministic=True, **kw)
        assert np.array_equal(a1, a2)
        obs, _, term, trunc, info = env.step(int(a1))
        if term or trunc:
            break


def test_unknown_agent_lists_available():
    with pytest.raises(ValueError, match="unknown agent 'pppo'; available agents: actor_critic, ah_dqn"):
        agents.make("pppo", "MusicGym/Playlist-v0")


@pytest.mark.parametrize(
    "name,hp,match",
    [
        ("ppo", {"learning_rat": 1e-3}, r"unknown hyperparameter\(s\) \['learning_rat'\]; accepted: \[.*'learning_rate'"),
        ("ah_dqn", {"epsilon": 0.1}, r"unknown hyperparameter\(s\) \['epsilon'\]; accepted: \[.*'exploration_final_eps'"),
        ("ah_dqn", {"loss": "l1"}, "loss must be 'huber' or 'mse'"),
        ("actor_critic", {"clip_range": 1.5}, r"clip_range must be in \(0, 1\)"),
        ("actor_critic", {"n_envs": 0}, "n_envs must be a positive integer"),
        ("ppo", {"n_steps": "many"}, "agent 'ppo': n_steps must be a positive integer, got 'many'"),
        ("actor_critic", {"policy_net": "cnn"}, "policy_net must be 'mlp', 'slots' or 'tracks'"),
    ],
)
def test_bad_hyperparameters(name, hp, match):
    with pytest.raises(ValueError, match=match):
        agents.make(name, "MusicGym/Playlist-v0", env_kwargs=CATALOG, **hp)


def test_unknown_env_and_unsupported_env():
    with pytest.raises(ValueError, match="unknown env id 'MusicGym/Nope-v0'"):
        agents.make("ppo", "MusicGym/Nope-v0")
    with pytest.raises(ValueError, match="works in catalog mode only"):
        agents.make("cf_actor_critic", "MusicGym/Taste-v0", env_kwargs=CATALOG)


def test_yaml_defaults_are_used_and_overridable():
    a = agents.make("ppo", "MusicGym/Playlist-v0", env_kwargs=CATALOG)
    assert a.model.n_steps == 144 and a.model.gamma == 0.95
    b = agents.make("ppo", "MusicGym/Playlist-v0", env_kwargs=CATALOG, n_steps=72)
    assert b.model.n_steps == 72


def test_env_instance_accepted():
    env = gym.make("MusicGym/Preference-v0", catalog="synthetic-2000", k=10)
    a = agents.make("ah_dqn", env, **FAST["ah_dqn"])
    assert a.env_id == "MusicGym/Preference-v0" and a.env.n_actions == 10


@pytest.mark.parametrize("name", ["ah_dqn", "ppo"])
def test_tensorboard_fixed_names(name, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    a = agents.make(name, "MusicGym/Playlist-v0", env_kwargs=CATALOG, tensorboard_log=str(tmp_path), **FAST[name])
    a.learn(1500)
    tags = set()
    for ev in tmp_path.rglob("events.out.tfevents.*"):
        acc = EventAccumulator(str(ev))
        acc.Reload()
        tags |= set(acc.Tags()["scalars"])
    assert {"charts/episodic_return", "charts/SPS"} <= tags
    assert any(t.startswith("losses/") for t in tags)


@pytest.mark.parametrize("name", ["actor_critic", "ppo"])
def test_checkpoint_resume(name, tmp_path):
    hp = {**FAST[name], "checkpoint_dir": str(tmp_path / "ckpt"), "checkpoint_freq": 128}
    a = agents.make(name, "MusicGym/Playlist-v0", env_kwargs=CATALOG, **hp)
    a.learn(256)
    first = a.num_timesteps
    assert (tmp_path / "ckpt").exists()
    b = agents.make(name, "MusicGym/Playlist-v0", env_kwargs=CATALOG, **hp)
    b.learn(first + 256)  # a fresh process would do the same: resume, then train the rest
    assert first <= b.num_timesteps - 256 + b.vec_env.num_envs * 64 and b.num_timesteps >= first + 256


@pytest.mark.slow
@pytest.mark.parametrize(
    "name,env_id,env_kwargs,steps",
    [
        ("ppo", "MusicGym/Taste-v0", {}, 100_000),
        ("ah_dqn", "MusicGym/Preference-v0", {}, 10_000),
    ],
)
def test_learns_above_random_on_tiny_catalog(name, env_id, env_kwargs, steps):
    kw = {"catalog": "synthetic-2000", **env_kwargs}
    agent = agents.make(name, env_id, seed=0, env_kwargs=kw)
    agent.learn(steps)
    result = musicgym.evaluate(agent, env_id, n_episodes=50, seed=123, **kw)
    assert result.normalized_score > 0.3, result


def test_slot_scorer_plugin_is_permutation_equivariant():
    import torch
    from musicgym.agents.slot_policy import SlotScorer

    a = agents.make("ppo", "MusicGym/Taste-v0", env_kwargs=CATALOG, slot_scorer=True, **FAST["ppo"])
    a.learn(300)
    ext = a.model.policy.features_extractor
    assert isinstance(ext, SlotScorer) and ext.n_slots == 20
    obs = torch.rand(3, 9 + 20 * 9)
    perm = torch.randperm(20)
    permuted = torch.cat([obs[:, :9], obs[:, 9:].reshape(3, 20, 9)[:, perm].reshape(3, -1)], dim=1)
    with torch.no_grad():
        assert torch.allclose(ext(obs)[:, :20][:, perm], ext(permuted)[:, :20], atol=1e-6)
    with pytest.raises(ValueError, match="slot_scorer needs a candidates-mode env"):
        agents.make("ppo", "MusicGym/TasteCatalog-v0", env_kwargs=CATALOG, slot_scorer=True)


def _permuted(obs: np.ndarray, head: int, k: int, perm: np.ndarray) -> np.ndarray:
    slots = obs[:, head:].reshape(len(obs), k, -1)[:, perm]
    return np.concatenate([obs[:, :head], slots.reshape(len(obs), -1)], axis=1)


@pytest.mark.parametrize("name", ["ppo", "maskable_ppo", "dqn", "actor_critic"])
def test_slot_policies_give_a_track_the_same_probability_in_any_slot(name):
    """With the configs' slot policies, permuting the candidate slots permutes the action probabilities (Q-values)."""
    import torch

    a = agents.make(name, "MusicGym/Preference-v0", env_kwargs=CATALOG, **FAST[name])
    assert a.hp["slot_scorer" if name != "actor_critic" else "policy_net"] in (True, "slots")  # from the YAML config
    a.learn(300)
    venv = gym.make_vec("MusicGym/Preference-v0", num_envs=3, vectorization_mode="vector_entry_point", **CATALOG)
    obs, _ = venv.reset(seed=0)
    n_actions, head_dim = int(venv.single_action_space.n), venv.unwrapped.head_dim
    perm = np.random.default_rng(0).permutation(n_actions)
    other = _permuted(obs, head_dim, n_actions, perm)
    with torch.no_grad():
        if name == "actor_critic":
            p, q = (a.action_probs(o, {}).numpy() for o in (obs, other))
        elif name == "dqn":
            q_net = a.model.policy.q_net
            p, q = (torch.softmax(q_net(a.model.policy.obs_to_tensor(o)[0]), 1).numpy() for o in (obs, other))
        else:
            policy = a.model.policy
            p, q = (policy.get_distribution(policy.obs_to_tensor(o)[0]).distribution.probs.numpy() for o in (obs, other))
    assert not np.allclose(p, 1 / n_actions, atol=1e-4)  # trained: not uniform
    np.testing.assert_allclose(p[:, perm], q, atol=1e-6)


def test_actor_critic_slots_needs_slot_observations():
    import torch

    with pytest.raises(ValueError, match="policy_net='slots' needs a candidates-mode env"):
        agents.make("actor_critic", "MusicGym/TasteCatalog-v0", env_kwargs=CATALOG, policy_net="slots")
    with pytest.raises(ValueError, match="policy_net='slots' needs the candidates' features"):
        agents.make("actor_critic", "MusicGym/Playlist-v0", env_kwargs={**CATALOG, "observation": "latent"},
                    policy_net="slots")
    with pytest.raises(ValueError, match="policy_net='tracks' needs a catalog-mode env"):
        agents.make("actor_critic", "MusicGym/Taste-v0", env_kwargs=CATALOG, policy_net="tracks")
    tracks = agents.make("actor_critic", "MusicGym/TasteCatalog-v0", env_kwargs=CATALOG)  # the YAML config's
    assert tracks.hp["policy_net"] == "tracks" and tracks.policy(torch.zeros(2, 9)).shape == (2, 2000)
    plain = agents.make("actor_critic", "MusicGym/Playlist-v0", env_kwargs=CATALOG, policy_net="mlp")
    assert plain.policy[0].in_features == 27  # the project's network over the whole observation


@pytest.mark.parametrize("name", ["ppo", "ah_dqn"])
def test_progress_bar(name, capsys):
    agent = agents.make(name, "MusicGym/Taste-v0", env_kwargs=CATALOG, **FAST[name])
    agent.learn(256, progress_bar=True)  # SB3 raises ImportError without tqdm and rich
    assert agent.num_timesteps >= 256
    if name == "ah_dqn":  # tqdm writes to stderr (SB3's rich bar writes to its own console)
        assert "256/256" in capsys.readouterr().err


def test_track_scorer_reuses_track_embeddings_only_until_the_weights_change():
    import torch
    from musicgym.agents.slot_policy import TrackScorer

    m = TrackScorer(9, np.random.default_rng(0).random((500, 9)), 32)
    x = torch.rand(3, 9)

    def fresh() -> torch.Tensor:
        unit = torch.nn.functional.normalize
        return m.log_scale.exp() * (unit(m.state(x), dim=1) @ unit(m.track(m.items), dim=1).T)

    with torch.no_grad():
        before = m(x)
        assert torch.equal(m(x), before) and torch.allclose(before, fresh())
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    m(x).sum().backward()  # with gradients: computed afresh
    opt.step()
    with torch.no_grad():
        after = m(x)
        assert not torch.allclose(after, before) and torch.allclose(after, fresh())


@pytest.mark.parametrize("name", ["ppo", "maskable_ppo", "dqn"])
def test_track_policies_score_the_catalog_without_an_n_by_n_layer(name):
    import torch
    from musicgym.agents.slot_policy import TrackScorer

    a = agents.make(name, "MusicGym/PreferenceCatalog-v0", env_kwargs=CATALOG, **FAST[name])
    assert a.hp["track_scorer"] is True  # from the YAML config
    a.learn(300)
    policy = a.model.policy
    scorers = [m for m in policy.modules() if isinstance(m, TrackScorer)]
    assert scorers and all(len(m.items) == 2000 for m in scorers)
    assert sum(p.numel() for p in policy.parameters()) < 2000 * 100  # no (hidden x 2000) or (2000 x 2000) layer
    obs = policy.obs_to_tensor(np.random.default_rng(0).uniform(-1, 1, (3, 21)).astype(np.float32))[0]
    with torch.no_grad():
        scores = policy.q_net(obs) if name == "dqn" else policy.get_distribution(obs).distribution.logits
    assert scores.shape == (3, 2000) and torch.isfinite(scores).all()


def test_track_scorer_errors():
    with pytest.raises(ValueError, match="track_scorer needs a catalog-mode env"):
        agents.make("ppo", "MusicGym/Taste-v0", env_kwargs=CATALOG, track_scorer=True)
    with pytest.raises(ValueError, match="slot_scorer needs a candidates-mode env"):
        agents.make("dqn", "MusicGym/TasteCatalog-v0", env_kwargs=CATALOG, slot_scorer=True)  # YAML: track_scorer


@pytest.mark.parametrize("name", ["ppo", "dqn"])
@pytest.mark.parametrize("deterministic", [True, False])
def test_sb3_predict_keeps_to_the_action_mask(name, deterministic):
    """Plain PPO / DQN train without masks; given ``info`` they never choose a masked (played) track."""
    a = agents.make(name, "MusicGym/TasteCatalog-v0", env_kwargs=CATALOG, **FAST[name])
    env = gym.make("MusicGym/TasteCatalog-v0", **CATALOG)
    obs, info = env.reset(seed=3)
    free, _ = a.predict(obs, deterministic=True)  # without info: SB3's own choice
    only = (int(free) + 7) % 2000
    mask = np.zeros(2000, dtype=bool)
    mask[only] = True
    for _ in range(20):
        action, _ = a.predict(obs, deterministic=deterministic, info={**info, "action_mask": mask})
        assert int(action) == only
    batch, _ = a.predict(np.stack([obs, obs]), deterministic=deterministic, info={"action_mask": np.stack([mask, mask])})
    assert batch.tolist() == [only, only]
    nothing, _ = a.predict(obs, deterministic=deterministic, info={"action_mask": np.zeros(2000, dtype=bool)})
    assert 0 <= int(nothing) < 2000  # nothing allowed (the episode is over): no error, no filter
    with pytest.raises(ValueError, match="action_mask'\\] has shape"):
        a.predict(obs, info={"action_mask": mask[:10]})
    played = []
    for _ in range(30):  # a whole episode with the env's own masks: no repeat
        action, _ = a.predict(obs, deterministic=True, info=info)
        played.append(int(action))
        obs, _, term, trunc, info = env.step(int(action))
        if term or trunc:
            break
    assert len(set(played)) == len(played)


@pytest.mark.parametrize("mask_rollouts", [True, False])
def test_dqn_mask_rollouts_keeps_training_to_unplayed_tracks(mask_rollouts, tmp_path):
    """With ``mask_rollouts`` (the catalog configs) DQN's own rollouts never replay a track in an episode."""
    from stable_baselines3.common.callbacks import BaseCallback

    class CountRepeats(BaseCallback):
        def _on_training_start(self) -> None:
            self.played = [set() for _ in range(self.training_env.num_envs)]
            self.repeats = 0

        def _on_step(self) -> bool:
            for i, (action, done) in enumerate(zip(self.locals["actions"], self.locals["dones"], strict=True)):
                self.repeats += int(action) in self.played[i]
                self.played[i] = set() if done else self.played[i] | {int(action)}
            return True

    hp = {**FAST["dqn"], "exploration_fraction": 0.01, "exploration_final_eps": 0.0}  # greedy after warm-up
    a = agents.make("dqn", "MusicGym/TasteCatalog-v0", env_kwargs=CATALOG, mask_rollouts=mask_rollouts, **hp)
    counter = CountRepeats()
    a.learn(400, callback=counter)
    if mask_rollouts:
        assert counter.repeats == 0
    else:  # SB3's greedy rollouts replay the best-rated track
        assert counter.repeats > 20, counter.repeats
    a.save(tmp_path / "dqn.zip")
    assert agents.load(tmp_path / "dqn.zip").model.mask_rollouts is mask_rollouts


def test_dqn_catalog_configs_mask_rollouts():
    for env_id in ("MusicGym/TasteCatalog-v0", "MusicGym/PreferenceCatalog-v0"):
        assert agents.make("dqn", env_id, env_kwargs=CATALOG).model.mask_rollouts is True
    assert agents.make("dqn", "MusicGym/Taste-v0", env_kwargs=CATALOG).model.mask_rollouts is False


def test_dqn_target_track_scorer_follows_the_polyak_updates():
    """SB3's polyak_update writes the target net through ``.data`` (no version bump): its track embeddings must not go stale."""
    import torch
    from musicgym.agents.slot_policy import TrackScorer

    a = agents.make("dqn", "MusicGym/TasteCatalog-v0", env_kwargs=CATALOG, **{**FAST["dqn"], "tau": 0.5})
    a.learn(300)  # past learning_starts: train steps used the target's cached embeddings, then polyak moved it
    scorer = next(m for m in a.model.q_net_target.modules() if isinstance(m, TrackScorer))
    x = torch.rand(3, 9)
    with torch.no_grad():
        served = scorer(x)
        scorer.clear_cache()
        fresh = scorer(x)
    assert torch.equal(served, fresh)


def test_dqn_catalog_gradient_step_scores_the_replayed_tracks_only_with_the_same_update():
    """MaskedRolloutDQN.train (Q of the batch's actions, `TrackQ.q_of`) moves the weights as SB3's train does."""
    import copy

    import torch
    from stable_baselines3 import DQN

    a = agents.make("dqn", "MusicGym/TasteCatalog-v0", env_kwargs=CATALOG, **FAST["dqn"])
    a.learn(200)
    model = a.model
    assert hasattr(model.q_net.q_net, "q_of")  # the config's track scorer
    start = (copy.deepcopy(model.policy.state_dict()), copy.deepcopy(model.policy.optimizer.state_dict()))
    after = {}
    for name, train in (("ours", type(model).train), ("sb3", DQN.train)):
        model.policy.load_state_dict(start[0])
        model.policy.optimizer.load_state_dict(copy.deepcopy(start[1]))  # Adam steps its state in place
        np.random.seed(0)  # SB3's replay buffer samples with numpy's global generator: the same batches
        train(model, 3, 16)
        after[name] = {k: v.clone() for k, v in model.q_net.state_dict().items()}
    moved = [k for k in after["ours"] if not torch.equal(after["ours"][k], start[0]["q_net." + k])]
    assert moved, "the gradient steps changed no weight"
    for k in after["ours"]:
        torch.testing.assert_close(after["ours"][k], after["sb3"][k], rtol=1e-5, atol=1e-6)
