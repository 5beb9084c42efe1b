"""The OpenAI Batch API (also served by OpenAI-compatible servers): the JSONL upload and
batch creation, the batch object and its status, and the output and error files.

* submit: ``POST /files`` (``purpose=batch``), then ``POST /batches`` (endpoint
  ``/v1/chat/completions``, completion window ``24h``, the intent's token in ``metadata``);
* find a batch created under an intent: ``GET /batches`` (newest first), by its ``metadata``;
* poll: ``GET /batches/{id}``; cancel: ``POST /batches/{id}/cancel``;
* results: ``GET /files/{id}/content`` of the output file and of the error file.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import Field, ValidationError

from app.llm.batch.jobs import BatchIntent, BatchJob, BatchStatus
from app.llm.batch.outcomes import CANCELLED_MESSAGE, EXPIRED_MESSAGE, _fail, _Read, _read_success
from app.llm.batch.transport import _json, _jsonl, _Loose, _send
from app.llm.dispatcher import PairOutcome
from app.llm.providers.base import BaseProvider, error_from_response
from app.llm.types import FailureCategory

OPENAI_BATCH_ENDPOINT = "/v1/chat/completions"
"""The endpoint every OpenAI batch request is sent to."""

COMPLETION_WINDOW = "24h"

_LIST_PAGE = 100  # the largest page the batch list gives


# ---------------------------------------------------------------------------------------------
# Wire models
# ---------------------------------------------------------------------------------------------


class _OpenAIFile(_Loose):
    id: str


class _OpenAIBatchError(_Loose):
    code: str | None = None
    message: str | None = None
    line: int | None = None


class _OpenAIBatchErrors(_Loose):
    data: list[_OpenAIBatchError] = Field(default_factory=list)


class _OpenAIBatch(_Loose):
    id: str
    status: str
    input_file_id: str | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    errors: _OpenAIBatchErrors | None = None
    request_counts: dict[str, int] | None = None
    created_at: int | None = None
    metadata: dict[str, Any] | None = None


class _OpenAIBatchPage(_Loose):
    data: list[_OpenAIBatch] = Field(default_factory=list)
    has_more: bool = False
    last_id: str | None = None


class _OpenAILineResponse(_Loose):
    status_code: int
    request_id: str | None = None
    body: Any = None


class _OpenAILineError(_Loose):
    code: str | None = None
    message: str | None = None


class _OpenAILine(_Loose):
    custom_id: str
    response: _OpenAILineResponse | None = None
    error: _OpenAILineError | None = None


# ---------------------------------------------------------------------------------------------
# Submit
# ---------------------------------------------------------------------------------------------


async def _submit_openai(
    provider: BaseProvider,
    intent: BatchIntent,
    bodies: Sequence[dict[str, object]],
    metadata: dict[str, str] | None,
) -> BatchJob:
    """Upload the requests as JSONL and create the batch; the job as the provider reports it."""
    lines = [
        json.dumps(
            {"custom_id": cid, "method": "POST", "url": OPENAI_BATCH_ENDPOINT, "body": body},
            ensure_ascii=False,
            separators=(",", ":"),
        )
        for cid, body in zip(intent.custom_ids, bodies, strict=True)
    ]
    data = ("\n".join(lines) + "\n").encode("utf-8")
    uploaded = _json(
        await _send(
            provider,
            "POST",
            "files",
            data={"purpose": "batch"},
            files={"file": ("batch.jsonl", data, "application/jsonl")},
        ),
        _OpenAIFile,
        "file upload",
    )
    created_body: dict[str, Any] = {
        "input_file_id": uploaded.id,
        "endpoint": OPENAI_BATCH_ENDPOINT,
        "completion_window": COMPLETION_WINDOW,
    }
    if metadata:
        created_body["metadata"] = metadata
    batch = _json(
        await _send(provider, "POST", "batches", json=created_body), _OpenAIBatch, "batch"
    )
    return _apply_openai(intent.job(batch.id, input_file_id=uploaded.id), batch)


async def _find_openai(
    provider: BaseProvider, intent: BatchIntent, *, since: datetime, max_pages: int
) -> BatchJob | None:
    """The batch whose metadata carries the intent's token (and wave key), looked for among
    the batches created since ``since`` (the list is newest first); None when there is none.
    Exact: the token is new for every submission."""
    after: str | None = None
    for _ in range(max_pages):
        params: dict[str, str | int] = {"limit": _LIST_PAGE}
        if after is not None:
            params["after"] = after
        page = _json(
            await _send(provider, "GET", "batches", params=params), _OpenAIBatchPage, "batch list"
        )
        for batch in page.data:
            if intent.marks(batch.metadata):
                job = intent.job(batch.id, input_file_id=batch.input_file_id)
                return _apply_openai(job, batch)
        if not page.has_more or not page.data:
            return None
        oldest = page.data[-1].created_at
        if oldest is not None and oldest < since.timestamp():
            return None
        after = page.last_id or page.data[-1].id
    return None


# ---------------------------------------------------------------------------------------------
# Status
# ---------------------------------------------------------------------------------------------

_OPENAI_STATUS: dict[str, BatchStatus] = {
    "validating": "validating",
    "in_progress": "in_progress",
    "finalizing": "finalizing",
    "cancelling": "cancelling",
    "completed": "completed",
    "expired": "expired",
    "cancelled": "cancelled",
    "failed": "failed",
}


def _apply_openai(job: BatchJob, batch: _OpenAIBatch) -> BatchJob:
    status = _OPENAI_STATUS.get(batch.status, "in_progress")
    message = None
    if batch.errors is not None and batch.errors.data:
        message = "; ".join(
            f"{e.code or 'error'}: {e.message or ''}".strip()
            + (f" (line {e.line})" if e.line else "")
            for e in batch.errors.data[:5]
        )
    return job.model_copy(
        update={
            "status": status,
            "provider_status": batch.status,
            "request_counts": dict(batch.request_counts or {}),
            "output_file_id": batch.output_file_id,
            "error_file_id": batch.error_file_id,
            "error_message": message or job.error_message,
            "updated_at": datetime.now(UTC),
        }
    )


async def _poll_openai(provider: BaseProvider, job: BatchJob) -> BatchJob:
    response = await _send(provider, "GET", f"batches/{job.batch_id}")
    return _apply_openai(job, _json(response, _OpenAIBatch, "batch"))


async def _cancel_openai(provider: BaseProvider, job: BatchJob) -> BatchJob:
    response = await _send(provider, "POST", f"batches/{job.batch_id}/cancel")
    return _apply_openai(job, _json(response, _OpenAIBatch, "batch"))


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------


def _openai_line_error(code: str | None, message: str | None) -> tuple[FailureCategory, str]:
    text = (message or code or "error")[:300]
    if code == "batch_expired":
        return FailureCategory.TIMEOUT, EXPIRED_MESSAGE
    if code in ("batch_cancelled", "batch_canceled"):
        return FailureCategory.CANCELLED, CANCELLED_MESSAGE
    if code in ("insufficient_quota", "billing_hard_limit_reached", "billing_not_active"):
        return FailureCategory.QUOTA, text
    if code and (
        code.startswith("invalid") or code in ("missing_custom_id", "duplicate_custom_id")
    ):
        return FailureCategory.BAD_REQUEST, text
    return FailureCategory.SERVER, text


async def _openai_results(
    provider: BaseProvider, job: BatchJob
) -> dict[str, list[PairOutcome] | _Read]:
    lines: dict[str, _OpenAILine] = {}
    for file_id in (job.output_file_id, job.error_file_id):
        if not file_id:
            continue
        response = await _send(provider, "GET", f"files/{file_id}/content")
        for raw in _jsonl(response.content):
            try:
                read = _OpenAILine.model_validate(raw)
            except ValidationError:
                continue
            lines.setdefault(read.custom_id, read)
    results: dict[str, list[PairOutcome] | _Read] = {}
    for request in job.requests:
        line = lines.get(request.custom_id)
        if line is None:
            continue
        reply = line.response
        if reply is not None and 200 <= reply.status_code < 300:
            results[request.custom_id] = _read_success(
                provider, job, request, reply.body, reply.request_id
            )
        elif reply is not None:
            err = error_from_response(
                httpx.Response(
                    reply.status_code,
                    json=reply.body if isinstance(reply.body, dict) else {"error": str(reply.body)},
                ),
                request_id=reply.request_id,
            )
            results[request.custom_id] = _fail(request, err.category, err.message, reply.request_id)
        else:
            code = line.error.code if line.error else None
            message = line.error.message if line.error else None
            category, text = _openai_line_error(code, message)
            results[request.custom_id] = _fail(request, category, text)
    return results
