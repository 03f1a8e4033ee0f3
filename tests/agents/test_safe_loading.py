"""Loading a shared agent runs no code from it.

A pickle whose ``__reduce__`` creates a marker file is planted in every place a loader reads: the torch
agents' tensors, a reference policy's arrays, an earlier MusicGym's pickles, SB3's ``data`` entry and
``policy.pth``, a checkpoint's replay buffer, and a class named in the sidecar. Loading must refuse
the file with an error that names it, and the marker must not exist afterwards.
"""

from __future__ import annotations

import base64
import io
import json
import pickle
import zipfile
from pathlib import Path

import cloudpickle
import numpy as np
import pytest
import torch
from musicgym.agents import persist

from musicgym import agents

CATALOG = {"catalog": "synthetic-300"}


class RunsCode:
    """Unpickling this creates the file `marker` (what a crafted agent file could do instead)."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture
def marker(tmp_path) -> Path:
    return tmp_path / "code-ran"


def test_the_payload_runs_code_when_unpickled(marker):
    pickle.loads(pickle.dumps(RunsCode(marker)))  # plain pickle: the marker appears
    assert marker.exists()
    marker.unlink()
    torch.load(io.BytesIO(_torch_bytes({"t0": RunsCode(marker)})), weights_only=False)
    assert marker.exists()


def _torch_bytes(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def _npz_bytes(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)  # an object array is pickled inside the npz
    return buf.getvalue()


def _replace_member(path: Path, name: str, blob: bytes) -> None:
    """Rewrite the zip at `path` with member `name` replaced by (or added as) `blob`."""
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    members[name] = blob
    with zipfile.ZipFile(path, "w") as z:
        for n, b in members.items():
            z.writestr(n, b)


def _saved(name: str, env_id: str, tmp_path: Path, **hp) -> Path:
    agent = agents.make(name, env_id, env_kwargs=CATALOG, **hp)
    if hasattr(agent, "fit"):
        agent.learn()
    path = tmp_path / name
    agent.save(path)
    return path


def _refused(path: Path, marker: Path, match: str, load=agents.load) -> None:
    with pytest.raises(ValueError, match=match) as info:
        load(path)
    assert str(path) in str(info.value), info.value
    assert not marker.exists(), "loading ran code from the file"


def test_a_torch_agent_file_with_a_pickled_object_among_its_tensors_is_refused(tmp_path, marker):
    path = _saved("ah_dqn", "MusicGym/Preference-v0", tmp_path, n_envs=1)
    _replace_member(path, persist.TENSORS_MEMBER, _torch_bytes({"t0": RunsCode(marker)}))
    _refused(path, marker, "holds something other than tensors")


def test_an_earlier_musicgym_torch_pickle_is_refused_with_how_to_resave_it(tmp_path, marker):
    path = _saved("actor_critic", "MusicGym/Preference-v0", tmp_path, n_envs=1)
    path.write_bytes(_torch_bytes({"modules": RunsCode(marker), "num_timesteps": 0}))  # the earlier format
    _refused(path, marker, r"torch\.save pickle written by an earlier MusicGym.*save it again with this one")


@pytest.mark.parametrize("name", ["popularity", "item_cf", "user_cf", "sasrec"])
def test_a_reference_policy_file_with_pickled_objects_is_refused(name, tmp_path, marker):
    path = _saved(name, "MusicGym/Taste-v0", tmp_path, **({"max_epochs": 1} if name == "sasrec" else {}))
    _replace_member(path, persist.ARRAYS_MEMBER, _npz_bytes(a0=np.array([RunsCode(marker)], dtype=object)))
    _refused(path, marker, "holds something other than plain arrays")


def test_an_earlier_musicgym_reference_pickle_is_refused_with_how_to_resave_it(tmp_path, marker):
    path = _saved("item_cf", "MusicGym/Taste-v0", tmp_path)
    path.write_bytes(pickle.dumps({"state": RunsCode(marker), "fitted": True}))  # the earlier format
    _refused(path, marker, r"is a pickle, written by an earlier MusicGym.*retrain the agent")
    policy = agents.make("item_cf", "MusicGym/Taste-v0", env_kwargs=CATALOG)
    _refused(path, marker, "is a pickle", load=policy.load_fitted)  # a sweep's _fitted/ cache reads so


def _sb3_data_with(path: Path, field: str, payload) -> bytes:
    with zipfile.ZipFile(path) as z:
        data = json.loads(z.read("data"))
    data[field] = {":type:": "<class 'object'>",
                   ":serialized:": base64.b64encode(cloudpickle.dumps(payload)).decode()}
    return json.dumps(data).encode()


@pytest.mark.parametrize("name", ["ppo", "dqn", "maskable_ppo"])
def test_an_sb3_archive_is_loaded_without_unpickling_its_data_entry(name, tmp_path, marker):
    path = _saved(name, "MusicGym/Preference-v0", tmp_path, n_envs=1)
    # a pickled field SB3 writes (here the policy class): never unpickled, the model is rebuilt from the sidecar
    _replace_member(path, "data", _sb3_data_with(path, "policy_class", RunsCode(marker)))
    agent = agents.load(path)
    assert agent.num_timesteps == 0 and not marker.exists()
    # a pickled field SB3 does not write: the file is refused
    _replace_member(path, "data", _sb3_data_with(path, "evil", RunsCode(marker)))
    _refused(path, marker, r"holds pickled fields SB3 does not write for this agent \(\['evil'\]\)")


def test_an_sb3_archive_with_a_pickled_object_as_weights_is_refused(tmp_path, marker):
    path = _saved("ppo", "MusicGym/Preference-v0", tmp_path, n_envs=1)
    _replace_member(path, "policy.pth", _torch_bytes({"mlp.weight": RunsCode(marker)}))
    _refused(path, marker, r"policy\.pth holds something other than tensors")


@pytest.mark.parametrize("name,hp", [("ah_dqn", {"n_envs": 2, "learning_starts": 8}),
                                     ("dqn", {"n_envs": 2, "learning_starts": 8})])
def test_a_checkpoint_with_a_pickled_replay_buffer_is_refused_when_resuming(name, hp, tmp_path, marker):
    ckpt_dir = tmp_path / "ckpt"
    agents.make(name, "MusicGym/Preference-v0", env_kwargs=CATALOG, checkpoint_dir=str(ckpt_dir), **hp).learn(32)
    ckpt = ckpt_dir / "checkpoint.zip"
    with zipfile.ZipFile(ckpt) as z, np.load(io.BytesIO(z.read(persist.ARRAYS_MEMBER))) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays = {k: (np.array([RunsCode(marker)], dtype=object) if v.ndim >= 2 and v.shape[0] >= 16 else v)
              for k, v in arrays.items()}  # the replay buffer's observations become a pickled object
    _replace_member(ckpt, persist.ARRAYS_MEMBER, _npz_bytes(**arrays))
    resumed = agents.make(name, "MusicGym/Preference-v0", env_kwargs=CATALOG, checkpoint_dir=str(ckpt_dir), **hp)
    with pytest.raises(ValueError, match="checkpoint.zip:musicgym/arrays.npz holds something other than plain arrays"):
        resumed.learn(64)
    assert not marker.exists()


def test_a_sidecar_naming_a_class_outside_the_known_packages_is_refused(tmp_path, marker):
    path = _saved("ppo", "MusicGym/Preference-v0", tmp_path, n_envs=1)
    meta = json.loads((tmp_path / "ppo.json").read_text())
    meta["hyperparams"]["policy_kwargs"] = {"activation_fn": {"__class__": "os:system"}}
    (tmp_path / "ppo.json").write_text(json.dumps(meta))
    _refused(path, marker, r"ppo\.json: refusing to import 'os:system'")


def test_a_class_hyperparameter_survives_save_and_load(tmp_path):
    path = tmp_path / "ppo"
    agents.make("ppo", "MusicGym/Preference-v0", env_kwargs=CATALOG, n_envs=1, slot_scorer=False,
                policy_kwargs={"activation_fn": torch.nn.Tanh, "net_arch": [16]}).save(path)
    back = agents.load(path)
    assert back.hp["policy_kwargs"]["activation_fn"] is torch.nn.Tanh


def test_an_sb3_zip_without_musicgym_members_loads_its_weights_only(tmp_path):
    """A file SB3 wrote alone (``model.save``), e.g. by an earlier MusicGym: weights and step count, nothing unpickled."""
    agent = agents.make("ppo", "MusicGym/Preference-v0", env_kwargs=CATALOG, n_envs=1, n_steps=16, batch_size=16)
    agent.learn(32)
    agent.model.save(tmp_path / "plain.zip")
    (tmp_path / "plain.zip").rename(tmp_path / "plain")
    agent.write_meta(tmp_path / "plain")
    back = agents.load(tmp_path / "plain")
    assert back.num_timesteps == agent.num_timesteps
    for a, b in zip(agent.model.policy.parameters(), back.model.policy.parameters(), strict=True):
        assert torch.equal(a, b)
