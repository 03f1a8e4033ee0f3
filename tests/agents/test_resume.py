"""Exact resume: a run killed mid-way and resumed from its checkpoint ends with the weights of the same run uninterrupted.

For every agent that checkpoints (ppo, maskable_ppo, dqn, ah_dqn, actor_critic, cf_actor_critic), on
candidates and catalog-mode envs: a straight run of N steps, against a run killed (an exception from a
callback, as a SIGKILL would stop it) after its last periodic checkpoint and a fresh agent with the same
``checkpoint_dir`` that learns to N. Every parameter and optimiser tensor must be equal (``torch.equal``),
not close: a generator, a replay buffer, an observation in hand or an env state left out of the
checkpoint makes them differ.
"""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
import torch
from musicgym.agents import persist

from musicgym import agents

CATALOG = {"catalog": "synthetic-300"}
FAST = {
    "ppo": {"n_envs": 4, "n_steps": 32, "batch_size": 64, "n_epochs": 2},
    "maskable_ppo": {"n_envs": 4, "n_steps": 32, "batch_size": 64, "n_epochs": 2},
    "dqn": {"n_envs": 4, "learning_starts": 40, "buffer_size": 1000, "target_update_interval": 8},
    "ah_dqn": {"n_envs": 4, "learning_starts": 40, "buffer_size": 1000, "target_update": 20},
    "actor_critic": {"n_envs": 4, "n_steps": 16, "batch_size": 32, "n_epochs": 2},
    "cf_actor_critic": {"n_envs": 4, "n_steps": 16, "batch_size": 32, "n_epochs": 2, "n_candidates": 16},
}
CASES = [
    ("ppo", "MusicGym/Preference-v0", {}),
    ("ppo", "MusicGym/Playlist-v0", {"normalize_reward": True}),  # VecNormalize's statistics
    ("maskable_ppo", "MusicGym/TasteCatalog-v0", {}),
    ("dqn", "MusicGym/Taste-v0", {}),
    ("dqn", "MusicGym/PreferenceCatalog-v0", {}),  # mask_rollouts: its own generator
    ("ah_dqn", "MusicGym/Preference-v0", {}),
    ("ah_dqn", "MusicGym/TasteCatalog-v0", {}),  # the actor and FAISS retrieval
    ("actor_critic", "MusicGym/Playlist-v0", {}),
    ("actor_critic", "MusicGym/PreferenceCatalog-v0", {}),
    ("cf_actor_critic", "MusicGym/TasteCatalog-v0", {}),
]
#: on a CUDA machine, the same for one agent of each family on the GPU (CUDA's generator in the checkpoint)
GPU_CASES = [(*case, "cuda") for case in (CASES[0], CASES[3], CASES[5], CASES[7])] if torch.cuda.is_available() else []
N = 384  # env steps of the whole run
KILL_AT = 250  # the killed run dies after this many steps ...
FREQ = 96  # ... having checkpointed every 96 steps (where its state is whole: a rollout start or a vector step)


class Killed(Exception):
    """Stands for the SIGKILL of a run."""


def _kill_after(name: str, steps: int):
    if name in ("ppo", "maskable_ppo", "dqn"):
        from stable_baselines3.common.callbacks import BaseCallback

        class KillSB3(BaseCallback):
            def _on_step(self) -> bool:
                if self.num_timesteps >= steps:
                    raise Killed
                return True

        return KillSB3()

    def kill(agent):
        if agent.num_timesteps >= steps:
            raise Killed

    return kill


def weights(agent) -> dict[str, torch.Tensor]:
    """Every parameter, buffer and optimiser tensor of the agent, by name."""
    if hasattr(agent, "model"):
        policy = agent.model.policy
        named = {"policy": policy.state_dict(), "optimizer": policy.optimizer.state_dict()}
    else:
        named = {k: m.state_dict() for k, m in agent.modules.items()}
    out: dict[str, torch.Tensor] = {}

    def walk(prefix, x):
        if isinstance(x, torch.Tensor):
            out[prefix] = x
        elif isinstance(x, dict):
            for k, v in x.items():
                walk(f"{prefix}.{k}", v)
        elif isinstance(x, (list, tuple)):
            for i, v in enumerate(x):
                walk(f"{prefix}[{i}]", v)

    walk("", named)
    return out


def assert_same_weights(a, b) -> None:
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    elsewhere = [k for k in wa if wa[k].device != wb[k].device]
    assert not elsewhere, f"tensors on other devices: {[(k, wa[k].device, wb[k].device) for k in elsewhere[:3]]}"
    differ = [k for k in wa if not torch.equal(wa[k], wb[k])]
    assert not differ, f"{len(differ)} of {len(wa)} tensors differ, e.g. {differ[:3]}"


def assert_same_agent_files(a, b, tmp_path) -> dict:
    """`a` and `b` have the same weights and save the same sidecar; returns b's sidecar."""
    assert_same_weights(a, b)
    a.save(tmp_path / "a")
    b.save(tmp_path / "b")
    meta = json.loads((tmp_path / "b.json").read_text())
    assert meta == json.loads((tmp_path / "a.json").read_text())
    return meta


def make(name, env_id, extra, **hp):
    return agents.make(name, env_id, seed=3, env_kwargs=CATALOG, **FAST[name], **extra, **hp)


@pytest.mark.parametrize("name,env_id,extra,device", [(*case, "cpu") for case in CASES] + GPU_CASES)
def test_a_run_killed_mid_way_and_resumed_ends_with_the_weights_of_the_uninterrupted_run(
    name, env_id, extra, device, tmp_path
):
    extra = {**extra, "device": device}
    straight = make(name, env_id, extra).learn(N)
    assert straight.resumed_from is None

    ckpt = {"checkpoint_dir": str(tmp_path / "ckpt"), "checkpoint_freq": FREQ}
    killed = make(name, env_id, extra, **ckpt)
    with pytest.raises(Killed):
        killed.learn(N, callback=_kill_after(name, KILL_AT))
    saved_at = json.loads(zipfile.ZipFile(tmp_path / "ckpt" / "checkpoint.zip").read(persist.JSON_MEMBER))
    assert "resume" in saved_at["state"]

    resumed = make(name, env_id, extra, **ckpt)
    resumed.learn(N)
    assert resumed.resumed_from is not None and 0 < resumed.resumed_from < KILL_AT
    assert resumed.num_timesteps == straight.num_timesteps
    assert_same_weights(resumed, straight)


@pytest.mark.parametrize("name,env_id,extra", [CASES[0], CASES[3], CASES[5], CASES[7]])
def test_a_sweep_resumed_between_learning_curve_points_matches_one_process(name, env_id, extra, tmp_path):
    """The sweep's pattern: learn(t1), learn(t2) in one process, or learn(t1), a new process, learn(0), learn(t2)."""
    one = make(name, env_id, extra)
    one.learn(N // 2)
    one.learn(N)
    ckpt = {"checkpoint_dir": str(tmp_path / "ckpt"), "checkpoint_freq": 10**12}
    first = make(name, env_id, extra, **ckpt).learn(N // 2)
    second = make(name, env_id, extra, **ckpt)
    second.learn(0)  # loads the checkpoint
    assert second.resumed_from == first.num_timesteps >= N // 2
    second.learn(N)
    assert second.num_timesteps == one.num_timesteps
    assert_same_weights(second, one)


def test_without_a_checkpoint_nothing_is_resumed_and_a_different_seed_gives_other_weights(tmp_path):
    a = make("ah_dqn", "MusicGym/Preference-v0", {}, checkpoint_dir=str(tmp_path / "a")).learn(200)
    b = agents.make("ah_dqn", "MusicGym/Preference-v0", seed=4, env_kwargs=CATALOG, **FAST["ah_dqn"]).learn(200)
    assert a.resumed_from is None and b.resumed_from is None
    make("ppo", "MusicGym/Preference-v0", {}, checkpoint_dir=str(tmp_path / "zero")).learn(0)  # a step-0 checkpoint
    zero = make("ppo", "MusicGym/Preference-v0", {}, checkpoint_dir=str(tmp_path / "zero")).learn(0)
    assert (tmp_path / "zero" / "checkpoint.zip").exists() and zero.resumed_from is None
    with pytest.raises(AssertionError, match="tensors differ"):
        assert_same_weights(a, b)  # the comparison can fail


def test_a_checkpoint_of_other_hyperparameters_is_refused(tmp_path):
    ckpt = {"checkpoint_dir": str(tmp_path / "ckpt")}
    make("ah_dqn", "MusicGym/Preference-v0", {}, **ckpt).learn(100)
    other = make("ah_dqn", "MusicGym/Preference-v0", {"gamma": 0.5}, **ckpt)
    with pytest.raises(ValueError, match=r"checkpoint\.zip is a checkpoint written with other hyperparameters \(\['gamma'\]\)"):
        other.learn(200)


@pytest.mark.parametrize("name", ["ah_dqn", "ppo"])
def test_a_checkpoint_write_that_fails_leaves_the_previous_checkpoint_whole(name, tmp_path, monkeypatch):
    ckpt_dir = tmp_path / "ckpt"
    agent = make(name, "MusicGym/Preference-v0", {}, checkpoint_dir=str(ckpt_dir))
    agent.learn(128)
    before = (ckpt_dir / "checkpoint.zip").read_bytes()

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", broken)
    with pytest.raises(ValueError, match="cannot write .*checkpoint.zip: No space left on device"):
        agent.learn(256)
    assert (ckpt_dir / "checkpoint.zip").read_bytes() == before
    assert sorted(p.name for p in ckpt_dir.iterdir()) == ["checkpoint.zip"]  # no temporary file left


def test_an_earlier_musicgym_checkpoint_is_ignored_with_a_warning(tmp_path):
    ckpt_dir = tmp_path / "ckpt"
    ckpt_dir.mkdir()
    torch.save({"modules": {}, "num_timesteps": 100}, ckpt_dir / "checkpoint.pt")  # the earlier format
    agent = make("ah_dqn", "MusicGym/Preference-v0", {}, checkpoint_dir=str(ckpt_dir))
    with pytest.warns(UserWarning, match="checkpoint.pt was written by an earlier MusicGym"):
        agent.learn(64)
    assert agent.resumed_from is None and agent.num_timesteps == 64


def test_a_recurrent_ppo_resumes_with_its_lstm_states(tmp_path):
    """sb3-contrib's RecurrentPPO on the SB3 plumbing (as a recurrent agent builds it): its LSTM state is checkpointed."""
    from musicgym.agents.sb3_agents import SB3Agent
    from sb3_contrib import RecurrentPPO

    class Recurrent(SB3Agent):
        name = "recurrent_ppo_test"
        algo = RecurrentPPO
        HYPERPARAMS = {**SB3Agent.HYPERPARAMS, "policy": "MlpLstmPolicy"}

    hp = {"n_envs": 2, "n_steps": 16, "batch_size": 32, "n_epochs": 1, "seed": 3, "env_kwargs": CATALOG}
    straight = Recurrent("MusicGym/Preference-v0", **hp).learn(160)
    ckpt = {"checkpoint_dir": str(tmp_path / "ckpt"), "checkpoint_freq": 32}
    with pytest.raises(Killed):
        Recurrent("MusicGym/Preference-v0", **hp, **ckpt).learn(160, callback=_kill_after("ppo", 100))
    resumed = Recurrent("MusicGym/Preference-v0", **hp, **ckpt)
    resumed.learn(160)
    assert resumed.resumed_from is not None and 0 < resumed.resumed_from < 100
    assert_same_weights(resumed, straight)
