"""Devices: every agent takes ``device``, keeps every tensor on it, and its saves load on any device.

On a machine with CUDA the tests run on "cuda" too. On one without, `device_check.tensors_on_one_device`
catches a tensor left off the model's device all the same (see its docstring); the last tests prove
that it does, on the very bug the GPU machines hit (``_allowed_action``'s mask made on the CPU).
"""

from __future__ import annotations

import gymnasium as gym
import musicgym.agents.sb3_agents as sb3_module
import numpy as np
import pytest
import torch

from musicgym import agents
from tests.agents.device_check import DeviceMix, MetaDefaultTorch, OneDevice, tensors_on_one_device

CATALOG = {"catalog": "synthetic-300"}
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
FAST = {
    "ppo": {"n_envs": 2, "n_steps": 16, "batch_size": 32, "n_epochs": 1},
    "maskable_ppo": {"n_envs": 2, "n_steps": 16, "batch_size": 32, "n_epochs": 1},
    "dqn": {"n_envs": 2, "learning_starts": 16, "buffer_size": 500},
    "ah_dqn": {"n_envs": 2, "learning_starts": 16, "buffer_size": 500},
    "actor_critic": {"n_envs": 2, "n_steps": 16, "batch_size": 32, "n_epochs": 1},
    "cf_actor_critic": {"n_envs": 2, "n_steps": 16, "batch_size": 32, "n_epochs": 1, "n_candidates": 8},
    "sasrec": {"max_epochs": 1},
    "set_transformer": {"max_epochs": 1, "dim": 16, "heads": 2, "n_sab": 1},
}
#: each torch agent on a candidates-mode and a catalog-mode env (the slot and track scorers, masks, retrieval)
CASES = [
    ("ppo", "MusicGym/Preference-v0"), ("ppo", "MusicGym/TasteCatalog-v0"),
    ("maskable_ppo", "MusicGym/Playlist-v0"), ("maskable_ppo", "MusicGym/PreferenceCatalog-v0"),
    ("dqn", "MusicGym/Taste-v0"), ("dqn", "MusicGym/PreferenceCatalog-v0"),
    ("ah_dqn", "MusicGym/Preference-v0"), ("ah_dqn", "MusicGym/TasteCatalog-v0"),
    ("actor_critic", "MusicGym/Playlist-v0"), ("actor_critic", "MusicGym/PreferenceCatalog-v0"),
    ("cf_actor_critic", "MusicGym/TasteCatalog-v0"),
    ("sasrec", "MusicGym/Taste-v0"), ("set_transformer", "MusicGym/TasteCatalog-v0"),
]  # fmt: skip


def modules_of(agent) -> list[torch.nn.Module]:
    if hasattr(agent, "model"):
        return [agent.model.policy]
    if hasattr(agent, "net"):
        return [agent.net]
    return [m for m in agent.modules.values() if isinstance(m, torch.nn.Module)]


def on_device(agent, device: str) -> bool:
    tensors = [t for m in modules_of(agent) for t in [*m.parameters(), *m.buffers()]]
    return bool(tensors) and all(t.device.type == device for t in tensors)


def act_in_env(agent, env_id: str, steps: int = 4, seed: int = 1) -> list[int]:
    """Deterministic actions of `agent` over a few steps (with ``info``: masks, candidates, history)."""
    env = gym.make(env_id, **CATALOG)
    obs, info = env.reset(seed=seed)
    out = []
    for _ in range(steps):
        action, _ = agent.predict(obs, deterministic=True, info=info)
        out.append(int(action))
        agent.predict(obs, deterministic=False, info=info)
        if hasattr(agent, "action_scores"):
            agent.action_scores(obs, info)
        obs, _, term, trunc, info = env.step(int(action))
        if term or trunc:
            break
    return out


def train(agent):
    return agent.learn(64) if not hasattr(agent, "fit") else agent.learn()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name,env_id", CASES)
def test_an_agent_trains_acts_saves_and_loads_on_its_device(name, env_id, device, tmp_path):
    agent = agents.make(name, env_id, seed=0, env_kwargs=CATALOG, device=device, **FAST[name])
    assert agent.hp["device"] == device and agent.device.type == device
    train(agent)
    assert on_device(agent, device)
    actions = act_in_env(agent, env_id)
    agent.save(tmp_path / "agent")
    for target in DEVICES:  # saved on one device, loaded on each (map_location)
        back = agents.load(tmp_path / "agent", device=target)
        assert on_device(back, target)
        assert act_in_env(back, env_id) == actions


@pytest.mark.parametrize("name,env_id", CASES)
def test_no_tensor_leaves_the_model_device(name, env_id, monkeypatch, tmp_path):
    """Train, act, save and load under the check: a tensor made off the model's device fails the test."""
    agent = agents.make(name, env_id, seed=0, env_kwargs=CATALOG, device="cpu", **FAST[name])
    with tensors_on_one_device(monkeypatch) as check:
        train(agent)
        act_in_env(agent, env_id)
        agent.save(tmp_path / "agent")
        act_in_env(agents.load(tmp_path / "agent"), env_id)
    assert check.calls > 100  # the check saw the agent's torch calls


def test_the_default_device_is_the_cpu_and_auto_picks_cuda_when_there_is_one():
    for name in ("ppo", "dqn", "maskable_ppo", "ah_dqn", "actor_critic", "cf_actor_critic", "sasrec",
                 "set_transformer", "popularity", "item_cf", "user_cf"):
        assert agents.agent_class(name).HYPERPARAMS["device"] == "cpu"
    auto = agents.make("ah_dqn", "MusicGym/Preference-v0", env_kwargs=CATALOG, device="auto", **FAST["ah_dqn"])
    assert auto.device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    ppo = agents.make("ppo", "MusicGym/Preference-v0", env_kwargs=CATALOG, **FAST["ppo"])
    assert ppo.model.device.type == "cpu"  # not SB3's "auto"


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_a_device_this_machine_lacks_is_refused_when_the_agent_is_made():
    with pytest.raises(ValueError, match=r"agent 'ah_dqn': device must be 'auto', 'cpu', 'cuda'.*got 'cuda'"):
        agents.make("ah_dqn", "MusicGym/Preference-v0", env_kwargs=CATALOG, device="cuda")


def test_an_agent_saved_on_a_gpu_loads_on_the_cpu_of_a_machine_without_one(tmp_path):
    """The sidecar says "cuda"; on a machine without CUDA, load picks the CPU (and says so)."""
    agent = agents.make("ah_dqn", "MusicGym/Preference-v0", env_kwargs=CATALOG, **FAST["ah_dqn"]).learn(32)
    agent.save(tmp_path / "agent")
    meta_path = tmp_path / "agent.json"
    meta_path.write_text(meta_path.read_text().replace('"device": "cpu"', '"device": "cuda:7"'))
    with pytest.warns(UserWarning, match="device='cuda:7', which this machine does not have"):
        back = agents.load(tmp_path / "agent")
    assert back.device.type == "cpu" and on_device(back, "cpu")


# ------------------------------------------------------------------------------- the check itself is real
def test_the_check_catches_a_mask_on_another_device():
    logits = torch.zeros(2, 3)
    with OneDevice(), pytest.raises(DeviceMix, match=r"masked_fill got tensors on \['cpu', 'meta'\]"):
        logits.masked_fill(torch.ones(2, 3, dtype=torch.bool, device="meta"), -1.0)
    with OneDevice():  # the same call with the mask on the logits' device passes
        logits.masked_fill(torch.ones(2, 3, dtype=torch.bool, device=logits.device), -1.0)


def test_the_check_redirects_device_less_tensors_of_agent_code():
    meta_torch = MetaDefaultTorch()
    assert meta_torch.as_tensor(np.ones(3)).device.type == "meta"
    assert meta_torch.as_tensor(np.ones(3), device="cpu").device.type == "cpu"
    assert meta_torch.zeros(2, dtype=torch.bool).device.type == "meta"
    assert meta_torch.Generator is torch.Generator  # everything else is torch's own


def _allowed_action_as_it_was(self, observation, mask, deterministic):
    """`SB3Agent._allowed_action` before the fix: the mask was made on the CPU whatever the model's device."""
    policy = self.model.policy
    obs, vectorized = policy.obs_to_tensor(np.asarray(observation, dtype=np.float32))
    allowed = np.atleast_2d(mask).copy()
    allowed[~allowed.any(axis=1)] = True
    with torch.no_grad():
        logits = policy.get_distribution(obs).distribution.logits
        logits = logits.masked_fill(~sb3_module.torch.as_tensor(allowed), -torch.inf)  # the module's torch
        action = logits.argmax(dim=1).cpu().numpy()
    return action if vectorized else action[0]


def test_the_check_fails_the_masked_predict_that_crashed_on_gpus(monkeypatch):
    agent = agents.make("ppo", "MusicGym/TasteCatalog-v0", env_kwargs=CATALOG, device="cpu", **FAST["ppo"])
    env = gym.make("MusicGym/TasteCatalog-v0", **CATALOG)
    obs, info = env.reset(seed=0)
    agent.predict(obs, deterministic=True, info=info)  # unchecked, the old code ran on a CPU machine ...
    monkeypatch.setattr(sb3_module.SB3Agent, "_allowed_action", _allowed_action_as_it_was)
    agent.predict(obs, deterministic=True, info=info)
    with tensors_on_one_device(monkeypatch), pytest.raises((DeviceMix, RuntimeError), match="meta"):
        agent.predict(obs, deterministic=True, info=info)  # ... the check fails it, as a GPU did
