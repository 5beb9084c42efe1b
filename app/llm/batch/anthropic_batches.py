"""Anthropic Message Batches: batch creation, the batch object and its status, and the
results JSONL.

* submit: ``POST /messages/batches``;
* find a batch created under an intent: ``GET /messages/batches`` (newest first), by its
  creation time and number of requests (message batches carry no metadata);
* poll: ``GET /messages/batches/{id}``; cancel: ``POST /messages/batches/{id}/cancel``;
* results: ``GET /messages/batches/{id}/results``.

Anthropic's ``ended`` becomes completed, expired or cancelled.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import Field, ValidationError

from app.llm.batch.jobs import BatchIntent, BatchJob, BatchStatus
from app.llm.batch.outcomes import CANCELLED_MESSAGE, EXPIRED_MESSAGE, _fail, _Read, _read_success
from app.llm.batch.transport import _json, _jsonl, _Loose, _send
from app.llm.dispatcher import PairOutcome
from app.llm.providers.base import BaseProvider
from app.llm.types import FailureCategory

# ---------------------------------------------------------------------------------------------
# Wire models
# ---------------------------------------------------------------------------------------------


class _AnthropicBatch(_Loose):
    id: str
    processing_status: str
    request_counts: dict[str, int] | None = None
    cancel_initiated_at: str | None = None
    results_url: str | None = None
    created_at: datetime | None = None


class _AnthropicBatchPage(_Loose):
    data: list[_AnthropicBatch] = Field(default_factory=list)
    has_more: bool = False
    last_id: str | None = None


_LIST_PAGE = 100


class _AnthropicErrorDetail(_Loose):
    type: str | None = None
    message: str | None = None


class _AnthropicErrorEnvelope(_Loose):
    type: str | None = None
    error: _AnthropicErrorDetail | None = None


class _AnthropicResult(_Loose):
    type: str
    message: Any = None
    error: _AnthropicErrorEnvelope | None = None


class _AnthropicLine(_Loose):
    custom_id: str
    result: _AnthropicResult


# ---------------------------------------------------------------------------------------------
# Submit
# ---------------------------------------------------------------------------------------------


async def _submit_anthropic(
    provider: BaseProvider, intent: BatchIntent, bodies: Sequence[dict[str, object]]
) -> BatchJob:
    """Create the message batch; the job as the provider reports it."""
    created = _json(
        await _send(
            provider,
            "POST",
            "messages/batches",
            json={
                "requests": [
                    {"custom_id": cid, "params": body}
                    for cid, body in zip(intent.custom_ids, bodies, strict=True)
                ]
            },
        ),
        _AnthropicBatch,
        "message batch",
    )
    return _apply_anthropic(intent.job(created.id), created)


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


async def _find_anthropic(
    provider: BaseProvider,
    intent: BatchIntent,
    *,
    since: datetime,
    until: datetime,
    exclude: Collection[str],
    max_pages: int,
) -> BatchJob | None:
    """The message batch most likely created under ``intent``, or None.

    A message batch carries nothing of the caller's that a list shows, so a candidate is a
    batch created between ``since`` and ``until`` with as many requests as the intent, not
    cancelled and not in ``exclude`` (batches already saved as jobs); of several, the one
    created nearest to the intent. This is a best guess, not a proof (see
    :func:`app.llm.batch.runner.find_submitted`).
    """
    want = len(intent.requests)
    since, until = _utc(since), _utc(until)
    written = _utc(intent.created_at)
    found: list[tuple[float, _AnthropicBatch]] = []
    after: str | None = None
    for _ in range(max_pages):
        params: dict[str, str | int] = {"limit": _LIST_PAGE}
        if after is not None:
            params["after_id"] = after
        page = _json(
            await _send(provider, "GET", "messages/batches", params=params),
            _AnthropicBatchPage,
            "message batch list",
        )
        for batch in page.data:
            if batch.created_at is None or batch.id in exclude:
                continue
            created = _utc(batch.created_at)
            if (
                since <= created <= until
                and batch.cancel_initiated_at is None
                and sum((batch.request_counts or {}).values()) == want
            ):
                found.append((abs((created - written).total_seconds()), batch))
        oldest = page.data[-1].created_at if page.data else None
        if not page.has_more or oldest is None or _utc(oldest) < since:
            break
        after = page.last_id or page.data[-1].id
    if not found:
        return None
    _, best = min(found, key=lambda item: item[0])
    return _apply_anthropic(intent.job(best.id), best)


# ---------------------------------------------------------------------------------------------
# Status
# ---------------------------------------------------------------------------------------------


def _apply_anthropic(job: BatchJob, batch: _AnthropicBatch) -> BatchJob:
    counts = dict(batch.request_counts or {})
    status: BatchStatus
    if batch.processing_status == "ended":
        if batch.cancel_initiated_at is not None or counts.get("canceled", 0) > 0:
            status = "cancelled"
        elif counts.get("expired", 0) > 0:
            status = "expired"
        else:
            status = "completed"
    elif batch.processing_status == "canceling":
        status = "cancelling"
    else:
        status = "in_progress"
    return job.model_copy(
        update={
            "status": status,
            "provider_status": batch.processing_status,
            "request_counts": counts,
            "updated_at": datetime.now(UTC),
        }
    )


async def _poll_anthropic(provider: BaseProvider, job: BatchJob) -> BatchJob:
    response = await _send(provider, "GET", f"messages/batches/{job.batch_id}")
    return _apply_anthropic(job, _json(response, _AnthropicBatch, "message batch"))


async def _cancel_anthropic(provider: BaseProvider, job: BatchJob) -> BatchJob:
    response = await _send(provider, "POST", f"messages/batches/{job.batch_id}/cancel")
    return _apply_anthropic(job, _json(response, _AnthropicBatch, "message batch"))


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------

_ANTHROPIC_ERROR_TYPES: dict[str, FailureCategory] = {
    "invalid_request_error": FailureCategory.BAD_REQUEST,
    "not_found_error": FailureCategory.BAD_REQUEST,
    "request_too_large": FailureCategory.BAD_REQUEST,
    "authentication_error": FailureCategory.AUTH,
    "permission_error": FailureCategory.AUTH,
    "billing_error": FailureCategory.QUOTA,
    "rate_limit_error": FailureCategory.RATE_LIMIT,
    "timeout_error": FailureCategory.TIMEOUT,
    "api_error": FailureCategory.SERVER,
    "overloaded_error": FailureCategory.SERVER,
}


async def _anthropic_results(
    provider: BaseProvider, job: BatchJob
) -> dict[str, list[PairOutcome] | _Read]:
    response = await _send(provider, "GET", f"messages/batches/{job.batch_id}/results")
    lines: dict[str, _AnthropicLine] = {}
    for raw in _jsonl(response.content):
        try:
            read = _AnthropicLine.model_validate(raw)
        except ValidationError:
            continue
        lines.setdefault(read.custom_id, read)
    results: dict[str, list[PairOutcome] | _Read] = {}
    for request in job.requests:
        line = lines.get(request.custom_id)
        if line is None:
            continue
        result = line.result
        if result.type == "succeeded":
            results[request.custom_id] = _read_success(provider, job, request, result.message, None)
        elif result.type == "expired":
            results[request.custom_id] = _fail(request, FailureCategory.TIMEOUT, EXPIRED_MESSAGE)
        elif result.type in ("canceled", "cancelled"):
            results[request.custom_id] = _fail(
                request, FailureCategory.CANCELLED, CANCELLED_MESSAGE
            )
        else:
            detail = result.error.error if result.error is not None else None
            kind = detail.type if detail is not None else None
            category = _ANTHROPIC_ERROR_TYPES.get(kind or "", FailureCategory.SERVER)
            message = (detail.message if detail is not None else None) or kind or result.type
            results[request.custom_id] = _fail(request, category, message[:300])
    return results
