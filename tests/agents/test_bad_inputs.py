"""Bad arguments, bad files and bad paths give errors that say what is wrong, and where.

Only ValueError, TypeError, FileNotFoundError and PermissionError may come out of ``agents.make``,
``learn``, ``predict``, ``save`` and ``load``; each message names the agent and the hyperparameter, or
the file (and, when its sidecar can be read, the agent that wrote it).
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest

from musicgym import agents

CATALOG = {"catalog": "synthetic-300"}
ALLOWED = (ValueError, TypeError, FileNotFoundError, PermissionError)
#: one agent of each family: torch, SB3, supervised reference
KINDS = {
    "ah_dqn": {"n_envs": 1},
    "ppo": {"n_envs": 1, "n_steps": 16, "batch_size": 16},
    "item_cf": {},
}


def _make(name):
    return agents.make(name, "MusicGym/Preference-v0", env_kwargs=CATALOG, **KINDS[name])


@pytest.mark.parametrize("name", list(KINDS))
@pytest.mark.parametrize(
    "steps,error,got",
    [
        (-5, ValueError, "-5"),
        ("100", TypeError, r"'100' \(str\)"),
        (True, TypeError, r"True \(bool\)"),
        (100.0, TypeError, r"100\.0 \(float\)"),
        (None, TypeError, r"None \(NoneType\)"),
    ],
)
def test_learn_takes_a_non_negative_int(name, steps, error, got):
    agent = _make(name)
    with pytest.raises(error, match=rf"agent '{name}': learn\(total_timesteps\) needs a non-negative int, got {got}"):
        agent.learn(steps)
    assert agent.num_timesteps == 0


def test_learn_takes_numpy_integers():
    agent = _make("ah_dqn")
    agent.learn(np.int64(8))
    assert agent.num_timesteps == 8


@pytest.mark.parametrize(
    "name,hp,error,match",
    [
        ("ah_dqn", {"learning_rate": "fast"}, TypeError, r"agent 'ah_dqn': learning_rate must be a number > 0, got 'fast'"),
        ("ppo", {"learning_rate": "fast"}, TypeError, r"agent 'ppo': learning_rate must be a number > 0, got 'fast'"),
        ("ah_dqn", {"batch_size": 0}, ValueError, "agent 'ah_dqn': batch_size must be a positive integer, got 0"),
        ("dqn", {"batch_size": 0}, ValueError, "agent 'dqn': batch_size must be a positive integer, got 0"),
        ("actor_critic", {"batch_size": True}, TypeError, "agent 'actor_critic': batch_size must be a positive integer, got True"),
        ("ppo", {"gamma": 1.5}, ValueError, r"agent 'ppo': gamma must be in \[0, 1\], got 1\.5"),
        ("ppo", {"train_freq": 4}, ValueError, r"unknown hyperparameter\(s\) \['train_freq'\]"),
        ("dqn", {"train_freq": (4, "minute")}, ValueError, "agent 'dqn': train_freq must be a positive integer or"),
        ("sasrec", {"dropout": 1.0}, ValueError, r"agent 'sasrec': dropout must be in \[0, 1\)"),
        ("set_transformer", {"hide_min": 0.6, "hide_max": 0.5}, ValueError, "hide_min <= hide_max"),
        ("item_cf", {"top_k": "ten"}, TypeError, "agent 'item_cf': top_k must be a positive integer"),
        ("ah_dqn", {"device": "gpu"}, ValueError, "agent 'ah_dqn': device must be 'auto', 'cpu', 'cuda'"),
        ("ppo", {"checkpoint_dir": ""}, ValueError, "agent 'ppo': checkpoint_dir must be a non-empty path"),
        ("actor_critic", {"gae_lambda": float("nan")}, ValueError, r"gae_lambda must be in \[0, 1\] \(or None\), got nan"),
    ],
)
def test_a_bad_hyperparameter_is_refused_when_the_agent_is_made(name, hp, error, match):
    with pytest.raises(error, match=match):
        agents.make(name, "MusicGym/Preference-v0", env_kwargs=CATALOG, **hp)


def test_a_bad_seed_or_env_kwargs_is_refused():
    with pytest.raises(TypeError, match="agent 'ah_dqn': seed must be an integer, got '0'"):
        agents.make("ah_dqn", "MusicGym/Preference-v0", seed="0", env_kwargs=CATALOG)
    with pytest.raises(TypeError, match="agent 'ah_dqn': env_kwargs must be a dict"):
        agents.make("ah_dqn", "MusicGym/Preference-v0", env_kwargs=["synthetic-300"])


@pytest.mark.parametrize("name", ["ah_dqn", "actor_critic"])
def test_predict_refuses_an_observation_of_the_wrong_shape(name):
    agent = agents.make(name, "MusicGym/Preference-v0", env_kwargs=CATALOG, n_envs=1)
    with pytest.raises(ValueError, match=rf"agent '{name}': observation of shape \(5,\), expected"):
        agent.predict(np.zeros(5, dtype=np.float32))


# ------------------------------------------------------------------------------------------ bad files
@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> dict[str, Path]:
    """One saved agent of each family."""
    root = tmp_path_factory.mktemp("saved")
    out = {}
    for name in KINDS:
        agent = _make(name)
        agent.learn(16 if name != "item_cf" else 0)
        agent.save(root / name)
        out[name] = root / name
    return out


def _copy(src: Path, dst: Path) -> Path:
    dst.write_bytes(src.read_bytes())
    Path(str(dst) + ".json").write_bytes(Path(str(src) + ".json").read_bytes())
    return dst


@pytest.mark.parametrize("name", list(KINDS))
@pytest.mark.parametrize(
    "damage,match",
    [
        (lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]), "not a complete zip archive"),
        (lambda p: p.write_bytes(b""), "is empty: not an agent file"),
        (lambda p: p.write_text("id,name\n1,a song\n"), "not a complete zip archive"),
        (lambda p: zipfile.ZipFile(p, "w").writestr("readme.txt", "hello"), "zip archive but not a MusicGym agent|not an SB3 agent file"),
    ],
    ids=["truncated", "empty", "foreign", "foreign-zip"],
)
def test_a_damaged_or_foreign_agent_file_is_named_with_what_is_wrong(name, damage, match, saved, tmp_path):
    path = _copy(saved[name], tmp_path / "agent")
    damage(path)
    with pytest.raises(ValueError, match=match) as info:
        agents.load(path)
    assert str(path) in str(info.value) and f"saved by agent '{name}'" in str(info.value)


@pytest.mark.parametrize("name", list(KINDS))
def test_a_corrupt_sidecar_is_named(name, saved, tmp_path):
    path = _copy(saved[name], tmp_path / "agent")
    Path(str(path) + ".json").write_text('{"agent": "ppo", "env_id": ')
    with pytest.raises(ValueError, match=r"agent\.json \(the sidecar of a saved agent\) is not valid JSON"):
        agents.load(path)
    Path(str(path) + ".json").write_text('{"agent": "ppo"}')
    with pytest.raises(ValueError, match=r"agent\.json is not the sidecar of a saved MusicGym agent \(missing"):
        agents.load(path)
    Path(str(path) + ".json").write_text(json.dumps({**json.loads(Path(str(saved[name]) + ".json").read_text()),
                                                     "agent": "nope"}))
    with pytest.raises(ValueError, match=r"names agent 'nope', which this MusicGym does not have"):
        agents.load(path)


def test_another_agents_file_is_named_with_the_agent_that_wrote_it(saved, tmp_path):
    from musicgym.agents.ah_dqn import AHDQNAgent

    with pytest.raises(ValueError, match=r"holds a saved 'ppo' agent, not a 'ah_dqn'"):
        AHDQNAgent.load(saved["ppo"])
    # a sidecar that says ah_dqn beside a file that holds a ppo: the file's own header says so
    path = tmp_path / "mixed"
    path.write_bytes(saved["ppo"].read_bytes())
    Path(str(path) + ".json").write_bytes(Path(str(saved["ah_dqn"]) + ".json").read_bytes())
    with pytest.raises(ValueError, match=r"mixed holds a saved 'ppo' agent, not a 'ah_dqn'"):
        agents.load(path)


def test_a_missing_file_is_named(saved, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no saved agent at .*nothing \(expected .*nothing\.json"):
        agents.load(tmp_path / "nothing")
    path = tmp_path / "only-sidecar"
    Path(str(path) + ".json").write_bytes(Path(str(saved["ah_dqn"]) + ".json").read_bytes())
    with pytest.raises(FileNotFoundError, match="no agent file at .*only-sidecar"):
        agents.load(path)


# ------------------------------------------------------------------------------------------ bad paths
@pytest.mark.parametrize("name", list(KINDS))
def test_saving_to_a_path_that_cannot_be_written_says_which_and_why(name, tmp_path, monkeypatch):
    agent = _make(name)
    agent.learn(0 if name == "item_cf" else 8)
    with pytest.raises(ValueError, match=r"cannot save an agent to an empty path \(''\)"):
        agent.save("")
    with pytest.raises(ValueError, match=f"cannot save an agent to {tmp_path}: it is a directory"):
        agent.save(tmp_path)
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(ValueError, match=r"cannot write .*a-file/agent: .*a-file is a file, not a directory"):
        agent.save(tmp_path / "a-file" / "agent")
    with pytest.raises(TypeError, match="an agent path must be a str or os.PathLike, got 3"):
        agent.save(3)

    def denied(src, dst):
        raise PermissionError(13, "Permission denied", str(dst))

    monkeypatch.setattr(os, "replace", denied)
    with pytest.raises(PermissionError, match=r"cannot write .*locked/agent: Permission denied"):
        agent.save(tmp_path / "locked" / "agent")
    assert not [p for p in (tmp_path / "locked").iterdir()]  # no temporary file left behind


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only directories")
def test_saving_into_a_read_only_directory_is_a_permission_error(tmp_path):
    agent = _make("item_cf").learn()
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro").chmod(0o500)
    try:
        with pytest.raises(PermissionError, match="cannot write .*ro/agent"):
            agent.save(tmp_path / "ro" / "agent")
    finally:
        (tmp_path / "ro").chmod(0o700)


def test_only_the_documented_errors_escape(saved, tmp_path):
    """A sweep of bad calls: each raises one of the documented types, never torch's or zipfile's own."""
    calls = [
        lambda: agents.make("ppo", "MusicGym/Preference-v0", env_kwargs=CATALOG, n_steps=[32]),
        lambda: agents.make("ah_dqn", "MusicGym/Preference-v0", env_kwargs=CATALOG, hidden=0.5),
        lambda: _make("ah_dqn").learn("ten"),
        lambda: _make("ppo").predict(np.zeros(3)),
        lambda: _make("ah_dqn").save(""),
        lambda: agents.load(tmp_path / "missing"),
        lambda: agents.load(str(saved["ppo"])[:-1] + "x"),
    ]
    for call in calls:
        with pytest.raises(ALLOWED):
            call()
