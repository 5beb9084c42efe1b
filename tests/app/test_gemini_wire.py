"""The Gemini client against the simulated server's Gemini wire format on 127.0.0.1."""

from __future__ import annotations

import random
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from app.bench.llm import accuracy_against_truth
from app.demo import load_demo
from app.llm.catalogue import load_catalogue
from app.llm.dispatcher import Dispatcher, DispatchSettings, DispatchSummary
from app.llm.limits import Backoff
from app.llm.metrics import LLMMetrics
from app.llm.providers.base import BaseProvider, ProviderConfig
from app.llm.providers.factory import make_provider
from app.llm.types import FailureCategory, PairTask, ProviderError
from app.simserver import get_profile, running_server
from app.simserver.judging import pair_fingerprint
from core.prompt import AssignmentContext

BATCH = load_demo()
CONTEXT: AssignmentContext = BATCH.context
TEXTS = [item.text for item in BATCH.items]
MODEL = "gemini-2.5-flash"


def pairs(n: int, seed: int = 0) -> list[PairTask]:
    rng = random.Random(seed)
    out = []
    for k in range(n):
        a, b = rng.sample(range(len(TEXTS)), 2)
        out.append(PairTask(f"pair-{k}", TEXTS[a], TEXTS[b]))
    return out


def nonce(i: int) -> str:
    return f"g{i:015x}"


def gemini(url: str, *, key: str = "sim", timeout_s: float = 10.0) -> BaseProvider:
    return make_provider(
        ProviderConfig(
            kind="gemini",
            model=MODEL,
            base_url=url + "/v1beta",
            api_key=SecretStr(key),
            timeout_s=timeout_s,
        )
    )


async def sim_json(url: str, path: str) -> Any:
    async with httpx.AsyncClient(base_url=url) as client:
        return (await client.get(path)).json()


async def dispatch(
    url: str, tasks: list[PairTask], *, timeout_s: float = 10.0, **settings: Any
) -> tuple[DispatchSummary, LLMMetrics]:
    provider = gemini(url, timeout_s=timeout_s)
    catalogue = load_catalogue()
    metrics = LLMMetrics()
    dispatcher = Dispatcher(
        provider,
        DispatchSettings(backoff=Backoff(0.01, 0.05), **settings),
        metrics=metrics,
        cost=lambda usage: catalogue.cost_usd(MODEL, usage),
    )
    try:
        summary = await dispatcher.run(CONTEXT, tasks, nonce_entropy=b"fixed for tests")
    finally:
        await provider.aclose()
    return summary, metrics


# ---------------------------------------------------------------------------------------------
# One call
# ---------------------------------------------------------------------------------------------


async def test_pair_verdict_is_what_the_server_said() -> None:
    task = pairs(1, seed=1)[0]
    async with running_server("generic", speed=1000.0, seed=1) as url:
        async with gemini(url) as provider:
            outcome = await provider.judge(CONTEXT, [task], nonce=nonce(1))
        ledger = await sim_json(url, "/sim/ledger")
        stats = await sim_json(url, "/sim/stats")
    [item] = outcome.items
    assert item.verdict is not None and item.category is None
    assert ledger[pair_fingerprint(task.first_text, task.second_text)] == [
        "A" if item.verdict.first_wins else "B"
    ]
    assert 1 <= item.verdict.confidence <= 5 and item.verdict.justification
    assert outcome.raw_finish_reason == "STOP"
    assert outcome.model == MODEL
    assert outcome.request_id and outcome.extra["response_id"] == outcome.request_id
    assert outcome.usage.input_tokens > 1000 and outcome.usage.output_tokens > 20
    assert outcome.usage.cached_input_tokens == 0  # nothing was cached yet
    assert stats["gemini_generate_requests"] == 1


async def test_bundle_of_four_and_the_cached_prefix() -> None:
    tasks = pairs(8, seed=2)
    # The demo's system instruction and assignment are ~900 tokens, under the usual minimum.
    async with running_server("generic", speed=1000.0, seed=2, openai_cache_min_tokens=512) as url:
        async with gemini(url) as provider:
            first = await provider.judge(CONTEXT, tasks[:4], nonce=nonce(2))
            second = await provider.judge(CONTEXT, tasks[4:], nonce=nonce(2))
        ledger = await sim_json(url, "/sim/ledger")
    for outcome, sent in ((first, tasks[:4]), (second, tasks[4:])):
        assert [i.place_in_bundle for i in outcome.items] == [0, 1, 2, 3]
        assert [i.pair_id for i in outcome.items] == [t.pair_id for t in sent]
        for item, task in zip(outcome.items, sent, strict=True):
            assert item.verdict is not None
            stated = ledger[pair_fingerprint(task.first_text, task.second_text)]
            assert stated == ["A" if item.verdict.first_wins else "B"]
    # The second call repeats the system instruction and assignment: an implicit cache hit.
    assert first.usage.cached_input_tokens == 0
    assert 0 < second.usage.cached_input_tokens < second.usage.input_tokens


async def test_thinking_tokens_are_output_tokens() -> None:
    task = pairs(1, seed=3)[0]
    thoughts = get_profile("gpt51-low").reasoning_tokens
    assert thoughts > 0
    async with running_server("gpt51-low", speed=1000.0, seed=3) as url:
        async with gemini(url) as provider:
            outcome = await provider.judge(CONTEXT, [task], nonce=nonce(3))
        async with httpx.AsyncClient(base_url=url) as client:
            body = provider.build_batch_body(CONTEXT, [task], nonce(4))
            raw = await client.post(f"/v1beta/models/{MODEL}:generateContent", json=body)
    assert outcome.extra["reasoning_tokens"] == thoughts
    usage = raw.json()["usageMetadata"]
    assert usage["thoughtsTokenCount"] == thoughts
    assert usage["totalTokenCount"] == (
        usage["promptTokenCount"] + usage["candidatesTokenCount"] + thoughts
    )


async def test_a_bad_key_is_an_auth_failure() -> None:
    async with running_server("generic", speed=1000.0) as url:
        async with gemini(url, key="invalid-key") as provider:
            with pytest.raises(ProviderError) as info:
                await provider.judge(CONTEXT, pairs(1), nonce=nonce(5))
        async with httpx.AsyncClient(base_url=url) as client:
            by_query = await client.post(
                f"/v1beta/models/{MODEL}:generateContent",
                params={"key": "invalid-too"},
                json={"contents": [{"parts": [{"text": "x"}]}]},
            )
    assert info.value.category is FailureCategory.AUTH
    assert info.value.status == 400
    error = by_query.json()["error"]
    assert by_query.status_code == 400 and error["status"] == "INVALID_ARGUMENT"
    assert error["details"][0]["reason"] == "API_KEY_INVALID"


async def test_bad_requests_get_gemini_error_envelopes() -> None:
    async with (
        running_server("generic", speed=1000.0) as url,
        httpx.AsyncClient(base_url=url) as client,
    ):
        unknown = await client.post(f"/v1beta/models/{MODEL}:streamGenerateContent", json={})
        empty = await client.post(f"/v1beta/models/{MODEL}:generateContent", json={})
        no_essays = await client.post(
            f"/v1beta/models/{MODEL}:generateContent",
            json={"contents": [{"role": "user", "parts": [{"text": "Which is better?"}]}]},
        )
    assert unknown.status_code == 404 and unknown.json()["error"]["status"] == "NOT_FOUND"
    for response in (empty, no_essays):
        assert response.status_code == 400
        assert set(response.json()["error"]) == {"code", "message", "status"}
        assert response.json()["error"]["status"] == "INVALID_ARGUMENT"


# ---------------------------------------------------------------------------------------------
# Faults
# ---------------------------------------------------------------------------------------------


async def _judge_all(
    fault: str, n: int, **overrides: Any
) -> tuple[list[ProviderError | None], list[Any]]:
    """Judge ``n`` pairs one call each on a server whose every answer has ``fault``."""
    errors: list[ProviderError | None] = []
    outcomes: list[Any] = []
    server = running_server("generic", speed=1000.0, faults={fault: 1.0}, **overrides)
    async with server as url, gemini(url, timeout_s=0.3) as provider:
        for i, task in enumerate(pairs(n, seed=6)):
            try:
                outcomes.append(await provider.judge(CONTEXT, [task], nonce=nonce(100 + i)))
                errors.append(None)
            except ProviderError as exc:
                errors.append(exc)
    return errors, outcomes


async def test_rate_limit_is_resource_exhausted_with_retry_after() -> None:
    errors, _ = await _judge_all("rate_limit", 2)
    for exc in errors:
        assert exc is not None and exc.category is FailureCategory.RATE_LIMIT
        assert exc.status == 429 and exc.retry_after is not None and exc.retry_after > 0
    async with running_server("generic", speed=1000.0, faults={"rate_limit": 1.0}) as url:
        provider = gemini(url)
        body = provider.build_batch_body(CONTEXT, pairs(1), nonce(7))
        await provider.aclose()
        async with httpx.AsyncClient(base_url=url) as client:
            response = await client.post(f"/v1beta/models/{MODEL}:generateContent", json=body)
    error = response.json()["error"]
    assert error["code"] == 429 and error["status"] == "RESOURCE_EXHAUSTED"
    assert float(response.headers["retry-after"]) > 0
    assert error["details"][0]["@type"].endswith("RetryInfo")


async def test_enforced_rate_limit_is_resource_exhausted() -> None:
    async with running_server("generic", speed=1.0, requests_per_minute=1) as url:
        async with gemini(url) as provider:
            await provider.judge(CONTEXT, pairs(1), nonce=nonce(8))
            with pytest.raises(ProviderError) as info:
                await provider.judge(CONTEXT, pairs(1), nonce=nonce(9))
        stats = await sim_json(url, "/sim/stats")
    assert info.value.category is FailureCategory.RATE_LIMIT
    assert info.value.retry_after is not None and 0 < info.value.retry_after <= 60
    assert stats["rate_limited"] == 1


async def test_server_errors_are_500_or_503() -> None:
    errors, _ = await _judge_all("server_error", 12)
    statuses = {exc.status for exc in errors if exc is not None}
    assert statuses == {500, 503}
    assert all(exc is not None and exc.category is FailureCategory.SERVER for exc in errors)


async def test_truncated_and_malformed_answers_never_become_verdicts() -> None:
    _, truncated = await _judge_all("truncated", 3)
    for outcome in truncated:
        assert outcome.raw_finish_reason == "MAX_TOKENS"
        assert [i.category for i in outcome.items] == [FailureCategory.TRUNCATED]
    _, malformed = await _judge_all("malformed", 6)
    categories = {i.category for o in malformed for i in o.items}
    assert categories == {FailureCategory.PARSE_ERROR}


async def test_dropped_and_held_connections() -> None:
    dropped, _ = await _judge_all("drop", 2)
    assert {e.category for e in dropped if e is not None} == {FailureCategory.NETWORK}
    held, _ = await _judge_all("timeout", 1, timeout_sleep_s=2.0)
    assert {e.category for e in held if e is not None} == {FailureCategory.TIMEOUT}


# ---------------------------------------------------------------------------------------------
# Through the dispatcher
# ---------------------------------------------------------------------------------------------


async def test_dispatcher_per_request_and_bundles_with_token_accounting() -> None:
    tasks = pairs(16, seed=10)
    async with running_server("generic", speed=1000.0, seed=10) as url:
        single, _ = await dispatch(url, tasks, mode="per_request")
        bundled, metrics = await dispatch(url, tasks, mode="bundle", bundle_size=4)
        stats = await sim_json(url, "/sim/stats")
    assert single.verdicts == bundled.verdicts == 16
    assert (single.calls, bundled.calls) == (16, 4)
    assert stats["gemini_generate_requests"] == 20
    assert accuracy_against_truth(tasks, single) > 0.7
    assert accuracy_against_truth(tasks, bundled) > 0.7
    assert bundled.usage.input_tokens < single.usage.input_tokens
    assert bundled.usage.output_tokens > 0
    labels = {"provider": "gemini", "model": MODEL}
    assert metrics.value("llm_items_per_call_sum", labels) == 16
    assert metrics.value("llm_tokens_total", {**labels, "kind": "input"}) == (
        bundled.usage.input_tokens
    )
    assert bundled.cost_usd > 0


async def test_flaky_server_gives_every_pair_exactly_one_outcome() -> None:
    tasks = pairs(40, seed=11)
    async with running_server("flaky", speed=200.0, seed=11, timeout_sleep_s=3.0) as url:
        summary, metrics = await dispatch(
            url, tasks, mode="bundle", bundle_size=4, timeout_s=0.5, max_attempts=6
        )
        stats = await sim_json(url, "/sim/stats")
    ids = [o.pair_id for o in summary.outcomes]
    assert sorted(ids) == sorted(t.pair_id for t in tasks)
    assert summary.verdicts >= 36
    for o in summary.outcomes:
        assert (o.verdict is None) == (o.category is not None)
    assert accuracy_against_truth(tasks, summary) > 0.7
    failures = sum(
        metrics.value("llm_errors_total", {"provider": "gemini", "model": MODEL, "category": c})
        for c in ("rate_limit", "server", "timeout", "network", "parse_error", "truncated")
    )
    assert failures > 0
    assert sum(v for k, v in stats.items() if k.startswith("fault_")) > 0
