"""Provider batch mode: OpenAI Batch API and Anthropic Message Batches.

A provider batch judges many pairs at a discount (half price on both providers) in exchange for
waiting: results arrive within 24 hours. The life of a batch:

1. :func:`submit` builds one request per pair (or per bundle of up to 10 pairs) with the
   provider's own request builder (:meth:`~app.llm.providers.base.BaseProvider.build_batch_body`),
   then
   * OpenAI: uploads them as JSONL (``POST /files``, ``purpose=batch``) and creates the batch
     (``POST /batches``, endpoint ``/v1/chat/completions``, completion window ``24h``);
   * Anthropic: creates a message batch (``POST /messages/batches``).

   It returns a :class:`BatchJob`: everything needed to find the batch again and to map its
   results back to pairs. Save it (:func:`save_state`, or the app's database) before anything
   else: after a restart the batch is resumed from it, never submitted twice.
2. :func:`poll` reads the batch's status (``GET /batches/{id}``,
   ``GET /messages/batches/{id}``).
3. :func:`fetch` downloads the results once the batch has ended (OpenAI output and error files;
   Anthropic results JSONL) and reports **every submitted pair exactly once**: a verdict, read
   by the provider's own answer reader
   (:meth:`~app.llm.providers.base.BaseProvider.read_batch_answer`) so that a malformed answer
   never becomes a verdict, or a failure with its category. Items not processed because the
   batch expired fail with TIMEOUT ("batch expired"); because it was cancelled, with CANCELLED
   ("batch cancelled"); per-item errors keep the category of their status or error type.
4. :func:`cancel` asks the provider to stop; what was done before is still fetched.

:func:`run_batch` does all of it, resuming from a state file when one is given and exists.
:func:`run_batch_summary` and :func:`fetch_summary` also report tokens per request and the cost
at the catalogue's batch price.

``custom_id`` of a request is its pair id, or its pair ids joined by ``__`` for a bundle, when
that is a valid id for both providers (``[A-Za-z0-9_-]``, at most 64 characters, unique);
otherwise ``req-<index>-<hash>``. The job keeps the pair ids of every request, so results are
never mapped back by parsing the id.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import inspect
import json
import os
import random
import re
import secrets
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.llm.catalogue import UnknownModelError
from app.llm.dispatcher import PairOutcome
from app.llm.metrics import LLMMetrics
from app.llm.providers.base import BaseProvider, error_from_exception, error_from_response
from app.llm.types import (
    CallOutcome,
    FailureCategory,
    PairTask,
    ProviderError,
    ProviderKind,
    Usage,
)
from core.prompt import MAX_BUNDLE_PAIRS, PROMPT_VERSION, AssignmentContext, safe_nonce

__all__ = [
    "OPENAI_BATCH_ENDPOINT",
    "TERMINAL_STATUSES",
    "BatchJob",
    "BatchRequest",
    "BatchStatus",
    "BatchSummary",
    "RequestUsage",
    "cancel",
    "fetch",
    "fetch_summary",
    "load_state",
    "poll",
    "run_batch",
    "run_batch_summary",
    "save_state",
    "submit",
]

OPENAI_BATCH_ENDPOINT = "/v1/chat/completions"
"""The endpoint every OpenAI batch request is sent to."""

COMPLETION_WINDOW = "24h"

BatchStatus = Literal[
    "validating",
    "in_progress",
    "finalizing",
    "cancelling",
    "completed",
    "expired",
    "cancelled",
    "failed",
]
"""A batch's status in common terms (OpenAI's names; Anthropic's ``ended`` becomes completed,
expired or cancelled)."""

TERMINAL_STATUSES: frozenset[str] = frozenset({"completed", "expired", "cancelled", "failed"})
"""Statuses after which nothing changes: the results can be fetched."""

EXPIRED_MESSAGE = "batch expired"
CANCELLED_MESSAGE = "batch cancelled"

_CUSTOM_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_STATE_VERSION = 1
_MAX_POLL_ERRORS = 8


# ---------------------------------------------------------------------------------------------
# Persisted state
# ---------------------------------------------------------------------------------------------


class BatchRequest(BaseModel):
    """One request of a batch: its ``custom_id`` and the pairs it asks about, in the order sent
    (the order of the verdicts in a bundle's answer)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    custom_id: str = Field(min_length=1)
    pair_ids: list[str] = Field(min_length=1, max_length=MAX_BUNDLE_PAIRS)


class BatchJob(BaseModel):
    """A submitted provider batch: enough to poll it, fetch it and map its results to pairs,
    after a restart too. Saved as JSON (:func:`save_state`); the app's database stores the same
    model.

    Attributes:
        provider_kind: ``openai``, ``openai_compatible`` or ``anthropic``.
        provider_name: the provider label the batch was submitted with.
        model: the model every request names.
        batch_id: the provider's batch id.
        input_file_id: the uploaded JSONL file (OpenAI), else None.
        requests: the submitted requests in order, with the pair ids of each.
        nonce: the essay-fence nonce of the prompts.
        prompt_version: the prompt template version of the requests.
        pairs_per_request: 1 (one pair per request) or the bundle size.
        submitted_at: when the batch was created (UTC).
        status: the last status seen (:data:`BatchStatus`).
        provider_status: the provider's own word for it (e.g. Anthropic ``ended``).
        request_counts: the provider's request counts, as last seen.
        output_file_id, error_file_id: OpenAI result files, once the batch has ended.
        error_message: why the batch as a whole failed, when it did.
        updated_at: when the status was last read.
        fetched_at: when the results were fetched (they may be fetched again).
    """

    model_config = ConfigDict(extra="forbid")

    version: int = _STATE_VERSION
    provider_kind: ProviderKind
    provider_name: str
    model: str
    batch_id: str
    input_file_id: str | None = None
    requests: list[BatchRequest]
    nonce: str
    prompt_version: str = PROMPT_VERSION
    pairs_per_request: int = Field(default=1, ge=1, le=MAX_BUNDLE_PAIRS)
    submitted_at: datetime
    status: BatchStatus = "validating"
    provider_status: str = ""
    request_counts: dict[str, int] = Field(default_factory=dict)
    output_file_id: str | None = None
    error_file_id: str | None = None
    error_message: str | None = None
    updated_at: datetime | None = None
    fetched_at: datetime | None = None

    @property
    def pair_ids(self) -> list[str]:
        """Every submitted pair id, in submission order."""
        return [pid for request in self.requests for pid in request.pair_ids]

    @property
    def ended(self) -> bool:
        """Whether the batch has reached a final status."""
        return self.status in TERMINAL_STATUSES

    def save_state(self, path: str | os.PathLike[str]) -> None:
        """Write this job to ``path`` as JSON (see :func:`save_state`)."""
        save_state(self, path)

    @classmethod
    def load_state(cls, path: str | os.PathLike[str]) -> BatchJob:
        """Read a job written by :meth:`save_state` (see :func:`load_state`)."""
        return load_state(path)


def save_state(job: BatchJob, path: str | os.PathLike[str]) -> None:
    """Write ``job`` to ``path`` as JSON, atomically: a temporary file in the same folder is
    written, flushed to disk and renamed over ``path``, so a crash leaves the old state or the
    new one, never half of one."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    data = job.model_dump_json(indent=2)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def load_state(path: str | os.PathLike[str]) -> BatchJob:
    """Read a job written by :func:`save_state`.

    Raises:
        FileNotFoundError: when there is no file at ``path``.
        ValueError: when the file is not a saved batch job.
    """
    text = Path(path).read_text(encoding="utf-8")
    try:
        return BatchJob.model_validate_json(text)
    except ValidationError as exc:
        raise ValueError(f"{path} is not a saved batch job: {exc}") from exc


# ---------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestUsage:
    """Tokens and batch-priced cost of one batch request (None: no price in the catalogue)."""

    custom_id: str
    pair_ids: tuple[str, ...]
    usage: Usage
    cost_usd: float | None


@dataclass
class BatchSummary:
    """What a fetched batch gave: one outcome per submitted pair, in submission order, and the
    tokens and cost of the requests that were answered."""

    job: BatchJob
    outcomes: list[PairOutcome] = field(default_factory=list)
    requests: list[RequestUsage] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0
    priced: bool = True
    """False when the model has no batch price in the catalogue (``cost_usd`` is then 0)."""

    @property
    def verdicts(self) -> int:
        return sum(1 for o in self.outcomes if o.ok)

    @property
    def failures(self) -> int:
        return sum(1 for o in self.outcomes if not o.ok)

    def failures_by_category(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for outcome in self.outcomes:
            if outcome.category is not None:
                key = str(outcome.category)
                counts[key] = counts.get(key, 0) + 1
        return counts


ResultCallback = Callable[[PairOutcome], Awaitable[None] | None]


# ---------------------------------------------------------------------------------------------
# Wire models
# ---------------------------------------------------------------------------------------------


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore")


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
# HTTP
# ---------------------------------------------------------------------------------------------


def _family(kind: str) -> Literal["openai", "anthropic"]:
    if kind in ("openai", "openai_compatible"):
        return "openai"
    if kind == "anthropic":
        return "anthropic"
    raise ProviderError(
        FailureCategory.BAD_REQUEST, f"provider kind {kind!r} has no batch API in this app"
    )


async def _send(provider: BaseProvider, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """One request on the provider's own client; failures become :class:`ProviderError`."""
    try:
        response = await provider.client.request(method, path, **kwargs)
    except httpx.TransportError as exc:
        raise error_from_exception(exc) from exc
    if not response.is_success:
        raise error_from_response(response, request_id=provider.request_id(response.headers))
    return response


def _json(response: httpx.Response, model: type[Any], what: str) -> Any:
    try:
        return model.model_validate_json(response.content)
    except ValidationError as exc:
        raise ProviderError(
            FailureCategory.PARSE_ERROR,
            f"unexpected {what} response: {exc.errors()[0]['msg'] if exc.errors() else exc}",
            status=response.status_code,
        ) from exc


def _jsonl(data: bytes | str) -> Iterable[object]:
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
    for raw in text.splitlines():
        if not raw.strip():
            continue
        try:
            yield json.loads(raw)
        except json.JSONDecodeError:
            continue  # an unreadable line leaves its request without a result


# ---------------------------------------------------------------------------------------------
# Submit
# ---------------------------------------------------------------------------------------------


def _custom_ids(groups: Sequence[Sequence[str]]) -> list[str]:
    ids = ["__".join(group) for group in groups]
    if all(_CUSTOM_ID.match(i) for i in ids) and len(set(ids)) == len(ids):
        return ids
    out = []
    for index, group in enumerate(groups):
        digest = hashlib.sha256("\x1f".join(group).encode("utf-8")).hexdigest()[:12]
        out.append(f"req-{index:06d}-{digest}")
    return out


def _group(pairs: Sequence[PairTask], pairs_per_request: int, seed: int) -> list[list[PairTask]]:
    order = list(pairs)
    if pairs_per_request > 1:
        # Bundles are drawn from a shuffled order so that no pair's place in a bundle is
        # systematic (the place is reported with each verdict).
        random.Random(seed).shuffle(order)
    return [order[i : i + pairs_per_request] for i in range(0, len(order), pairs_per_request)]


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
        lines = [
            json.dumps(
                {"custom_id": cid, "method": "POST", "url": OPENAI_BATCH_ENDPOINT, "body": body},
                ensure_ascii=False,
                separators=(",", ":"),
            )
            for cid, body in zip(custom_ids, bodies, strict=True)
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
        job = BatchJob(batch_id=batch.id, input_file_id=uploaded.id, **common)
        return _apply_openai(job, batch)
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
# Poll and cancel
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


def _check_provider(provider: BaseProvider, job: BatchJob) -> Literal["openai", "anthropic"]:
    family = _family(provider.config.kind)
    if family != _family(job.provider_kind):
        raise ValueError(
            f"batch {job.batch_id} was submitted to a {job.provider_kind} provider, "
            f"not {provider.config.kind}"
        )
    return family


async def poll(provider: BaseProvider, job: BatchJob) -> BatchJob:
    """The job with its status, request counts and result files as the provider now reports.

    Raises:
        ProviderError: when the status cannot be read (the job is unchanged; poll again).
    """
    if _check_provider(provider, job) == "openai":
        response = await _send(provider, "GET", f"batches/{job.batch_id}")
        return _apply_openai(job, _json(response, _OpenAIBatch, "batch"))
    response = await _send(provider, "GET", f"messages/batches/{job.batch_id}")
    return _apply_anthropic(job, _json(response, _AnthropicBatch, "message batch"))


async def cancel(provider: BaseProvider, job: BatchJob) -> BatchJob:
    """Ask the provider to cancel the batch; returns the job with the status it reports
    (``cancelling`` until the provider has stopped). Cancelling a batch that has already ended
    changes nothing and returns its current status. What was done before the cancel is still
    fetched; the rest fails with "batch cancelled"."""
    family = _check_provider(provider, job)
    if job.ended:
        return job
    path = (
        f"batches/{job.batch_id}/cancel"
        if family == "openai"
        else f"messages/batches/{job.batch_id}/cancel"
    )
    try:
        response = await _send(provider, "POST", path)
    except ProviderError as err:
        if err.status == 409:  # ended meanwhile
            return await poll(provider, job)
        raise
    if family == "openai":
        return _apply_openai(job, _json(response, _OpenAIBatch, "batch"))
    return _apply_anthropic(job, _json(response, _AnthropicBatch, "message batch"))


# ---------------------------------------------------------------------------------------------
# Fetch
# ---------------------------------------------------------------------------------------------


def _fail(
    request: BatchRequest,
    category: FailureCategory,
    message: str,
    request_id: str | None = None,
) -> list[PairOutcome]:
    size = len(request.pair_ids)
    return [
        PairOutcome(pid, None, None, category, message, 1, place, size, request_id, None)
        for place, pid in enumerate(request.pair_ids)
    ]


def _from_call(request: BatchRequest, outcome: CallOutcome) -> list[PairOutcome]:
    size = len(request.pair_ids)
    by_id = {item.pair_id: item for item in outcome.items}
    out: list[PairOutcome] = []
    for place, pid in enumerate(request.pair_ids):
        item = by_id.get(pid)
        if item is not None and item.verdict is not None:
            out.append(
                PairOutcome(
                    pid,
                    item.verdict,
                    item.probability_first,
                    None,
                    "",
                    1,
                    item.place_in_bundle,
                    size,
                    outcome.request_id,
                    None,
                )
            )
            continue
        category = FailureCategory.PARSE_ERROR
        message = "no verdict for this pair in the answer"
        if item is not None:
            category = item.category or FailureCategory.PARSE_ERROR
            if item.error is not None:
                message = str(item.error)
        out.append(
            PairOutcome(
                pid, None, None, category, message, 1, place, size, outcome.request_id, None
            )
        )
    return out


@dataclass
class _Read:
    outcomes: list[PairOutcome]
    usage: Usage | None = None


def _read_success(
    provider: BaseProvider, job: BatchJob, request: BatchRequest, body: object, rid: str | None
) -> _Read:
    try:
        call = provider.read_batch_answer(
            body, request.pair_ids, request_id=rid, prompt_version=job.prompt_version
        )
    except ProviderError as err:
        return _Read(_fail(request, err.category, err.message, err.request_id or rid))
    return _Read(_from_call(request, call), call.usage)


def _unprocessed(job: BatchJob, request: BatchRequest) -> list[PairOutcome]:
    if job.status == "expired":
        return _fail(request, FailureCategory.TIMEOUT, EXPIRED_MESSAGE)
    if job.status == "cancelled":
        return _fail(request, FailureCategory.CANCELLED, CANCELLED_MESSAGE)
    if job.status == "failed":
        return _fail(
            request,
            FailureCategory.BAD_REQUEST,
            f"the batch failed: {job.error_message or 'no reason given'}",
        )
    return _fail(request, FailureCategory.PARSE_ERROR, "no result for this request in the batch")


def _openai_line_error(code: str | None, message: str | None) -> tuple[FailureCategory, str]:
    text = (message or code or "error")[:300]
    if code == "batch_expired":
        return FailureCategory.TIMEOUT, EXPIRED_MESSAGE
    if code in ("batch_cancelled", "batch_canceled"):
        return FailureCategory.CANCELLED, CANCELLED_MESSAGE
    if code and (
        code.startswith("invalid") or code in ("missing_custom_id", "duplicate_custom_id")
    ):
        return FailureCategory.BAD_REQUEST, text
    return FailureCategory.SERVER, text


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
