"""Golden trajectories: the dynamics of every registered id must not change without a version bump.

200 steps of each env under seed 0, as the single env (through ``gym.make``) and as the native vector
env (4 sessions), are reduced to a SHA-256 of the observations, rewards, terminations and the infos'
oracle keys (``oracle_action``, ``oracle_reward``, ``regret``). Floats are rounded to 5 decimals
first, so the hash says "the same trajectory" and is not moved by last-bit differences of float
arithmetic between BLAS builds. The hashes were recorded before the one-source-of-dynamics refactor;
a change here is a change of an env's dynamics: bump the env's ``-vN`` and record the new id's hash.

Actions: a fixed generator's uniform draws over the action space; in catalog mode every 7th action
replays the last played track (the repeat path).
"""

from __future__ import annotations

import hashlib

import gymnasium as gym
import numpy as np
import pytest

import musicgym  # noqa: F401

N_STEPS = 200
N_VEC = 4

#: (env id, kwargs) -> (single-env hash, vector-env hash), recorded at commit "golden trajectories"
GOLDEN: dict[tuple[str, tuple], tuple[str, str]] = {
    ('MusicGym/Playlist-v0', ()): ('2afdc6822c32cb637cdfff53a6fac813c5f46b3438505eea75049627b4ba5c47', 'b4ae6c79b8a65f8d1a1b2d181ad6df2edd13731423697dc67e10a991f37f9d27'),
    ('MusicGym/Playlist-v0', (('listener', 'population'),)): ('a6b4ce415efb8aade4f3f336130f34eb3189394525b097f632b97bae1a07a4fc', '7d2872344f7cc1066eadfa0a8203b4f8ad564d283e37deba3e088394adb98f6b'),
    ('MusicGym/Taste-v0', ()): ('385e22e682085f712cfdb228d8eb0b77c0c4630268f99ee1a6d67d0e30e206c7', '752af5c3e1b29df843597000535ee8375c477a42ad76edf32ce99c609d2c3fff'),
    ('MusicGym/TasteCatalog-v0', ()): ('6d77f13077c37f051fdd870135a2f125a8721024404d544fffd26ed2e17e4021', '650bceea43f9b055cd0d4e2672063a67116ba184cbe199763c628e5eda0e9ff9'),
    ('MusicGym/Preference-v0', ()): ('81f53d8cd34b2d09f9604d064a5fd1076081f3e55f1eb8b5252bd4c5a06dc352', 'f2e400e5b6e1ca68a46c88e35a0efe8e6cd0a92888bb25e19c3efaeca7c392e1'),
    ('MusicGym/Preference-v0', (('observe_preferences', False),)): ('46fad2db93f0b920a7ad42d15f759dca69d2030b217510caa4b474695370fdd5', '3080506b6abe43fab07981cf4b923a0b4387d4ac541dded314395fc38230bdf3'),
    ('MusicGym/PreferenceCatalog-v0', ()): ('25324e10b1251743cdd51b3dc50836e430db9e54dd3e6429d605a37887143c46', 'f9c85745aee2f017b0557b1758c7af4852d9b21dbdd8015d182f57b76e159828'),
}

CASES = [
    ("MusicGym/Playlist-v0", ()),
    ("MusicGym/Playlist-v0", (("listener", "population"),)),
    ("MusicGym/Taste-v0", ()),
    ("MusicGym/TasteCatalog-v0", ()),
    ("MusicGym/Preference-v0", ()),
    ("MusicGym/Preference-v0", (("observe_preferences", False),)),
    ("MusicGym/PreferenceCatalog-v0", ()),
]


class Digest:
    """SHA-256 over arrays rounded to 5 decimals."""

    def __init__(self) -> None:
        self.h = hashlib.sha256()

    def add(self, *values) -> None:
        for v in values:
            a = np.asarray(v)
            if a.dtype.kind == "f":
                a = np.round(a.astype(np.float64), 5) + 0.0  # + 0.0: -0.0 and 0.0 hash alike
            self.h.update(str(a.dtype.kind).encode())
            self.h.update(np.ascontiguousarray(a).tobytes())

    def hexdigest(self) -> str:
        return self.h.hexdigest()


def single_hash(env_id: str, kwargs: dict) -> str:
    env = gym.make(env_id, **kwargs)
    rng = np.random.default_rng(12345)
    n = int(env.action_space.n)
    catalog_mode = n > 100
    d = Digest()
    obs, info = env.reset(seed=0)
    d.add(obs, info["oracle_action"], info["oracle_reward"])
    for t in range(N_STEPS):
        action = int(rng.integers(n))
        if catalog_mode and t % 7 == 6:
            action = int(info["history"][-1])
        obs, reward, terminated, truncated, info = env.step(action)
        d.add(obs, reward, terminated, truncated, info["oracle_action"], info["oracle_reward"], info["regret"])
        if terminated or truncated:
            obs, info = env.reset()
            d.add(obs, info["oracle_action"], info["oracle_reward"])
    return d.hexdigest()


def vector_hash(env_id: str, kwargs: dict) -> str:
    venv = gym.make_vec(env_id, num_envs=N_VEC, vectorization_mode="vector_entry_point", **kwargs)
    rng = np.random.default_rng(12345)
    n = int(venv.single_action_space.n)
    d = Digest()
    obs, info = venv.reset(seed=0)
    d.add(obs, info["oracle_action"], info["oracle_reward"])
    for _ in range(N_STEPS):
        obs, reward, terminated, truncated, info = venv.step(rng.integers(n, size=N_VEC))
        d.add(obs, reward, terminated, truncated, info["oracle_action"], info["oracle_reward"], info["regret"])
    return d.hexdigest()


def _label(case) -> str:
    env_id, kw = case
    return env_id.split("/")[1] + "".join(f"-{k}={v}" for k, v in kw)


@pytest.mark.parametrize("case", CASES, ids=[_label(c) for c in CASES])
def test_golden_trajectory(case):
    env_id, kw = case
    got = (single_hash(env_id, dict(kw)), vector_hash(env_id, dict(kw)))
    assert case in GOLDEN, f"no golden hash recorded for {case}: {got}"
    assert got == GOLDEN[case], f"{_label(case)}: the trajectory changed (single, vector) {got} != {GOLDEN[case]}"


if __name__ == "__main__":  # print the table to record
    for case in CASES:
        print(f"    {case!r}: {(single_hash(case[0], dict(case[1])), vector_hash(case[0], dict(case[1])))!r},")
