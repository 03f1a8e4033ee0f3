"""`experiments/bench_versions.py`: the base revision is extracted as its own package, importing only itself."""

import re
import subprocess

import pytest
from musicgym.experiments import bench_versions


def _has_git_checkout() -> bool:
    try:
        bench_versions._git("rev-parse", "HEAD")
    except (subprocess.CalledProcessError, FileNotFoundError):
        return False
    return True


@pytest.mark.skipif(not _has_git_checkout(), reason="needs the git checkout the script compares")
def test_the_base_package_is_extracted_under_its_own_name_with_its_assets(tmp_path, monkeypatch):
    monkeypatch.setenv("MUSICGYM_CACHE", str(tmp_path))
    root, commit = bench_versions.extract("HEAD")
    assert re.fullmatch(r"[0-9a-f]{40}", commit) and root.name == commit
    pkg = root / bench_versions.BASE
    assert (pkg / "envs" / "session.py").is_file() and (root / "assets").is_dir()
    assert not (root / "musicgym").exists()
    for path in pkg.rglob("*.py"):  # no import of this checkout's package is left
        text = path.read_text()
        assert not re.search(r"^\s*(import|from) musicgym\b", text, flags=re.M), path
        assert not re.search(r"\bmusicgym\.(envs|listeners|catalog|index)\b", text), path
    assert bench_versions.extract("HEAD") == (root, commit)  # reused


@pytest.mark.skipif(not _has_git_checkout(), reason="needs the git checkout the script compares")
def test_an_unknown_revision_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MUSICGYM_CACHE", str(tmp_path))
    monkeypatch.setattr("sys.argv", ["bench_versions.py", "--base", "no-such-revision"])
    with pytest.raises(SystemExit) as e:
        bench_versions.main()
    assert e.value.code == 2
    assert "could not read revision 'no-such-revision'" in capsys.readouterr().err
