"""The life of a provider batch, whatever the provider: :func:`submit`, :func:`poll`,
:func:`cancel`, :func:`fetch` / :func:`fetch_summary`, and :func:`run_batch` /
:func:`run_batch_summary` for all of it, resuming from a saved job. Each step checks that the
job belongs to the provider's batch API family and hands the wire work to
:mod:`app.llm.batch.openai_batches` or :mod:`app.llm.batch.anthropic_batches`.

A batch is never paid for twice because of a restart: with a store (:class:`JobStore`: JSON
files, or the app's database), an intent is saved before the provider is asked to create the
batch, and the job is saved right after. A restart that finds the job resumes it; one that finds
only the intent looks for the batch the provider may have created (:func:`find_submitted`) and
adopts it before submitting anything.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import secrets
import time
from collections.abc import Callable, Collection, Sequence
from datetime import UTC, datetime, timedelta
from typing import Literal, TypeVar

from app.llm.batch.anthropic_batches import (
    _anthropic_results,
    _cancel_anthropic,
    _find_anthropic,
    _poll_anthropic,
    _submit_anthropic,
)
from app.llm.batch.jobs import (
    BatchIntent,
    BatchJob,
    BatchRequest,
    BatchSummary,
    RequestUsage,
    ResultCallback,
    _custom_ids,
    _group,
    save_intent,
)
from app.llm.batch.openai_batches import (
    _cancel_openai,
    _find_openai,
    _openai_results,
    _poll_openai,
    _submit_openai,
)
from app.llm.batch.outcomes import _Read, _unprocessed
from app.llm.batch.store import FileJobStore, JobStore
from app.llm.catalogue import UnknownModelError
from app.llm.dispatcher import PairOutcome
from app.llm.metrics import LLMMetrics
from app.llm.providers.base import BaseProvider
from app.llm.quota import quota_stop
from app.llm.types import FailureCategory, PairTask, ProviderError
from app.operations.base import CancelToken, until_cancelled
from core.prompt import MAX_BUNDLE_PAIRS, AssignmentContext, safe_nonce

_MAX_POLL_ERRORS = 8

ADOPT_CLOCK_SKEW = timedelta(minutes=5)
"""How far the provider's clock may be from ours when batches are matched by creation time."""

_MAX_LIST_PAGES = 20
_NO_BATCH_LIST = frozenset({404, 405, 501})

T = TypeVar("T")

PollCallback = Callable[[BatchJob], None]
"""Hears the job after every status poll (whether or not the status changed)."""


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


def _check_saved(
    provider: BaseProvider, saved: BatchJob | BatchIntent, pairs: Sequence[PairTask]
) -> None:
    """A saved job or intent must be of this provider's family and model and for ``pairs``."""
    what = f"saved batch {saved.batch_id}" if isinstance(saved, BatchJob) else "an unsaved batch"
    if _family(provider.config.kind) != _family(saved.provider_kind):
        raise ValueError(
            f"{what} was submitted to a {saved.provider_kind} provider, not {provider.config.kind}"
        )
    if saved.model != provider.model:
        raise ValueError(f"{what} is for model {saved.model}, not {provider.model}")
    if pairs and set(saved.pair_ids) != {p.pair_id for p in pairs}:
        raise ValueError(f"{what} was submitted for other pairs")


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
    wave_key: str | None = None,
    intent_path: str | os.PathLike[str] | None = None,
    store: JobStore | None = None,
) -> BatchJob:
    """Submit ``pairs`` as one provider batch; one request per pair, or per bundle of
    ``pairs_per_request`` pairs (drawn from an order shuffled with ``seed``).

    Save the returned job at once: it is the only way back to the batch.

    With ``wave_key``, ``intent_path`` or ``store``, the batch is marked so that it can be found
    again when its job was never saved (:func:`find_submitted`): an OpenAI batch carries the
    wave key and the intent's token in its ``metadata``; with ``intent_path`` (a file) or
    ``store`` (:meth:`JobStore.save_intent`) the :class:`~app.llm.batch.jobs.BatchIntent` is
    saved before the provider is asked to create the batch. Without any of them, nothing but
    ``metadata`` is sent. The job is not saved here, not even in ``store``.

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
    intent = BatchIntent(
        wave_key=wave_key,
        provider_kind=provider.config.kind,
        provider_name=provider.name,
        model=provider.model,
        requests=[
            BatchRequest(custom_id=cid, pair_ids=[p.pair_id for p in group])
            for cid, group in zip(custom_ids, groups, strict=True)
        ],
        nonce=nonce,
        pairs_per_request=pairs_per_request,
        created_at=datetime.now(UTC),
    )
    tags = dict(metadata or {})
    if wave_key is not None or intent_path is not None or store is not None:
        tags.update(intent.metadata())
    if intent_path is not None:
        save_intent(intent, intent_path)
    if store is not None:
        store.save_intent(intent)
    if family == "openai":
        return await _submit_openai(provider, intent, bodies, tags)
    return await _submit_anthropic(provider, intent, bodies)


async def find_submitted(
    provider: BaseProvider, intent: BatchIntent, *, exclude: Collection[str] = ()
) -> BatchJob | None:
    """The job of the batch the provider created under ``intent``, or None when it created
    none (the create call never arrived, or failed).

    * OpenAI (and compatible servers that keep ``metadata``): the batch whose metadata carries
      the intent's token. Exact. A compatible server that drops metadata shows no batch as
      created, and one without ``GET /batches`` has none to show: both give None, so the wave
      is submitted again as before.
    * Anthropic: message batches carry no metadata, and the list does not show custom ids, so
      the batch is matched by what the list does show: created within
      :data:`ADOPT_CLOCK_SKEW` before the intent and the request timeout plus that skew
      after it, with as many requests as the intent, not cancelled and not in ``exclude``
      (batch ids already saved as jobs). Of several, the one created nearest to the intent.
      Residual risk: another batch of the same size created in that window from the same
      workspace, by another program or a copy of this app, can be taken for ours. The custom
      ids then match none of its results, so its answers are never read as verdicts; the
      wave's pairs fail as unanswered and our own batch, if it was created, is paid for
      without being read. And a batch the list does not show yet is missed and the wave is
      submitted again.

    Raises:
        ValueError: ``intent`` is for another provider family.
        ProviderError: the batch list could not be read (nothing should be submitted until it
            can; try again later).
    """
    family = _family(provider.config.kind)
    if family != _family(intent.provider_kind):
        raise ValueError(
            f"the batch was to be submitted to a {intent.provider_kind} provider, "
            f"not {provider.config.kind}"
        )
    since = intent.created_at - ADOPT_CLOCK_SKEW
    try:
        if family == "openai":
            return await _find_openai(provider, intent, since=since, max_pages=_MAX_LIST_PAGES)
        until = intent.created_at + timedelta(seconds=provider.config.timeout_s) + ADOPT_CLOCK_SKEW
        return await _find_anthropic(
            provider,
            intent,
            since=since,
            until=until,
            exclude=exclude,
            max_pages=_MAX_LIST_PAGES,
        )
    except ProviderError as err:
        if err.status in _NO_BATCH_LIST:
            return None
        raise


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


_cancel_at_provider = cancel  # run_batch_summary's ``cancel`` is a token, not this function


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
    store: JobStore | None = None,
    state_path: str | os.PathLike[str] | None = None,
    poll_interval_s: float = 30.0,
    on_result: ResultCallback | None = None,
    on_poll: PollCallback | None = None,
    cancel: CancelToken | None = None,
    pairs_per_request: int = 1,
    nonce: str | None = None,
    seed: int = 0,
    max_wait_s: float | None = None,
    metrics: LLMMetrics | None = None,
    wave_key: str | None = None,
) -> BatchSummary:
    """Judge ``pairs`` with one provider batch, from submission to results.

    With a ``store`` (or ``state_path``, short for ``store=FileJobStore(state_path)``): a job
    saved there is resumed (nothing is submitted again); otherwise an intent is saved before
    the batch is created and the new job right after, and after every status change. An intent
    without a job means the process stopped in between: the batch the provider may have created
    is looked for (:func:`find_submitted`, leaving out the store's
    :meth:`~app.llm.batch.store.JobStore.known_batch_ids`) and adopted, and only when there is
    none is the wave submitted. ``wave_key`` (e.g. a run and wave) marks the batch at the
    provider. The batch is polled every ``poll_interval_s`` until it has ended, and ``on_poll``
    hears the job after every status read (progress for a watchdog: a slow batch is not a
    stalled one); after ``max_wait_s`` (if given) the batch is cancelled at the provider and
    what was done is kept. ``on_result`` hears about every pair once the results are in.

    ``cancel`` stops the waiting, not the batch: once the token is set (checked before
    anything is submitted, and raced against every sleep, status read, batch list and result
    download), :class:`~app.operations.base.OperationCancelledError` is raised at once. The
    provider batch keeps running and its saved job stays in ``store``, so a later call with the
    same store fetches it by id. The create call itself is never interrupted.

    Raises:
        ValueError: a saved job or intent of another provider or model, or for other pairs;
            both ``store`` and ``state_path`` given.
        ProviderError: submission failed, the provider's batches could not be listed to look
            for an unsaved one, or the status could not be read :data:`_MAX_POLL_ERRORS` times
            in a row (the saved job or intent still allows a resume).
        OperationCancelledError: ``cancel`` was set.
        QuotaExhaustedError: the provider refused the batch for want of credit or quota (an
            :class:`~app.operations.base.OperationCancelledError`, so a run pauses).
    """
    if store is not None and state_path is not None:
        raise ValueError("give a store or a state path, not both")
    if store is None and state_path is not None:
        store = FileJobStore(state_path)
    if cancel is not None:
        cancel.raise_if_cancelled()
    job: BatchJob | None = None
    if store is not None:
        job = store.load_job()
        if job is not None:
            _check_saved(provider, job, pairs)
        else:
            intent = store.load_intent()
            if intent is not None:
                _check_saved(provider, intent, pairs)
                job = await until_cancelled(
                    find_submitted(provider, intent, exclude=store.known_batch_ids()), cancel
                )
                if job is not None:
                    store.save_job(job)
    if job is None:
        if cancel is not None:
            cancel.raise_if_cancelled()
        if nonce is None:
            texts = [t for p in pairs for t in (p.first_text, p.second_text)]
            nonce = safe_nonce(texts, secrets.token_bytes(16))
        try:
            job = await submit(
                provider,
                context,
                pairs,
                nonce=nonce,
                pairs_per_request=pairs_per_request,
                seed=seed,
                wave_key=wave_key,
                store=store,
            )
        except ProviderError as err:
            if err.category is FailureCategory.QUOTA:
                # No batch was created: the saved intent finds none on resume and submits.
                raise quota_stop(err, provider.config.kind) from err
            raise
        if metrics is not None:
            metrics.batches_started.labels("provider_batch", provider.name).inc()
            metrics.requests.labels("provider_batch", provider.name, provider.model).inc(len(pairs))
        if store is not None:
            store.save_job(job)
    if store is not None:
        store.clear_intent()  # the saved job has taken its place

    started = time.monotonic()
    errors = 0
    cancel_sent = False
    first = True
    while not job.ended:
        if not first:
            await until_cancelled(asyncio.sleep(poll_interval_s), cancel)
        first = False
        if max_wait_s is not None and not cancel_sent and time.monotonic() - started > max_wait_s:
            try:
                job = await _cancel_at_provider(provider, job)
                cancel_sent = True
            except ProviderError as err:
                if not err.category.retryable:
                    raise
        try:
            updated = await until_cancelled(poll(provider, job), cancel)
        except ProviderError as err:
            errors += 1
            if err.category is FailureCategory.QUOTA:
                raise quota_stop(err, provider.config.kind) from err
            if not err.category.retryable or errors >= _MAX_POLL_ERRORS:
                raise
            if err.retry_after is not None:
                await until_cancelled(asyncio.sleep(min(err.retry_after, 60.0)), cancel)
            continue
        errors = 0
        changed = (updated.status, updated.request_counts) != (job.status, job.request_counts)
        job = updated
        if store is not None and changed:
            store.save_job(job)
        if on_poll is not None:
            on_poll(job)

    summary = await until_cancelled(fetch_summary(provider, job), cancel)
    job = job.model_copy(update={"fetched_at": datetime.now(UTC)})
    summary.job = job
    if store is not None:
        store.save_job(job)
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
    wave_key: str | None = None,
    store: JobStore | None = None,
    on_poll: PollCallback | None = None,
    cancel: CancelToken | None = None,
) -> list[PairOutcome]:
    """One outcome per pair from a provider batch (see :func:`run_batch_summary`)."""
    summary = await run_batch_summary(
        provider,
        context,
        pairs,
        store=store,
        state_path=state_path,
        poll_interval_s=poll_interval_s,
        on_result=on_result,
        on_poll=on_poll,
        cancel=cancel,
        pairs_per_request=pairs_per_request,
        nonce=nonce,
        seed=seed,
        max_wait_s=max_wait_s,
        metrics=metrics,
        wave_key=wave_key,
    )
    return summary.outcomes
