"""Hostile inputs: feed bad arguments, bad files and bad command lines to the public API and the CLI.

A report, not a test (exit status 0 always). Every case expects an error that names the problem, or
(marked ``ok``) a documented valid behaviour. Outcomes:

* ``clear``      a ValueError / TypeError / musicgym error (or a documented FileNotFoundError /
                 PermissionError, or Gymnasium's own error for its seeding and ResetNeeded) whose message
                 holds one of the substrings the case expects (the argument, the file, the problem);
* ``misleading`` an accepted type whose message does not name the problem;
* ``traceback``  any other exception type escaping (KeyError, IndexError, AttributeError, ...); for the
                 CLI a "Traceback" on stderr, or a one-line error of such a type;
* ``silent``     accepted where it should not be (for loaders: a row dropped or changed without an
                 entry in ``catalog.report``);
* ``ok``         the valid behaviour the case checks for (e.g. a loader that reports a dropped row).

Five classes: env arguments and reset/step (every registered id), the native vector env, agents,
loaders, the ``musicgym`` command. Run: ``python experiments/hostile_inputs.py`` (about 2 minutes on
2 cores; envs and agents on the ``synthetic-2000`` catalog, loaders on files of a few lines).
"""

# ruff: noqa: B023 - every case's lambda runs at once, inside its loop iteration
from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import sys
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("MUSICGYM_QUIET", "1")

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402

import musicgym  # noqa: E402
from musicgym.registration import registered_ids  # noqa: E402

CATALOG = "synthetic-2000"
NAN, INF = float("nan"), float("inf")
CASE_SECONDS = 30  # a case that runs longer was accepted (and set off real work): "silent"
TMP = Path(tempfile.mkdtemp(prefix="musicgym-hostile-"))

# ------------------------------------------------------------------------------------------ the harness
#: exception types a bad input may raise (musicgym's own errors subclass ValueError)
ALLOWED: tuple[type[BaseException], ...] = (ValueError, TypeError, FileNotFoundError, PermissionError,
                                            gym.error.Error)
RESULTS: list[tuple[str, str, str, str]] = []  # (class, case, outcome, message)


class _Overtime(Exception):
    pass


def _alarm(signum, frame):
    raise _Overtime()


signal.signal(signal.SIGALRM, _alarm)


def run(cls: str, name: str, fn: Callable[[], Any], expect: tuple[str, ...] | str = (),
        check: Callable[[Any], tuple[str, str]] | None = None) -> None:
    """Run one case. `expect`: substrings (any one, case-insensitive) a clear message holds.

    `check` (for cases where no error is the right answer): maps fn's result to (outcome, message).
    """
    expect = (expect,) if isinstance(expect, str) else expect
    signal.alarm(CASE_SECONDS)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = fn()
    except _Overtime:
        outcome, msg = "silent", f"accepted: still running after {CASE_SECONDS} s"
    except ALLOWED as e:
        msg = f"{type(e).__name__}: {e}"
        named = not expect or any(s.lower() in str(e).lower() for s in expect)
        outcome = "clear" if named else "misleading"
        if not named:
            msg += f"  [expected to name one of {list(expect)}]"
    except Exception as e:  # noqa: BLE001 - what escaped is the finding
        outcome, msg = "traceback", f"{type(e).__name__}: {e}"
    else:
        outcome, msg = check(result) if check else ("silent", f"accepted, returned {result!r:.100}")
    finally:
        signal.alarm(0)
    RESULTS.append((cls, name, outcome, " ".join(msg.split())[:300]))


# ------------------------------------------------------------------------------------------ 1. envs
ENV = "1 env"
#: per env class: argument -> hostile values (type errors, NaN / inf, out of range)
ARGS: dict[str, dict[str, list[Any]]] = {
    "PlaylistEnv": {
        "listener": [123, "nonsense", None],
        "observation": [123, "pixels"],
        "n_clusters": [0, -1, 1.5, "20", True, 5000],
        "mean_bounds": [(0.9, 0.1), "ab", (NAN, 0.5), (0.4, 2.0)],
        "sd_bounds": [(-0.1, 0.1), (0.1,), None, (0.05, INF)],
        "like_threshold": [NAN, INF, "0.6", 1.5, -0.5],
        "listen_weight": [NAN, INF, "100"],
        "like_weight": [NAN, "50"],
        "interaction_weight": [NAN, -INF],
        "proximity_weight": [NAN, "x"],
        "reward_scale": [NAN, 0, INF, "1"],
        "listener_seed": [-1, 1.5, "0"],
        "replay_log": [123, "/nonexistent/me.jsonl"],
        "playlist_length": [0, 1, 1.5, "10", 10**6],
    },
    "PreferenceEnv": {
        "action_mode": ["bogus", 1],
        "k": [0, -3, 1.5, "20", True, 10**6],
        "n_random": [-1, 1.5, 21],
        "observe_preferences": ["no", 1, None],
        "drift": [NAN, -0.5, 2.0, "0.1"],
        "reward_scale": [0, NAN, -INF, "5"],
        "listener": [123, "taste"],
    },
    "SessionEnv": {
        "action_mode": ["bogus", None],
        "k": [0, 1.5, 10**6, True],
        "n_recent": [-1, 100, "5"],
        "n_random": [-1, 25, 2.5],
        "shown_tracks": [0, -1, 1.5, 10**6],
        "listener": [123, "fixed"],
        "reward": ["hours", 1],
        "listener_params": [123, "/nonexistent/fit.json", {"bogus": 1}],
    },
    "TasteEnv": {
        "action_mode": ["bogus"],
        "k": [0, 1.5, 10**6, "20"],
        "n_random": [-1, 21, NAN],
        "window": [0, -1, 1.5, 10**6],
        "listener": [123, "preference"],
    },
}


#: (argument, repr(value)) -> what a clear message may name instead of the argument (the file, the key)
EXPECT = {("listener_params", "'/nonexistent/fit.json'"): ("listener_params", "fit.json"),
          ("listener_params", "{'bogus': 1}"): ("listener_params", "bogus"),
          ("replay_log", "'/nonexistent/me.jsonl'"): ("replay_log", "me.jsonl")}


def _make(env_id: str, **kw: Any) -> gym.Env:
    kw.setdefault("catalog", CATALOG)
    env = gym.make(env_id, **kw)
    env.close()
    return env


def env_argument_cases() -> None:
    """Every documented argument of every registered id, with hostile values; catalogs; plan."""
    for env_id in registered_ids():
        short = env_id.removeprefix("MusicGym/")
        cls = type(gym.make(env_id, catalog=CATALOG).unwrapped)
        documented = cls.default_arguments()
        table = ARGS[cls.__name__]
        missing = sorted(set(documented) - set(table))
        if missing:
            print(f"note: no hostile values for {cls.__name__} arguments {missing}")
        catalog_mode = gym.make(env_id, catalog=CATALOG).unwrapped.action_mode == "catalog"
        for arg, values in table.items():
            for v in values:
                # catalog mode has no slots: k is checked (>= 1, an integer) but not against the catalog's
                # size, so that the default k=20 works on a catalog of fewer tracks; a huge k is valid there
                check = ((lambda env: ("ok", "accepted: catalog mode does not use k"))
                         if catalog_mode and arg == "k" and v == 10**6 else None)
                run(ENV, f"{short} {arg}={v!r}", lambda a=arg, v=v: _make(env_id, **{a: v}),
                    EXPECT.get((arg, repr(v)), arg), check=check)
        run(ENV, f"{short} unknown kwarg colour='red'", lambda: _make(env_id, colour="red"), "colour")
        for cat in (123, None, "", "/nonexistent/songs.csv", [], 1.5):
            run(ENV, f"{short} catalog={cat!r}", lambda c=cat: _make(env_id, catalog=c),
                ("catalog", "nonexistent", "empty"))
        run(ENV, f"{short} render_mode='rgb_array'", lambda: _make(env_id, render_mode="rgb_array"), "render_mode")
        run(ENV, f"{short} plan='yes'", lambda: _make(env_id, plan="yes"), "plan")
        run(ENV, f"{short} plan_horizon=-1", lambda: _make(env_id, plan=True, plan_horizon=-1), "plan_horizon")
        run(ENV, f"{short} plan_horizon='3'", lambda: _make(env_id, plan=True, plan_horizon="3"), "plan_horizon")


def _until_terminated(env: gym.Env) -> bool:
    obs, info = env.reset(seed=0)
    for _ in range(200):
        obs, r, terminated, truncated, info = env.step(int(info["oracle_action"]))
        if terminated:
            return True
        if truncated:
            return False
    return False


def env_reset_step_cases() -> None:
    """reset(seed=..., options=...) and step(...) with bad values; stepping before reset and after the end."""
    for env_id in registered_ids():
        short = env_id.removeprefix("MusicGym/")
        env = gym.make(env_id, catalog=CATALOG)
        n = env.action_space.n
        run(ENV, f"{short} step before reset", lambda e=env: e.step(0), "reset")
        for seed in (-1, 1.5, "0", NAN, [1, 2]):
            run(ENV, f"{short} reset(seed={seed!r})", lambda s=seed: env.reset(seed=s), "seed")
        ntracks = len(env.unwrapped.catalog)
        for opts in ({"bogus": 1}, "start_track=3", {"start_track": -1}, {"start_track": ntracks},
                     {"start_track": 1.5}, {"start_track": "3"}, {"start_track": None}):
            run(ENV, f"{short} reset(options={opts!r})", lambda o=opts: env.reset(seed=0, options=o),
                ("options", "bogus", "start_track"))
        if "Preference" in env_id:
            for prefs in ([0.0] * 5, [NAN] * 21, [5.0] * 21, "rock"):
                run(ENV, f"{short} reset(options=preferences={prefs!r:.20})",
                    lambda p=prefs: env.reset(seed=0, options={"preferences": p}), "preferences")
        env.close()
        env = gym.make(env_id, catalog=CATALOG)  # a fresh env (see the PassiveEnvChecker case below)
        env.reset(seed=0)
        for action in (-1, n, 1.5, np.array([0, 1]), None, "0", True, np.float32(0.0), {}):
            run(ENV, f"{short} step({action!r})", lambda a=action: env.step(a), "action")
        if "Playlist" in env_id or "Session" in env_id:
            if _until_terminated(env):
                run(ENV, f"{short} step after termination", lambda: env.step(0), ("reset", "terminated"))
        env.close()

    def first_reset_fails() -> Any:
        """A first reset and a first step that raise, then a good step."""
        env = gym.make("MusicGym/Preference-v0", catalog=CATALOG)
        with contextlib.suppress(ValueError, gym.error.Error):
            env.reset(seed=-1)  # a first reset that raises ...
        env.reset(seed=0)
        with contextlib.suppress(ValueError):
            env.step(-1)  # ... then a first step that raises ...
        return env.step(0)  # ... and a good step must work

    run(ENV, "Preference-v0 bad first reset, bad first step, then step(0)", first_reset_fails, ("action", "reset"),
        check=lambda r: ("ok", "the good step worked"))


# ------------------------------------------------------------------------------------------ 2. vector env
VEC = "2 vector env"


def _vec(env_id: str = "MusicGym/Preference-v0", num_envs: int = 4, **kw: Any):
    return gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point",
                        vector_kwargs={}, catalog=CATALOG, **kw)


def vector_cases() -> None:
    """The native vector env: bad action arrays, seed lists, constructor arguments, snapshots."""
    for env_id in ("MusicGym/Preference-v0", "MusicGym/Playlist-v0", "MusicGym/TasteCatalog-v0",
                   "MusicGym/Session-v0"):
        short = env_id.removeprefix("MusicGym/")
        venv = _vec(env_id)
        n = venv.single_action_space.n
        run(VEC, f"{short} step before reset", lambda v=venv: v.step(np.zeros(4, dtype=np.int64)), "reset")
        venv.reset(seed=0)
        bad_actions = {
            "shape (5,)": np.zeros(5, dtype=np.int64), "shape (4, 1)": np.zeros((4, 1), dtype=np.int64),
            "floats": np.zeros(4), "scalar 0": 0, "None": None, "[-1, 0, 0, 0]": np.array([-1, 0, 0, 0]),
            f"[{n}, 0, 0, 0]": np.array([n, 0, 0, 0]), "strings": np.array(["0"] * 4),
        }
        for label, a in bad_actions.items():
            run(VEC, f"{short} step(actions {label})", lambda a=a, v=venv: v.step(a), ("action",))
        for seeds in ([0, 1], [0, 1, 2, 3, 4], [0, "a", 2, 3], [0, -1, 2, 3], [0.5, 1, 2, 3]):
            run(VEC, f"{short} reset(seed={seeds})", lambda s=seeds, v=venv: v.reset(seed=s), "seed")
        run(VEC, f"{short} reset(seed=-3)", lambda v=venv: v.reset(seed=-3), "seed")
        run(VEC, f"{short} reset(options={{'bogus': 1}})", lambda v=venv: v.reset(options={"bogus": 1}),
            ("options", "bogus"))
        venv.close()
    for label, kw in {"num_envs=0": {"num_envs": 0}, "num_envs=-2": {"num_envs": -2},
                      "num_envs=2.5": {"num_envs": 2.5}, "num_envs='4'": {"num_envs": "4"},
                      "num_envs=True": {"num_envs": True}}.items():
        run(VEC, f"make_vec {label}", lambda kw=kw: _vec(**kw), "num_envs")
    for label, kw in {"max_episode_steps=0": {"max_episode_steps": 0},
                      "max_episode_steps=2.5": {"max_episode_steps": 2.5},
                      "autoreset_mode='bogus'": {"autoreset_mode": "bogus"},
                      "oracle='yes'": {"oracle": "yes"}, "k=0": {"k": 0}, "colour='red'": {"colour": "red"},
                      "render_mode='ansi'": {"render_mode": "ansi"}}.items():
        arg = label.split("=")[0]
        run(VEC, f"make_vec {label}", lambda kw=kw: _vec(**kw), arg)
    venv = _vec()
    run(VEC, "set_state({}) on a fresh env", lambda: venv.set_state({}), "state")
    run(VEC, "set_state(None)", lambda: venv.set_state(None), "state")


# ------------------------------------------------------------------------------------------ 3. agents
AGENT = "3 agents"
AGENT_ENV = {"cf_actor_critic": "MusicGym/PreferenceCatalog-v0", "model_based": "MusicGym/Playlist-v0"}
SMALL = {"ppo": {"n_envs": 1, "n_steps": 16, "batch_size": 16}, "maskable_ppo": {"n_envs": 1, "n_steps": 16,
         "batch_size": 16}, "recurrent_ppo": {"n_envs": 1, "n_steps": 16, "batch_size": 16},
         "dqn": {"n_envs": 1}, "ah_dqn": {"n_envs": 1}, "actor_critic": {"n_envs": 1}}


def _agent(name: str, **hp: Any):
    from musicgym import agents

    return agents.make(name, AGENT_ENV.get(name, "MusicGym/Preference-v0"), env_kwargs={"catalog": CATALOG},
                       **{**SMALL.get(name, {}), **hp})


def _bad_values(spec: Any) -> list[Any]:
    """Two hostile values for a hyperparameter spec: a wrong type and a NaN / out-of-range one."""
    kind = type(spec).__name__
    return {"Int": ["12", -7], "Real": ["fast", NAN], "Bool": ["yes", 2], "Choice": [3, "nonsense"],
            "Device": ["gpu", 3], "PathSpec": [3, ""], "MappingSpec": ["x", [1]],
            "ClassOrName": [3, "NoSuchPolicy"], "TrainFreq": [(4, "minute"), -1]}.get(kind, [object()])


def agent_cases() -> None:
    """Every agent's hyperparameters; learn, predict, save and load with bad values and bad files."""
    from musicgym import agents

    for name in agents.available():
        specs = agents.agent_class(name).hyperparam_specs()
        picked = list(specs.items())[:3] + [(k, s) for k, s in specs.items() if type(s).__name__ == "Real"][:1]
        for hp, spec in dict(picked).items():
            for v in _bad_values(spec):
                run(AGENT, f"{name} {hp}={v!r}", lambda n=name, h=hp, v=v: _agent(n, **{h: v}), (hp,))
        run(AGENT, f"{name} unknown hyperparameter colour", lambda n=name: _agent(n, colour="red"), "colour")
        run(AGENT, f"{name} env_kwargs catalog=123",
            lambda n=name: agents.make(n, AGENT_ENV.get(n, "MusicGym/Preference-v0"), env_kwargs={"catalog": 123}),
            "catalog")
    run(AGENT, "make unknown agent 'nope'", lambda: agents.make("nope", "MusicGym/Preference-v0"), "nope")
    run(AGENT, "make on env 'Nope-v0'", lambda: agents.make("ah_dqn", "MusicGym/Nope-v0"), "nope")
    run(AGENT, "make ah_dqn seed='0'", lambda: _agent("ah_dqn", seed="0"), "seed")
    run(AGENT, "make ah_dqn seed=nan", lambda: _agent("ah_dqn", seed=NAN), "seed")
    run(AGENT, "make ah_dqn seed=-1", lambda: _agent("ah_dqn", seed=-1), "seed")
    run(AGENT, "make ah_dqn env=123", lambda: agents.make("ah_dqn", 123), "env")
    run(AGENT, "make cf_actor_critic on Preference-v0 (candidates)",
        lambda: agents.make("cf_actor_critic", "MusicGym/Preference-v0", env_kwargs={"catalog": CATALOG}),
        ("cf_actor_critic", "catalog", "support"))
    # learn, predict, save and load on one agent of each family
    made = {}
    for name in ("ah_dqn", "ppo", "item_cf", "actor_critic", "posterior_greedy"):
        try:
            made[name] = _agent(name)
        except Exception as e:  # noqa: BLE001
            print(f"note: could not make {name} for the learn/save/load cases: {e}")
    for name, agent in made.items():
        for steps in (-5, "100", 1.5, None, NAN):
            run(AGENT, f"{name} learn({steps!r})", lambda a=agent, s=steps: a.learn(s), ("total_timesteps", "learn"))
        run(AGENT, f"{name} predict(obs of shape (3,))", lambda a=agent: a.predict(np.zeros(3, dtype=np.float32)),
            ("observation", "shape", "info="))
        run(AGENT, f"{name} predict('obs')", lambda a=agent: a.predict("obs"), ("observation", "info="))
        run(AGENT, f"{name} save('')", lambda a=agent: a.save(""), ("empty path", "''"))
        run(AGENT, f"{name} save('/etc/hostname/x')", lambda a=agent: a.save("/etc/hostname/x"), "/etc/hostname")
        run(AGENT, f"{name} save(3)", lambda a=agent: a.save(3), "path")
    good = TMP / "agents"
    good.mkdir()
    saved = {}
    for name in ("ah_dqn", "item_cf"):
        if name in made:
            made[name].learn(8 if name == "ah_dqn" else 0)
            made[name].save(good / name)
            saved[name] = good / name

    def damaged(tag: str, mutate: Callable[[Path], None], src: str = "ah_dqn") -> Path:
        p = TMP / "agents" / f"{src}-{tag}"
        p.write_bytes(saved[src].read_bytes())
        Path(f"{p}.json").write_bytes(Path(f"{saved[src]}.json").read_bytes())
        mutate(p)
        return p

    if saved:
        cases = {
            "empty": lambda p: p.write_bytes(b""),
            "truncated": lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]),
            "foreign (a CSV)": lambda p: p.write_text("id,name\n1,song\n"),
            "random bytes": lambda p: p.write_bytes(os.urandom(512)),
            "sidecar cut": lambda p: Path(f"{p}.json").write_text('{"agent": "ah_dqn", '),
            "sidecar a list": lambda p: Path(f"{p}.json").write_text("[1, 2]"),
            "sidecar names 'nope'": lambda p: Path(f"{p}.json").write_text(
                json.dumps({**json.loads(Path(f"{saved['ah_dqn']}.json").read_text()), "agent": "nope"})),
        }
        for src in saved:
            for tag, mutate in cases.items():
                path = damaged(tag.split()[0] + tag[-3:], mutate, src)
                run(AGENT, f"load {src} file: {tag}", lambda p=path: agents.load(p), (str(path.name),))
        if len(saved) == 2:
            from musicgym.agents.ah_dqn import AHDQNAgent

            run(AGENT, "AHDQNAgent.load(an item_cf file)", lambda: AHDQNAgent.load(saved["item_cf"]), "item_cf")
        run(AGENT, "load a missing path", lambda: agents.load(TMP / "nothing"), "nothing")
        run(AGENT, "load a directory", lambda: agents.load(TMP), str(TMP.name))
        run(AGENT, "load(path, device='gpu')", lambda: agents.load(saved["ah_dqn"], device="gpu"), "device")
        run(AGENT, "load(123)", lambda: agents.load(123), "path")


# ------------------------------------------------------------------------------------------ 4. loaders
LOAD = "4 loaders"
HEADER = ("track_id,track_name,track_artist,danceability,energy,key,loudness,mode,speechiness,acousticness,"
          "instrumentalness,liveness,valence,tempo,duration_ms")
ROW = "{id},Song {id},Artist,0.5,0.6,5,-6.0,1,0.05,0.1,0.0,0.1,0.5,{tempo},236765"
GOOD = [ROW.format(id=f"t{i}", tempo=100 + i) for i in range(4)]


def _file(name: str, data: str | bytes) -> Path:
    d = TMP / "files" / str(len(list((TMP / "files").glob("*"))) if (TMP / "files").exists() else 0)
    d.mkdir(parents=True)
    p = d / name
    if isinstance(data, bytes):
        p.write_bytes(data)
    else:
        p.write_text(data, encoding="utf-8")
    return p


def reported(kept: int, min_entries: int = 1, notes: tuple[str, ...] = ()) -> Callable[[Any], tuple[str, str]]:
    """A check: `kept` tracks loaded, `min_entries` dropped/changed entries and a note holding one of `notes`.

    Anything else is a silent change.
    """

    def check(cat: Any) -> tuple[str, str]:
        """Compare the catalog and its report with what the case expects."""
        rep = cat.report
        entries = [d.reason for d in rep.dropped] + [c.reason for c in rep.changed]
        noted = any(any(n.lower() in text.lower() for n in notes) for text in rep.notes + entries) if notes else True
        text = f"{len(cat)} tracks, dropped/changed: {entries[:3]}, notes: {rep.notes[:2]}"
        if len(cat) == kept and len(entries) >= min_entries and noted:
            return "ok", text
        return "silent", f"expected {kept} tracks and {min_entries}+ report entries: {text}"

    return check


def mpd(tracks: list[dict[str, Any]]) -> str:
    """An MPD slice holding one playlist of `tracks`."""
    return json.dumps({"info": {"slice": "0-0"}, "playlists": [{"name": "Road trip", "pid": 0, "tracks": tracks}]})


def mpd_track(i: int, **over: Any) -> dict[str, Any]:
    """One MPD track entry (fields replaced by `over`)."""
    return {"pos": i, "track_uri": f"spotify:track:T{i}", "track_name": f"Song {i}", "artist_name": "A",
            "album_name": "Al", **over}


def loader_cases() -> None:
    """Catalog files and MSSD logs that are cut, mis-encoded, out of range or not what they claim."""
    load = musicgym.load_catalog
    good = "\n".join([HEADER, *GOOD]) + "\n"
    L = LOAD  # noqa: N806
    run(L, "CSV cut in the middle of a row", lambda: load(_file("cut.csv", good[: good.rfind("\n", 0, -1) + 30])),
        check=reported(3))
    run(L, "CSV cut inside its last field", lambda: load(_file("cut2.csv", good.rstrip("\n")[:-3])), check=reported(4))
    run(L, "semicolon CSV", lambda: load(_file("semi.csv", good.replace(",", ";"))), check=reported(4, 0, ("semicolon",)))
    run(L, "tab CSV", lambda: load(_file("tab.csv", good.replace(",", "\t"))), check=reported(4, 0, ("tab",)))
    run(L, "semicolon CSV with decimal commas",
        lambda: load(_file("eu.csv", good.replace(",", ";").replace(".", ","))), check=reported(4, 0, ("semicolon",)))
    run(L, "non-UTF-8 bytes (latin-1 name)",
        lambda: load(_file("latin.csv", (HEADER + "\n" + GOOD[0].replace("Song", "Caf\xe9") + "\n").encode("latin-1"))),
        ("utf-8", "encoding"))
    run(L, "encoding='no-such-codec'", lambda: load(_file("enc.csv", good), encoding="no-such-codec"), "encoding")
    run(L, "NaN feature", lambda: load(_file("nan.csv", good.replace("0.6,5", "nan,5", 1))), check=reported(3))
    run(L, "inf feature", lambda: load(_file("inf.csv", good.replace("0.6,5", "inf,5", 1))), check=reported(3))
    run(L, "feature out of range (energy 7)", lambda: load(_file("rng.csv", good.replace("0.6,5", "7,5", 1))),
        check=reported(3))
    run(L, "text in a number (tempo 'fast')", lambda: load(_file("txt.csv", good.replace(",100,", ",fast,", 1))),
        check=reported(3))
    year = HEADER + ",year\n" + "\n".join(r + (",3020" if i == 0 else ",1999") for i, r in enumerate(GOOD)) + "\n"
    run(L, "year 3020", lambda: load(_file("year.csv", year)), check=reported(4))
    run(L, "duplicate id with other features", lambda: load(_file("dup.csv", good + GOOD[0].replace("0.6", "0.9") + "\n")),
        ("t0", "duplicate"))
    run(L, "empty file", lambda: load(_file("empty.csv", "")), "empty")
    run(L, "header only", lambda: load(_file("hdr.csv", HEADER + "\n")), ("no data", "rows"))
    run(L, "missing required column", lambda: load(_file("col.csv", good.replace(",energy", ",nrg"))), "energy")
    run(L, "random bytes .csv", lambda: load(_file("rnd.csv", os.urandom(2048))), ("rnd.csv",))
    run(L, "NUL bytes in a CSV", lambda: load(_file("nul.csv", good.replace("Song t1", "So\x00ng"))),
        ("nul", "rnd", "nul.csv"))
    empty_dir = TMP / "emptydir"
    empty_dir.mkdir()
    (empty_dir / "README.md").write_text("no data here")
    run(L, "a directory without data", lambda: load(empty_dir), ("emptydir", "no .csv"))
    run(L, "a missing path", lambda: load(TMP / "nope.csv"), "nope.csv")
    run(L, "unknown extension .xlsx", lambda: load(_file("x.xlsx", good)), ("xlsx",))
    run(L, "spec=123", lambda: load(123), ("catalog", "int"))
    run(L, "spec=[]", lambda: load([]), ("empty",))
    run(L, "errors='ignore'", lambda: load(_file("e.csv", good), errors="ignore"), "errors")
    run(L, "seed='0' for a synthetic preset", lambda: load("synthetic-300", seed="0"), "seed")
    run(L, "'synthetic-0'", lambda: load("synthetic-0"), ("synthetic", "0"))
    run(L, "'synthetic-1'", lambda: load("synthetic-1"), ("synthetic", "1", "tracks"))
    # MPD JSON
    run(L, "MPD JSON with a BOM", lambda: load(_file("bom.json", b"\xef\xbb\xbf" + mpd([mpd_track(0)]).encode())),
        check=reported(1, 0, ("no audio features",)))
    run(L, "MPD pos as string", lambda: load(_file("pos.json", mpd([mpd_track(0), mpd_track(1, pos="1")]))),
        check=reported(1))
    run(L, "MPD pos null", lambda: load(_file("posn.json", mpd([mpd_track(0), mpd_track(1, pos=None)]))),
        check=reported(1))
    run(L, "MPD duplicate pos", lambda: load(_file("posd.json", mpd([mpd_track(0), mpd_track(1, pos=0)]))),
        check=reported(2))
    run(L, "MPD track_uri 12345", lambda: load(_file("uri.json", mpd([mpd_track(0), mpd_track(1, track_uri=12345)]))),
        check=reported(1))
    run(L, "MPD track_name a list", lambda: load(_file("tn.json", mpd([mpd_track(0), mpd_track(1, track_name=[1])]))),
        check=reported(2))
    run(L, "MPD playlists not a list", lambda: load(_file("pl.json", json.dumps({"playlists": 3}))), "playlists")
    run(L, "MPD truncated", lambda: load(_file("cut.json", mpd([mpd_track(0), mpd_track(1)])[:-25])),
        ("truncated", "invalid json"))
    run(L, "JSON null", lambda: load(_file("null.json", "null")), ("mpd", "null.json"))
    run(L, "MPD with features=123", lambda: load(_file("f.json", mpd([mpd_track(0)])), features=123), "features")
    # Last.fm TSV
    log = ["u1\t2009-05-04T10:00:00Z\tA1\tArtist\tT1\tOne", "u1\t2009-05-04T10:04:00Z\tA1\tArtist\tT2\tTwo"]
    for label, ts in {"unparsable": "not-a-time", "year 3020": "3020-05-04T10:08:00Z", "month 13": "2009-13-04T10:08:00Z",
                      "empty": "", "epoch number": "1241431680"}.items():
        run(L, f"Last.fm timestamp {label}",
            lambda ts=ts, lb=label: load(_file(f"ts-{lb[:5]}.tsv", "\n".join([*log, f"u1\t{ts}\tA1\tArtist\tT3\tThree"]) + "\n")),
            check=reported(2))
    run(L, "Last.fm short line", lambda: load(_file("short.tsv", "\n".join([*log, "u1\t2009"]) + "\n")), check=reported(2))
    run(L, "Last.fm out-of-order times", lambda: load(_file("ooo.tsv", "\n".join(reversed(log)) + "\n")),
        check=reported(2, 0))
    run(L, "Last.fm session_gap_minutes=nan", lambda: load(_file("gap.tsv", "\n".join(log) + "\n"),
                                                           session_gap_minutes=NAN), "session_gap_minutes")
    run(L, "Last.fm session_gap_minutes='20'", lambda: load(_file("gap2.tsv", "\n".join(log) + "\n"),
                                                            session_gap_minutes="20"), "session_gap_minutes")
    # MSSD logs
    from musicgym.catalog import load_mssd_log
    from musicgym.catalog.mssd import MSSD_COLUMNS

    def play(session: str, pos: int, length: int, **over: Any) -> str:
        """One MSSD log row."""
        row = dict(zip(MSSD_COLUMNS, [session, pos, length, f"t_{session}{pos}", 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, "true",
                                      12, "2018-07-15", "true", "radio", "trackdone", "trackdone"], strict=True))
        row.update(over)
        return ",".join(str(row[c]) for c in MSSD_COLUMNS)

    def mssd(*bad: str) -> Path:
        """A 3-play MSSD log with the `bad` rows after it."""
        rows = [play("s1", 1, 3), play("s1", 2, 3), play("s1", 3, 3), *bad]
        return _file("log.csv", "\n".join([",".join(MSSD_COLUMNS), *rows]) + "\n")

    def kept(n: int) -> Callable[[Any], tuple[str, str]]:
        """A check: `n` plays kept and a report entry."""
        def check(log: Any) -> tuple[str, str]:
            """Classify the command's exit status and stderr."""
            entries = [d.reason for d in log.report.dropped] + [c.reason for c in log.report.changed]
            text = f"{len(log.plays)} plays, report: {entries[:3]}"
            return ("ok" if len(log.plays) == n and entries else "silent"), text

        return check

    for label, over in {"skip_1 'maybe'": {"skip_1": "maybe"}, "session_position -1": {"session_position": -1},
                        "hour_of_day 25": {"hour_of_day": 25}, "session_length 'x'": {"session_length": "x"},
                        "skip_2 2": {"skip_2": 2}, "skip_1 nan": {"skip_1": "nan"},
                        "position beyond length": {"session_position": 7},
                        "reason_start empty": {"hist_user_behavior_reason_start": ""}}.items():
        run(L, f"MSSD {label}", lambda o=over: load_mssd_log(mssd(play("s2", 1, 1, **o))), check=kept(3))
    run(L, "MSSD missing column skip_2",
        lambda: load_mssd_log(_file("m.csv", mssd().read_text().replace("skip_2", "skipp"))), "skip_2")
    run(L, "MSSD empty file", lambda: load_mssd_log(_file("m.csv", "")), "empty")
    run(L, "MSSD random bytes", lambda: load_mssd_log(_file("m.csv", os.urandom(1024))), ("m.csv",))
    run(L, "MSSD path=123", lambda: load_mssd_log(123), ("path",))
    run(L, "MSSD missing file", lambda: load_mssd_log(TMP / "nolog.csv"), "nolog.csv")


# ------------------------------------------------------------------------------------------ 5. CLI
CLI = "5 cli"


def cli(argv: list[str]) -> tuple[int, str]:
    """Run ``musicgym ARGV`` in this process: (exit status, stderr)."""
    from musicgym.experiments import cli as cli_module

    err, out = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            code = cli_module.main(argv)
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    return code, err.getvalue()


INTERNAL = ("KeyError", "IndexError", "AttributeError", "UnboundLocalError", "NameError", "ZeroDivisionError",
            "AssertionError", "RuntimeError", "OSError", "IsADirectoryError", "NotADirectoryError",
            "UnicodeDecodeError", "StopIteration", "OverflowError", "JSONDecodeError", "YAMLError",
            "ScannerError", "ParserError")


def run_cli(name: str, argv: list[str], expect: tuple[str, ...] | str, ok_zero: bool = False) -> None:
    """One CLI case: clear when the exit status is not 0 and stderr's one error line names one of `expect`."""
    expect = (expect,) if isinstance(expect, str) else expect

    def fn() -> tuple[int, str]:
        """Run the command."""
        return cli(argv)

    def check(res: tuple[int, str]) -> tuple[str, str]:
        """Classify the command's exit status and stderr."""
        code, err = res
        lines = [ln for ln in err.splitlines() if ln.strip()]
        last = lines[-1] if lines else ""
        if ok_zero:
            return ("ok" if code == 0 else "misleading"), f"exit {code}: {last}"
        if "Traceback" in err:
            return "traceback", f"exit {code}: {last}"
        if code == 0:
            return "silent", f"exit 0: {last or '(nothing on stderr)'}"
        # argparse's usage error is usage lines + one "error:" line: the error line counts
        usage = code == 2 and lines and lines[0].startswith("usage:")
        if not usage and len(lines) != 1:
            return "misleading", f"exit {code}, {len(lines)} stderr lines: {' | '.join(lines)[:200]}"
        typ = last.split("error: ", 1)[-1].split(":", 1)[0]
        if typ in INTERNAL:
            return "traceback", f"exit {code}, internal exception type escaped as one line: {last}"
        if not any(s.lower() in last.lower() for s in expect):
            return "misleading", f"exit {code}: {last}  [expected to name one of {list(expect)}]"
        return "clear", f"exit {code}: {last}"

    run(CLI, f"musicgym {' '.join(str(a) for a in argv)}"[:90], fn, check=check)


def cli_cases() -> None:
    """The musicgym command: bad verbs, options, sweep files, catalogs, logs and paths."""
    from musicgym.experiments import cli as cli_module

    # a sweep or leaderboard that reaches its runs has accepted its arguments: stop it there
    def accepted(sweep: Any, args: Any, title: str) -> int:
        """Stands in for the runs: reaching them means the arguments were accepted."""
        print(f"accepted: would run {len(sweep.specs)} runs", file=sys.stderr)
        return 0

    cli_module._run_and_publish = accepted
    d = TMP / "cli"
    d.mkdir()
    good = d / "songs.csv"
    good.write_text("\n".join([HEADER, *GOOD]) + "\n")
    (d / "empty.csv").write_text("")
    (d / "rnd.csv").write_bytes(os.urandom(1024))
    sweep_bad = {
        "agents-nope": "out: {out}\nagents: [nope]\nenvs: [MusicGym/Preference-v0]\n",
        "envs-nope": "out: {out}\nagents: [random]\nenvs: [MusicGym/Nope-v0]\n",
        "seeds-neg": "out: {out}\nagents: [random]\nenvs: [MusicGym/Preference-v0]\nseeds: -1\n",
        "steps-str": "out: {out}\nagents: [random]\nenvs: [MusicGym/Preference-v0]\ntotal_timesteps: lots\n",
        "unknown-key": "out: {out}\nagents: [random]\nenvs: [MusicGym/Preference-v0]\ncolour: red\n",
        "not-yaml": "agents: [random\nenvs: ::\n",
        "a-list": "- random\n- oracle\n",
        "empty": "",
        "hp-unknown": "out: {out}\nagents: [ah_dqn]\nenvs: [MusicGym/Preference-v0]\nhyperparams: {{ah_dqn: {{colour: [1]}}}}\n",
        "hp-bad": "out: {out}\nagents: [ah_dqn]\nenvs: [MusicGym/Preference-v0]\nhyperparams: {{ah_dqn: {{gamma: [7]}}}}\n",
        "eval-zero": "out: {out}\nagents: [random]\nenvs: [MusicGym/Preference-v0]\neval_episodes: 0\n",
        "env-kwargs-bad": "out: {out}\nagents: [random]\nenvs: [MusicGym/Preference-v0]\nenv_kwargs: {{k: -3}}\n",
        "envs-all-typo": "out: {out}\nagents: [random]\nenvs: al\n",
        "seeds-dup": "out: {out}\nagents: [random]\nenvs: [MusicGym/Preference-v0]\nseeds: [0, 0]\n",
    }
    expect = {"agents-nope": "nope", "envs-nope": "nope", "seeds-neg": "seeds", "steps-str": "total_timesteps",
              "unknown-key": "colour", "not-yaml": ("yaml",), "a-list": ("mapping", "dict", "a-list"),
              "empty": ("empty",), "hp-unknown": "colour", "hp-bad": "gamma", "eval-zero": "eval_episodes",
              "env-kwargs-bad": ("k", "env_kwargs"), "envs-all-typo": ("envs", "al"), "seeds-dup": ("seed",)}
    for tag, text in sweep_bad.items():
        f = d / f"sweep-{tag}.yml"
        f.write_text(text.format(out=d / "runs"))
        run_cli(f"sweep: {tag}", ["sweep", str(f)], expect[tag])
    run_cli("sweep: missing file", ["sweep", str(d / "none.yml")], "none.yml")
    run_cli("sweep: a directory", ["sweep", str(d)], (str(d.name), "directory"))
    ok_sweep = d / "sweep-ok.yml"
    ok_sweep.write_text(f"out: {d / 'runs'}\nagents: [random]\nenvs: [MusicGym/Preference-v0]\n")
    run_cli("sweep --workers 0", ["sweep", str(ok_sweep), "--workers", "0"], "workers")
    run_cli("sweep --seeds 0", ["sweep", str(ok_sweep), "--seeds", "0"], "seeds")
    run_cli("sweep --wait -5", ["sweep", str(ok_sweep), "--wait", "-5"], "wait")
    run_cli("sweep --wait nan", ["sweep", str(ok_sweep), "--wait", "nan"], "wait")
    run_cli("sweep --backend spark", ["sweep", str(ok_sweep), "--backend", "spark"], "backend")
    run_cli("sweep --agents nope", ["sweep", str(ok_sweep), "--agents", "nope"], "nope")
    run_cli("leaderboard --preset nope", ["leaderboard", "--preset", "nope"], "preset")
    run_cli("leaderboard --agents nope", ["leaderboard", "--agents", "nope", "--runs", str(d / "lb")], "nope")
    run_cli("leaderboard --envs Nope-v0", ["leaderboard", "--envs", "Nope-v0", "--runs", str(d / "lb")], "nope")
    run_cli("leaderboard --seeds -1", ["leaderboard", "--seeds", "-1", "--runs", str(d / "lb")], "seeds")
    run_cli("leaderboard --seeds two", ["leaderboard", "--seeds", "two"], "seeds")
    run_cli("leaderboard --runs ''", ["leaderboard", "--runs", "", "--agents", "random", "--envs", "Preference-v0"],
            ("runs", "empty", "''"))
    run_cli("leaderboard --runs /etc/hostname/x", ["leaderboard", "--runs", "/etc/hostname/x", "--agents", "random",
                                                   "--envs", "Preference-v0"], "/etc/hostname")
    run_cli("catalog missing file", ["catalog", str(d / "nope.csv")], "nope.csv")
    run_cli("catalog empty file", ["catalog", str(d / "empty.csv")], "empty")
    run_cli("catalog random bytes", ["catalog", str(d / "rnd.csv")], "rnd.csv")
    run_cli("catalog --encoding bogus", ["catalog", str(good), "--encoding", "bogus"], "encoding")
    run_cli("catalog --errors explode", ["catalog", str(good), "--errors", "explode"], "errors")
    run_cli("catalog --features missing", ["catalog", str(good), "--features", str(d / "nf.csv")], ("nf.csv", "features"))
    run_cli("catalog (no path)", ["catalog"], "paths")
    run_cli("calibrate --log missing", ["calibrate", "synthetic-500", "--log", str(d / "nolog.csv")], "nolog.csv")
    run_cli("calibrate --log random bytes", ["calibrate", "synthetic-500", "--log", str(d / "rnd.csv"),
                                             "--max-evaluations", "1", "--sessions", "50"], "rnd.csv")
    run_cli("calibrate --sessions 0", ["calibrate", "synthetic-500", "--sessions", "0", "--max-evaluations", "1",
                                       "--out", str(d / "c.json")], "sessions")
    run_cli("calibrate --max-evaluations -1", ["calibrate", "synthetic-500", "--max-evaluations", "-1",
                                               "--sessions", "50", "--out", str(d / "c.json")], "evaluations")
    run_cli("calibrate nope-catalog", ["calibrate", "nope-catalog"], "nope-catalog")
    run_cli("calibrate --out /etc/hostname/x", ["calibrate", "synthetic-500", "--out", "/etc/hostname/x",
                                                "--max-evaluations", "1", "--sessions", "50"], "/etc/hostname")
    run_cli("realism --catalogs nope", ["realism", "--catalogs", "nope", "--out", str(d / "re")], "nope")
    run_cli("realism --sessions -5", ["realism", "--catalogs", "synthetic-500", "--sessions", "-5",
                                      "--out", str(d / "re")], "sessions")
    run_cli("realism --out /etc/hostname/x", ["realism", "--catalogs", "synthetic-500", "--sessions", "50",
                                              "--out", "/etc/hostname/x"], "/etc/hostname")
    run_cli("play --env Nope-v0", ["play", "--env", "Nope-v0", "--log", str(d / "p.jsonl")], "nope")
    run_cli("play --env Taste-v0", ["play", "--env", "Taste-v0", "--log", str(d / "p.jsonl")], ("taste", "play"))
    run_cli("play --agent nope", ["play", "--agent", "nope", "--log", str(d / "p.jsonl")], "nope")
    run_cli("play --explore 2", ["play", "--explore", "2", "--log", str(d / "p.jsonl")], "explore")
    run_cli("play --explore nan", ["play", "--explore", "nan", "--log", str(d / "p.jsonl")], "explore")
    run_cli("play --log /etc/hostname/x", ["play", "--log", "/etc/hostname/x", "--catalog", "synthetic-500"],
            "/etc/hostname")
    (d / "bad.jsonl").write_text("not json\n{\"a\": 1}\n")
    run_cli("finetune --log garbage", ["finetune", "--log", str(d / "bad.jsonl"), "--agent", str(d / "x"),
                                       "--out", str(d / "y")], "bad.jsonl")
    run_cli("ope --log missing", ["ope", "--log", str(d / "none.jsonl"), "--agent", str(d / "x")], "none.jsonl")
    run_cli("finetune --steps -3", ["finetune", "--log", str(d / "bad.jsonl"), "--agent", str(d / "x"),
                                    "--out", str(d / "y"), "--steps", "-3"], ("steps", "bad.jsonl"))
    run_cli("demo --catalog nope", ["demo", "--catalog", "nope"], "nope")
    run_cli("bench --only nope", ["bench", "--only", "nope"], "only")
    run_cli("bench --agent-steps -1", ["bench", "--only", "agents", "--agent-steps", "-1"], "agent-steps")
    run_cli("unknown verb", ["dance"], ("dance", "invalid choice"))
    run_cli("no verb", [], ("command", "required"))
    run_cli("bench --help", ["bench", "--help"], (), ok_zero=True)

    # --debug shows the traceback (a real process: what a user sees)
    import subprocess

    def debug() -> tuple[int, str]:
        """Run the real command with --debug."""
        p = subprocess.run([sys.executable, "-m", "musicgym.experiments.cli", "--debug", "catalog", str(d / "nope.csv")],
                           capture_output=True, text=True, timeout=120)
        return p.returncode, p.stderr

    def debug_check(res: tuple[int, str]) -> tuple[str, str]:
        """The traceback must show."""
        code, err = res
        good = code != 0 and "Traceback" in err and "nope.csv" in err
        return ("ok" if good else "misleading"), f"exit {code}, traceback shown: {'Traceback' in err}"

    run(CLI, "musicgym --debug catalog nope.csv (shows the traceback)", debug, check=debug_check)


# ------------------------------------------------------------------------------------------ the report
def main() -> int:
    """Run every class of cases and print the table."""
    t0 = time.perf_counter()
    for part in (env_argument_cases, env_reset_step_cases, vector_cases, agent_cases, loader_cases, cli_cases):
        t = time.perf_counter()
        try:
            part()
        except Exception as e:  # noqa: BLE001 - a broken harness part is reported, not fatal
            RESULTS.append((part.__name__, "harness", "traceback", f"the harness itself failed: {e!r}"))
        print(f"{part.__name__}: {time.perf_counter() - t:.1f} s", file=sys.stderr)
    outcomes = ["clear", "ok", "traceback", "misleading", "silent"]
    by_class: dict[str, Counter] = {}
    for cls, _, outcome, _ in RESULTS:
        by_class.setdefault(cls, Counter())[outcome] += 1
    print(f"\n{'class':16s} {'cases':>6s} " + " ".join(f"{o:>10s}" for o in outcomes))
    total = Counter()
    for cls in sorted(by_class):
        c = by_class[cls]
        total.update(c)
        print(f"{cls:16s} {sum(c.values()):6d} " + " ".join(f"{c[o]:10d}" for o in outcomes))
    print(f"{'total':16s} {sum(total.values()):6d} " + " ".join(f"{total[o]:10d}" for o in outcomes))
    print("\n(clear = a named error; ok = the documented valid behaviour; goal: 0 traceback, 0 misleading, 0 silent)")
    bad = [r for r in RESULTS if r[2] not in ("clear", "ok")]
    if bad:
        print(f"\n{len(bad)} cases that are not clear:")
        for cls, name, outcome, msg in bad:
            print(f"  [{outcome:10s}] {cls} | {name} -> {msg}")
    print(f"\n{len(RESULTS)} cases in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    try:
        main()
    except Exception:  # noqa: BLE001 - a report: exit status 0 always
        import traceback

        traceback.print_exc()
    sys.exit(0)
