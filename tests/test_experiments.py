from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import scipy.stats
import yaml
from musicgym.experiments import leaderboard
from musicgym.experiments.runs import RunSpec, execute, read_result, write_json_atomic
from musicgym.experiments.sweep import SweepError, build_sweep, load_sweep, run_local

from musicgym.registration import registered_ids

TINY = {
    "agents": ["random", "oracle", "item_cf", "ah_dqn"],
    "envs": ["MusicGym/Preference-v0"],
    "seeds": 2,
    "total_timesteps": 600,
    "eval_episodes": 6,
    "curve_points": 2,
    "curve_episodes": 3,
    "hyperparams": {"ah_dqn": {"learning_starts": 100, "n_envs": 4}},
}


# ------------------------------------------------------------------------------------ sweep files
def test_build_sweep_expands_the_grid_and_skips_unsupported_pairs(tmp_path):
    doc = {**TINY, "agents": ["ppo", "cf_actor_critic", "oracle"], "envs": "all", "seeds": [0, 3],
           "hyperparams": {"ppo": {"learning_rate": [1e-3, 3e-4], "n_steps": 64}}}
    sweep = build_sweep(doc, out=tmp_path)
    ppo = [s for s in sweep.specs if s.agent == "ppo"]
    assert len(ppo) == len(registered_ids()) * 2 * 2  # envs x learning rates x seeds
    assert {s.seed for s in ppo} == {0, 3}
    assert {s.hyperparams["learning_rate"] for s in ppo} == {1e-3, 3e-4}
    assert all(s.hyperparams["n_steps"] == 64 for s in ppo)
    # cf_actor_critic runs on the two catalog-mode ids only; the others are listed as skipped
    assert {s.env_id for s in sweep.specs if s.agent == "cf_actor_critic"} == {
        "MusicGym/TasteCatalog-v0", "MusicGym/PreferenceCatalog-v0"}
    assert ("cf_actor_critic", "MusicGym/Playlist-v0") in sweep.skipped
    assert all(s.total_timesteps == 0 for s in sweep.specs if s.agent == "oracle")
    assert len({s.name for s in sweep.specs}) == len(sweep.specs)


def test_agent_envs_narrows_one_agent(tmp_path):
    doc = {**TINY, "envs": ["MusicGym/Preference-v0", "MusicGym/PreferenceHidden-v0"],
           "agent_envs": {"ah_dqn": ["MusicGym/PreferenceHidden-v0"]}}
    sweep = build_sweep(doc, out=tmp_path)
    assert {s.env_id for s in sweep.specs if s.agent == "ah_dqn"} == {"MusicGym/PreferenceHidden-v0"}
    assert {s.env_id for s in sweep.specs if s.agent == "item_cf"} == set(doc["envs"])


def test_a_policy_without_training_runs_in_a_sweep(tmp_path):
    spec = build_sweep({**TINY, "agents": ["posterior_greedy"], "envs": ["MusicGym/PreferenceHidden-v0"], "seeds": 1},
                       out=tmp_path).specs[0]
    assert spec.total_timesteps == 0
    result = execute(spec, tmp_path)
    assert result["env_steps"] == 0 and np.isfinite(result["normalized_score"]) and not result["curve"]
    assert not (tmp_path / spec.name / "checkpoint").exists()


def test_overrides_and_per_agent_steps(tmp_path):
    doc = {**TINY, "total_timesteps": {"default": 100, "ah_dqn": 700},
           "overrides": {"ah_dqn": {"MusicGym/Preference-v0": {"eval_episodes": 9, "hyperparams": {"gamma": 0.5}}}}}
    sweep = build_sweep(doc, out=tmp_path)
    ah = [s for s in sweep.specs if s.agent == "ah_dqn"]
    assert all(s.total_timesteps == 700 and s.eval_episodes == 9 and s.hyperparams["gamma"] == 0.5 for s in ah)
    assert all(s.total_timesteps == 100 for s in sweep.specs if s.agent == "item_cf")


@pytest.mark.parametrize(
    "doc, message",
    [
        ({**TINY, "agent": ["ppo"]}, "unknown sweep key"),
        ({**TINY, "agents": ["nope"]}, "unknown agent 'nope'"),
        ({**TINY, "envs": ["MusicGym/Nope-v0"]}, "unknown env"),
        ({k: v for k, v in TINY.items() if k != "envs"}, "no `envs` list"),
        ({**TINY, "total_timesteps": -5}, "total_timesteps must be"),
        ({**TINY, "seeds": []}, "no seeds"),
        ({**TINY, "overrides": {"ah_dqn": {"MusicGym/Preference-v0": {"steps": 5}}}}, "unknown key"),
        ({**TINY, "total_timesteps": {"ah_dqn": 5}}, "no entry for agent"),
        ({**TINY, "agent_envs": {"ah_dqn": "MusicGym/Preference-v0"}}, "agent_envs of 'ah_dqn' must be a list"),
        ({**TINY, "agent_envs": {"ah_dqn": ["Preference-v9"]}}, "agent_envs of 'ah_dqn': unknown env"),
        ({**TINY, "agent_envs": {"nope": []}}, "unknown agent 'nope'"),
        ([1, 2], "must be a YAML mapping"),
    ],
)
def test_bad_sweep_files_name_the_problem(doc, message, tmp_path):
    with pytest.raises(SweepError if message != "total_timesteps must be" else ValueError, match=message):
        build_sweep(doc, out=tmp_path)


def test_load_sweep_errors(tmp_path):
    with pytest.raises(SweepError, match="not found"):
        load_sweep(tmp_path / "missing.yml")
    bad = tmp_path / "bad.yml"
    bad.write_text("agents: [ppo\n")
    with pytest.raises(SweepError, match="not valid YAML"):
        load_sweep(bad)


def test_run_names_are_stable_and_cleanrl_style():
    a = RunSpec("ppo", "MusicGym/Taste-v0", seed=2, hyperparams={"learning_rate": 1e-3})
    b = RunSpec("ppo", "MusicGym/Taste-v0", seed=2, hyperparams={"learning_rate": 1e-3})
    c = RunSpec("ppo", "MusicGym/Taste-v0", seed=2, hyperparams={"learning_rate": 3e-4})
    assert a.name == b.name != c.name
    assert a.name.startswith("Taste-v0__ppo__2__")


# ------------------------------------------------------------------------------------ runs
def test_execute_writes_a_complete_run_and_skips_it_the_second_time(tmp_path):
    spec = RunSpec("ah_dqn", "MusicGym/Preference-v0", seed=0, total_timesteps=400, eval_episodes=4,
                   curve_points=2, curve_episodes=2, hyperparams={"learning_starts": 50, "n_envs": 4})
    res = execute(spec, tmp_path)
    run = tmp_path / spec.name
    for name in ("config.json", "result.json", "curve.json", "agent", "agent.json"):
        assert (run / name).exists(), name
    assert any((run / "tb").rglob("events.*"))
    assert res["env_steps"] >= 400 and len(res["episode_scores"]) == 4
    assert [p["step"] for p in res["curve"]] == [200, 400]
    # the learning curve's evaluations are timed and counted in the run's wall time and the compute total
    assert res["curve_seconds"] > 0
    table, _ = leaderboard.build([res])
    whole = res["train_seconds"] + res["eval_seconds"] + res["curve_seconds"]
    assert table.wall_s.iloc[0] == pytest.approx(whole) and table.compute_s.iloc[0] == pytest.approx(whole)
    mtime = (run / "result.json").stat().st_mtime_ns
    assert execute(spec, tmp_path) == res and (run / "result.json").stat().st_mtime_ns == mtime

    from musicgym import agents

    agent = agents.load(run / "agent")
    assert agent.num_timesteps == res["env_steps"]


def test_a_run_whose_defaults_changed_is_kept_aside_and_run_again(tmp_path, monkeypatch):
    from musicgym.experiments import runs

    spec = RunSpec("random", "MusicGym/Taste-v0", eval_episodes=3, total_timesteps=0)
    first = execute(spec, tmp_path)
    assert first["defaults"]["env"]["k"] == 20 and first["defaults"]["hyperparams"] == {}
    assert execute(spec, tmp_path)["finished"] == first["finished"]  # same defaults: done

    real = runs.resolved_defaults
    monkeypatch.setattr(runs, "resolved_defaults", lambda s: {**real(s), "hyperparams": {"edited": 1}})
    with pytest.warns(UserWarning, match="its defaults changed since it ran; the old run is kept in"):
        second = execute(spec, tmp_path)
    assert second["finished"] > first["finished"] and second["defaults"]["hyperparams"] == {"edited": 1}
    (kept,) = (tmp_path / "_stale").iterdir()
    assert kept.name.startswith(spec.name) and read_result(kept) == first  # nothing lost
    assert [r["name"] for r in leaderboard.collect(tmp_path)] == [spec.name]  # the stale copy is not collected

    # a run recorded before defaults were kept: what it ran under is unknown, so it runs again too
    cfg = tmp_path / spec.name / "config.json"
    write_json_atomic(cfg, {k: v for k, v in json.loads(cfg.read_text()).items() if k != "defaults"})
    monkeypatch.setattr(runs, "resolved_defaults", real)
    with pytest.warns(UserWarning, match="it recorded no defaults .* the old run is kept in"):
        third = execute(spec, tmp_path)
    assert third["finished"] > second["finished"] and third["defaults"] == first["defaults"]
    assert len(list((tmp_path / "_stale").iterdir())) == 2
    assert execute(spec, tmp_path)["finished"] == third["finished"]  # recorded now: done


def test_resolved_defaults_follow_the_yaml_configs_and_the_env():
    from musicgym.agents.base import load_hyperparams
    from musicgym.experiments.runs import resolved_defaults

    d = resolved_defaults(RunSpec("ppo", "MusicGym/TasteCatalog-v0"))
    assert d["env"]["action_mode"] == "catalog" and d["hyperparams"] == load_hyperparams("ppo", "MusicGym/TasteCatalog-v0")
    assert resolved_defaults(RunSpec("actor_critic", "MusicGym/Playlist-v0"))["env"]["listener"] == "fixed"


def test_a_reference_policy_run_reports_offline_metrics(tmp_path):
    res = execute(RunSpec("item_cf", "MusicGym/Taste-v0", eval_episodes=3), tmp_path)
    assert set(res["offline"]) == {"hit@10", "ndcg@10"} and 0 <= res["offline"]["hit@10"] <= 1
    assert res["env_steps"] == 0


def test_a_reference_policy_is_fitted_once_per_catalog_and_seed(tmp_path):
    """The same policy on two envs of one catalog shares one fit (and so its offline metrics)."""
    a = execute(RunSpec("user_cf", "MusicGym/Taste-v0", eval_episodes=3), tmp_path)
    b = execute(RunSpec("user_cf", "MusicGym/Preference-v0", eval_episodes=3), tmp_path)
    c = execute(RunSpec("user_cf", "MusicGym/Preference-v0", seed=1, eval_episodes=3), tmp_path)
    fits = sorted(p.name for p in (tmp_path / "_fitted").iterdir())
    assert len(fits) == 2 and all(f.startswith("user_cf__") for f in fits)
    assert a["offline"] == b["offline"] and a["train_seconds"] == b["train_seconds"]
    assert json.loads((tmp_path / "_fitted" / fits[0] / "fitted.json").read_text())["offline"] in (a["offline"],
                                                                                                   c["offline"])
    # the leaderboard reads run directories only
    assert len(leaderboard.collect(tmp_path)) == 3
    # every run reports the fit's seconds as its training time; the compute total counts the shared fit once
    assert a["fit"] == b["fit"] != c["fit"] and a["fit"] in fits and c["fit"] in fits
    table, _ = leaderboard.build(leaderboard.collect(tmp_path))
    once = a["train_seconds"] + c["train_seconds"] + a["eval_seconds"] + b["eval_seconds"] + c["eval_seconds"]
    assert table.compute_s.sum() == pytest.approx(once)
    assert table.compute_s.sum() < (table.wall_s * table.runs).sum()


def test_baselines_define_zero_and_one(tmp_path):
    r = execute(RunSpec("random", "MusicGym/Taste-v0", eval_episodes=5, total_timesteps=0), tmp_path)
    o = execute(RunSpec("oracle", "MusicGym/Taste-v0", eval_episodes=5, total_timesteps=0), tmp_path)
    p = execute(RunSpec("planner", "MusicGym/Taste-v0", eval_episodes=5, total_timesteps=0), tmp_path)
    assert np.mean(r["episode_scores"]) == pytest.approx(0, abs=1e-9)
    # 1 is the reference: the better of the planner and the greedy oracle on these episodes
    assert o["reference"] == p["reference"] and o["reference_return"] == p["reference_return"]
    assert max(np.mean(o["episode_scores"]), np.mean(p["episode_scores"])) == pytest.approx(1, abs=1e-9)
    assert min(np.mean(o["episode_scores"]), np.mean(p["episode_scores"])) <= 1 + 1e-9


def test_a_corrupt_result_file_is_named(tmp_path):
    run = tmp_path / "x"
    run.mkdir()
    (run / "result.json").write_text('{"name": ')
    with pytest.raises(ValueError, match="result.json: not a valid result file"):
        read_result(run)


def test_a_resumed_run_clears_the_temporary_files_of_a_process_killed_mid_write(tmp_path):
    spec = RunSpec("random", "MusicGym/Taste-v0", eval_episodes=2, total_timesteps=0)
    run = tmp_path / spec.name
    run.mkdir()
    (run / ".config.json.4242.tmp").write_text('{"name": ')  # SIGKILL between open and rename
    execute(spec, tmp_path)
    assert sorted(p.name for p in run.iterdir()) == ["config.json", "result.json", "run.lock"]


def test_atomic_json_leaves_no_temporary_files(tmp_path):
    write_json_atomic(tmp_path / "a.json", {"x": np.float32(1.5), "y": np.arange(2)})
    assert json.loads((tmp_path / "a.json").read_text()) == {"x": 1.5, "y": [0, 1]}
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


# ------------------------------------------------------------------------------------ leaderboard
def _fake_result(agent, env, seed, scores, curve=(), offline=None, exact=False):
    return {"name": f"{env}__{agent}__{seed}", "spec": {"agent": agent, "env_id": f"MusicGym/{env}", "seed": seed,
                                                          "hyperparams": {}},
            "mean_return": float(np.mean(scores)), "mean_expected_return": float(np.mean(scores)),
            "normalized_score": float(np.mean(scores)), "reference": "planner", "reference_exact": exact,
            "episode_scores": list(scores), "env_steps": 100, "train_seconds": 1.0, "eval_seconds": 0.5,
            "curve": list(curve), "offline": offline}


def _write_results(root, results):
    for r in results:
        (root / r["name"]).mkdir()
        write_json_atomic(root / r["name"] / "result.json", r)


def test_leaderboard_tables_run_level_iqm_tracks_and_files(tmp_path):
    rng = np.random.default_rng(0)
    results = []
    for env in ("Taste-v0", "Preference-v0", "PlaylistPOMDP-v0", "Session-v0"):
        for seed in range(4):
            results.append(_fake_result("good", env, seed, rng.normal(0.97, 0.01, 20),
                                        curve=[{"step": 50, "score": 0.4}, {"step": 100, "score": 0.9}]))
            results.append(_fake_result("bad", env, seed, rng.normal(0.1, 0.1, 20),
                                        offline={"hit@10": 0.2 + 0.01 * seed, "ndcg@10": 0.1}))
            results.append(_fake_result("item_cf", env, seed, rng.normal(0.3, 0.1, 20),
                                        offline={"hit@10": 0.3, "ndcg@10": 0.2}))
            results.append(_fake_result("popularity", env, seed, rng.normal(0.2, 0.1, 20),
                                        offline={"hit@10": 0.1, "ndcg@10": 0.05}))
    _write_results(tmp_path, results)
    (tmp_path / "unfinished").mkdir()  # a run without a result is not counted
    md, files = leaderboard.write(tmp_path)
    table, agg = leaderboard.build(leaderboard.collect(tmp_path))
    good = table[(table.agent == "good") & (table.env == "Taste-v0")].iloc[0]
    run_scores = [r["normalized_score"] for r in results if r["spec"]["agent"] == "good"
                  and r["spec"]["env_id"].endswith("Taste-v0")]
    assert good.iqm == pytest.approx(scipy.stats.trim_mean(run_scores, 0.25))  # over runs, not episodes
    assert good.ci_low <= good.iqm <= good.ci_high and good.runs == 4
    assert good.saturated  # the best agent's CI reaches 0.95 there
    hard = agg[agg.track == "hard"].set_index("agent")
    assert hard.loc["good", "envs"] == 2 and hard.loc["good", "track_envs"] == 2
    assert hard.loc["good", "iqm"] > hard.loc["bad", "iqm"]
    assert "## Hard track (headline)" in md and "## Seed settings" in md and "P(X > Y)" in md
    assert "## Offline metrics versus listening in the simulator" in md
    assert "| good |" in md and "## Taste-v0" in md and "How to read this board" in md
    assert {f.name for f in files} == {"leaderboard.md", "leaderboard.csv", "leaderboard.json", "scores.png",
                                       "profiles.png", "learning_curves.png", "offline.png"}
    doc = json.loads((tmp_path / "leaderboard.json").read_text())  # strict JSON: NaN written as null
    assert any(row["hit@10"] is None for row in doc["envs"]) and doc["improvement"] and doc["offline"]


def test_a_run_above_an_exact_upper_bound_stops_the_build(tmp_path):
    _write_results(tmp_path, [_fake_result("cheat", "Playlist-v0", 0, [1.2, 1.1], exact=True),
                              _fake_result("fine", "Taste-v0", 0, [1.2, 1.1], exact=False)])
    with pytest.raises(leaderboard.LeaderboardError, match="exact optimum"):
        leaderboard.write(tmp_path)


def test_leaderboard_without_runs_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="no finished runs"):
        leaderboard.write(tmp_path)


# ------------------------------------------------------------------------------------ kill and resume
def _sweep_file(tmp_path: Path, doc: dict) -> Path:
    p = tmp_path / "sweep.yml"
    p.write_text(yaml.safe_dump({**doc, "out": str(tmp_path / "runs")}))
    return p


@pytest.mark.slow
def test_a_sweep_killed_mid_way_completes_every_run_exactly_once(tmp_path):
    doc = {**TINY, "agents": ["ah_dqn", "random"], "seeds": 3, "total_timesteps": 2000, "curve_points": 4}
    cfg = _sweep_file(tmp_path, doc)
    runs = tmp_path / "runs"
    cmd = [sys.executable, "-m", "musicgym.experiments.cli", "sweep", str(cfg), "--workers", "2", "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 240
    # kill once a run has finished and another is part-way (its learning curve started, no result yet)
    while time.time() < deadline:
        done = list(runs.glob("*/result.json"))
        partial = [p for p in runs.glob("*/curve.json") if not (p.parent / "result.json").exists()]
        if done and partial:
            break
        assert proc.poll() is None, "the sweep ended before it could be killed"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = {p.parent.name: json.loads(p.read_text())["curve"] for p in runs.glob("*/curve.json")
              if not (p.parent / "result.json").exists()}
    assert before, "no interrupted run to resume"

    assert subprocess.run(cmd, capture_output=True).returncode == 0
    expected = {s.name for s in load_sweep(cfg).specs}
    results = [json.loads(p.read_text()) for p in runs.glob("*/result.json")]
    assert sorted(r["name"] for r in results) == sorted(expected)  # each run exactly once
    for name, curve in before.items():  # interrupted runs resumed: their first curve points were kept
        assert json.loads((runs / name / "result.json").read_text())["curve"][: len(curve)] == curve
    assert not list(runs.rglob("*.tmp"))


def test_local_runs_in_worker_processes_match_in_process_runs(tmp_path):
    doc = {**TINY, "agents": ["ah_dqn"], "seeds": 2}
    one = run_local(build_sweep(doc, out=tmp_path / "a").specs, tmp_path / "a", workers=1)
    two = run_local(build_sweep(doc, out=tmp_path / "b").specs, tmp_path / "b", workers=2)
    assert not any(o.error for o in one + two)
    a = {o.spec.name: o.result["episode_scores"] for o in one}
    b = {o.spec.name: o.result["episode_scores"] for o in two}
    assert a == b


@pytest.mark.slow
def test_ray_backend_gives_the_local_leaderboard_rows(tmp_path):
    pytest.importorskip("ray", reason="the ray extra is not installed")
    from musicgym.experiments.sweep import run_sweep

    doc = {**TINY, "seeds": 1}
    local = build_sweep(doc, out=tmp_path / "local")
    ray = build_sweep(doc, out=tmp_path / "ray")
    assert not any(o.error for o in run_sweep(local, "local", workers=2, progress=False))
    assert not any(o.error for o in run_sweep(ray, "ray", workers=2, progress=False))
    cols = ["env", "agent", "hyperparams", "mean_return", "score", "iqm", "ci_low", "ci_high", "runs", "env_steps"]
    t_local = leaderboard.build(leaderboard.collect(tmp_path / "local"))[0][cols]
    t_ray = leaderboard.build(leaderboard.collect(tmp_path / "ray"))[0][cols]
    assert t_local.equals(t_ray)


# ------------------------------------------------------------------------------------ the command
def test_sweep_command_errors_are_one_line(tmp_path, capsys):
    from musicgym.experiments.cli import main

    assert main(["sweep", str(tmp_path / "nope.yml")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "sweep file not found" in err[0]
    assert main(["leaderboard", "--agents", "nope"]) == 1
    assert "unknown agent 'nope'" in capsys.readouterr().err


def test_sweep_command_prints_the_leaderboard(tmp_path, capsys):
    from musicgym.experiments.cli import main

    cfg = _sweep_file(tmp_path, {**TINY, "agents": ["random", "oracle", "item_cf"], "seeds": 1})
    assert main(["sweep", str(cfg), "--workers", "1", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "| item_cf |" in out and "| oracle |" in out and "leaderboard.md" in out
    assert (tmp_path / "runs" / "leaderboard.csv").exists()


def test_a_sweep_tables_only_its_own_runs(tmp_path, capsys):
    """Runs of an earlier version of a sweep in the same folder (another budget) are not averaged in."""
    from musicgym.experiments.cli import main

    doc = {**TINY, "agents": ["random", "ah_dqn"], "seeds": 1, "total_timesteps": 300}
    assert main(["sweep", str(_sweep_file(tmp_path, doc)), "--workers", "1", "--no-progress"]) == 0
    doc["total_timesteps"] = 400
    assert main(["sweep", str(_sweep_file(tmp_path, doc)), "--workers", "1", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "(1 other run directories under" in out
    table = json.loads((tmp_path / "runs" / "leaderboard.json").read_text())["envs"]
    row = next(r for r in table if r["agent"] == "ah_dqn")
    assert row["runs"] == 1 and row["env_steps"] >= 400, row
    assert len(leaderboard.collect(tmp_path / "runs")) == 3  # without names: every finished run


def test_the_board_prints_a_value_that_rounds_to_zero_without_a_minus_sign():
    # a random run's normalised score is 0 up to rounding (e.g. -1e-17), and its CI with it
    assert leaderboard._fmt(-1e-17, 2) == "0.00" and leaderboard._fmt(-0.0) == "0.000"
    assert leaderboard._fmt(-0.004, 2) == "0.00" and leaderboard._fmt(-0.006, 2) == "-0.01"
    assert leaderboard._fmt(float("nan")) == "—" and leaderboard._fmt(None) == "—" and leaderboard._fmt(0.1234) == "0.123"
