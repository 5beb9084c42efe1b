"""The `huleedu` command line (also `python -m app`)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from app import __version__


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="huleedu",
        description="HuleEdu Desktop: grade essays by comparative judgement.",
    )
    parser.add_argument("--version", action="version", version=f"huleedu {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser(
        "demo",
        help="grade the bundled demo batch with the simulated judge and print the results",
    )
    demo.add_argument("--seed", type=int, default=1, help="seed of the simulated judge")
    demo.add_argument(
        "--demo-dir", type=Path, default=None, help="a demo batch folder (default: bundled)"
    )
    demo.add_argument("--json", action="store_true", help="print the results as JSON")

    from app.simserver.cli import add_parser as add_sim_server  # noqa: PLC0415

    add_sim_server(sub)

    bench = sub.add_parser("bench", help="benchmarks that print one JSON object")
    bench_sub = bench.add_subparsers(dest="bench", metavar="BENCH")
    engine = bench_sub.add_parser("engine", help="the CJ engine against simulated judges")
    engine.add_argument("--seeds", type=int, default=40, help="seeds per setting (>= 20)")
    engine.add_argument(
        "--quick", action="store_true", help="a small smoke run (n=30 only, fit on 300 essays)"
    )
    llm = bench_sub.add_parser("llm", help="the judging layer against the simulated server")
    llm.add_argument("--speed", type=float, default=20.0, help="divide simulated latency by F")
    llm.add_argument("--seed", type=int, default=0)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    if args.command == "demo":
        from app.demo import run_demo  # noqa: PLC0415  (keeps `--version` instant)

        return run_demo(seed=args.seed, demo_dir=args.demo_dir, as_json=args.json)
    if args.command == "sim-server":
        from app.simserver.cli import run as run_sim_server  # noqa: PLC0415

        return run_sim_server(args)
    if args.command == "bench":
        if args.bench == "engine":
            from app.bench.engine import main as bench_engine  # noqa: PLC0415

            return bench_engine(seeds=args.seeds, quick=args.quick)
        if args.bench == "llm":
            from app.bench.llm import main as bench_llm  # noqa: PLC0415

            return bench_llm(speed=args.speed, seed=args.seed)
        parser.parse_args(["bench", "--help"])
        return 2
    parser.print_help(sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
