"""The ``musicgym`` command.

Subcommands:
    demo             build the default catalog and its indexes, make every registered env and play a
                     random policy's episode on it, printing the playlist.
    catalog PATH     load a user's file(s) and print what was loaded, what was dropped and why.
"""

from __future__ import annotations

import argparse
import sys
import time


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
                                errors=args.errors)
    print(cat.describe())
    if args.all_dropped and cat.report.dropped:
        for d in cat.report.dropped:
            print(f"  line {d.line}: {d.reason}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``musicgym`` command."""
    parser = argparse.ArgumentParser(prog="musicgym", description="MusicGym: RL music recommendation benchmark")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="build the default catalog and indexes, roll random policies")
    demo.add_argument("--catalog", default="default", help="catalog preset or path (default: default)")
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(func=_demo)
    cat = sub.add_parser("catalog", help="load a file and report what was loaded and dropped")
    cat.add_argument("paths", nargs="+", help="CSV / MPD JSON / Last.fm TSV files, or a directory")
    cat.add_argument("--features", default=None, help="feature CSV to join to MPD / Last.fm tracks")
    cat.add_argument("--errors", choices=["report", "raise"], default="report")
    cat.add_argument("--all-dropped", action="store_true", help="list every dropped row")
    cat.set_defaults(func=_catalog)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``musicgym`` console command."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (OSError, ValueError, KeyError) as e:
        if args.debug:
            raise
        print(f"musicgym {args.command}: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
