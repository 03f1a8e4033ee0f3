from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time

import gymnasium as gym
import numpy as np
import pytest
from musicgym.agents.finetune import finetune

import musicgym  # noqa: F401 - registers the envs
from musicgym import agents
from musicgym.interaction_log import LogError, LogWriter, read_log
from musicgym.listeners import cluster_world
from musicgym.ope import off_policy_estimates
from musicgym.play import PlaySession, UniformPolicy, make_play_env, parse_answer, parse_preferences


# ------------------------------------------------------------------------------------ parsing
def test_answers_are_parsed_or_named():
    assert parse_answer("75 y", True) == parse_answer(" 75% yes ", True)
    a = parse_answer("75 y", True)
    assert a.percentage_listened == 0.75 and a.liked
    assert parse_answer("skip", True).percentage_listened == 0.0
    assert parse_answer("n", False).liked is False
    for bad, msg in [("150 y", "within 0-100"), ("maybe", "cannot read"), ("75", "and y/n"), ("y", "and y/n")]:
        with pytest.raises(ValueError, match=msg):
            parse_answer(bad, True)


def test_preferences_are_parsed_or_named():
    p = parse_preferences("rock=1 sad=-0.5", np.zeros(21))
    assert p.sum() == 0.5
    for bad, msg in [("rock", "attribute=value"), ("jazzy=1", "unknown attribute"), ("rock=2", "within"),
                     ("rock=x", "not a number")]:
        with pytest.raises(ValueError, match=msg):
            parse_preferences(bad, np.zeros(21))


# ------------------------------------------------------------------------------------ sessions
class Person:
    """A scripted person: likes tracks whose first latent coordinate is above a threshold."""

    def __init__(self, env, threshold=0.5, bad_answers=0):
        self.latents = env.unwrapped.item_features
        self.threshold = threshold
        self.session = None
        self.bad = bad_answers
        self.prompts = 0

    def likes(self, row):
        return self.latents[row, 0] > self.threshold

    def __call__(self, prompt):
        self.prompts += 1
        if prompt.startswith("Start"):
            return ""  # a random start
        if self.bad:
            self.bad -= 1
            return "whatever"
        return "90 y" if self.likes(self.session.proposed) else "10 n"


def _run_sessions(env, agent, log_path, n, explore, seed=0, label="test", threshold=0.5):
    person = Person(env, threshold=threshold)
    with LogWriter(log_path) as log:
        for i in range(n):
            s = PlaySession(env, agent, label, log, ask=person, say=lambda _: None, explore=explore, seed=seed + i)
            person.session = s
            s.run()
    return person


def test_a_scripted_session_logs_every_answer_and_reasks_bad_ones(tmp_path):
    env = make_play_env("Playlist-v0", "default")
    person = Person(env, bad_answers=3)
    out = []
    with LogWriter(tmp_path / "log.jsonl") as log:
        s = PlaySession(env, UniformPolicy(), "random", log, ask=person, say=out.append, explore=0.0, seed=0)
        person.session = s
        assert s.run() == 9
    assert sum("? cannot read 'whatever'" in line for line in out) == 3
    recs = read_log(tmp_path / "log.jsonl").records
    assert [r["step"] for r in recs] == list(range(9)) and recs[-1]["done"]
    assert len({r["track"] for r in recs}) == 9  # no repeats
    r = recs[0]
    assert r["env_id"] == "MusicGym/Playlist-v0" and r["catalog"] == env.unwrapped.catalog.fingerprint
    # a uniform policy proposes each of the 4 slots alike: the logged propensity is 1/4
    assert len(r["obs"]) == 27 and len(r["candidates"]) == 4 and r["propensity"] == 0.25
    # the reward is the env's formula on the person's answer
    proximity = cluster_world(env.unwrapped.catalog).proximity
    pct, liked = r["feedback"]["percentage_listened"], r["feedback"]["liked"]
    expected = 0.8 * (100 * pct + 50 * liked) + 0.2 * proximity[r["track"]]
    assert r["reward"] == pytest.approx(expected)


def test_preference_session_uses_stated_and_edited_preferences(tmp_path):
    env = make_play_env("Preference-v0", "default")
    answers = iter(["rock=1 sad=-0.5", "", "", "p pop=1 rock=0", "y", "n", "q"])
    with LogWriter(tmp_path / "p.jsonl") as log:
        s = PlaySession(env, UniformPolicy(), "random", log, ask=lambda _: next(answers), say=lambda _: None,
                        explore=0.0, seed=0)
        assert s.run() == 2
    recs = read_log(tmp_path / "p.jsonl").records
    attrs = env.unwrapped.catalog.attributes
    from musicgym.catalog import ATTRIBUTE_NAMES

    prefs = np.zeros(21)
    prefs[ATTRIBUTE_NAMES.index("pop")], prefs[ATTRIBUTE_NAMES.index("sad")] = 1, -0.5
    assert recs[0]["reward"] == pytest.approx(prefs @ attrs[recs[0]["track"]] / 5, abs=1e-6)
    assert recs[0]["feedback"]["liked"] is True and recs[1]["feedback"]["liked"] is False


def test_play_command_reads_stdin_and_ends_cleanly_at_eof(tmp_path, monkeypatch, capsys):
    from musicgym.experiments.cli import main

    monkeypatch.setattr(sys, "stdin", io.StringIO("no-such-track-xyz\n\n150 y\n80 y\nskip\n"))
    assert main(["play", "--log", str(tmp_path / "s.jsonl"), "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "no track matches 'no-such-track-xyz'" in out and "within 0-100" in out
    assert "2 answers logged" in out
    assert len(read_log(tmp_path / "s.jsonl").records) == 2


def test_play_rejects_an_env_without_a_person_model():
    with pytest.raises(ValueError, match="supports"):
        make_play_env("Taste-v0", "default")


# ------------------------------------------------------------------------------------ the log
def test_a_killed_session_leaves_a_readable_log(tmp_path):
    log = tmp_path / "k.jsonl"
    cmd = [sys.executable, "-m", "musicgym.experiments.cli", "play", "--log", str(log), "--seed", "1"]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
    proc.stdin.write("\n80 y\n20 n\n")
    proc.stdin.flush()
    deadline = time.time() + 60
    while time.time() < deadline and (not log.exists() or log.read_text().count("\n") < 2):
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    got = read_log(log)
    assert len(got.records) == 2 and not got.truncated


def test_truncated_and_malformed_lines_are_reported(tmp_path):
    p = tmp_path / "t.jsonl"
    rec = {"session": "s", "step": 0, "env_id": "MusicGym/Playlist-v0", "catalog": "x", "obs": [0.0],
           "candidates": [1], "action": 0, "track": 1, "propensity": 1.0, "feedback": {}, "reward": 1.0,
           "done": False}
    p.write_text(json.dumps(rec) + "\n" + json.dumps({**rec, "step": 1})[:30])
    got = read_log(p)
    assert len(got.records) == 1 and "truncated last line" in got.truncated[0] and ":2:" in got.truncated[0]
    p.write_text("{oops\n" + json.dumps(rec) + "\n")
    with pytest.raises(LogError, match=r"t.jsonl:1: not a JSON record"):
        read_log(p)
    p.write_text(json.dumps({"session": "s"}) + "\n")
    with pytest.raises(LogError, match=r":1: record lacks"):
        read_log(p)
    with pytest.raises(LogError, match="not found"):
        read_log(tmp_path / "missing.jsonl")


# ------------------------------------------------------------------------------------ learning from logs
def _preferred_share(agent, recs, person):
    """Share of logged states where the agent's best slot holds a track the person likes (when one is offered)."""
    hits = total = 0
    for r in recs:
        cand = np.asarray(r["candidates"])
        liked = np.array([c >= 0 and person.likes(c) for c in cand])
        if not liked.any() or liked.all():
            continue
        _, scores = agent.action_scores(np.asarray(r["obs"], dtype=np.float32),
                                        {"candidates": cand, "action_mask": cand >= 0})
        hits += liked[int(np.where(cand >= 0, scores, -np.inf).argmax())]
        total += 1
    return hits / total


def test_finetuning_moves_ah_dqn_choices_toward_the_persons_likes(tmp_path):
    agent = agents.make("ah_dqn", "MusicGym/Playlist-v0", seed=0, n_envs=1)
    agent.save(tmp_path / "start")
    env = make_play_env("Playlist-v0", "default")
    person = _run_sessions(env, agent, tmp_path / "log.jsonl", n=12, explore=0.5)
    log = read_log(tmp_path / "log.jsonl")
    tuned = agents.load(tmp_path / "start")
    before = _preferred_share(tuned, log.records, person)
    report = finetune(tuned, log, steps=400)
    after = _preferred_share(tuned, log.records, person)
    assert report["after"]["liked_minus_not_liked"] > report["before"]["liked_minus_not_liked"]
    assert after > before and after >= 0.7, (before, after)


def test_finetuning_the_actor_critic_raises_the_probability_of_liked_tracks(tmp_path):
    # the project's actor (policy_net="mlp", not the config's slot policy) scores slot positions, not
    # tracks: on a few hundred logged steps its greedy choices barely move, but the update goes the
    # person's way
    agent = agents.make("actor_critic", "MusicGym/Playlist-v0", seed=0, n_envs=1, learning_rate=1e-3,
                        policy_net="mlp", gae_lambda=None, reward_scale=0.01)
    env = make_play_env("Playlist-v0", "default")
    _run_sessions(env, agent, tmp_path / "log.jsonl", n=30, explore=0.5)
    report = finetune(agent, read_log(tmp_path / "log.jsonl"), steps=300)
    assert report["after"]["liked_minus_not_liked"] > report["before"]["liked_minus_not_liked"]
    assert report["after"]["mean_value"] != report["before"]["mean_value"]


def test_finetune_refuses_logs_from_another_env_or_catalog(tmp_path):
    env = make_play_env("Playlist-v0", "default")
    _run_sessions(env, UniformPolicy(), tmp_path / "log.jsonl", n=1, explore=1.0)
    log = read_log(tmp_path / "log.jsonl")
    other = agents.make("ah_dqn", "MusicGym/Playlist-v0", n_envs=1, env_kwargs={"catalog": "synthetic-3000"})
    with pytest.raises(LogError, match="catalog"):
        finetune(other, log)
    pref = agents.make("ah_dqn", "MusicGym/Preference-v0", n_envs=1)
    with pytest.raises(LogError, match="not MusicGym/Preference-v0"):
        finetune(pref, log)
    with pytest.raises(ValueError, match="cannot be fine-tuned"):
        finetune(agents.make("ppo", "MusicGym/Playlist-v0", n_envs=1), log)


def test_finetune_command(tmp_path, capsys):
    from musicgym.experiments.cli import main

    agents.make("ah_dqn", "MusicGym/Playlist-v0", n_envs=1).save(tmp_path / "a")
    env = make_play_env("Playlist-v0", "default")
    _run_sessions(env, UniformPolicy(), tmp_path / "log.jsonl", n=2, explore=1.0)
    assert main(["finetune", "--log", str(tmp_path / "log.jsonl"), "--agent", str(tmp_path / "a"),
                 "--out", str(tmp_path / "b"), "--steps", "20"]) == 0
    assert "fine-tuned ah_dqn on 18 interactions from 2 sessions" in capsys.readouterr().out
    assert agents.load(tmp_path / "b").name == "ah_dqn"


# ------------------------------------------------------------------------------------ logs as evaluation data
def test_off_policy_estimates(tmp_path):
    env = make_play_env("Playlist-v0", "default")
    _run_sessions(env, UniformPolicy(), tmp_path / "log.jsonl", n=20, explore=1.0, threshold=0.45)
    log = read_log(tmp_path / "log.jsonl")
    same = off_policy_estimates(UniformPolicy(), log)  # target == logging policy: every weight is 1
    assert same["ips"] == pytest.approx(same["logged_mean_reward"]) == pytest.approx(same["snips"])
    assert same["ess"] == pytest.approx(same["n"])

    class Oracle:  # greedy on the person's answers: its IPS estimate beats the uniform logger's
        def predict(self, obs, info=None, deterministic=True):
            lat = env.unwrapped.item_features
            cand = info["candidates"]
            return np.array(int(np.argmax([lat[c, 0] if c >= 0 else -1 for c in cand]))), None

    better = off_policy_estimates(Oracle(), log)
    assert better["snips"] > same["snips"] and better["ess"] < same["ess"]


def test_replay_listener_replays_logged_sessions(tmp_path):
    env = make_play_env("Playlist-v0", "default")
    _run_sessions(env, UniformPolicy(), tmp_path / "log.jsonl", n=2, explore=1.0)
    sessions = read_log(tmp_path / "log.jsonl").sessions()
    replay = gym.make("MusicGym/Playlist-v0", listener="replay", replay_log=str(tmp_path / "log.jsonl"))
    for seed in range(4):
        obs, info = replay.reset(seed=seed)
        logged = next(s for s in sessions if s[0]["history"][0] == info["history"][0])
        for r in logged:  # following the logged actions earns the logged rewards
            assert list(info["candidates"]) == r["candidates"]
            obs, reward, term, trunc, info = replay.step(r["action"])
            assert reward == pytest.approx(r["reward"])
        assert term or trunc
    # a track the person never heard in that session ends the replay
    for seed in range(20):
        obs, info = replay.reset(seed=seed)
        logged = next(s for s in sessions if s[0]["history"][0] == info["history"][0])
        heard = {r["track"] for r in logged}
        unheard = [a for a in range(4) if info["candidates"][a] not in heard]
        if unheard:
            break
    obs, reward, term, trunc, info = replay.step(unheard[0])
    assert term and reward == 0 and np.isnan(info["rewards"]["percentage_listened"])
    assert replay.observation_space.contains(obs)


def test_replay_listener_errors(tmp_path):
    with pytest.raises(ValueError, match="needs replay_log"):
        gym.make("MusicGym/Playlist-v0", listener="replay")
    with pytest.raises(LogError, match="not found"):
        gym.make("MusicGym/Playlist-v0", listener="replay", replay_log=str(tmp_path / "none.jsonl"))
    with pytest.raises(ValueError, match="only read with listener='replay'"):
        gym.make("MusicGym/Playlist-v0", replay_log=str(tmp_path / "none.jsonl"))
