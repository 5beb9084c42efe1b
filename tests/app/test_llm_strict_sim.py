"""The simulated server refuses what the real APIs refuse, and the project's clients send none
of it: every provider client, in every mode the catalogue lists, through the wire."""

from __future__ import annotations

import random
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from app.demo import load_demo
from app.llm.batch import run_batch_summary
from app.llm.dispatcher import Dispatcher, DispatchSettings
from app.llm.providers.base import BaseProvider, ProviderConfig
from app.llm.providers.factory import make_provider
from app.llm.types import FailureCategory, PairTask, ProviderError, ProviderKind
from app.simserver import running_server
from app.simserver.strict import (
    INVALID_KINDS,
    KIND_HEADER,
    anthropic_cache_minimum,
    rejection_kind,
)
from core.prompt import AssignmentContext

BATCH = load_demo()
CONTEXT: AssignmentContext = BATCH.context
TEXTS = [item.text for item in BATCH.items]
NONCE = "strictsimnonce01"

BASE = {"openai": "/v1", "anthropic": "/v1", "gemini": "/v1beta"}
ENDPOINT = {
    "openai": "/v1/chat/completions",
    "anthropic": "/v1/messages",
    "gemini": "/v1beta/models/{model}:generateContent",
}

# (provider kind, model): catalogue models of each family and names no catalogue lists.
JUDGES: list[tuple[ProviderKind, str]] = [
    ("openai", "gpt-5-mini"),
    ("openai", "gpt-5.1"),
    ("openai", "gpt-4.1-mini"),
    ("openai", "gpt-5-chat-latest"),  # unknown: safe profile
    ("openai", "gpt-5-pro"),  # unknown: safe profile
    ("openai_compatible", "openai/gpt-5"),  # a router's name: safe profile
    ("anthropic", "claude-haiku-4-5"),
    ("anthropic", "claude-sonnet-4-5"),
    ("gemini", "gemini-2.5-flash"),
    ("gemini", "gemini-3-pro-preview"),  # unknown: safe profile
]


def pairs(n: int, seed: int = 0) -> list[PairTask]:
    rng = random.Random(seed)
    out = []
    for k in range(n):
        a, b = rng.sample(range(len(TEXTS)), 2)
        out.append(PairTask(f"pair-{k}", TEXTS[a], TEXTS[b]))
    return out


def client(url: str, kind: ProviderKind, model: str, **extra: Any) -> BaseProvider:
    wire = "openai" if kind in ("openai", "openai_compatible") else kind
    config = ProviderConfig(
        kind=kind, model=model, base_url=url + BASE[wire], api_key=SecretStr("sim"), **extra
    )
    return make_provider(config)


def wire_of(kind: ProviderKind) -> str:
    return "openai" if kind in ("openai", "openai_compatible") else kind


@pytest.mark.parametrize("kind,model", JUDGES, ids=[m for _, m in JUDGES])
@pytest.mark.parametrize("n_pairs", [1, 4])
def test_the_clients_send_no_invalid_request_kind(
    kind: ProviderKind, model: str, n_pairs: int
) -> None:
    p = client("http://127.0.0.1:9", kind, model, temperature=0.3)
    body = p.build_batch_body(CONTEXT, pairs(n_pairs), NONCE)
    assert rejection_kind(wire_of(kind), body) is None  # type: ignore[arg-type]


@pytest.mark.parametrize("invalid", INVALID_KINDS, ids=[k.name for k in INVALID_KINDS])
async def test_each_invalid_kind_is_refused_on_the_wire(invalid: Any) -> None:
    kind: ProviderKind = "openai" if invalid.wire == "openai" else invalid.wire
    async with running_server("generic", speed=1000.0) as url:
        p = client(url, kind, invalid.model)
        try:
            valid = p.build_batch_body(CONTEXT, pairs(2), NONCE)
            assert rejection_kind(invalid.wire, valid) is None
            broken = invalid.break_it(valid)
            assert rejection_kind(invalid.wire, broken) == invalid.name
            path = ENDPOINT[invalid.wire].format(model=invalid.model)
            async with httpx.AsyncClient(base_url=url) as http:
                response = await http.post(path, json=broken, headers={"x-api-key": "sim"})
            assert response.status_code == 400
            assert response.headers[KIND_HEADER] == invalid.name
            error = response.json()["error"]
            if invalid.wire == "openai":
                assert error["type"] == "invalid_request_error" and "param" in error
            elif invalid.wire == "anthropic":
                assert response.json()["type"] == "error"
                assert error["type"] == "invalid_request_error"
            else:
                assert error["status"] == "INVALID_ARGUMENT" and error["code"] == 400
            # The client reads the real body as a bad request: never retried.
            with pytest.raises(ProviderError) as info:
                await p.post(broken)
            assert info.value.category is FailureCategory.BAD_REQUEST
        finally:
            await p.aclose()


def test_gpt5_rejections_carry_the_real_messages() -> None:
    body: dict[str, Any] = {"model": "gpt-5-mini", "messages": [], "temperature": 0.2}
    assert rejection_kind("openai", body) == "openai_reasoning_temperature"
    assert rejection_kind("openai", {"model": "gpt-5-mini-2025-08-07", "max_tokens": 9}) == (
        "openai_reasoning_max_tokens"
    )
    assert rejection_kind("openai", {"model": "o4-mini", "logprobs": True}) == (
        "openai_reasoning_logprobs"
    )
    assert rejection_kind("openai", {"model": "gpt-5-mini", "temperature": 1}) is None
    assert rejection_kind("openai", {"model": "gpt-5-pro", "reasoning_effort": "low"}) == (
        "openai_reasoning_effort_value"
    )
    assert rejection_kind("openai", {"model": "gpt-5-chat-latest", "reasoning_effort": "low"}) == (
        "openai_reasoning_effort_unsupported"
    )
    assert (
        rejection_kind("openai", {"model": "gpt-4.1", "temperature": 0.2, "max_tokens": 5}) is None
    )


@pytest.mark.parametrize("kind,model", JUDGES, ids=[m for _, m in JUDGES])
@pytest.mark.parametrize("mode", ["per_request", "bundle"])
async def test_every_client_judges_through_the_strict_server(
    kind: ProviderKind, model: str, mode: str
) -> None:
    tasks = pairs(8, seed=3)
    async with running_server("generic", speed=1000.0, seed=1) as url:
        p = client(url, kind, model, temperature=0.3)
        try:
            dispatcher = Dispatcher(
                p,
                DispatchSettings(mode=mode, bundle_size=4, concurrency=4),  # type: ignore[arg-type]
            )
            summary = await dispatcher.run(CONTEXT, tasks, nonce_entropy=b"x" * 16)
        finally:
            await p.aclose()
    assert summary.verdicts == len(tasks), [o.message for o in summary.outcomes if not o.ok]
    assert summary.failed_calls == 0


@pytest.mark.parametrize(
    "kind,model",
    [("openai", "gpt-5-mini"), ("openai", "gpt-4.1-mini"), ("anthropic", "claude-haiku-4-5")],
)
async def test_provider_batch_mode_through_the_strict_server(
    kind: ProviderKind, model: str
) -> None:
    tasks = pairs(6, seed=4)
    async with running_server(
        "generic", speed=1000.0, seed=2, batch_validating_s=0.0, batch_delay_s=0.0
    ) as url:
        p = client(url, kind, model, temperature=0.3)
        try:
            summary = await run_batch_summary(
                p, CONTEXT, tasks, poll_interval_s=0.02, pairs_per_request=3, nonce=NONCE
            )
        finally:
            await p.aclose()
    assert summary.verdicts == len(tasks), [o.message for o in summary.outcomes if not o.ok]


async def test_anthropic_base_url_with_and_without_the_version() -> None:
    async with running_server("generic", speed=1000.0) as url:
        for base in (url, url + "/", url + "/v1"):
            config = ProviderConfig(
                kind="anthropic", model="claude-haiku-4-5", base_url=base, api_key=SecretStr("k")
            )
            p = make_provider(config)
            try:
                out = await p.judge(CONTEXT, pairs(1), nonce=NONCE)
            finally:
                await p.aclose()
            assert out.items[0].verdict is not None
        gemini = ProviderConfig(kind="gemini", model="gemini-2.5-flash", base_url=url)
        assert gemini.resolved_base_url == url + "/v1beta"


async def test_claude_caching_starts_at_the_models_minimum() -> None:
    assert anthropic_cache_minimum("claude-haiku-4-5-20251001") == 4096
    assert anthropic_cache_minimum("claude-sonnet-4-5") == 1024
    assert anthropic_cache_minimum("sim-claude") == 0
    long_context = AssignmentContext(
        CONTEXT.title,
        CONTEXT.student_prompt,
        CONTEXT.assessment_criteria,
        CONTEXT.judge_rubric + "\n" + "Weigh the argument, the evidence and the language. " * 500,
    )
    async with running_server("generic", speed=1000.0) as url:
        usage = {}
        for model, context in (
            ("claude-haiku-4-5", CONTEXT),  # ~1,000-token prefix: below 4,096
            ("claude-haiku-4-5", long_context),  # above it
        ):
            p = client(url, "anthropic", model)
            try:
                first = await p.judge(context, pairs(1, seed=5), nonce=NONCE)
                second = await p.judge(context, pairs(1, seed=6), nonce=NONCE)
            finally:
                await p.aclose()
            usage[context is long_context] = (first.usage, second.usage)
    short_first, short_second = usage[False]
    assert short_first.cache_write_tokens == 0 and short_second.cached_input_tokens == 0
    long_first, long_second = usage[True]
    assert long_first.cache_write_tokens >= 4096
    assert long_second.cached_input_tokens == long_first.cache_write_tokens


async def test_overloaded_answers_are_retried() -> None:
    tasks = pairs(16, seed=7)
    async with running_server("overloaded", speed=1000.0, seed=3) as url:
        for kind, model in (("anthropic", "claude-haiku-4-5"), ("gemini", "gemini-2.5-flash")):
            p = client(url, kind, model)  # type: ignore[arg-type]
            try:
                summary = await Dispatcher(
                    p, DispatchSettings(mode="per_request", max_attempts=8)
                ).run(CONTEXT, tasks)
            finally:
                await p.aclose()
            assert summary.verdicts == len(tasks)
            assert summary.failed_calls > 0  # 529 / 503 were met and retried
        async with httpx.AsyncClient() as http:
            stats = (await http.get(url + "/sim/stats")).json()
    assert stats["fault_overloaded"] > 0


async def test_bench_strict_and_quota_keys() -> None:
    from app.bench import llm  # noqa: PLC0415

    tasks = pairs(60, seed=9)
    strict = await llm._strict(CONTEXT, tasks)
    assert strict["strict_sim_client_violations"] == 0
    assert (
        strict["strict_sim_rejections_caught"] == strict["strict_sim_kinds"] == len(INVALID_KINDS)
    )
    one = await llm._quota_run(CONTEXT, tasks, "anthropic", "claude-haiku-4-5", "", 1)
    assert one == {"stopped": 1, "refusals": 1, "after_first": 0}
