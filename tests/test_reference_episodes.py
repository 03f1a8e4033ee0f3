"""The reference episodes (random, oracle, planner): played once, cached, and read back as `evaluate` gives them."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time

import gymnasium as gym
import pytest

import musicgym
from musicgym import evaluation
from musicgym.evaluation import evaluate_reference


def _policy(name: str, env_id: str, seed: int):
    if name == "random":
        return musicgym.RandomPolicy(gym.make(env_id).action_space, seed=seed)
    return musicgym.OraclePolicy() if name == "oracle" else musicgym.PlannerPolicy()


@pytest.mark.parametrize("env_id", ["MusicGym/Playlist-v0", "MusicGym/PlaylistPOMDP-v0", "MusicGym/Taste-v0",
                                    "MusicGym/PreferenceHidden-v0"])
@pytest.mark.parametrize("name", evaluation.REFERENCE_POLICIES)
def test_a_reference_read_from_the_cache_is_what_evaluate_plays(env_id, name):
    seed = 7
    played = musicgym.evaluate(_policy(name, env_id, seed), env_id, n_episodes=3, seed=seed)
    read = evaluate_reference(name, env_id, n_episodes=3, seed=seed)
    assert dataclasses.asdict(read) == dataclasses.asdict(played)
    # and from the disk cache in a fresh process's memory
    evaluation._reference.clear()
    assert dataclasses.asdict(evaluate_reference(name, env_id, n_episodes=3, seed=seed)) == dataclasses.asdict(played)


def test_evaluate_reference_names_bad_arguments():
    with pytest.raises(ValueError, match="unknown reference policy 'greedy'"):
        evaluate_reference("greedy", "MusicGym/Taste-v0", n_episodes=2)
    with pytest.raises(ValueError, match="n_episodes"):
        evaluate_reference("random", "MusicGym/Taste-v0", n_episodes=0)
    with pytest.raises(ValueError, match="seed"):
        evaluate_reference("random", "MusicGym/Taste-v0", n_episodes=2, seed=-1)


def test_a_process_waits_for_the_references_another_is_playing(tmp_path):
    """Two processes that need the same references play them once: the second waits, then reads the cache."""
    env_id, n, seed = "MusicGym/Taste-v0", 2, 11
    env = gym.make(env_id)
    key = evaluation._reference_key(env_id, env, {}, n, seed)
    env.close()
    path = tmp_path / "references" / f"{key}.json"
    code = ("import json, gymnasium as gym, musicgym.evaluation as e; "
            f"gym.make({env_id!r}).close(); print('ready', flush=True); "  # imports and catalog loaded
            f"r = e.references({env_id!r}, {n}, {seed})['random']; "
            "print(json.dumps([r, e.reference_wait_seconds()]), flush=True)")
    with evaluation._file_lock(path.with_suffix(".lock")):  # this process is "playing" them
        child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                                 env={**os.environ, "MUSICGYM_CACHE": str(tmp_path)})
        assert child.stdout.readline().strip() == "ready"
        time.sleep(3)  # the child has found no cache and waits for the lock (unlocked, it plays them now)
        assert child.poll() is None, "the second process did not wait for the lock"
        # what this process "played": a value no policy scores, so that the child's answer shows it read it
        path.write_text(json.dumps({"random": -12345.0, "oracle": 0.0, "planner": float("nan"),
                                    "planner_exact": False, "episodes": {}}))
    out, _ = child.communicate(timeout=120)
    assert child.returncode == 0
    value, waited = json.loads(out)
    assert value == -12345.0
    assert waited >= 2  # (of the 3 s above) a sweep takes the wait out of the run's evaluation seconds
