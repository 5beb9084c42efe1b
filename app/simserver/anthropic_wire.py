"""The Anthropic wire format: messages and message batches.

Endpoints: ``POST /v1/messages``; ``POST /v1/messages/batches``, ``GET /v1/messages/batches``,
``GET /v1/messages/batches/{id}``, ``GET /v1/messages/batches/{id}/results``,
``POST /v1/messages/batches/{id}/cancel``. :func:`add_anthropic_routes` adds them to an
application.
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
    anthropic_error,
    check_key,
    enforce_rate,
    fault_response,
    guarded_endpoint,
    quota_check,
    read_json,
    transport_fault,
)
from app.simserver.judging import NoEssaysError
from app.simserver.state import (
    PREFIX_CACHE_LIMIT,
    AnthropicBatch,
    JSONDict,
    SimState,
    json_digest,
    request_state,
)
from app.simserver.strict import anthropic_cache_minimum, check_anthropic

# ---------------------------------------------------------------------------------------------
# Anthropic messages
# ---------------------------------------------------------------------------------------------


def _anthropic_blocks(body: JSONDict) -> list[tuple[str, str, bool]]:
    """Ordered (part, text, has_cache_control) for tools, system blocks and message blocks."""
    blocks: list[tuple[str, str, bool]] = []
    tools = body.get("tools") or []
    if not isinstance(tools, list):
        raise anthropic_error(400, "'tools' must be a list", "invalid_request_error")
    for tool in tools:
        if not isinstance(tool, dict) or "name" not in tool:
            raise anthropic_error(400, "each tool needs a 'name'", "invalid_request_error")
        blocks.append(("tool", json.dumps(tool, sort_keys=True), "cache_control" in tool))
    system = body.get("system")
    if isinstance(system, str):
        blocks.append(("system", system, False))
    elif isinstance(system, list):
        for block in system:
            if not isinstance(block, dict) or not isinstance(block.get("text"), str):
                raise anthropic_error(
                    400, "system blocks must be text blocks", "invalid_request_error"
                )
            blocks.append(("system", block["text"], "cache_control" in block))
    elif system is not None:
        raise anthropic_error(400, "'system' must be a string or a list", "invalid_request_error")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise anthropic_error(400, "'messages' must be a non-empty list", "invalid_request_error")
    for message in messages:
        if not isinstance(message, dict) or message.get("role") not in {"user", "assistant"}:
            raise anthropic_error(
                400, "each message needs role 'user' or 'assistant'", "invalid_request_error"
            )
        content = message.get("content")
        if isinstance(content, str):
            blocks.append((message["role"], content, False))
        elif isinstance(content, list):
            for block in content:
                if isinstance(block, dict):
                    text = block.get("text") if isinstance(block.get("text"), str) else ""
                    blocks.append((message["role"], str(text), "cache_control" in block))
        else:
            raise anthropic_error(400, "message content is missing", "invalid_request_error")
    return blocks


def _anthropic_message(
    state: SimState, body: JSONDict, digest: str, attempt: int, fault: str | None
) -> JSONDict:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise anthropic_error(400, "model: field required", "invalid_request_error")
    max_tokens = body.get("max_tokens")
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise anthropic_error(
            400, "max_tokens: a positive integer is required", "invalid_request_error"
        )
    if body.get("stream"):
        raise anthropic_error(400, "streaming is not supported here", "invalid_request_error")
    check_anthropic(body)
    blocks = _anthropic_blocks(body)
    judge_text = "\n\n".join(text for part, text, _ in blocks if part == "user")
    tool_name: str | None = None
    tool_choice = body.get("tool_choice")
    tools = body.get("tools") or []
    if isinstance(tool_choice, dict) and tool_choice.get("type") == "tool":
        tool_name = str(tool_choice.get("name", ""))
        if not any(isinstance(t, dict) and t.get("name") == tool_name for t in tools):
            raise anthropic_error(
                400, f"tool_choice names an unknown tool {tool_name!r}", "invalid_request_error"
            )
    elif tools and isinstance(tools[0], dict):
        tool_name = str(tools[0].get("name"))
    try:
        answer = state.answer(
            judge_text, digest=digest, attempt=attempt, max_tokens=max_tokens, fault=fault
        )
    except NoEssaysError as exc:
        raise anthropic_error(400, str(exc), "invalid_request_error") from exc

    # Token accounting, with a prompt cache up to the last cache_control breakpoint.
    prof = state.profile
    total_in = sum(state.tokens(text) for _, text, _ in blocks) + 3 * len(blocks)
    last_mark = max((i for i, (_, _, mark) in enumerate(blocks) if mark), default=-1)
    cache_read = cache_write = 0
    if last_mark >= 0:
        prefix_blocks = blocks[: last_mark + 1]
        prefix_tokens = sum(state.tokens(text) for _, text, _ in prefix_blocks) + 3 * len(
            prefix_blocks
        )
        minimum = max(prof.anthropic_cache_min_tokens, anthropic_cache_minimum(model))
        if prefix_tokens >= minimum:
            # As at Anthropic, a prefix can be read once the call that wrote it has begun to
            # answer; calls that arrive before then write it again.
            key = json_digest([model, prefix_blocks])
            now = time.monotonic()
            readable_at = state.anthropic_prefixes.get(key)
            if readable_at is not None and readable_at <= now:
                cache_read = prefix_tokens
            else:
                if len(state.anthropic_prefixes) > PREFIX_CACHE_LIMIT:
                    state.anthropic_prefixes.clear()
                state.anthropic_prefixes[key] = min(
                    readable_at if readable_at is not None else float("inf"),
                    now + state.latency(digest, attempt, 1),
                )
                cache_write = prefix_tokens
    input_tokens = total_in - cache_read - cache_write

    content_blocks: list[JSONDict]
    truncated = answer.finish == "length"
    if tool_name is not None and answer.malformed_kind not in {"prose", "unclosed"}:
        tool_input = _partial_input(answer.payload) if truncated else answer.payload
        content_blocks = [
            {
                "type": "tool_use",
                "id": state.new_id("toolu_"),
                "name": tool_name,
                "input": tool_input,
            }
        ]
        output_tokens = state.tokens(json.dumps(tool_input)) + prof.reasoning_tokens + 10
        stop_reason = "max_tokens" if truncated else "tool_use"
    else:
        content_blocks = [{"type": "text", "text": answer.content}]
        output_tokens = state.tokens(answer.content) + prof.reasoning_tokens
        stop_reason = "max_tokens" if truncated else "end_turn"
    if truncated:
        output_tokens = max_tokens
    return {
        "id": state.new_id("msg_"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content_blocks,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "cache_creation_input_tokens": cache_write,
            "cache_read_input_tokens": cache_read,
            "service_tier": "standard",
        },
    }


def _partial_input(payload: JSONDict) -> JSONDict:
    """What a tool input looks like when the output was cut off: its later parts missing."""
    verdicts = payload.get("verdicts")
    if isinstance(verdicts, list):
        keep = [dict(v) for v in verdicts[: max(0, len(verdicts) // 2)]]
        if len(verdicts) > len(keep):
            cut = dict(verdicts[len(keep)])
            cut.pop("confidence", None)
            cut.pop("justification", None)
            keep.append(cut)
        return {"verdicts": keep}
    return {k: v for k, v in payload.items() if k == "winner"}


async def _messages(request: web.Request) -> web.StreamResponse:
    state = request_state(request)
    state.stats["anthropic_messages_requests"] += 1
    request_id = state.new_id("req_")
    headers = {"request-id": request_id}
    try:
        check_key(request, anthropic=True)
        body = await read_json(request, anthropic=True)
        digest, attempt = state.next_attempt("anthropic-messages", body)
        blocks = _anthropic_blocks(body)
        max_tokens = body.get("max_tokens")
        estimate = sum(state.tokens(t) for _, t, _ in blocks) + (
            max_tokens if isinstance(max_tokens, int) else 0
        )
        enforce_rate(state, estimate, anthropic=True)
        headers.update(state.anthropic_rate_headers())
        quota_check(state, "anthropic")
        fault = state.draw_fault(digest, attempt)
        await transport_fault(state, request, fault, anthropic=True)
        response = _anthropic_message(state, body, digest, attempt, fault)
        n_pairs = _count_pairs(response)
        await asyncio.sleep(state.latency(digest, attempt, n_pairs))
        return web.json_response(response, headers=headers)
    except FaultError as exc:
        headers.update(state.anthropic_rate_headers())
        return fault_response(exc, headers)


def _count_pairs(message: JSONDict) -> int:
    for block in message.get("content", []):
        if block.get("type") == "tool_use":
            verdicts = block.get("input", {}).get("verdicts")
            if isinstance(verdicts, list):
                return max(1, len(verdicts))
    return 1


# ---------------------------------------------------------------------------------------------
# Anthropic message batches
# ---------------------------------------------------------------------------------------------


def _base_url(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


@guarded_endpoint(anthropic=True)
async def _mbatches_create(request: web.Request, state: SimState) -> web.StreamResponse:
    body = await read_json(request, anthropic=True)
    quota_check(state, "anthropic")
    requests = body.get("requests")
    if not isinstance(requests, list) or not requests:
        raise anthropic_error(400, "'requests' must be a non-empty list", "invalid_request_error")
    seen: set[str] = set()
    for item in requests:
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("custom_id"), str)
            or not isinstance(item.get("params"), dict)
        ):
            raise anthropic_error(
                400, "each request needs 'custom_id' and 'params'", "invalid_request_error"
            )
        if item["custom_id"] in seen:
            raise anthropic_error(
                400, f"custom_id {item['custom_id']!r} is repeated", "invalid_request_error"
            )
        seen.add(item["custom_id"])
    batch = AnthropicBatch(
        id=state.new_id("msgbatch_"),
        created_at=time.time(),
        requests=list(requests),
        started_monotonic=time.monotonic(),
    )
    batch.counts["processing"] = len(requests)
    state.anthropic_batches[batch.id] = batch
    state.stats["anthropic_batches"] += 1
    state.stats["anthropic_batch_requests"] += len(requests)
    spawn(state, _run_anthropic_batch(state, batch))
    return web.json_response(batch.to_json(_base_url(request)))


def _anthropic_batch_result(state: SimState, batch: AnthropicBatch, item: JSONDict) -> JSONDict:
    custom_id = item["custom_id"]
    params = item["params"]
    if batch_item_error(state, f"{batch.id}/{custom_id}"):
        return {
            "custom_id": custom_id,
            "result": {
                "type": "errored",
                "error": {
                    "type": "error",
                    "error": {"type": "api_error", "message": "Internal server error (simulated)."},
                },
            },
        }
    digest, attempt = state.next_attempt("anthropic-messages", params)
    try:
        message = _anthropic_message(
            state, params, digest, attempt, content_fault(state, digest, attempt)
        )
    except FaultError as exc:
        return {"custom_id": custom_id, "result": {"type": "errored", "error": exc.body}}
    return {"custom_id": custom_id, "result": {"type": "succeeded", "message": message}}


async def _run_anthropic_batch(state: SimState, batch: AnthropicBatch) -> None:
    prof = state.profile

    def cancelled() -> bool:
        return batch.cancel_requested

    start = batch.started_monotonic
    expire = batch_expires(state, batch.id)
    finished = await sleep_until(state, start, prof.batch_delay_s, cancelled)
    n_done = requests_done(
        state, batch.id, len(batch.requests), start, finished=finished, expire=expire
    )
    results: list[JSONDict] = []
    counts = {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
    for index, item in enumerate(batch.requests):
        if index < n_done:
            result = _anthropic_batch_result(state, batch, item)
        else:
            kind = "expired" if finished else "canceled"
            result = {"custom_id": item["custom_id"], "result": {"type": kind}}
        counts[result["result"]["type"]] += 1
        results.append(result)
    batch.results = results
    batch.counts = counts
    batch.processing_status = "ended"
    batch.ended_at = time.time()


def _get_anthropic_batch(state: SimState, batch_id: str) -> AnthropicBatch:
    batch = state.anthropic_batches.get(batch_id)
    if batch is None:
        raise anthropic_error(404, f"message batch {batch_id} not found", "not_found_error")
    return batch


@guarded_endpoint(anthropic=True)
async def _mbatches_get(request: web.Request, state: SimState) -> web.StreamResponse:
    batch = _get_anthropic_batch(state, request.match_info["batch_id"])
    return web.json_response(batch.to_json(_base_url(request)))


@guarded_endpoint(anthropic=True)
async def _mbatches_list(request: web.Request, state: SimState) -> web.StreamResponse:
    """Message batches newest first, ``limit`` (1–1000, default 20) at a time right after the
    batch id ``after_id`` or right before ``before_id``."""
    state.stats["anthropic_batch_lists"] += 1
    limit = list_limit(request.query.get("limit"), default=20, largest=1000)
    if limit is None:
        raise anthropic_error(
            400, "limit: must be an integer from 1 to 1000", "invalid_request_error"
        )
    after, before = request.query.get("after_id"), request.query.get("before_id")
    if after is not None and before is not None:
        raise anthropic_error(
            400, "after_id and before_id cannot both be given", "invalid_request_error"
        )
    batches = list(reversed(state.anthropic_batches.values()))
    page, has_more = list_page(
        batches, [b.id for b in batches], limit=limit, after=after, before=before
    )
    base = _base_url(request)
    data = [b.to_json(base) for b in page]
    return web.json_response(
        {
            "data": data,
            "has_more": has_more,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
        }
    )


@guarded_endpoint(anthropic=True)
async def _mbatches_results(request: web.Request, state: SimState) -> web.StreamResponse:
    batch = _get_anthropic_batch(state, request.match_info["batch_id"])
    if batch.processing_status != "ended" or batch.results is None:
        raise anthropic_error(
            400,
            f"message batch {batch.id} is still processing; results are not ready",
            "invalid_request_error",
        )
    data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in batch.results)
    return web.Response(text=data, content_type="application/binary")


@guarded_endpoint(anthropic=True)
async def _mbatches_cancel(request: web.Request, state: SimState) -> web.StreamResponse:
    batch = _get_anthropic_batch(state, request.match_info["batch_id"])
    if batch.processing_status == "in_progress":
        batch.cancel_requested = True
        batch.processing_status = "canceling"
        batch.cancel_initiated_at = time.time()
    return web.json_response(batch.to_json(_base_url(request)))


def add_anthropic_routes(app: web.Application) -> None:
    """Add the Anthropic endpoints (messages, message batches) to ``app``."""
    app.router.add_post("/v1/messages", _messages)
    app.router.add_post("/v1/messages/batches", _mbatches_create)
    app.router.add_get("/v1/messages/batches", _mbatches_list)
    app.router.add_get("/v1/messages/batches/{batch_id}", _mbatches_get)
    app.router.add_get("/v1/messages/batches/{batch_id}/results", _mbatches_results)
    app.router.add_post("/v1/messages/batches/{batch_id}/cancel", _mbatches_cancel)
