"""Several processes on one runs folder: each run is run once, every process counts every result."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import pytest
import yaml
from musicgym.experiments import runs
from musicgym.experiments.runs import RunBusy, RunFailedElsewhere, RunSpec, execute, read_result, run_lock
from musicgym.experiments.sweep import load_sweep

#: the cheapest sweep: pseudo-agents only (no training), 4 runs of well under a second each
BASELINE_SWEEP = {"agents": ["random", "oracle"], "envs": ["MusicGym/Taste-v0"], "seeds": 2, "eval_episodes": 5}


def _wait_until(condition, procs, timeout: float = 120.0) -> None:
    deadline = time.time() + timeout
    while not condition():
        for p in procs:
            assert p.poll() is None, f"a sweep ended early: {p.communicate()}"
        assert time.time() < deadline, "timed out"
        time.sleep(0.1)


@pytest.mark.slow  # two `musicgym sweep` processes: 24-35 s in our runs on 2 busy cores
def test_two_sweeps_on_one_folder_both_succeed_and_write_the_whole_leaderboard(tmp_path):
    out = tmp_path / "runs"
    cfg = tmp_path / "sweep.yml"
    cfg.write_text(yaml.safe_dump({**BASELINE_SWEEP, "out": str(out)}))
    specs = load_sweep(cfg).specs
    cmd = [sys.executable, "-m", "musicgym.experiments.cli", "sweep", str(cfg), "--no-progress"]
    # A third process holds one run while both sweeps start, so that both meet a run held by another
    # process for certain: each must wait for it and take its result (before, both failed on it).
    held = specs[0]
    with run_lock(out / held.name):
        procs = [subprocess.Popen([*cmd, "--workers", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(2)]
        _wait_until(lambda: all((out / s.name / "result.json").exists() for s in specs[1:]), procs)
        time.sleep(1.0)  # both sweeps are now waiting for the held run
    outputs = [p.communicate(timeout=120) for p in procs]
    for p, (stdout, stderr) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, stderr
        assert "FAILED" not in stderr and f"{len(specs)} of {len(specs)} runs finished" in stdout

    assert sorted(p.parent.name for p in out.glob("*/result.json")) == sorted(s.name for s in specs)
    assert not list(out.glob("*/error.json")) and not (out / "_stale").exists()
    assert not list(out.rglob("*.tmp"))
    rows = json.loads((out / "leaderboard.json").read_text())["envs"]
    assert sorted((r["env"], r["agent"], r["runs"]) for r in rows) == [("Taste-v0", "oracle", 2),
                                                                          ("Taste-v0", "random", 2)]
    md = (out / "leaderboard.md").read_text()
    assert md.count("| random |") == 2 and md.count("| oracle |") == 2  # the summary and the env's table


RANDOM = RunSpec("random", "MusicGym/Taste-v0", eval_episodes=3, total_timesteps=0)


def test_a_run_held_by_another_process_is_waited_for_and_then_resumed_if_it_left_no_result(tmp_path):
    results = []
    with run_lock(tmp_path / RANDOM.name):  # a process that dies (releases its lock) without a result
        waiter = threading.Thread(target=lambda: results.append(execute(RANDOM, tmp_path, wait=60)))
        waiter.start()
        time.sleep(1.0)
        assert waiter.is_alive() and not results
    waiter.join(60)
    assert results and results[0] == read_result(tmp_path / RANDOM.name)


def test_a_run_that_failed_in_the_process_waited_for_is_reported_not_run_again(tmp_path, monkeypatch):
    started, release, calls = threading.Event(), threading.Event(), []

    def failing_baseline(spec):
        calls.append(spec.name)
        started.set()
        release.wait(60)
        raise ValueError("boom")

    monkeypatch.setattr(runs, "_run_baseline", failing_baseline)
    errors = {}

    def run(who: str, wait: float) -> None:
        try:
            execute(RANDOM, tmp_path, wait=wait)
        except Exception as e:  # noqa: BLE001 - the test looks at it
            errors[who] = e

    holder = threading.Thread(target=run, args=("holder", 0))
    holder.start()
    assert started.wait(60)
    waiter = threading.Thread(target=run, args=("waiter", 60))
    waiter.start()
    time.sleep(0.5)
    release.set()
    holder.join(60)
    waiter.join(60)
    assert isinstance(errors["holder"], ValueError)
    assert isinstance(errors["waiter"], RunFailedElsewhere) and "ValueError: boom" in str(errors["waiter"])
    assert calls == [RANDOM.name]  # run once
    assert json.loads((tmp_path / RANDOM.name / "error.json").read_text())["error"] == "ValueError: boom"

    # a later call (a sweep run again) does try it again, and a success clears the error
    monkeypatch.undo()
    assert execute(RANDOM, tmp_path)["name"] == RANDOM.name
    assert not (tmp_path / RANDOM.name / "error.json").exists()


def test_a_run_still_held_after_the_wait_is_busy(tmp_path):
    with run_lock(tmp_path / RANDOM.name):
        t = time.perf_counter()
        with pytest.raises(RunBusy, match="still being run by another process after waiting 1 s"):
            execute(RANDOM, tmp_path, wait=1.0)
        assert time.perf_counter() - t >= 1.0


def test_a_lock_taken_on_a_run_moved_aside_meanwhile_is_let_go(tmp_path, monkeypatch):
    """A waiter must lock the run directory that is there now, not one the holder moved to ``_stale/``."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    real_flock, moved = runs.fcntl.flock, []

    def flock_after_a_move(fh, op):
        if not moved:  # the holder moves the run aside between this process's open and its flock
            moved.append(run_dir.replace(tmp_path / "stale-run"))
        return real_flock(fh, op)

    monkeypatch.setattr(runs.fcntl, "flock", flock_after_a_move)
    with run_lock(run_dir):
        assert moved
        with pytest.raises(RunBusy), run_lock(run_dir):  # the lock held is the current directory's
            pass
