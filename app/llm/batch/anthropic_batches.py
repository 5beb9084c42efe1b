"""Anthropic Message Batches: batch creation, the batch object and its status, and the
results JSONL.

* submit: ``POST /messages/batches``;
* poll: ``GET /messages/batches/{id}``; cancel: ``POST /messages/batches/{id}/cancel``;
* results: ``GET /messages/batches/{id}/results``.

Anthropic's ``ended`` becomes completed, expired or cancelled.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from app.llm.batch.jobs import BatchJob, BatchStatus
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
    provider: BaseProvider,
    custom_ids: list[str],
    bodies: list[dict[str, object]],
    common: dict[str, Any],
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
                    for cid, body in zip(custom_ids, bodies, strict=True)
                ]
            },
        ),
        _AnthropicBatch,
        "message batch",
    )
    job = BatchJob(batch_id=created.id, **common)
    return _apply_anthropic(job, created)


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
    "billing_error": FailureCategory.AUTH,
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
