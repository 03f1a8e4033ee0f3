"""MusicGym experiments: runs, sweeps (local processes or Ray Tune), the leaderboard, benchmarks.

Installed as ``musicgym.experiments`` (the ``agents`` extra). `musicgym.experiments.runs` runs one
(agent, env, seed, hyperparameters) cell and writes its directory; `musicgym.experiments.sweep` reads
sweep files and runs their grids; `musicgym.experiments.leaderboard` gathers results into tables and
plots; `musicgym.experiments.cli` is the ``musicgym`` command. Presets for ``musicgym leaderboard`` are
in ``experiments/presets/`` (read with importlib.resources); agents' default hyperparameters in
``agents/configs/``. The ``bench_*.py`` scripts print speed figures.
"""
