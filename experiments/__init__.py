"""MusicGym experiments: runs, sweeps (local processes or Ray Tune), the leaderboard, benchmarks.

`experiments.runs` runs one (agent, env, seed, hyperparameters) cell and writes its directory;
`experiments.sweep` reads sweep files and runs their grids; `experiments.leaderboard` gathers results
into tables and plots. Presets for ``musicgym leaderboard`` are in ``experiments/presets/``; agents'
default hyperparameters in ``experiments/configs/``. The ``bench_*.py`` scripts print speed figures.
"""
