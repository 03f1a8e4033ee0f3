"""experiments/estimate_compute.py: a preset's compute from its finished runs and short runs of the others."""

from pathlib import Path

import pytest
from musicgym.experiments import estimate_compute as ec
from musicgym.experiments.runs import write_json_atomic
from musicgym.experiments.sweep import load_sweep


def test_a_short_run_projects_its_training_seconds_only():
    probe = {"env_steps": 1000, "train_seconds": 2.0, "eval_seconds": 3.0, "curve_seconds": 1.0}
    assert ec._projected(probe, 10_000) == pytest.approx(20.0 + 3.0 + 1.0)


def test_runs_to_go_count_their_pairs_finished_runs_or_a_short_run(tmp_path):
    narrow = {"agents": ["ppo", "dqn"], "envs": ["Preference-v0"]}
    specs = load_sweep(ec.PRESETS / "quick.yml", agents_sel=narrow["agents"], envs_sel=narrow["envs"]).specs
    ppo0 = next(s for s in specs if s.agent == "ppo" and s.seed == 0)
    measured = tmp_path / "measured"
    (measured / ppo0.name).mkdir(parents=True)
    write_json_atomic(measured / ppo0.name / "result.json", {
        "name": ppo0.name, "spec": ppo0.to_dict(), "env_steps": 4096, "fit": None,
        "train_seconds": 100.0, "eval_seconds": 10.0, "curve_seconds": 5.0})

    rows = {r["agent"]: r for r in ec.estimate("quick", measured, tmp_path / "short", scale=4, workers=1,
                                                   min_steps=1500, **narrow)}

    ppo = rows["ppo"]  # seed 0 finished; seed 1 counts as much
    assert (ppo["runs"], ppo["finished"], ppo["finished_s"], ppo["projected"]) == (2, 1, 115.0, 1)
    assert ppo["projected_s"] == pytest.approx(115.0)
    dqn = rows["dqn"]  # nothing finished: one run, a quarter of the budget but at least 1,500 steps, for both seeds
    [short] = ec.leaderboard.collect(tmp_path / "short")
    assert (short["spec"]["agent"], short["spec"]["total_timesteps"]) == ("dqn", 1500)
    assert 1500 <= short["env_steps"] < 1520  # SB3 stops at the end of a rollout of train_freq steps
    assert (dqn["finished"], dqn["projected"]) == (0, 2)
    assert dqn["projected_s"] == pytest.approx(2 * ec._projected(short, dqn["budget"]))
    assert dqn["projected_s"] > 2 * (short["train_seconds"] + short["eval_seconds"])
    total = ec.report(list(rows.values())).splitlines()[-1]
    assert "finished: 1 runs" in total and "to go: 3 runs" in total and "for 4 runs" in total


def test_an_unscaled_agent_is_measured_at_its_whole_budget_and_checked_against_finished_runs(tmp_path):
    [dqn0, _] = load_sweep(ec.PRESETS / "quick.yml", agents_sel=["dqn"], envs_sel=["Preference-v0"]).specs
    measured = tmp_path / "measured"
    (measured / dqn0.name).mkdir(parents=True)
    write_json_atomic(measured / dqn0.name / "result.json", {
        "name": dqn0.name, "spec": dqn0.to_dict(), "env_steps": 4000, "fit": None,
        "train_seconds": 100.0, "eval_seconds": 10.0, "curve_seconds": 5.0})

    [row] = ec.estimate("quick", measured, tmp_path / "short", scale=4, workers=1, agents=["dqn"],
                        envs=["Preference-v0"], unscaled=["dqn"], check=True)

    [short] = ec.leaderboard.collect(tmp_path / "short")  # seed 0 again, for its whole budget
    assert (short["name"], short["env_steps"]) == (dqn0.name, 4000)
    assert row["check"] == (pytest.approx(ec.leaderboard.run_seconds(short)), 115.0)
    assert (row["projected"], row["projected_s"], row["how"]) == (1, 115.0, "mean of 1 finished")
    assert "over 1 pairs" in ec.report([row]).splitlines()[-1]


@pytest.mark.parametrize("kwargs, names", [
    ({"measured": Path("/nonexistent/runs")}, "--measured: no runs directory at /nonexistent/runs"),
    ({"unscaled": ["dqn", "ppo"]}, "--unscaled: ppo not among"),
    ({"scale": 0}, "must be >= 1"),
    ({"min_steps": 0}, "must be >= 1"),
    ({"preset": "nope"}, "nope.yml"),
])
def test_bad_arguments_are_named_before_anything_runs(tmp_path, kwargs, names):
    args = {"preset": "quick", "measured": None, "runs": tmp_path / "short", "scale": 4, "workers": 1,
            "agents": ["dqn"], "envs": ["Preference-v0"], **kwargs}
    with pytest.raises(ValueError, match=names):
        ec.estimate(**args)
    assert not (tmp_path / "short").exists()
