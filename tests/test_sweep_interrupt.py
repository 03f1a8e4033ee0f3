"""Ctrl-C or SIGTERM during a sweep: one line, no traceback from any process, the interrupted run left to resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml
from musicgym.experiments.runs import run_lock
from musicgym.experiments.sweep import load_sweep

#: a baseline run that ends at once (its worker is then idle) and a training run far from its end
SWEEP = {
    "agents": ["random", "ah_dqn"],
    "envs": ["MusicGym/Preference-v0"],
    "seeds": 1,
    "total_timesteps": 20_000,
    "eval_episodes": 3,
    "curve_points": 100,
    "curve_episodes": 2,
    "hyperparams": {"ah_dqn": {"learning_starts": 100, "n_envs": 4}},
}


@pytest.mark.slow  # a sweep with two worker processes: 14-48 s per case in our runs on 2 busy cores
@pytest.mark.parametrize("sent_to", ["process group", "parent only", "SIGTERM to the parent"])
def test_ctrl_c_stops_the_sweep_and_every_worker_quietly(tmp_path, sent_to):
    """Ctrl-C in a terminal signals every process of the group; `kill -INT` the parent alone.

    `kill` (SIGTERM: also `timeout` and job schedulers) the parent alone stops the workers' runs the same
    way (before, the workers ran on, each holding its run's lock).
    """
    out = tmp_path / "runs"
    cfg = tmp_path / "sweep.yml"
    cfg.write_text(yaml.safe_dump({**SWEEP, "out": str(out)}))
    baseline, training = sorted(load_sweep(cfg).specs, key=lambda s: s.agent != "random")
    cmd = [sys.executable, "-m", "musicgym.experiments.cli", "sweep", str(cfg), "--workers", "2", "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.time() + 180
        # one worker idle (its run done), the other training (its first learning-curve point written)
        while not ((out / baseline.name / "result.json").exists() and (out / training.name / "curve.json").exists()):
            assert proc.poll() is None, proc.communicate()
            assert time.time() < deadline, "the sweep did not get under way"
            time.sleep(0.1)
        if sent_to == "process group":
            os.killpg(proc.pid, signal.SIGINT)
        elif sent_to == "parent only":
            proc.send_signal(signal.SIGINT)
        else:
            proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    word, status = ("terminated", 143) if sent_to.startswith("SIGTERM") else ("interrupted", 130)
    assert proc.returncode == status, stderr
    assert stderr.splitlines() == [f"musicgym sweep: {word}; rerun to resume"], stderr
    assert "Traceback" not in stdout

    # the interrupted run is neither finished nor failed nor still locked: a rerun resumes it
    run = out / training.name
    assert not (run / "result.json").exists() and not (run / "error.json").exists()
    assert json.loads((run / "curve.json").read_text())["curve"]
    with run_lock(run):
        pass
    assert not (out / "_stale").exists() and not list(out.rglob("*.tmp"))
    # no worker is left behind (the session is the sweep's: it started one)
    deadline = time.time() + 10
    while (left := subprocess.run(["pgrep", "-a", "-s", str(proc.pid)], capture_output=True, text=True).stdout):
        assert time.time() < deadline, f"processes left: {left}"
        time.sleep(0.2)


@pytest.mark.slow  # a sweep with two worker processes and a queued run: ~30 s on 2 cores
def test_a_stopped_sweep_starts_no_queued_run(tmp_path):
    """The pool hands a worker its next run before the current one ends: after SIGTERM it must not start it.

    Before, each worker unwound its interrupted run, then ran the run queued for it to the end.
    """
    out = tmp_path / "runs"
    cfg = tmp_path / "sweep.yml"
    cfg.write_text(yaml.safe_dump({**SWEEP, "agents": ["ah_dqn"], "seeds": 4, "out": str(out)}))
    specs = load_sweep(cfg).specs
    cmd = [sys.executable, "-m", "musicgym.experiments.cli", "sweep", str(cfg), "--workers", "2", "--no-progress"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.time() + 180
        while sum((out / s.name / "curve.json").exists() for s in specs) < 2:  # two runs under way
            assert proc.poll() is None, proc.communicate()
            assert time.time() < deadline, "the sweep did not get under way"
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 143, stderr
    started = [s.name for s in specs if (out / s.name / "curve.json").exists()]
    assert len(started) == 2, f"runs started after SIGTERM: {started}"
    assert not list(out.glob("*/result.json"))
