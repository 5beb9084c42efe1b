"""``huleedu bench sync``: the sync service against PostgreSQL COPY and SELECT.

The measurement is :mod:`app.bench.sync`."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any, bench_sub: Any) -> None:
    p = bench_sub.add_parser(
        "sync", help="the sync service: push and pull of essays against PostgreSQL COPY/SELECT"
    )
    p.add_argument("--records", type=int, default=10_000, help="essays (2-3 KB texts)")
    p.add_argument("--repeats", type=int, default=3, help="timings per side (best kept)")
    p.add_argument("--chunk", type=int, default=1000, help="changes/texts per request (<= 1000)")
    p.add_argument("--page", type=int, default=1000, help="records per pulled page (<= 5000)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--quick", action="store_true", help="a small smoke run (1,000 records, 1 repeat)"
    )
    p.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from app.bench.sync import main  # noqa: PLC0415

    if args.quick:
        args.records, args.repeats = 1000, 1
    return main(args.records, args.repeats, args.chunk, args.page, args.seed)
