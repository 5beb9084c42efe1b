"""Provider batch mode against the simulated provider server on 127.0.0.1 (no internet)."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from app.demo import load_demo
from app.llm.batch import (
    BatchJob,
    BatchSummary,
    cancel,
    fetch,
    fetch_summary,
    load_state,
    poll,
    run_batch,
    run_batch_summary,
    save_state,
    submit,
)
from app.llm.dispatcher import PairOutcome
from app.llm.providers.base import BaseProvider, ProviderConfig
from app.llm.providers.factory import make_provider
from app.llm.types import FailureCategory, PairTask, ProviderError, ProviderKind, Usage
from app.simserver import running_server
from app.simserver.judging import true_winner
from core.prompt import AssignmentContext

BATCH = load_demo()
CONTEXT: AssignmentContext = BATCH.context
TEXTS = [item.text for item in BATCH.items]
NONCE = "batchtestnonce01"
POLL = 0.02

OPENAI: tuple[ProviderKind, str] = ("openai_compatible", "sim-generic")
ANTHROPIC: tuple[ProviderKind, str] = ("anthropic", "claude-haiku-4-5")
BOTH = pytest.mark.parametrize("kind_model", [OPENAI, ANTHROPIC], ids=["openai", "anthropic"])


def pairs(n: int, seed: int = 0) -> list[PairTask]:
    rng = random.Random(seed)
    out = []
    for k in range(n):
        a, b = rng.sample(range(len(TEXTS)), 2)
        out.append(PairTask(f"pair-{k}", TEXTS[a], TEXTS[b]))
    return out


def provider_for(url: str, kind_model: tuple[ProviderKind, str]) -> BaseProvider:
    kind, model = kind_model
    config = ProviderConfig(kind=kind, model=model, base_url=url + "/v1", api_key=SecretStr("sim"))
    return make_provider(config)


async def stats(url: str) -> dict[str, int]:
    async with httpx.AsyncClient() as client:
        response = await client.get(url + "/sim/stats")
        data: dict[str, int] = response.json()
        return data


def batches_created(data: dict[str, int]) -> int:
    return data.get("openai_batches", 0) + data.get("anthropic_batches", 0)


def check_exactly_once(tasks: list[PairTask], outcomes: list[PairOutcome]) -> None:
    assert sorted(o.pair_id for o in outcomes) == sorted(t.pair_id for t in tasks)
    for o in outcomes:
        assert (o.verdict is None) == (o.category is not None)


def accuracy(tasks: list[PairTask], outcomes: list[PairOutcome]) -> float:
    by_id = {t.pair_id: t for t in tasks}
    right = [
        o.verdict.first_wins
        == (true_winner(by_id[o.pair_id].first_text, by_id[o.pair_id].second_text) == "A")
        for o in outcomes
        if o.verdict is not None
    ]
    return sum(right) / max(1, len(right))


async def wait_until_ended(provider: BaseProvider, job: BatchJob) -> BatchJob:
    for _ in range(500):
        job = await poll(provider, job)
        if job.ended:
            return job
        await asyncio.sleep(POLL)
    raise AssertionError("the batch did not end")


# ---------------------------------------------------------------------------------------------
# Full lifecycle
# ---------------------------------------------------------------------------------------------


async def test_openai_batch_full_lifecycle_with_batch_prices() -> None:
    tasks = pairs(12, seed=1)
    heard: list[PairOutcome] = []
    async with running_server("generic", speed=1000.0, seed=1) as url:
        provider = provider_for(url, OPENAI)
        try:
            summary = await run_batch_summary(
                provider, CONTEXT, tasks, poll_interval_s=POLL, on_result=heard.append
            )
        finally:
            await provider.aclose()
        counts = await stats(url)
    assert counts.get("openai_batches") == 1
    assert counts.get("openai_chat_requests", 0) == 0  # nothing went through the direct API
    job = summary.job
    assert job.status == "completed" and job.provider_kind == "openai_compatible"
    assert job.input_file_id and job.output_file_id and job.fetched_at is not None
    assert [r.custom_id for r in job.requests] == [t.pair_id for t in tasks]
    check_exactly_once(tasks, summary.outcomes)
    assert heard == summary.outcomes
    assert summary.verdicts == 12
    assert accuracy(tasks, summary.outcomes) > 0.7
    assert all(o.bundle_size == 1 and o.place_in_bundle == 0 for o in summary.outcomes)
    assert all(o.probability_first is not None for o in summary.outcomes)  # logprobs read
    # Tokens per request, and cost at half the catalogue price.
    assert len(summary.requests) == 12
    assert summary.usage.input_tokens > 0 and summary.usage.output_tokens > 0
    total = Usage()
    for request in summary.requests:
        total = total + request.usage
    assert total == summary.usage
    full = provider.catalogue.cost_usd("sim-generic", summary.usage)
    assert summary.priced
    assert summary.cost_usd == pytest.approx(full * 0.5)
    assert summary.cost_usd == pytest.approx(sum(r.cost_usd or 0.0 for r in summary.requests))


async def test_anthropic_message_batch_with_bundles() -> None:
    tasks = pairs(10, seed=2)
    async with running_server("generic", speed=1000.0, seed=2) as url:
        provider = provider_for(url, ANTHROPIC)
        try:
            job = await submit(provider, CONTEXT, tasks, nonce=NONCE, pairs_per_request=4)
            assert job.status == "in_progress" and job.input_file_id is None
            assert [len(r.pair_ids) for r in job.requests] == [4, 4, 2]
            assert sorted(job.pair_ids) == sorted(t.pair_id for t in tasks)
            with pytest.raises(ValueError, match="not ended"):
                await fetch(provider, job)
            job = await wait_until_ended(provider, job)
            summary = await fetch_summary(provider, job)
        finally:
            await provider.aclose()
        counts = await stats(url)
    assert counts.get("anthropic_batches") == 1
    assert counts.get("anthropic_messages_requests", 0) == 0
    assert job.status == "completed" and job.provider_status == "ended"
    check_exactly_once(tasks, summary.outcomes)
    assert summary.verdicts == 10
    assert accuracy(tasks, summary.outcomes) > 0.7
    places = {o.pair_id: (o.place_in_bundle, o.bundle_size) for o in summary.outcomes}
    for request in job.requests:
        for place, pid in enumerate(request.pair_ids):
            assert places[pid] == (place, len(request.pair_ids))
    assert len(summary.requests) == 3
    # The static prefix is marked for caching but, at ~1,000 tokens, is below Claude Haiku
    # 4.5's 4,096-token minimum: like the real API, the simulated one caches nothing.
    assert summary.usage.cached_input_tokens == 0
    assert summary.usage.cache_write_tokens == 0
    full = provider.catalogue.cost_usd("claude-haiku-4-5", summary.usage)
    assert summary.cost_usd == pytest.approx(full * 0.5)


# ---------------------------------------------------------------------------------------------
# Resume after a restart
# ---------------------------------------------------------------------------------------------


@BOTH
async def test_resume_after_restart_submits_nothing_twice(
    tmp_path: Path, kind_model: tuple[ProviderKind, str]
) -> None:
    tasks = pairs(6, seed=3)
    state = tmp_path / "batch.json"
    async with running_server("generic", speed=1000.0, seed=3, batch_delay_s=150.0) as url:
        first = provider_for(url, kind_model)
        job = await submit(first, CONTEXT, tasks, nonce=NONCE, pairs_per_request=2)
        save_state(job, state)
        await first.aclose()  # the app stops here
        assert batches_created(await stats(url)) == 1

        second = provider_for(url, kind_model)  # ... and starts again
        try:
            outcomes = await run_batch(
                second, CONTEXT, tasks, state_path=state, poll_interval_s=POLL
            )
            assert batches_created(await stats(url)) == 1
            saved = load_state(state)
            assert saved.batch_id == job.batch_id and saved.ended
            assert saved.fetched_at is not None
            # Once more after the results are in: fetched again, still not resubmitted.
            again = await run_batch(second, CONTEXT, tasks, state_path=state, poll_interval_s=POLL)
        finally:
            await second.aclose()
        assert batches_created(await stats(url)) == 1
    check_exactly_once(tasks, outcomes)
    assert sum(o.ok for o in outcomes) == 6
    assert [(o.pair_id, o.verdict) for o in again] == [(o.pair_id, o.verdict) for o in outcomes]


async def test_run_batch_saves_state_and_refuses_a_state_for_other_pairs(tmp_path: Path) -> None:
    tasks = pairs(4, seed=4)
    state = tmp_path / "nested" / "batch.json"
    async with running_server("generic", speed=1000.0, seed=4) as url:
        provider = provider_for(url, OPENAI)
        try:
            outcomes = await run_batch(
                provider, CONTEXT, tasks, state_path=state, poll_interval_s=POLL
            )
            assert state.exists() and load_state(state).status == "completed"
            with pytest.raises(ValueError, match="other pairs"):
                await run_batch(
                    provider, CONTEXT, pairs(5, seed=4), state_path=state, poll_interval_s=POLL
                )
        finally:
            await provider.aclose()
        anthropic = provider_for(url, ANTHROPIC)
        try:
            with pytest.raises(ValueError, match="submitted to"):
                await run_batch(anthropic, CONTEXT, tasks, state_path=state, poll_interval_s=POLL)
        finally:
            await anthropic.aclose()
        assert batches_created(await stats(url)) == 1
    check_exactly_once(tasks, outcomes)


# ---------------------------------------------------------------------------------------------
# Partial failure, expiry, cancel
# ---------------------------------------------------------------------------------------------


@BOTH
async def test_partial_failures_keep_the_good_items(kind_model: tuple[ProviderKind, str]) -> None:
    tasks = pairs(40, seed=5)
    async with running_server(
        "flaky", speed=1000.0, seed=5, batch_item_error_rate=0.2, timeout_sleep_s=0.1
    ) as url:
        provider = provider_for(url, kind_model)
        try:
            summary = await run_batch_summary(provider, CONTEXT, tasks, poll_interval_s=POLL)
        finally:
            await provider.aclose()
    check_exactly_once(tasks, summary.outcomes)
    assert summary.job.status == "completed"
    by_category = summary.failures_by_category()
    assert by_category.get("server", 0) >= 3  # the per-item errors
    assert 20 <= summary.verdicts < 40
    allowed = {"server", "parse_error", "truncated", "rate_limit", "timeout"}
    assert set(by_category) <= allowed
    # Verdicts come only from answers that parsed: they agree with the simulator's truth.
    assert accuracy(tasks, summary.outcomes) > 0.7
    assert len(summary.requests) >= summary.verdicts


async def test_malformed_item_answers_never_become_verdicts() -> None:
    tasks = pairs(60, seed=6)
    async with running_server(
        "flaky", speed=1000.0, seed=6, batch_item_error_rate=0.0, timeout_sleep_s=0.1
    ) as url:
        provider = provider_for(url, OPENAI)
        try:
            summary = await run_batch_summary(provider, CONTEXT, tasks, poll_interval_s=POLL)
        finally:
            await provider.aclose()
        counts = await stats(url)
    check_exactly_once(tasks, summary.outcomes)
    broken = counts.get("fault_malformed", 0) + counts.get("fault_truncated", 0)
    assert broken > 0
    spoiled = (FailureCategory.PARSE_ERROR, FailureCategory.TRUNCATED)
    # One pair per request: every spoiled answer is exactly one failed pair, never a verdict.
    assert sum(o.category in spoiled for o in summary.outcomes) == broken
    assert summary.verdicts == 60 - broken


@BOTH
async def test_expired_batch_reports_unfinished_items_as_timeouts(
    kind_model: tuple[ProviderKind, str],
) -> None:
    tasks = pairs(12, seed=7)
    async with running_server("generic", speed=1000.0, seed=7, batch_expire_rate=1.0) as url:
        provider = provider_for(url, kind_model)
        try:
            summary = await run_batch_summary(
                provider, CONTEXT, tasks, poll_interval_s=POLL, pairs_per_request=3
            )
        finally:
            await provider.aclose()
    assert summary.job.status == "expired"
    check_exactly_once(tasks, summary.outcomes)
    expired = [o for o in summary.outcomes if not o.ok]
    assert expired
    for o in expired:
        assert o.category is FailureCategory.TIMEOUT
        assert o.message == "batch expired"
    # What finished before the expiry is kept.
    assert summary.verdicts == 12 - len(expired)


@BOTH
async def test_cancel_keeps_what_was_done_and_fails_the_rest(
    kind_model: tuple[ProviderKind, str],
) -> None:
    tasks = pairs(8, seed=8)
    async with running_server("generic", speed=1000.0, seed=8, batch_delay_s=20_000.0) as url:
        provider = provider_for(url, kind_model)
        try:
            job = await submit(provider, CONTEXT, tasks, nonce=NONCE)
            job = await cancel(provider, job)
            assert job.status in ("cancelling", "cancelled")
            job = await wait_until_ended(provider, job)
            assert job.status == "cancelled"
            assert await cancel(provider, job) == job  # nothing left to cancel
            outcomes = await fetch(provider, job)
        finally:
            await provider.aclose()
    check_exactly_once(tasks, outcomes)
    cancelled = [o for o in outcomes if not o.ok]
    assert cancelled
    assert all(
        o.category is FailureCategory.CANCELLED and o.message == "batch cancelled"
        for o in cancelled
    )


async def test_run_batch_cancels_after_max_wait() -> None:
    tasks = pairs(4, seed=9)
    async with running_server("generic", speed=1000.0, seed=9, batch_delay_s=20_000.0) as url:
        provider = provider_for(url, ANTHROPIC)
        try:
            summary = await run_batch_summary(
                provider, CONTEXT, tasks, poll_interval_s=POLL, max_wait_s=0.05
            )
        finally:
            await provider.aclose()
    assert summary.job.status == "cancelled"
    check_exactly_once(tasks, summary.outcomes)
    assert summary.failures_by_category().get("cancelled", 0) >= 1


# ---------------------------------------------------------------------------------------------
# State and refusals
# ---------------------------------------------------------------------------------------------


async def test_state_round_trip_is_atomic_and_exact(tmp_path: Path) -> None:
    tasks = pairs(5, seed=10)
    async with running_server("generic", speed=1000.0, seed=10) as url:
        provider = provider_for(url, OPENAI)
        try:
            job = await submit(provider, CONTEXT, tasks, nonce=NONCE, pairs_per_request=2)
        finally:
            await provider.aclose()
    path = tmp_path / "state.json"
    job.save_state(path)
    assert BatchJob.load_state(path) == job
    assert load_state(path).model_dump() == job.model_dump()
    # Overwriting leaves exactly one file, no temporary files behind.
    updated = job.model_copy(update={"status": "completed"})
    save_state(updated, path)
    assert load_state(path).status == "completed"
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]
    assert job.nonce == NONCE and job.pairs_per_request == 2
    assert job.submitted_at.tzinfo is not None
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match="not a saved batch job"):
        load_state(path)
    with pytest.raises(FileNotFoundError):
        load_state(tmp_path / "missing.json")


async def test_unusable_requests_are_refused_before_anything_is_sent() -> None:
    async with running_server("generic", speed=1000.0) as url:
        gemini = make_provider(
            ProviderConfig(kind="gemini", model="gemini-2.5-flash", base_url=url + "/v1")
        )
        provider = provider_for(url, OPENAI)
        try:
            with pytest.raises(ProviderError) as info:
                await submit(gemini, CONTEXT, pairs(2), nonce=NONCE)
            assert info.value.category is FailureCategory.BAD_REQUEST
            with pytest.raises(ValueError, match="unique"):
                await submit(provider, CONTEXT, pairs(2) + pairs(1), nonce=NONCE)
            with pytest.raises(ValueError, match="pairs_per_request"):
                await submit(provider, CONTEXT, pairs(2), nonce=NONCE, pairs_per_request=11)
        finally:
            await gemini.aclose()
            await provider.aclose()
        assert batches_created(await stats(url)) == 0


def test_summary_counts() -> None:
    summary = BatchSummary(job=None)  # type: ignore[arg-type]
    summary.outcomes = [
        PairOutcome("a", None, None, FailureCategory.TIMEOUT, "batch expired", 1, 0, 1, None, None)
    ]
    assert summary.failures == 1 and summary.verdicts == 0
    assert summary.failures_by_category() == {"timeout": 1}


async def test_batches_started_are_counted_once(tmp_path: Path) -> None:
    from app.llm.metrics import LLMMetrics  # noqa: PLC0415

    metrics = LLMMetrics()
    tasks = pairs(4, seed=9)
    state = tmp_path / "batch.json"
    async with running_server("generic", speed=1000.0, seed=9) as url:
        provider = provider_for(url, OPENAI)
        try:
            for _ in range(2):  # the second run resumes the saved job
                await run_batch(
                    provider,
                    CONTEXT,
                    tasks,
                    state_path=state,
                    poll_interval_s=POLL,
                    metrics=metrics,
                )
        finally:
            await provider.aclose()
    labels = {"mode": "provider_batch", "provider": "openai_compatible"}
    assert metrics.value("llm_batches_started_total", labels) == 1
