"""`huleedu sim-server`: run the simulated provider until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from typing import Any

from app.simserver.profiles import profile_names

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``sim-server`` command to an ``argparse`` sub-parser collection."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "sim-server",
        help="run the simulated LLM provider (OpenAI, Anthropic and Gemini APIs) on this machine",
        description=(
            "Serve a simulated LLM judge speaking the OpenAI (chat completions, files, batches), "
            "Anthropic (messages, message batches) and Gemini (generateContent) APIs. Point a "
            "provider at http://HOST:PORT/v1 (OpenAI), http://HOST:PORT (Anthropic) or "
            "http://HOST:PORT/v1beta (Gemini), any API key."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument(
        "--port", type=int, default=8765, help="port to listen on (0: any free port)"
    )
    parser.add_argument(
        "--profile",
        default="generic",
        choices=profile_names(),
        help="behaviour profile (default: generic)",
    )
    parser.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="divide all latencies and batch delays by this factor (default: 1)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the simulated judge")
    parser.add_argument(
        "--quota-after",
        type=int,
        metavar="N",
        help="answer every request after the first N as the provider answers an account out of "
        "credit (OpenAI 429 insufficient_quota, Anthropic 400 credit balance, Gemini 429 daily "
        "quota); the 'quota' profile does it after 20",
    )
    return parser


async def _serve(
    host: str, port: int, profile: str, speed: float, seed: int, quota_after: int | None = None
) -> None:
    from app.simserver.server import running_server  # noqa: PLC0415  (keeps --help quick)

    extra: dict[str, Any] = {} if quota_after is None else {"quota_after_calls": quota_after}
    async with running_server(
        profile, speed=speed, seed=seed, host=host, port=port, **extra
    ) as url:
        print(url, flush=True)
        print(
            f"simulated provider: profile {profile}, speed {speed:g}, seed {seed}; "
            f"OpenAI base URL {url}/v1, Anthropic base URL {url}, "
            f"Gemini base URL {url}/v1beta. Ctrl-C stops.",
            file=sys.stderr,
            flush=True,
        )
        await asyncio.Event().wait()


def run(args: argparse.Namespace) -> int:
    """Run the server from parsed arguments until interrupted; returns an exit code."""
    if not args.speed > 0:
        print("error: --speed must be positive", file=sys.stderr)
        return 2
    if not 0 <= args.port <= 65535:
        print("error: --port must be 0 to 65535", file=sys.stderr)
        return 2
    quota_after = getattr(args, "quota_after", None)
    if quota_after is not None and quota_after < 0:
        print("error: --quota-after must be at least 0", file=sys.stderr)
        return 2
    try:
        asyncio.run(_serve(args.host, args.port, args.profile, args.speed, args.seed, quota_after))
    except KeyboardInterrupt:
        return 0
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry point (``python -m app.simserver.cli``)."""
    parser = argparse.ArgumentParser(prog="huleedu")
    sub = parser.add_subparsers(dest="command", required=True)
    add_parser(sub)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        raise SystemExit(main())
