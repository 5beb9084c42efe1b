"""The dispatcher against a scripted in-process provider: modes, retries, breaker, accounting."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import pytest

from app.llm.dispatcher import Dispatcher, DispatchSettings, PairOutcome
from app.llm.limits import Backoff, CircuitBreaker, TokenBucket
from app.llm.types import (
    CallOutcome,
    FailureCategory,
    ItemResult,
    PairTask,
    ProviderError,
    Usage,
)
from core.prompt import AssignmentContext
from core.verdict import ParsedVerdict, VerdictParseError

CONTEXT = AssignmentContext("Title", "Write an essay.", "Argument and language.")
FAST = Backoff(base_s=0.001, cap_s=0.01)


def tasks(n: int) -> list[PairTask]:
    # The longer text is the better one, so every verdict can be checked.
    return [PairTask(f"p{i}", "x" * (10 + i % 3), "y" * (11 + (i * 7) % 5)) for i in range(n)]


def expected_first_wins(task: PairTask) -> bool:
    return len(task.first_text) > len(task.second_text)


class ScriptedProvider:
    """Answers by text length; ``script`` says what call k does ("ok" by default)."""

    name = "scripted"
    model = "sim-test"

    def __init__(self, script: dict[int, object] | None = None, delay: float = 0.0) -> None:
        self.script = script or {}
        self.delay = delay
        self.calls: list[list[str]] = []

    async def judge(
        self, context: AssignmentContext, pairs: Sequence[PairTask], *, nonce: str
    ) -> CallOutcome:
        k = len(self.calls)
        self.calls.append([p.pair_id for p in pairs])
        if self.delay:
            await asyncio.sleep(self.delay)
        action = self.script.get(k, "ok")
        if isinstance(action, ProviderError):
            raise action
        items = []
        for place, p in enumerate(pairs):
            if action == "bad_first" and place == 0:
                err = VerdictParseError("unknown_winner", "winner 'C' is not A or B")
                items.append(ItemResult(p.pair_id, place, error=err))
                continue
            if action == "drop_last" and place == len(pairs) - 1:
                continue
            verdict = ParsedVerdict(expected_first_wins(p), 4, "longer", False)
            items.append(ItemResult(p.pair_id, place, verdict=verdict, probability_first=None))
        usage = Usage(
            input_tokens=1000 + 500 * len(pairs), cached_input_tokens=400, output_tokens=50
        )
        return CallOutcome(items, usage, latency_s=self.delay, model=self.model, request_id=f"r{k}")

    async def aclose(self) -> None:
        return None


def run(provider: ScriptedProvider, n: int, **settings: object) -> list[PairOutcome]:
    s = DispatchSettings(backoff=FAST, seed=1, **settings)  # type: ignore[arg-type]
    d = Dispatcher(provider, s, cost=lambda u: u.input_tokens * 1e-6)
    summary = asyncio.run(d.run(CONTEXT, tasks(n)))
    assert len(summary.outcomes) == n
    assert {o.pair_id for o in summary.outcomes} == {t.pair_id for t in tasks(n)}
    return summary.outcomes


def test_per_request_makes_one_call_per_pair_and_every_verdict_is_right() -> None:
    provider = ScriptedProvider()
    outcomes = run(provider, 9, mode="per_request")
    assert len(provider.calls) == 9
    by_id = {t.pair_id: t for t in tasks(9)}
    for o in outcomes:
        assert o.verdict is not None
        assert o.verdict.first_wins == expected_first_wins(by_id[o.pair_id])


def test_bundles_cut_calls_and_record_places() -> None:
    provider = ScriptedProvider()
    outcomes = run(provider, 20, mode="bundle", bundle_size=4)
    assert len(provider.calls) == 5
    assert all(o.ok and o.bundle_size == 4 for o in outcomes)
    assert {o.place_in_bundle for o in outcomes} == {0, 1, 2, 3}


def test_places_are_shuffled_by_seed() -> None:
    places = []
    for seed in range(6):
        provider = ScriptedProvider()
        d = Dispatcher(provider, DispatchSettings(bundle_size=4, seed=seed, backoff=FAST))
        summary = asyncio.run(d.run(CONTEXT, tasks(12)))
        places.append(next(o.place_in_bundle for o in summary.outcomes if o.pair_id == "p0"))
    assert len(set(places)) > 1


def test_server_errors_are_retried_until_success() -> None:
    err = ProviderError(FailureCategory.SERVER, "500 Internal Server Error", status=500)
    provider = ScriptedProvider({0: err, 1: err})
    outcomes = run(provider, 1, mode="per_request", concurrency=1)
    assert outcomes[0].ok and outcomes[0].attempts == 3
    assert len(provider.calls) == 3


def test_bad_request_is_not_retried() -> None:
    err = ProviderError(FailureCategory.BAD_REQUEST, "400: bad schema", status=400)
    provider = ScriptedProvider({0: err})
    outcomes = run(provider, 1, mode="per_request", concurrency=1)
    assert not outcomes[0].ok
    assert outcomes[0].category is FailureCategory.BAD_REQUEST
    assert "bad schema" in outcomes[0].message
    assert len(provider.calls) == 1


def test_auth_failure_fails_everything_without_more_calls() -> None:
    err = ProviderError(FailureCategory.AUTH, "401: invalid API key", status=401)
    provider = ScriptedProvider({0: err})
    outcomes = run(provider, 8, mode="bundle", bundle_size=2, concurrency=1)
    assert len(provider.calls) == 1
    assert all(o.category is FailureCategory.AUTH for o in outcomes)


def test_a_bad_item_is_requeued_alone_and_good_ones_are_kept() -> None:
    provider = ScriptedProvider({0: "bad_first", 1: "drop_last"})
    outcomes = run(provider, 8, mode="bundle", bundle_size=4, concurrency=1)
    assert all(o.ok for o in outcomes)
    singles = [c for c in provider.calls if len(c) == 1]
    assert len(singles) == 2  # the bad item and the dropped one, each alone
    assert provider.calls[0][0] in singles[0] + singles[1]


def test_attempts_are_bounded_and_failure_is_explicit() -> None:
    err = ProviderError(FailureCategory.TIMEOUT, "timed out")
    provider = ScriptedProvider({k: err for k in range(10)})
    outcomes = run(provider, 1, mode="per_request", concurrency=1, max_attempts=3)
    assert outcomes[0].category is FailureCategory.TIMEOUT
    assert outcomes[0].verdict is None and outcomes[0].attempts == 3
    assert len(provider.calls) == 3


def test_retry_after_is_honoured() -> None:
    err = ProviderError(FailureCategory.RATE_LIMIT, "429", status=429, retry_after=0.3)
    provider = ScriptedProvider({0: err})
    t0 = time.perf_counter()
    outcomes = run(provider, 1, mode="per_request", concurrency=1)
    assert outcomes[0].ok
    assert time.perf_counter() - t0 >= 0.3


def test_circuit_breaker_opens_and_closes() -> None:
    err = ProviderError(FailureCategory.SERVER, "503", status=503)
    provider = ScriptedProvider({k: err for k in range(3)})
    s = DispatchSettings(
        mode="per_request",
        concurrency=1,
        backoff=FAST,
        breaker_threshold=3,
        breaker_cooldown_s=0.2,
        max_attempts=6,
    )
    d = Dispatcher(provider, s)
    t0 = time.perf_counter()
    summary = asyncio.run(d.run(CONTEXT, tasks(1)))
    assert summary.outcomes[0].ok
    assert d.breaker.opened_count == 1
    assert d.breaker.state == "closed"
    assert time.perf_counter() - t0 >= 0.2  # the open breaker held the next call back


def test_breaker_unit_half_open_failure_reopens() -> None:
    now = [0.0]
    b = CircuitBreaker(threshold=2, cooldown_s=10.0, clock=lambda: now[0])
    b.record_failure()
    assert b.state == "closed"
    b.record_failure()
    assert b.state == "open" and b.wait_time() == pytest.approx(10.0)
    now[0] = 10.5
    assert b.state == "half_open" and b.wait_time() == 0.0
    b.before_call()
    b.record_failure()
    assert b.state == "open" and b.opened_count == 2
    now[0] = 21.0
    b.before_call()
    b.record_success()
    assert b.state == "closed"


def test_token_bucket_paces_requests() -> None:
    async def go() -> float:
        bucket = TokenBucket(rate_per_minute=600.0, capacity=1.0)  # 10 per second
        t0 = time.perf_counter()
        for _ in range(4):
            await bucket.acquire(1)
        return time.perf_counter() - t0

    assert asyncio.run(go()) >= 0.25


def test_backoff_grows_and_is_capped() -> None:
    import random  # noqa: PLC0415

    rng = random.Random(0)
    b = Backoff(base_s=1.0, cap_s=8.0)
    delays = [b.delay(n, rng) for n in range(1, 8)]
    assert all(0.5 <= d <= 8.0 for d in delays)
    assert delays[3] >= 4.0
    assert b.delay(1, rng, retry_after=5.0) == 5.0


def test_metrics_and_cost_after_a_run() -> None:
    provider = ScriptedProvider({1: "bad_first"})
    d = Dispatcher(provider, DispatchSettings(bundle_size=3, backoff=FAST), cost=lambda u: 0.001)
    summary = asyncio.run(d.run(CONTEXT, tasks(6)))
    m = d.metrics
    labels = {"mode": "bundle", "provider": "scripted", "model": "sim-test"}
    assert m.value("llm_requests_total", labels) == 6
    assert m.value("llm_calls_total", {**labels, "outcome": "ok"}) == summary.calls == 3
    assert (
        m.value(
            "llm_errors_total",
            {"provider": "scripted", "model": "sim-test", "category": "parse_error"},
        )
        == 1
    )
    tok = {"provider": "scripted", "model": "sim-test"}
    assert m.value("llm_tokens_total", {**tok, "kind": "cached_input"}) == 1200
    assert summary.cost_usd == pytest.approx(0.003)
    assert m.value("llm_cost_usd_total", tok) == pytest.approx(0.003)
    assert m.value("llm_items_per_call_count", tok) == 3


def test_results_are_reported_as_they_arrive() -> None:
    seen: list[str] = []

    async def on_result(o: PairOutcome) -> None:
        seen.append(o.pair_id)

    provider = ScriptedProvider(delay=0.01)
    d = Dispatcher(provider, DispatchSettings(mode="per_request", concurrency=2))
    asyncio.run(d.run(CONTEXT, tasks(5), on_result))
    assert sorted(seen) == sorted(t.pair_id for t in tasks(5))


def test_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="bundle_size"):
        DispatchSettings(bundle_size=11)
    with pytest.raises(ValueError, match="concurrency"):
        DispatchSettings(concurrency=0)
