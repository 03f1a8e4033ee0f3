"""The wheel ships what a non-editable install needs: the embedded catalog, the VAE, configs, presets."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_wheel_ships_the_assets(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(ROOT)],
        capture_output=True, text=True,
    )
    if out.returncode and "No module named pip" in out.stderr:
        pytest.skip("pip is not available in this interpreter")
    assert out.returncode == 0, out.stderr[-2000:]
    (wheel,) = tmp_path.glob("musicgym-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ("musicgym/assets/default_catalog/tracks.csv.gz", "musicgym/assets/default_catalog/playlists.json.gz",
                   "musicgym/assets/vae_default.pt", "musicgym/catalog/calibration.json",
                   "experiments/presets/quick.yml", "experiments/configs/ppo.yml", "agents/sasrec.py"):
        assert needed in names, needed
