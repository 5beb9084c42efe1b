"""The OpenAI wire format: chat completions, files and batches.

Endpoints: ``POST /v1/chat/completions``; ``POST /v1/files``, ``GET /v1/files/{id}``,
``GET /v1/files/{id}/content``; ``POST /v1/batches``, ``GET /v1/batches``,
``GET /v1/batches/{id}``, ``POST /v1/batches/{id}/cancel``. :func:`add_openai_routes` adds
them to an application.
"""

from __future__ import annotations

import asyncio
import json
import time

from aiohttp import web

from app.simserver.batching import (
    batch_expires,
    batch_item_error,
    content_fault,
    list_limit,
    list_page,
    requests_done,
    sleep_until,
    spawn,
)
from app.simserver.faults import (
    FaultError,
    check_key,
    enforce_rate,
    fault_response,
    guarded_endpoint,
    openai_error,
    quota_check,
    read_json,
    transport_fault,
)
from app.simserver.judging import NoEssaysError, logprob_entries
from app.simserver.state import (
    Answer,
    JSONDict,
    OpenAIBatch,
    SimState,
    StoredFile,
    request_state,
)
from app.simserver.strict import check_openai

# ---------------------------------------------------------------------------------------------
# OpenAI chat completions
# ---------------------------------------------------------------------------------------------


def _text_of(content: object) -> str:
    """The text of a message content: a string or a list of text blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for block in content:
            if isinstance(block, dict) and isinstance(block.get("text"), str):
                parts.append(block["text"])
            elif isinstance(block, str):
                parts.append(block)
        return "\n".join(parts)
    return ""


def _openai_prompt(body: JSONDict) -> tuple[str, str, int]:
    """(prompt text for judging, prompt text for token counting, message count)."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise openai_error(400, "'messages' must be a non-empty list", "invalid_request_error")
    judge_parts: list[str] = []
    count_parts: list[str] = []
    for message in messages:
        if not isinstance(message, dict) or "role" not in message:
            raise openai_error(400, "each message needs a 'role'", "invalid_request_error")
        text = _text_of(message.get("content"))
        count_parts.append(f"{message['role']}\n{text}")
        if message["role"] != "system" and message["role"] != "developer":
            judge_parts.append(text)
    return "\n\n".join(judge_parts), "\n".join(count_parts), len(messages)


def _openai_max_tokens(body: JSONDict) -> int | None:
    for key in ("max_completion_tokens", "max_tokens"):
        value = body.get(key)
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise openai_error(
                    400, f"'{key}' must be a positive integer", "invalid_request_error"
                )
            return value
    return None


def _openai_completion(
    state: SimState, body: JSONDict, digest: str, attempt: int, fault: str | None
) -> tuple[JSONDict, Answer]:
    """Judge a chat completion request; returns the response object and the answer."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise openai_error(400, "'model' is required", "invalid_request_error")
    if body.get("stream"):
        raise openai_error(400, "streaming is not supported here", "invalid_request_error")
    check_openai(body)
    judge_text, count_text, n_messages = _openai_prompt(body)
    max_tokens = _openai_max_tokens(body)
    try:
        answer = state.answer(
            judge_text, digest=digest, attempt=attempt, max_tokens=max_tokens, fault=fault
        )
    except NoEssaysError as exc:
        raise openai_error(400, str(exc), "invalid_request_error") from exc
    prof = state.profile
    prompt_tokens = state.tokens(count_text) + prof.message_overhead_tokens * n_messages + 3
    # A prefix is readable once its call begins to answer (a one-pair call's latency: never
    # later than this call's own answer).
    readable_after = state.latency(digest, attempt, 1)
    cached = min(state.openai_cached_tokens(count_text, model, readable_after), prompt_tokens)
    completion_tokens = state.tokens(answer.content) + prof.reasoning_tokens
    if answer.finish == "length" and max_tokens is not None:
        completion_tokens = max_tokens
    finish_reason = "length" if answer.finish == "length" else "stop"
    logprobs: JSONDict | None = None
    if body.get("logprobs"):
        top = body.get("top_logprobs") or 0
        if isinstance(top, bool) or not isinstance(top, int) or not 0 <= top <= 20:
            raise openai_error(
                400, "'top_logprobs' must be an integer from 0 to 20", "invalid_request_error"
            )
        logprobs = {
            "content": logprob_entries(
                answer.content, answer.judgements, top, seed_key=answer.seed_key
            ),
            "refusal": None,
        }
    response = {
        "id": state.new_id("chatcmpl-"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": "fp_sim",
        "service_tier": "default",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": answer.content,
                    "refusal": None,
                    "annotations": [],
                },
                "logprobs": logprobs,
                "finish_reason": finish_reason,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": min(prof.reasoning_tokens, completion_tokens),
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
    }
    return response, answer


async def _chat_completions(request: web.Request) -> web.StreamResponse:
    state = request_state(request)
    state.stats["openai_chat_requests"] += 1
    request_id = state.new_id("req_")
    headers = {"x-request-id": request_id}
    try:
        check_key(request, anthropic=False)
        body = await read_json(request, anthropic=False)
        digest, attempt = state.next_attempt("openai-chat", body)
        _, count_text, _ = _openai_prompt(body)
        estimate = state.tokens(count_text) + (_openai_max_tokens(body) or 0)
        enforce_rate(state, estimate, anthropic=False)
        headers.update(state.openai_rate_headers())
        quota_check(state, "openai")
        fault = state.draw_fault(digest, attempt)
        await transport_fault(state, request, fault, anthropic=False)
        response, answer = _openai_completion(state, body, digest, attempt, fault)
        latency = state.latency(digest, attempt, answer.n_pairs)
        await asyncio.sleep(latency)
        response["id"] = "chatcmpl-" + request_id[4:]
        headers["openai-processing-ms"] = str(round(latency * 1000))
        return web.json_response(response, headers=headers)
    except FaultError as exc:
        headers.update(state.openai_rate_headers())
        return fault_response(exc, headers)


# ---------------------------------------------------------------------------------------------
# OpenAI files and batches
# ---------------------------------------------------------------------------------------------


@guarded_endpoint(anthropic=False)
async def _files_create(request: web.Request, state: SimState) -> web.StreamResponse:
    form = await request.post()
    upload = form.get("file")
    purpose = str(form.get("purpose", ""))
    if upload is None or not hasattr(upload, "file"):
        raise openai_error(400, "a multipart 'file' field is required", "invalid_request_error")
    if purpose not in {"batch", "batch_output", "user_data", "assistants", "fine-tune"}:
        raise openai_error(400, f"unknown purpose {purpose!r}", "invalid_request_error")
    data = upload.file.read()
    stored = StoredFile(
        id=state.new_id("file-"),
        filename=str(getattr(upload, "filename", "upload.jsonl")),
        purpose=purpose,
        data=data,
        created_at=int(time.time()),
    )
    state.files[stored.id] = stored
    return web.json_response(stored.to_json())


def _get_file(state: SimState, file_id: str) -> StoredFile:
    stored = state.files.get(file_id)
    if stored is None:
        raise openai_error(404, f"No such File object: {file_id}", "invalid_request_error")
    return stored


@guarded_endpoint(anthropic=False)
async def _files_get(request: web.Request, state: SimState) -> web.StreamResponse:
    return web.json_response(_get_file(state, request.match_info["file_id"]).to_json())


@guarded_endpoint(anthropic=False)
async def _files_content(request: web.Request, state: SimState) -> web.StreamResponse:
    stored = _get_file(state, request.match_info["file_id"])
    return web.Response(body=stored.data, content_type="application/octet-stream")


def _parse_batch_lines(data: bytes, endpoint: str) -> tuple[list[JSONDict], list[JSONDict]]:
    requests: list[JSONDict] = []
    errors: list[JSONDict] = []
    seen: set[str] = set()
    for line_no, raw in enumerate(data.decode("utf-8", errors="replace").splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            item = json.loads(raw)
        except json.JSONDecodeError:
            errors.append({"code": "invalid_json_line", "message": "not JSON", "line": line_no})
            continue
        if not isinstance(item, dict) or not isinstance(item.get("custom_id"), str):
            errors.append({"code": "missing_custom_id", "message": "no custom_id", "line": line_no})
            continue
        if item["custom_id"] in seen:
            errors.append(
                {"code": "duplicate_custom_id", "message": "custom_id repeated", "line": line_no}
            )
            continue
        if item.get("url") != endpoint or str(item.get("method", "")).upper() != "POST":
            errors.append(
                {
                    "code": "invalid_url",
                    "message": f"each line must POST to {endpoint}",
                    "line": line_no,
                }
            )
            continue
        if not isinstance(item.get("body"), dict):
            errors.append(
                {"code": "invalid_body", "message": "body must be an object", "line": line_no}
            )
            continue
        seen.add(item["custom_id"])
        requests.append(item)
    return requests, errors


def _batch_metadata(value: object) -> dict[str, str] | None:
    """A batch's ``metadata`` as OpenAI accepts it: at most 16 string pairs, keys of at most 64
    characters and values of at most 512."""
    if value is None:
        return None
    if (
        not isinstance(value, dict)
        or len(value) > 16
        or not all(
            isinstance(k, str) and isinstance(v, str) and len(k) <= 64 and len(v) <= 512
            for k, v in value.items()
        )
    ):
        raise openai_error(
            400,
            "'metadata' must be at most 16 string pairs (keys ≤ 64, values ≤ 512 characters)",
            "invalid_request_error",
        )
    return dict(value)


@guarded_endpoint(anthropic=False)
async def _batches_create(request: web.Request, state: SimState) -> web.StreamResponse:
    body = await read_json(request, anthropic=False)
    quota_check(state, "openai")
    metadata = _batch_metadata(body.get("metadata"))
    endpoint = body.get("endpoint")
    if endpoint != "/v1/chat/completions":
        raise openai_error(
            400, "only the /v1/chat/completions endpoint is supported", "invalid_request_error"
        )
    if body.get("completion_window") != "24h":
        raise openai_error(400, "completion_window must be '24h'", "invalid_request_error")
    stored = _get_file(state, str(body.get("input_file_id")))
    requests, errors = _parse_batch_lines(stored.data, endpoint)
    batch = OpenAIBatch(
        id=state.new_id("batch_"),
        endpoint=endpoint,
        input_file_id=stored.id,
        completion_window="24h",
        created_at=int(time.time()),
        metadata=metadata,
        requests=requests,
        started_monotonic=time.monotonic(),
    )
    if errors or not requests:
        batch.status = "failed"
        batch.failed_at = int(time.time())
        batch.errors = {
            "object": "list",
            "data": errors or [{"code": "empty_file", "message": "the input file has no requests"}],
        }
    else:
        batch.counts["total"] = len(requests)
        spawn(state, _run_openai_batch(state, batch))
    state.openai_batches[batch.id] = batch
    state.stats["openai_batches"] += 1
    state.stats["openai_batch_requests"] += len(requests)
    return web.json_response(batch.to_json())


def _store_jsonl(state: SimState, lines: list[JSONDict], purpose: str, name: str) -> str | None:
    if not lines:
        return None
    data = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines).encode("utf-8")
    stored = StoredFile(
        id=state.new_id("file-"),
        filename=name,
        purpose=purpose,
        data=data,
        created_at=int(time.time()),
    )
    state.files[stored.id] = stored
    return stored.id


def _openai_batch_line(
    state: SimState, batch: OpenAIBatch, item: JSONDict
) -> tuple[JSONDict, bool]:
    """One output line; True if it belongs in the error file."""
    custom_id = item["custom_id"]
    line_id = state.new_id("batch_req_")
    body = item["body"]
    digest, attempt = state.next_attempt("openai-chat", body)
    if batch_item_error(state, f"{batch.id}/{custom_id}"):
        return (
            {
                "id": line_id,
                "custom_id": custom_id,
                "response": {
                    "status_code": 500,
                    "request_id": state.new_id("req_"),
                    "body": {
                        "error": {
                            "message": "The server had an error processing this request.",
                            "type": "server_error",
                            "param": None,
                            "code": None,
                        }
                    },
                },
                "error": None,
            },
            True,
        )
    try:
        response, _ = _openai_completion(
            state, body, digest, attempt, content_fault(state, digest, attempt)
        )
        status = 200
        payload: JSONDict = response
    except FaultError as exc:
        status = exc.status
        payload = exc.body
    return (
        {
            "id": line_id,
            "custom_id": custom_id,
            "response": {
                "status_code": status,
                "request_id": state.new_id("req_"),
                "body": payload,
            },
            "error": None,
        },
        status != 200,
    )


async def _run_openai_batch(state: SimState, batch: OpenAIBatch) -> None:
    prof = state.profile

    def cancelled() -> bool:
        return batch.cancel_requested

    start = batch.started_monotonic
    expire = batch_expires(state, batch.id)
    if await sleep_until(state, start, prof.batch_validating_s, cancelled):
        batch.status = "in_progress"
        batch.in_progress_at = int(time.time())
        finished = await sleep_until(state, start, prof.batch_delay_s, cancelled)
    else:
        finished = False
    if finished:
        batch.status = "finalizing"
        batch.finalizing_at = int(time.time())
    n_done = requests_done(
        state, batch.id, len(batch.requests), start, finished=finished, expire=expire
    )
    outputs: list[JSONDict] = []
    errors: list[JSONDict] = []
    for index, item in enumerate(batch.requests):
        if index < n_done:
            line, is_error = _openai_batch_line(state, batch, item)
            (errors if is_error else outputs).append(line)
        else:
            code = "batch_expired" if finished else "batch_cancelled"
            message = (
                "This request could not be executed before the completion window expired."
                if finished
                else "This request was not executed because the batch was cancelled."
            )
            errors.append(
                {
                    "id": state.new_id("batch_req_"),
                    "custom_id": item["custom_id"],
                    "response": None,
                    "error": {"code": code, "message": message},
                }
            )
    batch.output_file_id = _store_jsonl(state, outputs, "batch_output", f"{batch.id}_output.jsonl")
    batch.error_file_id = _store_jsonl(state, errors, "batch_output", f"{batch.id}_error.jsonl")
    batch.counts["completed"] = len(outputs)
    batch.counts["failed"] = len(errors)
    now = int(time.time())
    if not finished:
        batch.status = "cancelled"
        batch.cancelled_at = now
    elif expire:
        batch.status = "expired"
        batch.expired_at = now
    else:
        batch.status = "completed"
        batch.completed_at = now


def _get_openai_batch(state: SimState, batch_id: str) -> OpenAIBatch:
    batch = state.openai_batches.get(batch_id)
    if batch is None:
        raise openai_error(404, f"No such Batch object: {batch_id}", "invalid_request_error")
    return batch


@guarded_endpoint(anthropic=False)
async def _batches_get(request: web.Request, state: SimState) -> web.StreamResponse:
    return web.json_response(_get_openai_batch(state, request.match_info["batch_id"]).to_json())


@guarded_endpoint(anthropic=False)
async def _batches_list(request: web.Request, state: SimState) -> web.StreamResponse:
    """Batches newest first, ``limit`` (1–100, default 20) at a time after the batch id
    ``after``."""
    state.stats["openai_batch_lists"] += 1
    limit = list_limit(request.query.get("limit"), default=20, largest=100)
    if limit is None:
        raise openai_error(400, "'limit' must be an integer from 1 to 100", "invalid_request_error")
    batches = list(reversed(state.openai_batches.values()))
    page, has_more = list_page(
        batches, [b.id for b in batches], limit=limit, after=request.query.get("after")
    )
    data = [b.to_json() for b in page]
    return web.json_response(
        {
            "object": "list",
            "data": data,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
            "has_more": has_more,
        }
    )


@guarded_endpoint(anthropic=False)
async def _batches_cancel(request: web.Request, state: SimState) -> web.StreamResponse:
    batch = _get_openai_batch(state, request.match_info["batch_id"])
    if batch.status in {"validating", "in_progress"}:
        batch.cancel_requested = True
        batch.status = "cancelling"
        batch.cancelling_at = int(time.time())
    elif batch.status not in {"cancelling", "cancelled"}:
        raise openai_error(
            409, f"Cannot cancel a batch with status '{batch.status}'.", "invalid_request_error"
        )
    return web.json_response(batch.to_json())


def add_openai_routes(app: web.Application) -> None:
    """Add the OpenAI endpoints (chat completions, files, batches) to ``app``."""
    app.router.add_post("/v1/chat/completions", _chat_completions)
    app.router.add_post("/v1/files", _files_create)
    app.router.add_get("/v1/files/{file_id}", _files_get)
    app.router.add_get("/v1/files/{file_id}/content", _files_content)
    app.router.add_post("/v1/batches", _batches_create)
    app.router.add_get("/v1/batches", _batches_list)
    app.router.add_get("/v1/batches/{batch_id}", _batches_get)
    app.router.add_post("/v1/batches/{batch_id}/cancel", _batches_cancel)
