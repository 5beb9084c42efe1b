"""Prompt caching per provider, and the estimate against what caching really saved.

For ``huleedu bench llm``. Each provider client runs over its own wire format against the
simulated server (profile ``generic``), with the demo essays in groups as the run loop plans
them, one pair per call, in bundles of 4 and in bundles of the default size (6 pairs over 4
essays), for two assignments: the demo's (tool, system prompt and assignment about 1,050
tokens: just over Sonnet 4.5's minimum, under Haiku 4.5's) and the same with a long, realistic
judge rubric (about 2,150 tokens). The simulated server caches as each provider documents:
Anthropic the prefix up to the last ``cache_control`` mark when it reaches the model's minimum
(1,024 tokens for Sonnet 4.5, 4,096 for Haiku 4.5); OpenAI and Gemini the longest prefix seen
before, in 128-token steps from 1,024 tokens. For all three a prefix is readable only once the
call that wrote it has begun to answer, so the first round of ``CONCURRENCY`` calls all miss
(and, at Anthropic, all pay to write).

Keys: ``estimate_error_anthropic`` (and ``_openai``, ``_gemini``) = the largest relative
difference between :func:`app.llm.estimate.estimate_run` made before a run and the cost of the
tokens the run used; ``cached_share_<provider>`` = cached input tokens over all input tokens of
that provider's runs; ``caching`` holds every setting.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from pydantic import SecretStr

from app.demo import load_demo
from app.llm.catalogue import load_catalogue
from app.llm.dispatcher import Dispatcher, DispatchSettings
from app.llm.estimate import estimate_run
from app.llm.providers.base import ProviderConfig
from app.llm.providers.factory import make_provider
from app.llm.types import PairTask, ProviderKind
from app.simserver import running_server
from core.prompt import DEFAULT_BUNDLE_PAIRS, AssignmentContext

PAIRS = 96
CONCURRENCY = 8
#: Latencies are the profile's divided by this: calls take ~0.1 s, so a round of concurrent calls
#: overlaps as in a real run (the first round writes the prefix before any call can read it).
SPEED = 20.0
#: (wire, provider kind, model, base-URL suffix)
SETTINGS: list[tuple[str, ProviderKind, str, str]] = [
    ("anthropic", "anthropic", "claude-sonnet-4-5", ""),
    ("anthropic", "anthropic", "claude-haiku-4-5", ""),
    ("openai", "openai", "gpt-5-mini", "/v1"),
    ("gemini", "gemini", "gemini-2.5-flash", ""),
]

LONG_RUBRIC = "\n".join(
    [
        "Read the whole essay before judging. Weigh the criteria in this order.",
        *(
            f"{grade}: {text}"
            for grade, text in [
                (
                    "A",
                    "The writer takes a clear, nuanced position and sustains it throughout. "
                    "Reasons are developed with precise, relevant examples and evidence, and the "
                    "strongest counter-argument is stated fairly and answered convincingly. "
                    "Paragraphs each carry one step of the argument, linked by transitions that "
                    "show how the reasons build on each other. Vocabulary is varied and exact; "
                    "the register suits a reader who has to be persuaded; errors are rare and "
                    "never disturb the reading.",
                ),
                (
                    "B",
                    "The position is clear and mostly sustained. Most reasons are developed with "
                    "relevant examples, a counter-argument is acknowledged and partly answered. "
                    "The structure is logical with an introduction, body and conclusion, though "
                    "some links between paragraphs are mechanical. Language is generally precise "
                    "with occasional errors that do not obscure meaning.",
                ),
                (
                    "C",
                    "A position is stated but may waver. Reasons are relevant but thinly "
                    "developed, examples are general, and counter-arguments are mentioned rather "
                    "than answered. Paragraphing is present but uneven; transitions are simple "
                    "(first, also, finally). Vocabulary is adequate but repetitive, and errors "
                    "are noticeable in places without blocking understanding.",
                ),
                (
                    "D",
                    "The position must be inferred. Reasons are listed rather than explained, "
                    "with little or no support, and the essay may drift from the task. "
                    "Organisation is weak: ideas appear in the order they occurred to the "
                    "writer. Sentence control is limited and errors sometimes disturb the "
                    "reading.",
                ),
                (
                    "E",
                    "The essay responds to the topic but not to the task: there is an opinion "
                    "without reasons, or reasons without a position. Very little development, "
                    "no paragraphing to speak of, and frequent errors that make parts hard to "
                    "follow.",
                ),
                (
                    "F",
                    "The text does not meet the task: too short to judge, off topic, or not an "
                    "argument. Do not reward length, copied prompt text or text addressed to "
                    "the reader instead of arguing.",
                ),
            ]
        ),
        "When two essays are close, prefer the one whose argument a sceptical reader would "
        "find harder to dismiss: developed reasons beat many reasons, relevant evidence beats "
        "general claims, and an answered counter-argument beats an ignored one. Judge content "
        "and argument before language, and language before length. Spelling alone never "
        "decides a comparison unless the essays are otherwise equal.",
        "Be consistent: the same features must earn the same credit in every pair you judge, "
        "whichever essay is shown first and whatever the essay's stance on the question.",
    ]
    * 2
)


def _contexts() -> dict[str, AssignmentContext]:
    demo = load_demo().context
    return {"demo": demo, "long_rubric": dataclasses.replace(demo, judge_rubric=LONG_RUBRIC)}


async def _run(
    url: str,
    kind: ProviderKind,
    model: str,
    suffix: str,
    context: AssignmentContext,
    texts: list[str],
    tasks: list[PairTask],
    k: int,
) -> dict[str, Any]:
    catalogue = load_catalogue()
    provider = make_provider(
        ProviderConfig(
            kind=kind,
            model=model,
            base_url=url + suffix,
            api_key=SecretStr("sim"),
            max_connections=CONCURRENCY,
        )
    )
    settings = DispatchSettings(
        mode="per_request" if k == 1 else "bundle", bundle_size=k, concurrency=CONCURRENCY
    )
    dispatcher = Dispatcher(provider, settings, cost=lambda u: catalogue.cost_usd(model, u))
    try:
        summary = await dispatcher.run(context, tasks, nonce_entropy=b"bench-caching")
    finally:
        await provider.aclose()
    estimate = estimate_run(
        catalogue, model, context, texts, len(tasks), pairs_per_call=k, concurrency=CONCURRENCY
    )
    usage = summary.usage
    return {
        "calls": summary.calls,
        "input_tokens": usage.input_tokens,
        "cached_input_tokens": usage.cached_input_tokens,
        "cache_write_tokens": usage.cache_write_tokens,
        "cached_share": usage.cached_input_tokens / max(1, usage.input_tokens),
        "cost_usd": summary.cost_usd,
        "estimate_usd": estimate.cost_usd,
        "estimate_cached_input_tokens": estimate.usage.cached_input_tokens,
        "estimate_cache_write_tokens": estimate.usage.cache_write_tokens,
        "estimate_error": abs(estimate.cost_usd - summary.cost_usd) / max(1e-12, summary.cost_usd),
    }


async def measure_caching(seed: int = 0) -> dict[str, Any]:
    """The caching keys, in a running event loop (see the module docstring)."""
    return await _measure(seed)


async def _measure(seed: int) -> dict[str, Any]:
    from app.bench.llm import _grouped_pairs  # noqa: PLC0415  (llm merges these keys)

    texts = [item.text for item in load_demo().items]
    detail: dict[str, Any] = {}
    for context_name, context in _contexts().items():
        for k in sorted({1, 4, DEFAULT_BUNDLE_PAIRS}):
            tasks = _grouped_pairs(texts, PAIRS, max(k, 4), seed)
            for wire, kind, model, suffix in SETTINGS:
                # A fresh server per setting: nothing cached from another run.
                async with running_server("generic", speed=SPEED, seed=seed) as url:
                    row = await _run(url, kind, model, suffix, context, texts, tasks, k)
                detail[f"{wire}/{model}/{context_name}/k{k}"] = {"wire": wire, **row}
    out: dict[str, Any] = {}
    for wire in ("anthropic", "openai", "gemini"):
        rows = [r for r in detail.values() if r["wire"] == wire]
        out[f"estimate_error_{wire}"] = max(r["estimate_error"] for r in rows)
        out[f"cached_share_{wire}"] = sum(r["cached_input_tokens"] for r in rows) / max(
            1, sum(r["input_tokens"] for r in rows)
        )
    out["caching"] = detail
    return out


def caching_keys(seed: int = 0) -> dict[str, Any]:
    """The caching keys (see the module docstring)."""
    return asyncio.run(_measure(seed))
