"""The life of a provider batch, whatever the provider: :func:`submit`, :func:`poll`,
:func:`cancel`, :func:`fetch` / :func:`fetch_summary`, and :func:`run_batch` /
:func:`run_batch_summary` for all of it, resuming from a saved job. Each step checks that the
job belongs to the provider's batch API family and hands the wire work to
:mod:`app.llm.batch.openai_batches` or :mod:`app.llm.batch.anthropic_batches`."""

from __future__ import annotations

import asyncio
import inspect
import os
import secrets
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from app.llm.batch.anthropic_batches import (
    _anthropic_results,
    _cancel_anthropic,
    _poll_anthropic,
    _submit_anthropic,
)
from app.llm.batch.jobs import (
    BatchJob,
    BatchRequest,
    BatchSummary,
    RequestUsage,
    ResultCallback,
    _custom_ids,
    _group,
    load_state,
    save_state,
)
from app.llm.batch.openai_batches import (
    _cancel_openai,
    _openai_results,
    _poll_openai,
    _submit_openai,
)
from app.llm.batch.outcomes import _Read, _unprocessed
from app.llm.catalogue import UnknownModelError
from app.llm.dispatcher import PairOutcome
from app.llm.metrics import LLMMetrics
from app.llm.providers.base import BaseProvider
from app.llm.types import FailureCategory, PairTask, ProviderError
from core.prompt import MAX_BUNDLE_PAIRS, AssignmentContext, safe_nonce

_MAX_POLL_ERRORS = 8


def _family(kind: str) -> Literal["openai", "anthropic"]:
    if kind in ("openai", "openai_compatible"):
        return "openai"
    if kind == "anthropic":
        return "anthropic"
    raise ProviderError(
        FailureCategory.BAD_REQUEST, f"provider kind {kind!r} has no batch API in this app"
    )


def _check_provider(provider: BaseProvider, job: BatchJob) -> Literal["openai", "anthropic"]:
    family = _family(provider.config.kind)
    if family != _family(job.provider_kind):
        raise ValueError(
            f"batch {job.batch_id} was submitted to a {job.provider_kind} provider, "
            f"not {provider.config.kind}"
        )
    return family


# ---------------------------------------------------------------------------------------------
# Submit, poll and cancel
# ---------------------------------------------------------------------------------------------


async def submit(
    provider: BaseProvider,
    context: AssignmentContext,
    pairs: Sequence[PairTask],
    *,
    nonce: str,
    pairs_per_request: int = 1,
    seed: int = 0,
    metadata: dict[str, str] | None = None,
) -> BatchJob:
    """Submit ``pairs`` as one provider batch; one request per pair, or per bundle of
    ``pairs_per_request`` pairs (drawn from an order shuffled with ``seed``).

    Save the returned job at once: it is the only way back to the batch.

    Raises:
        ValueError: no pairs, repeated pair ids or a bad ``pairs_per_request``.
        ProviderError: a provider kind without a batch API, a prompt that cannot be rendered,
            or a failed upload or creation (nothing is retried here, so that a batch is never
            created twice).
    """
    family = _family(provider.config.kind)
    if not pairs:
        raise ValueError("a batch needs at least one pair")
    if not 1 <= pairs_per_request <= MAX_BUNDLE_PAIRS:
        raise ValueError(f"pairs_per_request must be 1–{MAX_BUNDLE_PAIRS}")
    ids = [p.pair_id for p in pairs]
    if len(set(ids)) != len(ids):
        raise ValueError("pair ids must be unique within a batch")
    groups = _group(pairs, pairs_per_request, seed)
    custom_ids = _custom_ids([[p.pair_id for p in g] for g in groups])
    bodies = [provider.build_batch_body(context, group, nonce) for group in groups]
    requests = [
        BatchRequest(custom_id=cid, pair_ids=[p.pair_id for p in group])
        for cid, group in zip(custom_ids, groups, strict=True)
    ]
    common: dict[str, Any] = {
        "provider_kind": provider.config.kind,
        "provider_name": provider.name,
        "model": provider.model,
        "requests": requests,
        "nonce": nonce,
        "pairs_per_request": pairs_per_request,
        "submitted_at": datetime.now(UTC),
        "updated_at": datetime.now(UTC),
    }
    if family == "openai":
        return await _submit_openai(provider, custom_ids, bodies, common, metadata)
    return await _submit_anthropic(provider, custom_ids, bodies, common)


async def poll(provider: BaseProvider, job: BatchJob) -> BatchJob:
    """The job with its status, request counts and result files as the provider now reports.

    Raises:
        ProviderError: when the status cannot be read (the job is unchanged; poll again).
    """
    if _check_provider(provider, job) == "openai":
        return await _poll_openai(provider, job)
    return await _poll_anthropic(provider, job)


async def cancel(provider: BaseProvider, job: BatchJob) -> BatchJob:
    """Ask the provider to cancel the batch; returns the job with the status it reports
    (``cancelling`` until the provider has stopped). Cancelling a batch that has already ended
    changes nothing and returns its current status. What was done before the cancel is still
    fetched; the rest fails with "batch cancelled"."""
    family = _check_provider(provider, job)
    if job.ended:
        return job
    try:
        if family == "openai":
            return await _cancel_openai(provider, job)
        return await _cancel_anthropic(provider, job)
    except ProviderError as err:
        if err.status == 409:  # ended meanwhile
            return await poll(provider, job)
        raise


# ---------------------------------------------------------------------------------------------
# Fetch
# ---------------------------------------------------------------------------------------------


async def fetch_summary(provider: BaseProvider, job: BatchJob) -> BatchSummary:
    """Download the results of an ended batch: one outcome per submitted pair, in submission
    order, plus tokens and batch-priced cost per answered request.

    Raises:
        ValueError: when the batch has not ended (poll first) or belongs to another provider.
        ProviderError: when the results cannot be downloaded.
    """
    family = _check_provider(provider, job)
    if not job.ended:
        raise ValueError(f"batch {job.batch_id} has not ended (status {job.status})")
    if job.status == "failed":
        results: dict[str, list[PairOutcome] | _Read] = {}
    elif family == "openai":
        results = await _openai_results(provider, job)
    else:
        results = await _anthropic_results(provider, job)
    summary = BatchSummary(job=job)
    for request in job.requests:
        found = results.get(request.custom_id)
        if found is None:
            summary.outcomes.extend(_unprocessed(job, request))
            continue
        if isinstance(found, list):
            summary.outcomes.extend(found)
            continue
        summary.outcomes.extend(found.outcomes)
        if found.usage is None:
            continue
        cost: float | None
        try:
            cost = provider.catalogue.cost_usd(job.model, found.usage, batch=True)
        except (UnknownModelError, ValueError):
            cost = None
            summary.priced = False
        summary.requests.append(
            RequestUsage(request.custom_id, tuple(request.pair_ids), found.usage, cost)
        )
        summary.usage = summary.usage + found.usage
        summary.cost_usd += cost or 0.0
    return summary


async def fetch(provider: BaseProvider, job: BatchJob) -> list[PairOutcome]:
    """One outcome per submitted pair (see :func:`fetch_summary`)."""
    return (await fetch_summary(provider, job)).outcomes


# ---------------------------------------------------------------------------------------------
# The whole run
# ---------------------------------------------------------------------------------------------


async def run_batch_summary(
    provider: BaseProvider,
    context: AssignmentContext,
    pairs: Sequence[PairTask],
    *,
    state_path: str | os.PathLike[str] | None = None,
    poll_interval_s: float = 30.0,
    on_result: ResultCallback | None = None,
    pairs_per_request: int = 1,
    nonce: str | None = None,
    seed: int = 0,
    max_wait_s: float | None = None,
    metrics: LLMMetrics | None = None,
) -> BatchSummary:
    """Judge ``pairs`` with one provider batch, from submission to results.

    With ``state_path``: a job saved there is resumed (nothing is submitted again); otherwise
    the new job is saved there right after submission and after every status change. The batch
    is polled every ``poll_interval_s`` until it has ended; after ``max_wait_s`` (if given) it is
    cancelled and what was done is kept. ``on_result`` hears about every pair once the results
    are in.

    Raises:
        ValueError: a saved job of another provider or model, or for other pairs.
        ProviderError: submission failed, or the status could not be read
            :data:`_MAX_POLL_ERRORS` times in a row (the saved job still allows a resume).
    """
    path = Path(state_path) if state_path is not None else None
    job: BatchJob | None = None
    if path is not None and path.exists():
        job = load_state(path)
        _check_provider(provider, job)
        if job.model != provider.model:
            raise ValueError(
                f"saved batch {job.batch_id} is for model {job.model}, not {provider.model}"
            )
        if pairs and set(job.pair_ids) != {p.pair_id for p in pairs}:
            raise ValueError(f"saved batch {job.batch_id} was submitted for other pairs")
    if job is None:
        if nonce is None:
            texts = [t for p in pairs for t in (p.first_text, p.second_text)]
            nonce = safe_nonce(texts, secrets.token_bytes(16))
        job = await submit(
            provider,
            context,
            pairs,
            nonce=nonce,
            pairs_per_request=pairs_per_request,
            seed=seed,
        )
        if metrics is not None:
            metrics.batches_started.labels("provider_batch", provider.name).inc()
            metrics.requests.labels("provider_batch", provider.name, provider.model).inc(len(pairs))
        if path is not None:
            save_state(job, path)

    started = time.monotonic()
    errors = 0
    cancel_sent = False
    first = True
    while not job.ended:
        if not first:
            await asyncio.sleep(poll_interval_s)
        first = False
        if max_wait_s is not None and not cancel_sent and time.monotonic() - started > max_wait_s:
            try:
                job = await cancel(provider, job)
                cancel_sent = True
            except ProviderError as err:
                if not err.category.retryable:
                    raise
        try:
            updated = await poll(provider, job)
        except ProviderError as err:
            errors += 1
            if not err.category.retryable or errors >= _MAX_POLL_ERRORS:
                raise
            if err.retry_after is not None:
                await asyncio.sleep(min(err.retry_after, 60.0))
            continue
        errors = 0
        changed = (updated.status, updated.request_counts) != (job.status, job.request_counts)
        job = updated
        if path is not None and changed:
            save_state(job, path)

    summary = await fetch_summary(provider, job)
    job = job.model_copy(update={"fetched_at": datetime.now(UTC)})
    summary.job = job
    if path is not None:
        save_state(job, path)
    if on_result is not None:
        for outcome in summary.outcomes:
            res = on_result(outcome)
            if inspect.isawaitable(res):
                await res
    return summary


async def run_batch(
    provider: BaseProvider,
    context: AssignmentContext,
    pairs: Sequence[PairTask],
    *,
    state_path: str | os.PathLike[str] | None = None,
    poll_interval_s: float = 30.0,
    on_result: ResultCallback | None = None,
    pairs_per_request: int = 1,
    nonce: str | None = None,
    seed: int = 0,
    max_wait_s: float | None = None,
    metrics: LLMMetrics | None = None,
) -> list[PairOutcome]:
    """One outcome per pair from a provider batch (see :func:`run_batch_summary`)."""
    summary = await run_batch_summary(
        provider,
        context,
        pairs,
        state_path=state_path,
        poll_interval_s=poll_interval_s,
        on_result=on_result,
        pairs_per_request=pairs_per_request,
        nonce=nonce,
        seed=seed,
        max_wait_s=max_wait_s,
        metrics=metrics,
    )
    return summary.outcomes
