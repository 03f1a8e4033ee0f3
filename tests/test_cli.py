from __future__ import annotations

from musicgym.experiments.cli import main


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


def test_errors_are_one_line(tmp_path, capsys):
    assert main(["catalog", str(tmp_path / "missing.csv")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing.csv" in err[0]


def test_demo_prints_a_playlist(capsys):
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "10. " in out and "index attributes" in out
