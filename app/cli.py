"""The `huleedu` command line (also `python -m app`)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from app import __version__
from core.prompt import DEFAULT_BUNDLE_PAIRS


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
    judge = demo.add_argument_group(
        "judge", "default: the built-in simulated judge (no account, key or network)"
    )
    judge.add_argument(
        "--provider",
        choices=["sim", "openai", "anthropic", "gemini", "openai_compatible"],
        default="sim",
        help="who judges: sim, a provider's API, or any OpenAI-compatible server",
    )
    judge.add_argument("--model", help="model name, e.g. gpt-5-mini, claude-haiku-4-5, llama3.1")
    judge.add_argument("--base-url", help="API base URL (required for openai_compatible)")
    judge.add_argument(
        "--api-key-env",
        metavar="VAR",
        help="environment variable holding the API key (never put the key itself on the "
        "command line); not needed for local servers",
    )
    judge.add_argument("--mode", choices=["per_request", "bundle"], default="bundle")
    judge.add_argument(
        "--bundle-size",
        type=int,
        default=DEFAULT_BUNDLE_PAIRS,
        help="pairs per call (1–10; 6 = every pair of 4 essays)",
    )
    judge.add_argument("--concurrency", type=int, default=4, help="calls in flight")
    judge.add_argument(
        "--no-strict-schema",
        action="store_true",
        help="for OpenAI-compatible servers without strict JSON schemas",
    )
    judge.add_argument(
        "--model-capabilities",
        metavar="CAPS",
        help="what the model accepts, overriding the model catalogue: JSON or key=value pairs "
        "(as for grade; see `huleedu check-model`)",
    )

    sub.add_parser(
        "gui", help="open the desktop window (--data-dir DIR, --screenshots DIR)", add_help=False
    )

    from app.simserver.cli import add_parser as add_sim_server  # noqa: PLC0415

    add_sim_server(sub)

    from app.grade import add_parser as add_grade  # noqa: PLC0415

    add_grade(sub)

    from app.intake.cli import add_parsers as add_intake  # noqa: PLC0415

    add_intake(sub)

    from app.listing import add_parser as add_list  # noqa: PLC0415

    add_list(sub)

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
    store = bench_sub.add_parser("store", help="the local store against plain sqlite3")
    store.add_argument("--essays", type=int, default=10_000)
    store.add_argument("--comparisons", type=int, default=200_000)
    intake = bench_sub.add_parser(
        "intake", help="file intake against the bare extraction libraries"
    )
    intake.add_argument("--files", type=int, default=300, help="files (a third each docx/pdf/txt)")
    intake.add_argument("--repeats", type=int, default=3, help="timings per side (best kept)")
    loop = bench_sub.add_parser(
        "loop", help="event-loop lag while a 200-essay run and a 300-file import go on"
    )
    loop.add_argument("--essays", type=int, default=200)
    loop.add_argument("--comparisons", type=int, default=1000)
    loop.add_argument("--files", type=int, default=300, help="files imported meanwhile")
    loop.add_argument("--speed", type=float, default=40.0, help="divide simulated latency by F")
    bench_ui = bench_sub.add_parser(
        "ui", help="the window: loop lag during a run, dashboard filtering, start-up time"
    )
    bench_ui.add_argument("--batches", type=int, default=1000, help="batches on the dashboard")
    bench_ui.add_argument("--essays", type=int, default=60, help="essays of the graded batch")
    bench_ui.add_argument("--comparisons", type=int, default=300)
    bench_ui.add_argument("--speed", type=float, default=40.0, help="divide simulated latency by F")
    bench_ui.add_argument("--repeats", type=int, default=5, help="start-up timings per side")
    bench_ui.add_argument(
        "--quick",
        action="store_true",
        help="a small smoke run (50 batches, 20 essays, 30 comparisons)",
    )
    bench_package = bench_sub.add_parser(
        "package", help="the built bundle (make package): its size and window start-up time"
    )
    bench_package.add_argument("--bundle", type=Path, help="bundle folder (dist/huleedu)")
    bench_package.add_argument("--repeats", type=int, default=5, help="start-ups per side")
    _register_command_modules(sub, bench_sub)
    return parser


def _register_command_modules(sub: Any, bench_sub: Any) -> None:
    """Let every module of `app.commands` add its verbs (and `bench` entries).

    A command module defines `register(sub, bench_sub) -> None`, adds its parsers there and
    sets `handler=<function(args) -> int>` on each with `set_defaults`.
    """
    import importlib  # noqa: PLC0415
    import pkgutil  # noqa: PLC0415

    import app.commands  # noqa: PLC0415

    for info in sorted(pkgutil.iter_modules(app.commands.__path__), key=lambda i: i.name):
        module = importlib.import_module(f"app.commands.{info.name}")
        module.register(sub, bench_sub)


def _judge_options(args: argparse.Namespace) -> dict[str, Any]:
    """The demo's judge options as run settings (checked by the demo before it runs)."""
    options: dict[str, Any] = {
        "provider": args.provider,
        "mode": args.mode,
        "bundle_size": args.bundle_size,
        "concurrency": args.concurrency,
        "strict_schema": not args.no_strict_schema,
    }
    if args.provider != "sim":
        if not args.model:
            raise ValueError("--model is required with --provider " + args.provider)
        options.update(model=args.model, base_url=args.base_url, api_key_env=args.api_key_env)
    elif args.model:
        options["model"] = args.model
    return options


def _set_capabilities(args: argparse.Namespace) -> None:
    """``--model-capabilities`` for the demo's drives (read for its provider)."""
    if args.model_capabilities is None:
        return
    from app.llm.capabilities import CapabilitiesError, parse_capabilities  # noqa: PLC0415
    from app.operations.judge import CAPABILITIES  # noqa: PLC0415

    kind = "openai_compatible" if args.provider == "sim" else args.provider
    try:
        CAPABILITIES.set(parse_capabilities(args.model_capabilities, kind))
    except CapabilitiesError as exc:
        raise ValueError(f"--model-capabilities: {exc}") from exc


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments == ["--version"]:
        # Answered before the parser is built: building it imports every verb's module.
        print(f"huleedu {__version__}")
        return 0
    if arguments[:1] == ["gui"]:
        # The one place the command line reaches into ui/: it starts the window, nothing more
        # (its options are the window's: --data-dir, --screenshots DIR).
        from ui.app import main as gui_main  # noqa: PLC0415

        return gui_main(arguments[1:])
    parser = _build_parser()
    args = parser.parse_args(arguments)
    handler = getattr(args, "handler", None)
    if handler is not None:
        return int(handler(args))
    if args.command == "demo":
        from app.demo import run_demo  # noqa: PLC0415  (keeps `--version` instant)

        try:
            judge = _judge_options(args)
            _set_capabilities(args)
        except ValueError as exc:
            parser.error(str(exc))
        return run_demo(seed=args.seed, demo_dir=args.demo_dir, as_json=args.json, judge=judge)
    if args.command == "grade":
        from app.grade import run as run_grade  # noqa: PLC0415

        return run_grade(args)
    if args.command == "import":
        from app.intake.cli import run_import  # noqa: PLC0415

        return run_import(args)
    if args.command == "list":
        from app.listing import run as run_list  # noqa: PLC0415

        return run_list(args)
    if args.command == "match":
        from app.intake.cli import run_match  # noqa: PLC0415

        return run_match(args)
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
        if args.bench == "store":
            from app.bench.store import main as bench_store  # noqa: PLC0415

            return bench_store(essays=args.essays, comparisons=args.comparisons)
        if args.bench == "intake":
            from app.bench.intake import main as bench_intake  # noqa: PLC0415

            return bench_intake(files=args.files, repeats=args.repeats)
        if args.bench == "loop":
            from app.bench.loop import main as bench_loop  # noqa: PLC0415

            return bench_loop(
                essays=args.essays,
                comparisons=args.comparisons,
                files=args.files,
                speed=args.speed,
            )
        if args.bench == "ui":
            from app.bench.ui import main as bench_ui  # noqa: PLC0415

            return bench_ui(
                batches=args.batches,
                essays=args.essays,
                comparisons=args.comparisons,
                speed=args.speed,
                repeats=args.repeats,
                quick=args.quick,
            )
        if args.bench == "package":
            from app.bench.package import main as bench_package  # noqa: PLC0415

            return bench_package(bundle=args.bundle, repeats=args.repeats)
        parser.parse_args(["bench", "--help"])
        return 2
    parser.print_help(sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
