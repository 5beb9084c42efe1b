"""The Gemini wire format: ``generateContent``.

Endpoint: ``POST /v1beta/models/{model}:generateContent``, the API key in ``x-goog-api-key``
or ``?key=``. :func:`add_gemini_routes` adds it to an application; the Gemini base URL of a
running server is ``{url}/v1beta``.

The user turn's text parts are judged as the other wire formats judge a user message, and the
profile's faults come from the same machinery (:mod:`app.simserver.faults`), answered in
Gemini's ``google.rpc.Status`` shape: a rate limit is 429 ``RESOURCE_EXHAUSTED`` with a
``RetryInfo`` (and ``Retry-After``), a server error 500 ``INTERNAL`` or 503 ``UNAVAILABLE``
("the model is overloaded"), a held request 504 ``DEADLINE_EXCEEDED``, a cut-off answer
``finishReason: MAX_TOKENS``. A bad key is refused the way Gemini refuses one: 400
``INVALID_ARGUMENT`` with reason ``API_KEY_INVALID``. Implicit prefix caching is counted like
OpenAI's automatic caching (the profile's ``openai_cache_*`` figures) and reported as
``cachedContentTokenCount``; the profile's hidden reasoning tokens as ``thoughtsTokenCount``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aiohttp import web

from app.simserver.faults import (
    FaultError,
    enforce_rate,
    fault_response,
    gemini_error,
    quota_check,
    read_json,
    transport_fault,
)
from app.simserver.judging import NoEssaysError
from app.simserver.state import Answer, JSONDict, SimState, request_state
from app.simserver.strict import check_gemini

__all__ = ["add_gemini_routes"]

_MIME_TYPES = frozenset({"text/plain", "application/json", "text/x.enum"})
_API_KEY_INVALID = {
    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
    "reason": "API_KEY_INVALID",
    "domain": "googleapis.com",
    "metadata": {"service": "generativelanguage.googleapis.com"},
}


@dataclass(frozen=True)
class _Prompt:
    judge_text: str  # the user turns' text, judged
    count_text: str  # everything the model reads, counted
    n_contents: int


def _check_key(request: web.Request) -> None:
    """Any key or none is accepted, as by the siblings; a key starting with ``invalid`` is not."""
    key = request.headers.get("x-goog-api-key") or request.query.get("key", "")
    if key.startswith("invalid"):
        raise gemini_error(
            400, "API key not valid. Please pass a valid API key.", [_API_KEY_INVALID]
        )


def _parts_text(content: object, where: str) -> str:
    if not isinstance(content, dict) or not isinstance(content.get("parts"), list):
        raise gemini_error(400, f"{where}: a Content with a 'parts' list is required")
    texts = []
    for part in content["parts"]:
        if not isinstance(part, dict):
            raise gemini_error(400, f"{where}.parts: each part must be an object")
        if isinstance(part.get("text"), str) and not part.get("thought"):
            texts.append(part["text"])
    return "\n\n".join(texts)


def _gemini_prompt(body: JSONDict) -> _Prompt:
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        raise gemini_error(400, "contents must not be empty")
    count_parts: list[str] = []
    system = body.get("systemInstruction")
    if system is not None:
        count_parts.append(_parts_text(system, "systemInstruction"))
    judge_parts: list[str] = []
    for index, content in enumerate(contents):
        text = _parts_text(content, f"contents[{index}]")
        role = content.get("role", "user")
        if role not in {"user", "model"}:
            raise gemini_error(400, f"contents[{index}].role must be 'user' or 'model'")
        count_parts.append(text)
        if role == "user":
            judge_parts.append(text)
    return _Prompt("\n\n".join(judge_parts), "\n".join(count_parts), len(count_parts))


def _max_output_tokens(body: JSONDict) -> int | None:
    config = body.get("generationConfig") or {}
    if not isinstance(config, dict):
        raise gemini_error(400, "generationConfig must be an object")
    mime = config.get("responseMimeType", "text/plain")
    if mime not in _MIME_TYPES:
        raise gemini_error(400, f"generationConfig.responseMimeType {mime!r} is not supported")
    schema = config.get("responseSchema")
    if schema is not None and (not isinstance(schema, dict) or mime == "text/plain"):
        raise gemini_error(
            400, "responseSchema needs to be an object, with responseMimeType application/json"
        )
    value = config.get("maxOutputTokens")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise gemini_error(400, "generationConfig.maxOutputTokens must be a positive integer")
    return value


def _generate(
    state: SimState,
    model: str,
    body: JSONDict,
    digest: str,
    attempt: int,
    fault: str | None,
) -> tuple[JSONDict, Answer]:
    """Judge a generateContent request; returns the response object and the answer."""
    check_gemini(body)
    prompt = _gemini_prompt(body)
    max_tokens = _max_output_tokens(body)
    try:
        answer = state.answer(
            prompt.judge_text, digest=digest, attempt=attempt, max_tokens=max_tokens, fault=fault
        )
    except NoEssaysError as exc:
        raise gemini_error(400, str(exc)) from exc
    prof = state.profile
    prompt_tokens = (
        state.tokens(prompt.count_text) + prof.message_overhead_tokens * prompt.n_contents
    )
    # Implicit caching reuses a prompt prefix as OpenAI's automatic caching does; the prefix
    # store is keyed by model, so the two wire formats never share entries.
    readable_after = state.latency(digest, attempt, 1)  # when this call begins to answer
    cached = min(
        state.openai_cached_tokens(prompt.count_text, model, readable_after), prompt_tokens
    )
    thoughts = prof.reasoning_tokens
    candidates_tokens = state.tokens(answer.content)
    truncated = answer.finish == "length"
    if truncated and max_tokens is not None:
        candidates_tokens = max(0, max_tokens - thoughts)
    usage: JSONDict = {
        "promptTokenCount": prompt_tokens,
        "candidatesTokenCount": candidates_tokens,
        "totalTokenCount": prompt_tokens + candidates_tokens + thoughts,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt_tokens}],
    }
    if cached:
        usage["cachedContentTokenCount"] = cached
        usage["cacheTokensDetails"] = [{"modality": "TEXT", "tokenCount": cached}]
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    response = {
        "candidates": [
            {
                "content": {"parts": [{"text": answer.content}], "role": "model"},
                "finishReason": "MAX_TOKENS" if truncated else "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": usage,
        "modelVersion": model,
        "responseId": state.new_id(""),
    }
    return response, answer


def _as_gemini(exc: FaultError) -> FaultError:
    """``exc`` in Gemini's error shape (the shared faults are raised in the OpenAI one); the
    status and headers are kept, and a 429 gets the ``RetryInfo`` Gemini sends."""
    error = exc.body.get("error")
    if isinstance(error, dict) and "status" in error:
        return exc
    message = str(error.get("message", "")) if isinstance(error, dict) else ""
    details: list[JSONDict] = []
    retry = exc.headers.get("retry-after")
    if exc.status == 429 and retry is not None:
        details.append(
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{retry}s"}
        )
    rewritten = gemini_error(exc.status, message or "error (simulated)", details)
    rewritten.headers.update(exc.headers)
    return rewritten


async def _generate_content(request: web.Request) -> web.StreamResponse:
    state = request_state(request)
    state.stats["gemini_generate_requests"] += 1
    try:
        model, _, method = request.match_info["target"].partition(":")
        if method != "generateContent" or not model:
            raise gemini_error(
                404, f"models/{request.match_info['target']} is not found for API version v1beta"
            )
        _check_key(request)
        body = await read_json(request, anthropic=False)
        digest, attempt = state.next_attempt("gemini-generate", [model, body])
        estimate = state.tokens(_gemini_prompt(body).count_text) + (_max_output_tokens(body) or 0)
        enforce_rate(state, estimate, anthropic=False)
        quota_check(state, "gemini")
        fault = state.draw_fault(digest, attempt)
        try:
            await transport_fault(state, request, fault, anthropic=False)
        except FaultError as exc:
            # Gemini answers server trouble with 503 "overloaded" as often as with 500.
            if fault == "server_error" and state.rng("gemini-503", digest, attempt).uniform() < 0.5:
                state.stats["gemini_unavailable"] += 1
                raise gemini_error(503, "The model is overloaded. Please try again later.") from exc
            raise
        response, answer = _generate(state, model, body, digest, attempt, fault)
        await asyncio.sleep(state.latency(digest, attempt, answer.n_pairs))
        return web.json_response(response)
    except FaultError as exc:
        return fault_response(_as_gemini(exc), {})


def add_gemini_routes(app: web.Application) -> None:
    """Add the Gemini endpoint to ``app``."""
    app.router.add_post("/v1beta/models/{target}", _generate_content)
