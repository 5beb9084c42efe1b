"""``huleedu check-model``: what a model accepts, found with one billed call.

Exit codes: 0 the model answered (its capabilities are printed, with the
``--model-capabilities`` text and a user-catalogue entry); 2 bad options; 4 the provider
refused (key, model, quota) or the model never answered with a verdict the app can read.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def register(sub: Any, bench_sub: Any) -> None:
    p = sub.add_parser(
        "check-model",
        help="probe what a model accepts (temperature, logprobs, reasoning effort) with one call",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--provider",
        required=True,
        choices=["openai", "anthropic", "gemini", "openai_compatible"],
    )
    p.add_argument("--model", required=True, help="the model name as the provider knows it")
    p.add_argument("--base-url", help="API base URL (required for openai_compatible)")
    p.add_argument(
        "--api-key-env",
        metavar="VAR",
        help="environment variable with the API key (default: the system keyring)",
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    import asyncio  # noqa: PLC0415

    from pydantic import SecretStr, ValidationError  # noqa: PLC0415

    from app.llm.probe import probe_model  # noqa: PLC0415
    from app.llm.providers.base import ProviderConfig  # noqa: PLC0415
    from app.secrets import MissingKeyError, find_api_key  # noqa: PLC0415

    try:
        key = find_api_key(args.provider, args.api_key_env)
    except MissingKeyError as exc:
        sys.stderr.write(f"huleedu check-model: {exc}\n")
        return 4
    try:
        config = ProviderConfig(
            kind=args.provider, model=args.model, base_url=args.base_url, api_key=SecretStr(key)
        )
    except ValidationError as exc:
        problem = exc.errors()[0]["msg"] if exc.errors() else str(exc)
        sys.stderr.write(f"huleedu check-model: {problem}\n")
        return 2
    report = asyncio.run(probe_model(config))
    if args.json:
        sys.stdout.write(json.dumps(report.as_dict(), indent=2) + "\n")
    else:
        _print(report)
    return 0 if report.capabilities is not None and report.verdict_ok else 4


def _print(report: Any) -> None:
    out = sys.stdout.write
    out(f"{report.provider} / {report.model}: {report.calls} request(s) sent\n")
    if report.capabilities is None:
        error = report.error
        why = "no answer" if error is None else f"{error.category}: {error.message}"
        out(f"  the model could not be used: {why}\n")
        return
    caps = report.capabilities.model_dump()
    for key, value in caps.items():
        refused = report.refused.get(key)
        note = f"  (refused: {refused[:120]})" if refused else ""
        out(f"  {key:<17} {value}{note}\n")
    if report.reasoning_tokens:
        out(f"  hidden reasoning tokens in the answer: {report.reasoning_tokens}\n")
    out(f"  verdict parsed: {'yes' if report.verdict_ok else 'no'}\n\n")
    out(f"Use it with:  --model-capabilities '{report.override}'\n")
    entry = {"models": {report.model: report.catalogue_entry()}}
    out(
        "or describe the model once in the user catalogue (models.json in the data folder; "
        "fill in the prices):\n" + json.dumps(entry, indent=2) + "\n"
    )
