from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from musicgym.experiments.cli import build_parser, main


def test_catalog_command_reports_drops(tmp_path, capsys):
    p = tmp_path / "s.csv"
    p.write_text(
        "id,danceability,energy,key,loudness,mode,speechiness,acousticness,instrumentalness,liveness,valence,tempo\n"
        "a,0.5,0.6,5,-6,1,0.05,0.1,0,0.1,0.5,120\n"
        "b,0.5,oops,5,-6,1,0.05,0.1,0,0.1,0.5,120\n"
    )
    assert main(["catalog", str(p), "--all-dropped"]) == 0
    out = capsys.readouterr().out
    assert "1 rows read" not in out and "2 rows read, 1 dropped" in out
    assert "line 3: unparsable number in column 'energy'" in out


def test_demo_prints_a_playlist(capsys):
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "10. " in out and "index attributes" in out


# ------------------------------------------------------------------------------------ help texts
def _subcommands() -> dict[str, argparse.ArgumentParser]:
    (verbs,) = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(verbs.choices)


@pytest.mark.parametrize("verb", sorted(_subcommands()))
def test_every_subcommand_has_a_description_and_help_for_every_argument(verb, capsys):
    sub = _subcommands()[verb]
    assert sub.description and len(sub.description.split()) >= 12, sub.description
    assert [a.dest for a in sub._actions if not a.help] == []
    with pytest.raises(SystemExit) as stop:
        main([verb, "--help"])
    assert stop.value.code == 0
    shown = " ".join(capsys.readouterr().out.split())
    assert " ".join(sub.description.split()) in shown


def test_the_subcommands_that_had_no_description_have_one():
    assert {"bench", "finetune", "ope", "demo", "catalog"} <= set(_subcommands())


# ------------------------------------------------------------------------------------ errors
def test_an_error_of_any_type_is_one_line_naming_its_type(monkeypatch, capsys):
    import musicgym

    def broken(*args, **kwargs):
        raise TypeError("an unexpected error\nover two lines")

    monkeypatch.setattr(musicgym, "load_catalog", broken)
    assert main(["catalog", "x.csv"]) == 1
    assert capsys.readouterr().err.splitlines() == ["musicgym catalog: error: TypeError: an unexpected error over two lines"]


def test_a_malformed_mpd_file_prints_no_traceback(tmp_path, capsys):
    """Track positions of mixed types once raised a TypeError from deep in the loader."""
    p = tmp_path / "mpd.json"
    p.write_text(json.dumps({"playlists": [{"name": "x", "tracks": [{"track_uri": "a", "pos": "first"},
                                                                    {"track_uri": "b", "pos": 1}]}]}))
    status = main(["catalog", str(p)])
    err = capsys.readouterr().err.splitlines()
    assert status in (0, 1) and len(err) == status
    assert all(line.startswith("musicgym catalog: error: ") for line in err)


def test_a_missing_file_is_one_line(tmp_path, capsys):
    assert main(["catalog", str(tmp_path / "missing.csv")]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("musicgym catalog: error: ") and "missing.csv" in line


@pytest.mark.parametrize("where", ["before the subcommand", "after it"])
def test_debug_shows_the_traceback(tmp_path, where):
    args = ["catalog", str(tmp_path / "missing.csv")]
    args = ["--debug", *args] if where == "before the subcommand" else [*args, "--debug"]
    proc = subprocess.run([sys.executable, "-m", "musicgym.experiments.cli", *args], capture_output=True, text=True)
    assert proc.returncode == 1
    lines = proc.stderr.splitlines()
    assert lines[0] == "Traceback (most recent call last):" and "missing.csv" in lines[-1], proc.stderr


def test_ctrl_c_is_one_line(monkeypatch, capsys):
    import musicgym

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(musicgym, "load_catalog", interrupted)
    assert main(["catalog", "x.csv"]) == 130
    assert capsys.readouterr().err.splitlines() == ["musicgym catalog: interrupted; rerun to resume"]


#: runs the command in a Python where `module` cannot be imported, as if it were not installed
WITHOUT = (
    "import sys\n"
    "class Block:\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name.split('.')[0] == {module!r}:\n"
    "            raise ModuleNotFoundError(f'No module named {{name!r}}', name=name)\n"
    "sys.meta_path.insert(0, Block())\n"
    "from musicgym.experiments.cli import main\n"
    "sys.exit(main(sys.argv[1:]))"
)


@pytest.mark.parametrize("module, argv", [
    ("torch", ["finetune", "--log", "me.jsonl", "--agent", "agent", "--out", "tuned"]),
    ("stable_baselines3", ["leaderboard", "--agents", "ppo"]),
    ("yaml", ["sweep", "sweep.yml"]),
])
def test_a_subcommand_without_the_agents_extra_says_which_extra_to_install(module, argv):
    proc = subprocess.run([sys.executable, "-c", WITHOUT.format(module=module), *argv], capture_output=True,
                          text=True)
    assert proc.returncode == 1
    (line,) = proc.stderr.splitlines()
    assert line.startswith(f'musicgym {argv[0]} needs the agents extra: pip install "musicgym[agents]"'), line


def test_a_failed_run_is_one_line_pointing_to_its_traceback(tmp_path, capsys):
    cfg = tmp_path / "sweep.yml"
    cfg.write_text(yaml.safe_dump({"out": str(tmp_path / "runs"), "agents": ["ah_dqn"], "envs": ["MusicGym/Preference-v0"],
                                   "total_timesteps": 100, "eval_episodes": 2,
                                   # env arguments are checked when the run builds its env (a bad hyperparameter
                                   # would be refused when the sweep file is read)
                                   "env_kwargs": {"catalog": "synthetic-300", "k": -3}}))
    assert main(["sweep", str(cfg), "--workers", "1", "--no-progress"]) == 1
    out, err = capsys.readouterr()
    assert "0 of 1 runs finished" in out and "Traceback" not in out + err
    (line,) = [line for line in err.splitlines() if line.startswith("FAILED")]
    assert "ValueError: k (candidate slots) must be an integer from 1 to" in line
    error_file = line.rsplit("(traceback in ", 1)[1].rstrip(")")
    assert "Traceback (most recent call last)" in json.loads(Path(error_file).read_text())["traceback"]
