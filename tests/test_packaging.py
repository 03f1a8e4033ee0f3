"""Packaging: what the wheel ships, what it installs at the top level, and what the env library imports."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("wheel")
    out = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out_dir), str(ROOT)],
        capture_output=True, text=True,
    )
    if out.returncode and "No module named pip" in out.stderr:
        pytest.skip("pip is not available in this interpreter")
    assert out.returncode == 0, out.stderr[-2000:]
    (path,) = out_dir.glob("musicgym-*.whl")
    return zipfile.ZipFile(path)


@pytest.mark.slow
def test_the_wheel_ships_the_assets_under_the_musicgym_namespace_only(wheel):
    names = set(wheel.namelist())
    for needed in ("musicgym/assets/default_catalog/tracks.csv.gz", "musicgym/assets/default_catalog/playlists.json.gz",
                   "musicgym/assets/vae_default.pt", "musicgym/assets/vae_default_latents.npy",
                   "musicgym/assets/vae_default_latents.json", "musicgym/catalog/calibration.json",
                   "musicgym/experiments/presets/quick.yml", "musicgym/agents/configs/ppo.yml",
                   "musicgym/agents/sasrec.py", "musicgym/experiments/cli.py"):
        assert needed in names, needed
    top = {n.split("/")[0] for n in names}
    assert {t for t in top if not t.endswith(".dist-info")} == {"musicgym"}, top


@pytest.mark.slow
def test_the_env_library_requires_no_agent_dependency_without_the_extra(wheel):
    (meta,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
    requires = [line for line in wheel.read(meta).decode().splitlines() if line.startswith("Requires-Dist:")]
    core = [r for r in requires if "extra ==" not in r]
    names = {re.split(r"[<>=!\[ ;]", r.removeprefix("Requires-Dist:").strip())[0].lower() for r in core}
    assert names == {"gymnasium", "numpy", "pandas", "scipy", "scikit-learn", "faiss-cpu", "numba"}, names
    agents_extra = " ".join(r for r in requires if 'extra == "agents"' in r)
    for dep in ("torch", "stable-baselines3", "sb3-contrib", "pyyaml"):
        assert dep in agents_extra, dep


BLOCKED = ("torch", "stable_baselines3", "sb3_contrib", "yaml", "tqdm", "matplotlib", "rich", "tensorboard")

NO_EXTRAS = textwrap.dedent(f"""
    import sys

    class Block:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in {BLOCKED!r}:
                raise ImportError(f"{{name}} is blocked: the env library must not need it")

    sys.meta_path.insert(0, Block())
    import gymnasium as gym
    import musicgym
    for env_id in musicgym.registration.registered_ids():
        env = gym.make(env_id)
        env.reset(seed=0)
        for _ in range(3):
            env.step(0)
        venv = gym.make_vec(env_id, num_envs=3, vectorization_mode="vector_entry_point")
        venv.reset(seed=0)
        venv.step(venv.action_space.sample() * 0)
    print(sorted(m for m in sys.modules if m.split(".")[0] in {BLOCKED!r} or m.startswith("musicgym.agents")
                 or m.startswith("musicgym.experiments")))
""")


def test_every_env_makes_and_steps_without_torch_sb3_or_the_experiments():
    """What `pip install musicgym` without extras gives: the agents' dependencies cannot be imported."""
    out = subprocess.run([sys.executable, "-c", NO_EXTRAS], capture_output=True, text=True, cwd="/")
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip() == "[]"


def test_no_module_imports_the_repository_folders_as_top_level_packages():
    """`agents` and `experiments` live under the musicgym namespace; a bare `import agents` would be another module."""
    bad = []
    for folder in ("musicgym", "agents", "experiments", "tests"):
        for path in (ROOT / folder).rglob("*.py"):
            for i, line in enumerate(path.read_text().splitlines(), 1):
                if re.match(r"\s*(from|import)\s+(agents|experiments)\b", line):
                    bad.append(f"{path.relative_to(ROOT)}:{i}: {line.strip()}")
    assert not bad, bad


def test_the_env_library_imports_nothing_from_agents_or_experiments():
    bad = []
    for path in (ROOT / "musicgym").rglob("*.py"):
        for i, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"\b(from|import)\s+musicgym\.(agents|experiments)\b|from musicgym import (agents|experiments)",
                         line):
                bad.append(f"{path.relative_to(ROOT)}:{i}: {line.strip()}")
    assert not bad, bad
