"""Pair outcomes from batch results: every pair of a request gets a verdict, read by the
provider's own answer reader so that a malformed answer never becomes a verdict, or a failure
with its category. Requests without a result fail according to how the batch ended."""

from __future__ import annotations

from dataclasses import dataclass

from app.llm.batch.jobs import BatchJob, BatchRequest
from app.llm.dispatcher import PairOutcome
from app.llm.providers.base import BaseProvider
from app.llm.types import CallOutcome, FailureCategory, ProviderError, Usage

EXPIRED_MESSAGE = "batch expired"
CANCELLED_MESSAGE = "batch cancelled"


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
