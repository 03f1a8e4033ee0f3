"""The ``musicgym`` command.

Subcommands:
    leaderboard      train and evaluate agents on envs (a preset sweep) and print the leaderboard.
    sweep FILE       run the grid a sweep file describes (locally or on Ray), then its leaderboard.
    bench            run the env, index and agent benchmarks and print their figures.
    catalog PATH     load a user's file(s) and print what was loaded, what was dropped and why.
    play             a person listens to an agent's recommendations in the terminal (logged).
    finetune         update a trained agent from logged interactions.
    ope              off-policy estimates (IPS / SNIPS) of an agent's reward on logged sessions.
    demo             build the default catalog and its indexes and play a random episode on every env.

Errors are one line on stderr (exit status 1), of any exception type; ``--debug`` (before or after the
subcommand) shows the traceback. A subcommand that needs the ``agents`` extra says so when it is not
installed. Ctrl-C prints one line (exit status 130): a sweep resumes where it stopped when run again.
SIGTERM stops a sweep the same way (its workers too; exit status 143).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from importlib import resources
from pathlib import Path

from musicgym.experiments.runs import WAIT_S


def _demo(args: argparse.Namespace) -> int:
    import gymnasium as gym

    import musicgym
    from musicgym.index import SPACES, CandidateIndex
    from musicgym.registration import registered_ids

    t0 = time.perf_counter()
    cat = musicgym.load_catalog(args.catalog)
    print(cat.describe())
    print(f"loaded in {time.perf_counter() - t0:.2f} s")
    for space in SPACES:
        t = time.perf_counter()
        idx = CandidateIndex.for_catalog(cat, space)
        print(f"index {space:10s}: {idx!r} ready in {time.perf_counter() - t:.2f} s")

    ids = registered_ids()
    print(f"\nregistered environments: {', '.join(ids)}")
    for env_id in ids:
        env = gym.make(env_id, catalog=cat, render_mode="ansi")
        policy = musicgym.RandomPolicy(env.action_space, seed=args.seed)
        obs, info = env.reset(seed=args.seed)
        total, done = 0.0, False
        while not done:
            action, _ = policy.predict(obs, info=info)
            obs, reward, terminated, truncated, info = env.step(int(action))
            total += float(reward)
            done = terminated or truncated
        print(f"\n== {env_id}: a random policy's episode, return {total:.2f}")
        text = env.render()
        lines = text.splitlines()
        print("\n".join(lines if len(lines) <= 13 else [*lines[:11], f"     ... {len(lines) - 12} more", lines[-1]]))
        env.close()
    return 0


def _catalog(args: argparse.Namespace) -> int:
    import musicgym

    cat = musicgym.load_catalog(args.paths if len(args.paths) > 1 else args.paths[0], features=args.features,
                                errors=args.errors, encoding=args.encoding)
    print(cat.describe())
    if args.all_dropped:
        for d in cat.report.dropped:
            print(f"  dropped, line {d.line}: {d.reason}")
        for d in getattr(cat.report, "changed", []):
            print(f"  changed, line {d.line}: {d.reason}")
    return 0


def _calibrate(args: argparse.Namespace) -> int:
    from musicgym.realism.calibrate import LISTENER_TARGETS, calibrate

    targets = LISTENER_TARGETS
    if args.log:
        from musicgym.catalog import load_mssd_log

        log = load_mssd_log(args.log)
        if log.report.dropped:
            print(f"{args.log}: {len(log.report.dropped)} rows dropped (see `musicgym catalog`-style report below)")
            for d in log.report.dropped[:20]:
                print(f"  line {d.line}: {d.reason}")
        targets = log.plays
    doc = calibrate(args.catalog, targets, seed=args.seed, n_sessions=args.sessions,
                    max_evaluations=args.max_evaluations, out=args.out, verbose=True)
    fe = doc["fit_error"]
    print(f"wrote {args.out}: {fe['targets_within']}/{fe['targets']} targets within tolerance, rms error "
          f"{fe['rms']:.3f} tolerances, {doc['optimizer']['evaluations']} simulations")
    print(f"use it: gym.make('MusicGym/Session-v0', listener_params={args.out!r})")
    return 0


def _realism(args: argparse.Namespace) -> int:
    import sys as _sys

    from musicgym.experiments import realism_report

    import musicgym

    _check_dir("--out", args.out)
    for spec in args.catalogs:  # a catalog named on the command line must exist (the script skips missing ones)
        musicgym.load_catalog(spec)
    argv = ["--catalogs", *args.catalogs, "--out", args.out, "--sessions", str(args.sessions)]
    if args.calibrate:
        argv.append("--calibrate")
    old, _sys.argv = _sys.argv, ["musicgym realism", *argv]
    try:
        realism_report.main()
    finally:
        _sys.argv = old
    return 0


#: the preset sweep files (package data of musicgym.experiments)
PRESETS = resources.files("musicgym.experiments") / "presets"
#: the benchmark scripts beside this module
HERE = Path(__file__).resolve().parent


def _run_and_publish(sweep, args: argparse.Namespace, title: str) -> int:
    from musicgym.experiments import leaderboard
    from musicgym.experiments.sweep import run_sweep

    print(f"{len(sweep.specs)} runs -> {sweep.out} (backend {args.backend}, {args.workers or 'all'} workers)")
    for agent, env_id in sweep.skipped:
        print(f"  skipped: {agent} does not support {env_id}")
    t0 = time.perf_counter()
    outcomes = run_sweep(sweep, backend=args.backend, workers=args.workers, progress=not args.no_progress,
                         wait=args.wait)
    failed = [o for o in outcomes if o.error]
    names = {s.name for s in sweep.specs}
    if len(failed) < len(outcomes):  # from every finished run of the sweep on disk now (another sweep's too)
        md, files = leaderboard.write(sweep.out, args.out, title=title, names=names)
        others = [p for p in leaderboard.run_dirs(sweep.out) if p.name not in names]
        if others:
            print(f"({len(others)} other run directories under {sweep.out} are not in this sweep and not in the table)")
        print()
        print(md)
        print(f"written: {', '.join(str(f) for f in files)}")
    print(f"{len(outcomes) - len(failed)} of {len(outcomes)} runs finished in {time.perf_counter() - t0:.0f} s")
    for o in failed:  # one line each; the traceback with --debug, and in the run's error.json
        error = o.error if args.debug else o.error.splitlines()[0]
        where = sweep.out / o.spec.name / "error.json"
        print(f"FAILED {o.spec.name}: {error}" + (f" (traceback in {where})" if where.exists() else ""),
              file=sys.stderr)
    return 1 if failed else 0


def _leaderboard(args: argparse.Namespace) -> int:
    from musicgym.experiments.sweep import load_sweep

    preset = PRESETS / f"{args.preset}.yml"
    sweep = load_sweep(preset, agents_sel=args.agents, envs_sel=args.envs, seeds=args.seeds, out=args.runs)
    return _run_and_publish(sweep, args, f"MusicGym leaderboard ({args.preset} preset)")


def _sweep(args: argparse.Namespace) -> int:
    from musicgym.experiments.sweep import load_sweep

    sweep = load_sweep(args.config, agents_sel=args.agents, envs_sel=args.envs, seeds=args.seeds, out=args.runs)
    return _run_and_publish(sweep, args, f"MusicGym sweep {Path(args.config).stem}")


def _bench(args: argparse.Namespace) -> int:
    import subprocess

    scripts = {"index": ["bench_index.py"], "envs": ["bench_envs.py"],
               "agents": ["bench_agents.py", "--steps", str(args.agent_steps), "--seeds", "0", "--overhead"]}
    here = HERE
    status = 0
    for name in args.only or list(scripts):
        print(f"== {name} benchmark ({scripts[name][0]})", flush=True)
        status |= subprocess.call([sys.executable, str(here / scripts[name][0]), *scripts[name][1:]])
    return status


def _player(spec: str, env_id: str, catalog: str | None):
    """(agent, label, catalog) for ``--agent``: 'random', a registered agent name, or a saved agent."""
    from musicgym import agents
    from musicgym.play import UniformPolicy

    if spec == "random":
        return UniformPolicy(), "random", catalog or "default"
    if Path(spec).exists() or Path(str(spec) + ".json").exists():
        agent = agents.load(spec)
        if agent.env_id != env_id:
            raise ValueError(f"agent {spec} was trained on {agent.env_id}, not {env_id}")
        saved = agent.env_kwargs.get("catalog", "default")
        if catalog is not None and catalog != saved:
            raise ValueError(f"agent {spec} was trained on catalog {saved!r}; play it there (or omit --catalog)")
        return agent, str(spec), saved
    if spec not in agents.available():
        names = ", ".join(["random", *agents.available()])
        raise ValueError(f"--agent {spec!r} is neither a saved agent nor one of: {names}")
    agent = agents.make(spec, env_id, env_kwargs={"catalog": catalog or "default"})
    if hasattr(agent, "fit"):
        agent.learn(0)  # a reference policy: fit on the catalog's playlists
    return agent, spec, catalog or "default"


def _play(args: argparse.Namespace) -> int:
    from musicgym.interaction_log import LogWriter
    from musicgym.play import PlaySession, make_play_env

    env_id = args.env if "/" in args.env else f"MusicGym/{args.env}"
    agent, label, catalog = _player(args.agent, env_id, args.catalog)
    env = make_play_env(env_id, catalog)
    with LogWriter(args.log) as log:
        PlaySession(env, agent, label, log, explore=args.explore, seed=args.seed).run()
    return 0


def _log_and_agent(args: argparse.Namespace):
    """The logs of ``--log`` (torn last lines reported) and the saved agent of ``--agent``, checked to match."""
    import gymnasium as gym

    from musicgym import agents
    from musicgym.interaction_log import read_log

    log = read_log(*args.log)
    for t in log.truncated:
        print(f"warning: {t}", file=sys.stderr)
    agent = agents.load(args.agent)
    catalog = gym.make(agent.env_id, **agent.env_kwargs).unwrapped.catalog
    log.check(agent.env_id, catalog.fingerprint)
    return log, agent


def _finetune(args: argparse.Namespace) -> int:
    from musicgym.agents.finetune import finetune

    log, agent = _log_and_agent(args)
    report = finetune(agent, log, steps=args.steps)
    agent.save(args.out)
    print(f"fine-tuned {agent.name} on {report['interactions']} interactions from {report['sessions']} sessions "
          f"({report['steps']} updates) -> {args.out}")
    for key in report["before"]:
        print(f"  {key:32s} before {report['before'][key]:10.4f}  after {report['after'].get(key, float('nan')):10.4f}")
    return 0


def _ope(args: argparse.Namespace) -> int:
    from musicgym.ope import off_policy_estimates

    log, agent = _log_and_agent(args)
    est = off_policy_estimates(agent, log)
    print(f"{args.agent} on {est['n']} logged steps: logged policy {est['logged_mean_reward']:.3f} per step; "
          f"IPS {est['ips']:.3f}, SNIPS {est['snips']:.3f} (effective sample size {est['ess']:.1f})")
    return 0


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--agents", nargs="+", default=None, help="only these agents (names as in agents.available())")
    p.add_argument("--envs", nargs="+", default=None, help="only these env ids (e.g. Preference-v0)")
    p.add_argument("--seeds", type=_positive_int, default=None, help="number of seeds (overrides the file's)")
    p.add_argument("--runs", default=None, help="run directories go here (default: the file's `out`)")
    p.add_argument("--out", default=None, help="write the leaderboard here (default: the runs directory)")
    p.add_argument("--backend", choices=["local", "ray"], default="local",
                   help="local worker processes, or Ray Tune trials (RAY_ADDRESS or a local Ray)")
    p.add_argument("--workers", type=_positive_int, default=None, help="runs at a time (default: CPU count)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--wait", type=_seconds, default=WAIT_S, metavar="SECONDS",
                   help="how long to wait for a run that another sweep on the same folder is running, then "
                   f"count its result (default {WAIT_S:.0f}; 0: report it as failed at once)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``musicgym`` command."""
    debug = argparse.ArgumentParser(add_help=False)
    debug.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="show the full traceback of an error (before or after the subcommand)")
    parser = argparse.ArgumentParser(prog="musicgym", description="MusicGym: RL music recommendation benchmark. "
                                     "Errors are one line; --debug shows their traceback.")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, help: str, description: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, description=description, parents=[debug])

    lb = add("leaderboard", "train and evaluate agents on envs and print the leaderboard",
             "Run a preset sweep (experiments/presets/PRESET.yml) and print and write the leaderboard "
             "(Markdown, CSV, JSON, PNG). Finished runs are reused; interrupted ones resume.")
    presets = sorted(p.name.removesuffix(".yml") for p in PRESETS.iterdir() if p.name.endswith(".yml"))
    lb.add_argument("--preset", choices=presets, default="quick",
                    help="quick: 2 seeds and small budgets, minutes; full: the leaderboard to quote, many hours "
                    "(default: quick)")
    _add_run_options(lb)
    lb.set_defaults(func=_leaderboard)
    sw = add("sweep", "run a sweep file's grid of agents x envs x seeds x hyperparameters",
             "Run the grid a sweep YAML describes; the format is in experiments/sweep.py "
             "(`python -c 'import musicgym.experiments.sweep as s; help(s)'`).")
    sw.add_argument("config", help="sweep YAML file")
    _add_run_options(sw)
    sw.set_defaults(func=_sweep)
    be = add("bench", "run the env, index and agent benchmarks and print their figures",
             "Run the speed benchmarks one after another and print their figures: the FAISS candidate index "
             "(build time, query latency, recall; experiments/bench_index.py), the envs (steps per second, "
             "single and native vector; bench_envs.py) and the RL agents (normalised score after a short "
             "training run, and PPO's throughput against CartPole; bench_agents.py). The exit status is not 0 "
             "if one of them fails.")
    be.add_argument("--only", nargs="+", choices=["index", "envs", "agents"], default=None,
                    help="run only these benchmarks (default: all three)")
    be.add_argument("--agent-steps", type=_positive_int, default=20_000, help="training steps per agent benchmark run")
    be.set_defaults(func=_bench)
    pl = add("play", "listen to an agent's recommendations in the terminal (logged)",
             "A terminal listening session (see musicgym/play.py). Answers: '75 y' (percentage listened, "
             "liked), 'skip', 'q'; in Preference-v0 also 'p rock=1' to edit preferences. Every answer is "
             "appended to the log at once.")
    pl.add_argument("--agent", default="random", help="'random', an agent name, or a saved agent's path")
    pl.add_argument("--env", default="MusicGym/Playlist-v0", help="Playlist-v0 or Preference-v0")
    pl.add_argument("--catalog", default=None, help="catalog preset or path (default: the agent's, or default)")
    pl.add_argument("--log", default="musicgym-sessions.jsonl", help="JSON Lines log to append to")
    pl.add_argument("--explore", type=float, default=0.1, help="share of random proposals (logged propensities)")
    pl.add_argument("--seed", type=int, default=None, help="seed of the session's random draws (default: fresh)")
    pl.set_defaults(func=_play)
    ft = add("finetune", "update a trained agent (ah_dqn, actor_critic) from logged interactions",
             "Update a saved agent from the sessions `musicgym play` logged: ah_dqn takes TD updates on a "
             "replay buffer of the logged transitions; actor_critic an importance-weighted, clipped "
             "off-policy update (musicgym/agents/finetune.py). Prints how the agent rated your logged "
             "sessions before and after. Logs from another env or catalog than the agent's are refused.")
    ft.add_argument("--log", nargs="+", required=True, help="JSON Lines logs written by musicgym play")
    ft.add_argument("--agent", required=True, help="the saved agent to start from")
    ft.add_argument("--out", required=True, help="where to save the fine-tuned agent")
    ft.add_argument("--steps", type=_positive_int, default=500, help="gradient updates")
    ft.set_defaults(func=_finetune)
    op = add("ope", "IPS / SNIPS estimates of a saved agent's reward on logged sessions",
             "Estimate, without running it, the mean reward per step a saved agent would earn on the sessions "
             "`musicgym play` logged: IPS and SNIPS from the logged propensities, with the effective sample "
             "size (musicgym/ope.py). Logs from another env or catalog than the agent's are refused.")
    op.add_argument("--log", nargs="+", required=True, help="JSON Lines logs written by musicgym play")
    op.add_argument("--agent", required=True, help="the saved agent to evaluate")
    op.set_defaults(func=_ope)
    demo = add("demo", "build the default catalog and indexes, roll random policies",
               "Load a catalog, build its FAISS candidate indexes (printing the time each takes) and play "
               "one episode of a random policy on every registered env, printing each rendered episode.")
    demo.add_argument("--catalog", default="default", help="catalog preset or path (default: default)")
    demo.add_argument("--seed", type=int, default=0, help="seed of the episodes and the random policy (default: 0)")
    demo.set_defaults(func=_demo)
    cat = add("catalog", "load a file and report what was loaded and dropped",
              "Load your files as one catalog (Spotify audio-feature CSVs, MPD JSON slices, Last.fm-1K TSV "
              "logs, or a directory of them) and print what was loaded, how many rows were dropped and why.")
    cat.add_argument("paths", nargs="+", help="CSV / MPD JSON / Last.fm TSV files, or a directory")
    cat.add_argument("--features", default=None, help="feature CSV to join to MPD / Last.fm tracks")
    cat.add_argument("--errors", choices=["report", "raise"], default="report",
                     help="report: drop unusable rows and list them; raise: stop at the first one (default: report)")
    cat.add_argument("--all-dropped", action="store_true", help="list every dropped or changed row")
    cat.add_argument("--encoding", default=None,
                     help="text encoding of files that are not UTF-8 (e.g. latin-1; default: UTF-8, BOMs read)")
    cat.set_defaults(func=_catalog)
    cal = add("calibrate", "fit the Session-v0 listener to MSSD's figures, or to your MSSD-format log",
              "Fit SessionListener's parameters (musicgym/realism/calibrate.py) by simulated moments least "
              "squares so that sessions simulated on CATALOG under the behaviour policy match the targets: "
              "MSSD's published skip rates, skips by position and end hazards, and Last.fm-1K session "
              "lengths; or the same statistics of your own MSSD-format log (--log). Writes a versioned JSON "
              "(parameters, targets, fit error, catalog fingerprint) for Session-v0's listener_params.")
    cal.add_argument("catalog", nargs="?", default="default", help="catalog preset or path (default: default)")
    cal.add_argument("--log", default=None, help="your MSSD-format log (CSV: session_id, session_position, "
                     "skip_1, skip_2, skip_3, not_skipped, ...) to take the targets from")
    cal.add_argument("--out", default="session_listener.json", help="JSON to write (default: session_listener.json)")
    cal.add_argument("--sessions", type=_positive_int, default=20_000, help="simulated sessions per evaluation")
    cal.add_argument("--seed", type=int, default=0, help="seed of the simulations (common random numbers)")
    cal.add_argument("--max-evaluations", type=_positive_int, default=400, help="simulations the optimiser may run")
    cal.set_defaults(func=_calibrate)
    rea = add("realism", "how realistic is the Session-v0 listener: every target against simulation",
              "Simulate sessions of the shipped listener on each catalog and write the realism table (target, "
              "real value, simulated value with a 95% bootstrap CI, tolerance, within) and plots of skips by "
              "position and session lengths (experiments/realism_report.py).")
    rea.add_argument("--catalogs", nargs="+", default=["default"], help="catalog presets or paths")
    rea.add_argument("--out", default="runs/realism", help="output folder (one sub-folder per catalog)")
    rea.add_argument("--sessions", type=_positive_int, default=10_000, help="simulated sessions per report")
    rea.add_argument("--calibrate", action="store_true", help="also refit on each catalog other than the default")
    rea.set_defaults(func=_realism)
    return parser


#: top-level modules of the agents extra that the subcommands import (see pyproject.toml)
AGENTS_EXTRA = ("torch", "stable_baselines3", "sb3_contrib", "yaml", "tqdm", "matplotlib", "tensorboard", "rich")


def _check_dir(flag: str, path: str) -> None:
    """`path` can be a directory: non-empty, and its nearest existing ancestor is a directory (a ValueError)."""
    if not str(path).strip():
        raise ValueError(f"{flag} must be a non-empty path")
    for p in (Path(path), *Path(path).parents):
        if p.exists():
            if not p.is_dir():
                raise ValueError(f"{flag} {path}: {p} is a file, not a directory")
            return


def _positive_int(text: str) -> int:
    """An argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def _seconds(text: str) -> float:
    """An argparse type: a finite number of seconds >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds >= 0, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds >= 0, got {text}")
    return value


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``musicgym`` console command.

    An error is one line on stderr (exit status 1), the traceback only with ``--debug``; Ctrl-C is one
    line too (exit status 130).
    """
    args = build_parser().parse_args(argv)
    verb = f"musicgym {args.command}"
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt as e:  # Ctrl-C; or SIGTERM during a sweep (`sweep.Terminated`: 143)
        print(f"{verb}: {getattr(e, 'word', 'interrupted')}; rerun to resume", file=sys.stderr)
        return int(getattr(e, "status", 130))
    except Exception as e:
        if args.debug:
            raise
        if isinstance(e, ModuleNotFoundError) and (e.name or "").partition(".")[0] in AGENTS_EXTRA:
            print(f'{verb} needs the agents extra: pip install "musicgym[agents]" ({e})', file=sys.stderr)
        else:
            print(f"{verb}: error: {_one_line(e)}", file=sys.stderr)
        return 1


def _one_line(e: BaseException) -> str:
    """``Type: message`` on one line."""
    message = " ".join(line.strip() for line in str(e).splitlines() if line.strip())
    return f"{type(e).__name__}: {message}" if message else type(e).__name__


if __name__ == "__main__":
    sys.exit(main())
