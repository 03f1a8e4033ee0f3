"""Golden trajectories: the dynamics of every registered id must not change without a version bump.

200 steps of each env under seed 0, as the single env (through ``gym.make``) and as the native vector
env (4 sessions), are summarised as

* a SHA-256 of every integer and boolean the env returns: the tracks played, the candidate slots, the
  oracle's actions, terminations and truncations (the trajectory itself, exactly), and
* the sum and the sum of squares of every float stream (observations, rewards, ``oracle_reward``,
  ``regret``), compared with a relative tolerance of 1e-6: the numbers a user reads, without asking
  float arithmetic to agree to the last bit (kernels and BLAS builds may sum in another order).

The figures were recorded with the code as it was before the one-source-of-dynamics refactor (commit
4cc2fea), except those of Playlist-v0 (vector), Taste-v0 (vector), Session-v0 (vector) and Preference-v0,
re-recorded when retrieval became exact and canonical (ties by exact score, then track id; the neighbour
tables had come in FAISS's float32 order, which depends on the CPU's BLAS kernel). A change here is a change of an env's dynamics: bump the env's ``-vN`` and record the new
id's figures (``python tests/envs/test_golden.py`` prints them).

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

#: (env id, kwargs) -> {"single" / "vector": (integer hash, {stream: (sum, sum of squares)})}
GOLDEN: dict = {
    ('MusicGym/Playlist-v0', ()): {'single': ('7aecbd5913046aed2469e976c347375bfd9cd6c6056efb309ae326ec1e93e7de', {'obs': (3015.678610842675, 1739.6998721516995), 'reward': (14274.391338540921, 1232570.1062663023), 'oracle_reward': (16615.495564498273, 1401044.7377667036), 'regret': (849.832380156992, 42870.534881607855)}),
        'vector': ('e875ccb9e900f46f6eb5317975e0609e5a836da1f741d93ad0135599b7b99c42', {'obs': (10957.961583029479, 6254.695252206542), 'reward': (51875.18256308465, 4542692.171380323), 'oracle_reward': (62898.92785737999, 5440860.143873994), 'regret': (3822.459575724522, 187226.0828875147)})},
    ('MusicGym/Playlist-v0', (('listener', 'population'),)): {'single': ('57a00c676f10deef10b78d262659c66e1c1c601e0feff1080623be96577285aa', {'obs': (2981.132262274623, 1673.9917785923558), 'reward': (15525.053305427342, 1396237.023117724), 'oracle_reward': (18186.244724338205, 1558824.0057857062), 'regret': (771.9044336436289, 29424.67435834792)}),
        'vector': ('8ed5ce3e4e34387d80b03ab534ebb339fdc88968a2faac410555a4a1a966cb35', {'obs': (11242.385446917266, 6501.597482657074), 'reward': (51243.31769040455, 4384587.769786573), 'oracle_reward': (62168.58612115041, 5281840.041409264), 'regret': (3705.9441209503807, 166941.10195716785)})},
    ('MusicGym/Taste-v0', ()): {'single': ('1aa9e50bf765282f548d580dcb9a8ac7f6e24818ea379cbff9be90faa5743ae9', {'obs': (16162.633621291436, 10663.761658732072), 'reward': (93.45697683095932, 44.21342632520039), 'oracle_reward': (100.61118000745773, 49.41501555345468), 'regret': (4.702671229839325, 0.5907274130433997)}),
        'vector': ('03ae97926d12469e4f40e2619d41236c00e2047acc32c958435f5cd888e548f2', {'obs': (65021.8567589062, 43405.727867593945), 'reward': (359.32359528541565, 166.04363158131397), 'oracle_reward': (391.6170592904091, 190.9688567082956), 'regret': (24.467597901821136, 2.6576998157670495)})},
    ('MusicGym/TasteCatalog-v0', ()): {'single': ('2e24c7283bf4d188f8b87422f2c33fe0a8d85cc0cb1f33cc3f0f54d063a8d953', {'obs': (789.0941604980799, 474.2301254191807), 'reward': (46.505647242069244, 60.7341630716608), 'oracle_reward': (101.90724486112595, 50.65959850543368), 'regret': (52.90932160615921, 63.91649135581035)}),
        'vector': ('8561efe0322f156875e8e9664fd0edefc7b6e295d0b453543146fb8658993fd2', {'obs': (3045.3250880335363, 1826.9689405342347), 'reward': (338.435264647007, 153.46480206411238), 'oracle_reward': (399.8101845383644, 198.81861554557486), 'regret': (53.42047017812729, 11.735925798903718)})},
    ('MusicGym/Preference-v0', ()): {'single': ('f4a84da141322b4331db3ff5ec12baf41050f751a5e3b3db67248d5c715aebf5', {'obs': (21404.671799759497, 22421.504130681653), 'reward': (7.638397483155131, 18.31248009254145), 'oracle_reward': (63.869893747381866, 28.14605777678239), 'regret': (52.91831944603473, 22.811071362300723)}),
        'vector': ('c983d926cafdb63b2842231234affd1da9639c1b6265e7326d1cb894056ce7d2', {'obs': (81914.38456059701, 85380.39609661697), 'reward': (78.69127555831801, 85.80636515948794), 'oracle_reward': (283.48741780144337, 139.14560178043095), 'regret': (189.60336675522558, 78.52184796390331)})},
    ('MusicGym/Preference-v0', (('observe_preferences', False),)): {'single': ('f4a84da141322b4331db3ff5ec12baf41050f751a5e3b3db67248d5c715aebf5', {'obs': (22368.88840718381, 22186.881658077364), 'reward': (7.638397483155131, 18.31248009254145), 'oracle_reward': (63.869893747381866, 28.14605777678239), 'regret': (52.91831944603473, 22.811071362300723)}),
        'vector': ('c983d926cafdb63b2842231234affd1da9639c1b6265e7326d1cb894056ce7d2', {'obs': (85071.0413170819, 84226.72502476322), 'reward': (78.69127555831801, 85.80636515948794), 'oracle_reward': (283.48741780144337, 139.14560178043095), 'regret': (189.60336675522558, 78.52184796390331)})},
    ('MusicGym/PreferenceCatalog-v0', ()): {'single': ('045f50c58d9e78df9a8e9c1a6bc6649146bfb3657af3ca4f7c9fa41b613affd9', {'obs': (427.43130419754743, 1041.6325044288344), 'reward': (-2.44138834963087, 38.06655658098846), 'oracle_reward': (127.43887171149254, 80.83175699351514), 'regret': (124.01905394683126, 115.10633091555985)}),
        'vector': ('a2e5f003db09245f973b889449d57b5dd9a30fe4ddb25907aca6b08380b709c2', {'obs': (1000.274275396674, 3776.4739781226813), 'reward': (53.11481747009111, 43.874576316445754), 'oracle_reward': (461.83236142992973, 278.33213021225845), 'regret': (388.1832326950853, 233.62054681021354)})},
    ('MusicGym/Session-v0', ()): {'single': ('404991ca33f795c7c11293ef964dc4715d2a7e6830347f9658272ce438a3f9f8', {'obs': (21237.404385422924, 14128.812289447555), 'reward': (105.96787239232877, 273.2217779420926), 'oracle_reward': (282.41214188587116, 621.8507495852679), 'regret': (141.8456827857071, 224.6491285263987)}),
        'vector': ('e5585375d746d0ac253b3e5667dc2dcdcf8a3580b4db11c8cfcee6e706e793ad', {'obs': (76236.47402297427, 51686.63144500833), 'reward': (410.3345401588596, 1025.7397068195905), 'oracle_reward': (1099.0495337115954, 2412.9469781331118), 'regret': (597.6752411094824, 1011.6745597092607)})},
    ('MusicGym/SessionCatalog-v0', ()): {'single': ('2921f8058807c6da4b54e22187caf770aa3da1a479c8f8cf4e7b16b92bf455ea', {'obs': (4612.474831923184, 3351.5937250785487), 'reward': (23.947412071784132, 104.48528460663884), 'oracle_reward': (441.760548800137, 1303.6589573220879), 'regret': (386.0380879420744, 1113.2526326930804)}),
        'vector': ('75fc89f87e10bdf3e364f6c96bc1d0b9aec57633f340ee0cbfc9825505702140', {'obs': (16684.914246052762, 12117.738875432658), 'reward': (227.6430027775369, 357.0362460615871), 'oracle_reward': (1955.5378034945325, 6239.847230365007), 'regret': (1555.0761600713283, 4490.5717871491415)})},
}

CASES = [
    ("MusicGym/Playlist-v0", ()),
    ("MusicGym/Playlist-v0", (("listener", "population"),)),
    ("MusicGym/Taste-v0", ()),
    ("MusicGym/TasteCatalog-v0", ()),
    ("MusicGym/Preference-v0", ()),
    ("MusicGym/Preference-v0", (("observe_preferences", False),)),
    ("MusicGym/PreferenceCatalog-v0", ()),
    ("MusicGym/Session-v0", ()),  # recorded when it was added (after the refactor)
    ("MusicGym/SessionCatalog-v0", ()),
]


FLOATS = ("obs", "reward", "oracle_reward", "regret")


class Digest:
    """An exact hash of the integer streams and (sum, sum of squares) of each float stream."""

    def __init__(self) -> None:
        self.h = hashlib.sha256()
        self.sums = {k: [0.0, 0.0] for k in FLOATS}

    def ints(self, *values) -> None:
        for v in values:
            a = np.asarray(v).astype(np.int64)
            self.h.update(np.ascontiguousarray(a).tobytes())

    def floats(self, name: str, value) -> None:
        a = np.asarray(value, dtype=np.float64)
        self.sums[name][0] += float(a.sum())
        self.sums[name][1] += float((a * a).sum())

    def result(self) -> tuple[str, dict]:
        return self.h.hexdigest(), {k: tuple(v) for k, v in self.sums.items()}


def _add(d: Digest, obs, info, reward=None, terminated=None, truncated=None) -> None:
    d.floats("obs", obs)
    d.ints(info["oracle_action"], info["candidates"])
    d.floats("oracle_reward", info["oracle_reward"])
    if reward is not None:
        d.floats("reward", reward)
        d.floats("regret", info["regret"])
        d.ints(info["track"], terminated, truncated)


def single_run(env_id: str, kwargs: dict) -> tuple[str, dict]:
    env = gym.make(env_id, **kwargs)
    rng = np.random.default_rng(12345)
    n = int(env.action_space.n)
    catalog_mode = n > 100
    d = Digest()
    obs, info = env.reset(seed=0)
    _add(d, obs, info)
    for t in range(N_STEPS):
        action = int(rng.integers(n))
        if catalog_mode and t % 7 == 6:
            action = int(info["history"][-1])
        obs, reward, terminated, truncated, info = env.step(action)
        _add(d, obs, info, reward, terminated, truncated)
        if terminated or truncated:
            obs, info = env.reset()
            _add(d, obs, info)
    return d.result()


def vector_run(env_id: str, kwargs: dict) -> tuple[str, dict]:
    venv = gym.make_vec(env_id, num_envs=N_VEC, vectorization_mode="vector_entry_point", **kwargs)
    rng = np.random.default_rng(12345)
    n = int(venv.single_action_space.n)
    d = Digest()
    obs, info = venv.reset(seed=0)
    _add(d, obs, info)
    for _ in range(N_STEPS):
        obs, reward, terminated, truncated, info = venv.step(rng.integers(n, size=N_VEC))
        _add(d, obs, info, reward, terminated, truncated)
    return d.result()


#: registered ids whose dynamics are another case's (the same env with the same arguments)
ALIASES = {
    ("MusicGym/PlaylistPOMDP-v0", ()): ("MusicGym/Playlist-v0", (("listener", "population"),)),
    ("MusicGym/PreferenceHidden-v0", ()): ("MusicGym/Preference-v0", (("observe_preferences", False),)),
}
CASES = CASES + list(ALIASES)


def _label(case) -> str:
    env_id, kw = case
    return env_id.split("/")[1] + "".join(f"-{k}={v}" for k, v in kw)


@pytest.mark.parametrize("case", CASES, ids=[_label(c) for c in CASES])
@pytest.mark.parametrize("kind", ["single", "vector"])
def test_golden_trajectory(case, kind):
    env_id, kw = case
    got_hash, got_sums = (single_run if kind == "single" else vector_run)(env_id, dict(kw))
    recorded = ALIASES.get(case, case)
    assert recorded in GOLDEN, f"no golden figures recorded for {case}"
    want_hash, want_sums = GOLDEN[recorded][kind]
    assert got_hash == want_hash, f"{_label(case)} ({kind}): the tracks, candidates or oracle actions changed"
    for name, (s, s2) in want_sums.items():
        assert got_sums[name] == pytest.approx((s, s2), rel=1e-6, abs=1e-9), f"{_label(case)} ({kind}): {name}"


def test_every_registered_id_has_a_golden_trajectory():
    from musicgym.registration import registered_ids

    assert set(registered_ids()) <= {env_id for env_id, kw in CASES if not kw}


if __name__ == "__main__":  # print the table to record
    for case in CASES:
        print(f"    {case!r}: {{'single': {single_run(case[0], dict(case[1]))!r},")
        print(f"        'vector': {vector_run(case[0], dict(case[1]))!r}}},")
