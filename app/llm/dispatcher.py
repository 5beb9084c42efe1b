"""Send pairs to a provider: one per call or bundled, concurrent, rate-limited, retried.

Contract
--------
:meth:`Dispatcher.run` takes pairs (texts already in display order) and reports every pair
exactly once through ``on_result``: with a verdict, or with an explicit failure and its
category. Nothing is invented: a verdict exists only if the provider's answer for that pair
parsed strictly.

* ``per_request``: one pair per call. ``bundle``: up to K pairs per call (K = 1…10). Pairs are
  shuffled (seeded) before they are grouped, so a pair's place inside a bundle is never
  systematic; the place is recorded with each verdict. Pairs that share essays (planned as
  groups by :mod:`core.groups`) are kept in one bundle (:mod:`app.llm.packing`), where each
  essay is shown once.
* A call that fails as a whole is retried for all its pairs when the failure is retryable
  (rate limit, timeout, server, network, parse error, truncation), with exponential back-off and
  jitter that honours ``Retry-After``; never for auth or bad requests. An authentication failure
  ends the dispatch: every remaining pair fails with ``auth``.
* A quota answer (out of credit, spend limit, billing off: ``FailureCategory.QUOTA``) stops the
  dispatch at once: no call is started after it, calls already in flight are awaited and
  reported, and :meth:`Dispatcher.run` then raises
  :class:`~app.llm.types.QuotaExhaustedError` (with what to do). The pairs not yet answered are
  not reported: they were never judged, so a paused run sends them again once resumed.
* In a good answer, a bad or missing item is re-queued *alone* (a single-pair call); the good
  items are kept.
* A circuit breaker opens after consecutive failed calls and pauses all workers until a trial
  call succeeds.
* Requests-per-minute and tokens-per-minute buckets and a concurrency limit bound the load.
"""

from __future__ import annotations

import asyncio
import inspect
import random
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from app.llm.limits import Backoff, CircuitBreaker, TokenBucket
from app.llm.metrics import LLMMetrics
from app.llm.packing import take_bundle
from app.llm.quota import quota_stop
from app.llm.types import (
    CallOutcome,
    FailureCategory,
    PairTask,
    Provider,
    ProviderError,
    QuotaExhaustedError,
    Usage,
)
from core.prompt import (
    DEFAULT_BUNDLE_PAIRS,
    MAX_BUNDLE_PAIRS,
    AssignmentContext,
    safe_nonce,
)
from core.verdict import ParsedVerdict

Mode = Literal["per_request", "bundle"]

#: Failures that count towards opening the circuit breaker.
BREAKER_CATEGORIES = {FailureCategory.SERVER, FailureCategory.NETWORK, FailureCategory.TIMEOUT}


@dataclass(frozen=True)
class DispatchSettings:
    """How pairs are sent. See the module docstring."""

    mode: Mode = "bundle"
    bundle_size: int = DEFAULT_BUNDLE_PAIRS
    concurrency: int = 8
    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None
    max_attempts: int = 4
    backoff: Backoff = field(default_factory=Backoff)
    breaker_threshold: int = 5
    breaker_cooldown_s: float = 30.0
    seed: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.bundle_size <= MAX_BUNDLE_PAIRS:
            raise ValueError(f"bundle_size must be 1–{MAX_BUNDLE_PAIRS}")
        if self.concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")

    @property
    def pairs_per_call(self) -> int:
        return 1 if self.mode == "per_request" else self.bundle_size


@dataclass(frozen=True)
class PairOutcome:
    """The final word on one pair: a verdict, or a failure with its category."""

    pair_id: str
    verdict: ParsedVerdict | None
    probability_first: float | None
    category: FailureCategory | None
    message: str
    attempts: int
    place_in_bundle: int | None
    bundle_size: int | None
    request_id: str | None
    latency_s: float | None

    @property
    def ok(self) -> bool:
        return self.verdict is not None


@dataclass
class DispatchSummary:
    """Totals of one dispatch."""

    calls: int = 0
    failed_calls: int = 0
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0
    wall_s: float = 0.0
    call_latencies: list[float] = field(default_factory=list)
    outcomes: list[PairOutcome] = field(default_factory=list)

    @property
    def verdicts(self) -> int:
        return sum(1 for o in self.outcomes if o.ok)

    @property
    def failures(self) -> int:
        return sum(1 for o in self.outcomes if not o.ok)


@dataclass
class _Job:
    task: PairTask
    attempts: int = 0
    alone: bool = False
    queued_at: float = 0.0


ResultCallback = Callable[[PairOutcome], Awaitable[None] | None]


class Dispatcher:
    """Dispatch pairs to one provider (see the module docstring)."""

    def __init__(
        self,
        provider: Provider,
        settings: DispatchSettings | None = None,
        *,
        metrics: LLMMetrics | None = None,
        cost: Callable[[Usage], float] | None = None,
        provider_label: str | None = None,
        on_stop: Callable[[QuotaExhaustedError], None] | None = None,
    ) -> None:
        """``on_stop`` hears about a quota stop before :meth:`run` raises it."""
        self.provider = provider
        self.settings = settings or DispatchSettings()
        self.metrics = metrics or LLMMetrics()
        self.cost = cost
        self.label = provider_label or provider.name
        self.on_stop = on_stop
        self.stopped: QuotaExhaustedError | None = None
        """The quota stop of the last :meth:`run`, if it ended with one."""
        self.breaker = CircuitBreaker(
            self.settings.breaker_threshold, self.settings.breaker_cooldown_s
        )
        self._rpm = (
            TokenBucket(self.settings.requests_per_minute)
            if self.settings.requests_per_minute
            else None
        )
        self._tpm = (
            TokenBucket(self.settings.tokens_per_minute)
            if self.settings.tokens_per_minute
            else None
        )

    async def run(
        self,
        context: AssignmentContext,
        pairs: Sequence[PairTask],
        on_result: ResultCallback | None = None,
        *,
        nonce_entropy: bytes | None = None,
    ) -> DispatchSummary:
        """Judge every pair; ``on_result`` hears about each pair the moment it is final.

        The essay fences' nonce comes from fresh random bytes unless ``nonce_entropy`` is given
        (tests use it to make requests, and so a seeded simulated judge, reproducible).
        """
        s = self.settings
        rng = random.Random(s.seed)
        summary = DispatchSummary()
        started = time.perf_counter()
        if not pairs:
            return summary
        texts = [t for p in pairs for t in (p.first_text, p.second_text)]
        nonce = safe_nonce(texts, nonce_entropy or secrets.token_bytes(16))
        loop = asyncio.get_running_loop()
        order = list(pairs)
        rng.shuffle(order)
        bundled: deque[_Job] = deque()
        alone: asyncio.Queue[_Job] = asyncio.Queue()
        for task in order:
            bundled.append(_Job(task, queued_at=loop.time()))
        state = {"unfinished": len(order), "auth_failed": False}
        auth_message = [""]
        quota: list[ProviderError] = []
        self.stopped = None
        mode = s.mode
        model = self.provider.model
        self.metrics.requests.labels(mode, self.label, model).inc(len(order))
        retry_tasks: set[asyncio.Task[None]] = set()

        async def finish(job: _Job, outcome: PairOutcome) -> None:
            state["unfinished"] -= 1
            summary.outcomes.append(outcome)
            if on_result is not None:
                res = on_result(outcome)
                if inspect.isawaitable(res):
                    await res

        async def fail(job: _Job, category: FailureCategory, message: str) -> None:
            await finish(
                job,
                PairOutcome(
                    job.task.pair_id,
                    None,
                    None,
                    category,
                    message,
                    job.attempts,
                    None,
                    None,
                    None,
                    None,
                ),
            )

        async def retry_later(job: _Job, delay: float, single: bool) -> None:
            async def later() -> None:
                await asyncio.sleep(delay)
                job.queued_at = loop.time()
                if single or job.alone:
                    alone.put_nowait(job)
                else:
                    bundled.append(job)

            t = asyncio.create_task(later())
            retry_tasks.add(t)
            t.add_done_callback(retry_tasks.discard)

        async def handle_failure(
            jobs: list[_Job], category: FailureCategory, message: str, retry_after: float | None
        ) -> None:
            for job in jobs:
                job.attempts += 1
                if category is FailureCategory.QUOTA:
                    continue  # not judged: left for the run to send again once resumed
                if (
                    category.retryable
                    and job.attempts < s.max_attempts
                    and not state["auth_failed"]
                    and not quota
                ):
                    delay = s.backoff.delay(job.attempts, rng, retry_after)
                    await retry_later(job, delay, single=False)
                else:
                    await fail(job, category, message)

        async def take() -> list[_Job] | None:
            while state["unfinished"] > 0:
                if state["auth_failed"] or quota:
                    return None
                if not alone.empty():
                    return [alone.get_nowait()]
                if bundled:
                    return take_bundle(bundled, s.pairs_per_call, lambda job: job.task)
                await asyncio.sleep(0.01)
            return None

        async def worker() -> None:
            while True:
                jobs = await take()
                if jobs is None:
                    return
                wait = self.breaker.wait_time()
                while wait > 0:
                    self.metrics.circuit_open.labels(self.label).set(1)
                    await asyncio.sleep(wait)
                    wait = self.breaker.wait_time()
                self.metrics.circuit_open.labels(self.label).set(0)
                if self._rpm is not None:
                    await self._rpm.acquire(1)
                if self._tpm is not None:
                    await self._tpm.acquire(_estimate_tokens(jobs))
                now = loop.time()
                for job in jobs:
                    self.metrics.queue_wait.labels(self.label).observe(
                        max(0.0, now - job.queued_at)
                    )
                if quota or state["auth_failed"]:
                    return  # stopped while this worker waited: nothing more is sent
                self.breaker.before_call()
                tasks = [j.task for j in jobs]
                try:
                    outcome = await self.provider.judge(context, tasks, nonce=nonce)
                except ProviderError as err:
                    summary.calls += 1
                    summary.failed_calls += 1
                    self.metrics.calls.labels(mode, self.label, model, "failed").inc()
                    self.metrics.errors.labels(self.label, model, str(err.category)).inc()
                    if err.category in BREAKER_CATEGORIES:
                        self.breaker.record_failure()
                    if err.category is FailureCategory.AUTH:
                        state["auth_failed"] = True
                        auth_message[0] = err.message
                    if err.category is FailureCategory.QUOTA and not quota:
                        quota.append(err)
                    await handle_failure(jobs, err.category, err.message, err.retry_after)
                    continue
                self.breaker.record_success()
                await handle_success(jobs, outcome)

        async def handle_success(jobs: list[_Job], outcome: CallOutcome) -> None:
            summary.calls += 1
            summary.usage = summary.usage + outcome.usage
            summary.call_latencies.append(outcome.latency_s)
            call_cost = self.cost(outcome.usage) if self.cost is not None else 0.0
            summary.cost_usd += call_cost
            self.metrics.calls.labels(mode, self.label, model, "ok").inc()
            self.metrics.items_per_call.labels(self.label, model).observe(len(jobs))
            u = outcome.usage
            self.metrics.tokens.labels(self.label, model, "input").inc(u.input_tokens)
            self.metrics.tokens.labels(self.label, model, "cached_input").inc(u.cached_input_tokens)
            self.metrics.tokens.labels(self.label, model, "output").inc(u.output_tokens)
            self.metrics.cost.labels(self.label, model).inc(call_cost)
            by_id = {item.pair_id: item for item in outcome.items}
            for job in jobs:
                item = by_id.get(job.task.pair_id)
                if item is not None and item.verdict is not None:
                    job.attempts += 1
                    await finish(
                        job,
                        PairOutcome(
                            job.task.pair_id,
                            item.verdict,
                            item.probability_first,
                            None,
                            "",
                            job.attempts,
                            item.place_in_bundle,
                            len(jobs),
                            outcome.request_id,
                            outcome.latency_s,
                        ),
                    )
                    continue
                category = FailureCategory.PARSE_ERROR
                message = "no verdict for this pair in the answer"
                if item is not None:
                    category = item.category or FailureCategory.PARSE_ERROR
                    if item.error is not None:
                        message = str(item.error)
                self.metrics.errors.labels(self.label, model, str(category)).inc()
                job.attempts += 1
                job.alone = True
                if job.attempts < s.max_attempts:
                    await retry_later(job, 0.0, single=True)
                else:
                    await fail(job, category, message)

        workers = [asyncio.create_task(worker()) for _ in range(s.concurrency)]
        try:
            await asyncio.gather(*workers)
        finally:
            for t in list(retry_tasks):
                t.cancel()
        summary.wall_s = time.perf_counter() - started
        if quota:
            kind = getattr(getattr(self.provider, "config", None), "kind", None)
            stop = quota_stop(quota[0], kind)
            self.stopped = stop
            if self.on_stop is not None:
                self.on_stop(stop)
            raise stop
        # After an authentication failure nothing else is sent: every pair still open fails.
        done = {o.pair_id for o in summary.outcomes}
        for task in order:
            if task.pair_id not in done:
                await fail(_Job(task), FailureCategory.AUTH, auth_message[0] or "not sent")
        summary.wall_s = time.perf_counter() - started
        return summary


def _estimate_tokens(jobs: list[_Job]) -> float:
    """Rough tokens of a call (characters / 4 plus the fixed prompt and the answer)."""
    chars = sum(len(j.task.first_text) + len(j.task.second_text) for j in jobs)
    return chars / 4.0 + 600.0 + 120.0 * len(jobs)
