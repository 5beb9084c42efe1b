"""The simulated provider server: an aiohttp application speaking the OpenAI and Anthropic APIs.

Endpoints (all under ``/v1``):

* OpenAI: ``POST /chat/completions``; ``POST /files``, ``GET /files/{id}``,
  ``GET /files/{id}/content``; ``POST /batches``, ``GET /batches``, ``GET /batches/{id}``,
  ``POST /batches/{id}/cancel``.
* Anthropic: ``POST /messages``; ``POST /messages/batches``, ``GET /messages/batches``,
  ``GET /messages/batches/{id}``, ``GET /messages/batches/{id}/results``,
  ``POST /messages/batches/{id}/cancel``.
* ``GET /sim/health`` and ``GET /sim/stats`` (counters of requests and injected faults).

Answers come from :mod:`app.simserver.judging`; latency, token counts, faults and batch timing
from the profile (:mod:`app.simserver.profiles`), with every duration divided by ``speed``.
An answer is deterministic for (seed, request body, number of earlier identical requests).
An API key must be sent (``Authorization: Bearer …`` or ``x-api-key``); a key starting with
``invalid`` is refused with 401.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import functools
import hashlib
import json
import math
import threading
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from aiohttp import web

from app.simserver.judging import (
    NoEssaysError,
    PairJudgement,
    extract_essays,
    judge_pairs,
    logprob_entries,
    pair_fingerprint,
    payload_for,
    render_content,
)
from app.simserver.profiles import SimProfile, get_profile
from core.simulate import stable_seed

__all__ = [
    "STATE_KEY",
    "SimState",
    "build_app",
    "running_server",
    "start_in_thread",
]

JSONDict = dict[str, Any]

_CACHE_LIMIT = 50_000


class _FaultError(Exception):
    """An error answer (status, body, extra headers)."""

    def __init__(self, status: int, body: JSONDict, headers: Mapping[str, str] | None = None):
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = dict(headers or {})


class _DroppedError(Exception):
    """The connection was closed on purpose."""


def _openai_error(status: int, message: str, kind: str, code: str | None = None) -> _FaultError:
    return _FaultError(
        status, {"error": {"message": message, "type": kind, "param": None, "code": code}}
    )


def _anthropic_error(status: int, message: str, kind: str) -> _FaultError:
    return _FaultError(status, {"type": "error", "error": {"type": kind, "message": message}})


def _digest(obj: object) -> str:
    raw = json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


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


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _duration(seconds: float) -> str:
    if seconds < 1.0:
        return f"{max(1, round(seconds * 1000))}ms"
    return f"{seconds:.3f}s"


def _seconds_header(seconds: float) -> str:
    return f"{max(seconds, 0.001):.3f}"


@dataclass
class _OpenAIBatch:
    id: str
    endpoint: str
    input_file_id: str
    completion_window: str
    created_at: int
    metadata: JSONDict | None
    requests: list[JSONDict]
    status: str = "validating"
    in_progress_at: int | None = None
    finalizing_at: int | None = None
    completed_at: int | None = None
    failed_at: int | None = None
    expired_at: int | None = None
    cancelling_at: int | None = None
    cancelled_at: int | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    errors: JSONDict | None = None
    counts: dict[str, int] = field(
        default_factory=lambda: {"total": 0, "completed": 0, "failed": 0}
    )
    cancel_requested: bool = False
    started_monotonic: float = 0.0

    def to_json(self) -> JSONDict:
        return {
            "id": self.id,
            "object": "batch",
            "endpoint": self.endpoint,
            "errors": self.errors,
            "input_file_id": self.input_file_id,
            "completion_window": self.completion_window,
            "status": self.status,
            "output_file_id": self.output_file_id,
            "error_file_id": self.error_file_id,
            "created_at": self.created_at,
            "in_progress_at": self.in_progress_at,
            "expires_at": self.created_at + 86_400,
            "finalizing_at": self.finalizing_at,
            "completed_at": self.completed_at,
            "failed_at": self.failed_at,
            "expired_at": self.expired_at,
            "cancelling_at": self.cancelling_at,
            "cancelled_at": self.cancelled_at,
            "request_counts": dict(self.counts),
            "metadata": self.metadata,
        }


@dataclass
class _AnthropicBatch:
    id: str
    created_at: float
    requests: list[JSONDict]
    processing_status: str = "in_progress"
    ended_at: float | None = None
    cancel_initiated_at: float | None = None
    results: list[JSONDict] | None = None
    counts: dict[str, int] = field(
        default_factory=lambda: {
            "processing": 0,
            "succeeded": 0,
            "errored": 0,
            "canceled": 0,
            "expired": 0,
        }
    )
    cancel_requested: bool = False
    started_monotonic: float = 0.0

    def to_json(self, base_url: str) -> JSONDict:
        return {
            "id": self.id,
            "type": "message_batch",
            "processing_status": self.processing_status,
            "request_counts": dict(self.counts),
            "ended_at": _iso(self.ended_at) if self.ended_at is not None else None,
            "created_at": _iso(self.created_at),
            "expires_at": _iso(self.created_at + 86_400),
            "archived_at": None,
            "cancel_initiated_at": (
                _iso(self.cancel_initiated_at) if self.cancel_initiated_at is not None else None
            ),
            "results_url": (
                f"{base_url}/v1/messages/batches/{self.id}/results"
                if self.processing_status == "ended"
                else None
            ),
        }


@dataclass
class _StoredFile:
    id: str
    filename: str
    purpose: str
    data: bytes
    created_at: int

    def to_json(self) -> JSONDict:
        return {
            "id": self.id,
            "object": "file",
            "bytes": len(self.data),
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
            "status_details": None,
        }


@dataclass
class _Answer:
    """A judged answer before it is put in a provider's envelope."""

    judgements: list[PairJudgement]
    payload: JSONDict
    content: str
    finish: str  # "stop" | "length" | "malformed"
    malformed_kind: str | None
    seed_key: str
    n_pairs: int


class SimState:
    """Everything one running simulated server remembers."""

    def __init__(self, profile: SimProfile, speed: float, seed: int) -> None:
        if not speed > 0 or not math.isfinite(speed):
            raise ValueError("speed must be a positive finite number")
        self.profile = profile
        self.speed = float(speed)
        self.seed = int(seed)
        self.attempts: Counter[str] = Counter()
        self.stats: Counter[str] = Counter()
        # Every winner this server has stated for an ordered pair (faulty answers included), so
        # a client's verdict can be checked against what was really said.
        self.ledger: dict[str, list[str]] = {}
        self.files: dict[str, _StoredFile] = {}
        self.openai_batches: dict[str, _OpenAIBatch] = {}
        self.anthropic_batches: dict[str, _AnthropicBatch] = {}
        self.openai_prefixes: set[str] = set()
        self.anthropic_prefixes: set[str] = set()
        self.window: deque[tuple[float, int]] = deque()
        self.tasks: set[asyncio.Task[None]] = set()
        self._ids = 0

    # -- helpers ------------------------------------------------------------------------------

    def new_id(self, prefix: str) -> str:
        self._ids += 1
        tail = hashlib.sha256(f"{self.seed}/{prefix}/{self._ids}".encode()).hexdigest()[:24]
        return f"{prefix}{tail}"

    def scaled(self, seconds: float) -> float:
        return seconds / self.speed

    def next_attempt(self, kind: str, body: object) -> tuple[str, int]:
        digest = _digest([kind, body])
        attempt = self.attempts[digest]
        self.attempts[digest] = attempt + 1
        return digest, attempt

    def rng(self, *parts: object) -> np.random.Generator:
        return np.random.default_rng(stable_seed(self.seed, *parts))

    def tokens(self, text: str) -> int:
        return math.ceil(len(text) / self.profile.chars_per_token) if text else 0

    # -- rate limits --------------------------------------------------------------------------

    def _prune(self, now: float) -> None:
        horizon = now - self.scaled(60.0)
        while self.window and self.window[0][0] <= horizon:
            self.window.popleft()

    def rate_check(self, tokens: int) -> float | None:
        """Record a request of ``tokens``; the wait until allowed if over a limit, else None."""
        now = time.monotonic()
        self._prune(now)
        used_tokens = sum(t for _, t in self.window)
        prof = self.profile
        if len(self.window) >= prof.requests_per_minute or (
            self.window and used_tokens + tokens > prof.tokens_per_minute
        ):
            oldest = self.window[0][0]
            return max(oldest + self.scaled(60.0) - now, 0.001)
        self.window.append((now, tokens))
        return None

    def rate_remaining(self) -> tuple[int, int, float]:
        now = time.monotonic()
        self._prune(now)
        used_tokens = sum(t for _, t in self.window)
        reset = (self.window[0][0] + self.scaled(60.0) - now) if self.window else 0.0
        return (
            max(0, self.profile.requests_per_minute - len(self.window)),
            max(0, self.profile.tokens_per_minute - used_tokens),
            max(reset, 0.0),
        )

    def openai_rate_headers(self) -> dict[str, str]:
        req, tok, reset = self.rate_remaining()
        return {
            "x-ratelimit-limit-requests": str(self.profile.requests_per_minute),
            "x-ratelimit-limit-tokens": str(self.profile.tokens_per_minute),
            "x-ratelimit-remaining-requests": str(req),
            "x-ratelimit-remaining-tokens": str(tok),
            "x-ratelimit-reset-requests": _duration(reset),
            "x-ratelimit-reset-tokens": _duration(reset),
        }

    def anthropic_rate_headers(self) -> dict[str, str]:
        req, tok, reset = self.rate_remaining()
        reset_at = _iso(time.time() + reset)
        return {
            "anthropic-ratelimit-requests-limit": str(self.profile.requests_per_minute),
            "anthropic-ratelimit-requests-remaining": str(req),
            "anthropic-ratelimit-requests-reset": reset_at,
            "anthropic-ratelimit-tokens-limit": str(self.profile.tokens_per_minute),
            "anthropic-ratelimit-tokens-remaining": str(tok),
            "anthropic-ratelimit-tokens-reset": reset_at,
        }

    # -- caching ------------------------------------------------------------------------------

    def openai_cached_tokens(self, prompt: str, model: str) -> int:
        """OpenAI-style automatic prefix caching in steps of ``openai_cache_step_tokens``."""
        prof = self.profile
        total = self.tokens(prompt)
        if total < prof.openai_cache_min_tokens:
            return 0
        step = max(1, prof.openai_cache_step_tokens)
        cached = 0
        boundaries = range(prof.openai_cache_min_tokens, total + 1, step)
        keys = []
        for m in boundaries:
            chars = int(m * prof.chars_per_token)
            key = _digest([model, prompt[:chars]])
            keys.append(key)
            if key in self.openai_prefixes:
                cached = m
        if len(self.openai_prefixes) > _CACHE_LIMIT:
            self.openai_prefixes.clear()
        self.openai_prefixes.update(keys)
        return cached

    # -- judging ------------------------------------------------------------------------------

    def answer(
        self,
        prompt_text: str,
        *,
        digest: str,
        attempt: int,
        max_tokens: int | None,
        fault: str | None,
    ) -> _Answer:
        """Judge the prompt and apply content faults (malformed, truncated, max_tokens)."""
        essays = extract_essays(prompt_text)
        seed_key = f"{self.seed}/{digest}/{attempt}"
        judgements = judge_pairs(essays, self.profile, seed_key=seed_key)
        for pair, judgement in zip(essays.pairs, judgements, strict=True):
            key = pair_fingerprint(pair.text_a, pair.text_b)
            self.ledger.setdefault(key, []).append(judgement.winner)
        payload = payload_for(judgements, essays.bundle)
        content = render_content(payload)
        rng = self.rng("content-fault", digest, attempt)
        finish = "stop"
        malformed_kind: str | None = None
        if fault == "malformed":
            malformed_kind = str(
                rng.choice(["prose", "unclosed", "bad_winner", "bad_confidence", "missing_field"])
            )
            payload, content = _malform(payload, content, malformed_kind)
            finish = "malformed"
            self.stats["fault_malformed"] += 1
        completion = self.tokens(content) + self.profile.reasoning_tokens
        if fault == "truncated":
            fraction = float(rng.uniform(0.2, 0.8))
            content = content[: max(1, int(len(content) * fraction))]
            finish = "length"
            self.stats["fault_truncated"] += 1
        elif max_tokens is not None and completion > max_tokens:
            visible = max(0, max_tokens - self.profile.reasoning_tokens)
            content = content[: int(visible * self.profile.chars_per_token)]
            finish = "length"
            self.stats["truncated_by_max_tokens"] += 1
        return _Answer(
            judgements=judgements,
            payload=payload,
            content=content,
            finish=finish,
            malformed_kind=malformed_kind,
            seed_key=seed_key,
            n_pairs=len(essays.pairs),
        )

    def latency(self, digest: str, attempt: int, n_pairs: int) -> float:
        prof = self.profile
        mu, sigma = prof.latency_lognormal
        rng = self.rng("latency", digest, attempt)
        base = float(math.exp(mu + sigma * float(rng.standard_normal())))
        return self.scaled(base * (1.0 + prof.latency_per_extra_pair * max(0, n_pairs - 1)))

    def draw_fault(self, digest: str, attempt: int) -> str | None:
        u = float(self.rng("fault", digest, attempt).uniform())
        acc = 0.0
        for kind, rate in self.profile.faults.kinds():
            acc += rate
            if u < acc:
                return kind
        return None


def _malform(payload: JSONDict, content: str, kind: str) -> tuple[JSONDict, str]:
    """Spoil an answer: the payload (for tool inputs) and the text (for message content)."""
    spoiled = copy.deepcopy(payload)
    target: JSONDict = spoiled
    verdicts = spoiled.get("verdicts")
    if isinstance(verdicts, list) and verdicts:
        target = verdicts[0]
    if kind == "prose":
        return spoiled, "Here is my assessment of the essays.\n" + content + "\nThank you!"
    if kind == "unclosed":
        return spoiled, content[: max(1, len(content) - 7)]
    if kind == "bad_winner":
        target["winner"] = "Essay C"
    elif kind == "bad_confidence":
        target["confidence"] = "high"
    else:
        target.pop("confidence", None)
    return spoiled, json.dumps(spoiled, ensure_ascii=False)


STATE_KEY = web.AppKey("sim_state", SimState)


def _state(request: web.Request) -> SimState:
    return request.app[STATE_KEY]


async def _read_json(request: web.Request, anthropic: bool) -> JSONDict:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        err = _anthropic_error if anthropic else _openai_error_invalid
        raise err(400, f"request body is not valid JSON: {exc}", "invalid_request_error") from exc
    if not isinstance(body, dict):
        err = _anthropic_error if anthropic else _openai_error_invalid
        raise err(400, "request body must be a JSON object", "invalid_request_error")
    return body


def _openai_error_invalid(status: int, message: str, kind: str) -> _FaultError:
    return _openai_error(status, message, kind)


def _check_key(request: web.Request, anthropic: bool) -> None:
    key = request.headers.get("x-api-key", "")
    auth = request.headers.get("Authorization", "")
    if auth.lower().startswith("bearer "):
        key = key or auth[7:].strip()
    # Like a local OpenAI-compatible server (Ollama, LM Studio), any key or none is accepted;
    # keys starting with "invalid" are refused so clients' auth handling can be tested.
    if key.startswith("invalid"):
        message = "invalid API key"
        if anthropic:
            raise _anthropic_error(401, message, "authentication_error")
        raise _openai_error(401, message, "invalid_request_error", "invalid_api_key")


def _fault_response(exc: _FaultError, headers: Mapping[str, str]) -> web.Response:
    merged = {**headers, **exc.headers}
    return web.json_response(exc.body, status=exc.status, headers=merged)


async def _hold_open(state: SimState, request: web.Request) -> None:
    """Keep a request open past any client timeout (ends early when the client goes)."""
    deadline = time.monotonic() + state.profile.timeout_sleep_s
    while time.monotonic() < deadline:
        transport = request.transport
        if transport is None or transport.is_closing():
            return
        await asyncio.sleep(0.05)


def _drop(request: web.Request) -> None:
    transport = request.transport
    if transport is not None:
        transport.close()
    raise _DroppedError


async def _transport_fault(
    state: SimState, request: web.Request, fault: str | None, anthropic: bool
) -> None:
    """Apply a fault that replaces the whole answer (429, 500, timeout, drop)."""
    if fault is None or fault in {"malformed", "truncated"}:
        return
    state.stats[f"fault_{fault}"] += 1
    prof = state.profile
    if fault == "rate_limit":
        await asyncio.sleep(state.scaled(prof.fault_latency_s))
        retry = state.scaled(prof.retry_after_s)
        message = "Rate limit reached (simulated). Please retry after the given time."
        err = (
            _anthropic_error(429, message, "rate_limit_error")
            if anthropic
            else _openai_error(429, message, "requests", "rate_limit_exceeded")
        )
        err.headers.update(
            {"retry-after": _seconds_header(retry), "retry-after-ms": str(round(retry * 1000))}
        )
        raise err
    if fault == "server_error":
        await asyncio.sleep(state.scaled(prof.fault_latency_s))
        message = "The server had an error while processing your request (simulated)."
        raise (
            _anthropic_error(500, message, "api_error")
            if anthropic
            else _openai_error(500, message, "server_error")
        )
    if fault == "timeout":
        await _hold_open(state, request)
        message = "The request timed out (simulated)."
        raise (
            _anthropic_error(504, message, "timeout_error")
            if anthropic
            else _openai_error(504, message, "timeout")
        )
    if fault == "drop":
        await asyncio.sleep(state.scaled(prof.fault_latency_s))
        _drop(request)


def _enforce_rate(state: SimState, tokens: int, anthropic: bool) -> None:
    wait = state.rate_check(tokens)
    if wait is None:
        return
    state.stats["rate_limited"] += 1
    message = "Rate limit reached for requests or tokens per minute (simulated)."
    err = (
        _anthropic_error(429, message, "rate_limit_error")
        if anthropic
        else _openai_error(429, message, "requests", "rate_limit_exceeded")
    )
    err.headers.update(
        {"retry-after": _seconds_header(wait), "retry-after-ms": str(max(1, round(wait * 1000)))}
    )
    raise err


# ---------------------------------------------------------------------------------------------
# OpenAI chat completions
# ---------------------------------------------------------------------------------------------


def _openai_prompt(body: JSONDict) -> tuple[str, str, int]:
    """(prompt text for judging, prompt text for token counting, message count)."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _openai_error(400, "'messages' must be a non-empty list", "invalid_request_error")
    judge_parts: list[str] = []
    count_parts: list[str] = []
    for message in messages:
        if not isinstance(message, dict) or "role" not in message:
            raise _openai_error(400, "each message needs a 'role'", "invalid_request_error")
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
                raise _openai_error(
                    400, f"'{key}' must be a positive integer", "invalid_request_error"
                )
            return value
    return None


def _openai_completion(
    state: SimState, body: JSONDict, digest: str, attempt: int, fault: str | None
) -> tuple[JSONDict, _Answer]:
    """Judge a chat completion request; returns the response object and the answer."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _openai_error(400, "'model' is required", "invalid_request_error")
    if body.get("stream"):
        raise _openai_error(400, "streaming is not supported here", "invalid_request_error")
    judge_text, count_text, n_messages = _openai_prompt(body)
    max_tokens = _openai_max_tokens(body)
    try:
        answer = state.answer(
            judge_text, digest=digest, attempt=attempt, max_tokens=max_tokens, fault=fault
        )
    except NoEssaysError as exc:
        raise _openai_error(400, str(exc), "invalid_request_error") from exc
    prof = state.profile
    prompt_tokens = state.tokens(count_text) + prof.message_overhead_tokens * n_messages + 3
    cached = min(state.openai_cached_tokens(count_text, model), prompt_tokens)
    completion_tokens = state.tokens(answer.content) + prof.reasoning_tokens
    if answer.finish == "length" and max_tokens is not None:
        completion_tokens = max_tokens
    finish_reason = "length" if answer.finish == "length" else "stop"
    logprobs: JSONDict | None = None
    if body.get("logprobs"):
        top = body.get("top_logprobs") or 0
        if isinstance(top, bool) or not isinstance(top, int) or not 0 <= top <= 20:
            raise _openai_error(
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
    state = _state(request)
    state.stats["openai_chat_requests"] += 1
    request_id = state.new_id("req_")
    headers = {"x-request-id": request_id}
    try:
        _check_key(request, anthropic=False)
        body = await _read_json(request, anthropic=False)
        digest, attempt = state.next_attempt("openai-chat", body)
        _, count_text, _ = _openai_prompt(body)
        estimate = state.tokens(count_text) + (_openai_max_tokens(body) or 0)
        _enforce_rate(state, estimate, anthropic=False)
        headers.update(state.openai_rate_headers())
        fault = state.draw_fault(digest, attempt)
        await _transport_fault(state, request, fault, anthropic=False)
        response, answer = _openai_completion(state, body, digest, attempt, fault)
        latency = state.latency(digest, attempt, answer.n_pairs)
        await asyncio.sleep(latency)
        response["id"] = "chatcmpl-" + request_id[4:]
        headers["openai-processing-ms"] = str(round(latency * 1000))
        return web.json_response(response, headers=headers)
    except _FaultError as exc:
        headers.update(state.openai_rate_headers())
        return _fault_response(exc, headers)


# ---------------------------------------------------------------------------------------------
# Anthropic messages
# ---------------------------------------------------------------------------------------------


def _anthropic_blocks(body: JSONDict) -> list[tuple[str, str, bool]]:
    """Ordered (part, text, has_cache_control) for tools, system blocks and message blocks."""
    blocks: list[tuple[str, str, bool]] = []
    tools = body.get("tools") or []
    if not isinstance(tools, list):
        raise _anthropic_error(400, "'tools' must be a list", "invalid_request_error")
    for tool in tools:
        if not isinstance(tool, dict) or "name" not in tool:
            raise _anthropic_error(400, "each tool needs a 'name'", "invalid_request_error")
        blocks.append(("tool", json.dumps(tool, sort_keys=True), "cache_control" in tool))
    system = body.get("system")
    if isinstance(system, str):
        blocks.append(("system", system, False))
    elif isinstance(system, list):
        for block in system:
            if not isinstance(block, dict) or not isinstance(block.get("text"), str):
                raise _anthropic_error(
                    400, "system blocks must be text blocks", "invalid_request_error"
                )
            blocks.append(("system", block["text"], "cache_control" in block))
    elif system is not None:
        raise _anthropic_error(400, "'system' must be a string or a list", "invalid_request_error")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _anthropic_error(400, "'messages' must be a non-empty list", "invalid_request_error")
    for message in messages:
        if not isinstance(message, dict) or message.get("role") not in {"user", "assistant"}:
            raise _anthropic_error(
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
            raise _anthropic_error(400, "message content is missing", "invalid_request_error")
    return blocks


def _anthropic_message(
    state: SimState, body: JSONDict, digest: str, attempt: int, fault: str | None
) -> JSONDict:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _anthropic_error(400, "model: field required", "invalid_request_error")
    max_tokens = body.get("max_tokens")
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise _anthropic_error(
            400, "max_tokens: a positive integer is required", "invalid_request_error"
        )
    if body.get("stream"):
        raise _anthropic_error(400, "streaming is not supported here", "invalid_request_error")
    blocks = _anthropic_blocks(body)
    judge_text = "\n\n".join(text for part, text, _ in blocks if part == "user")
    tool_name: str | None = None
    tool_choice = body.get("tool_choice")
    tools = body.get("tools") or []
    if isinstance(tool_choice, dict) and tool_choice.get("type") == "tool":
        tool_name = str(tool_choice.get("name", ""))
        if not any(isinstance(t, dict) and t.get("name") == tool_name for t in tools):
            raise _anthropic_error(
                400, f"tool_choice names an unknown tool {tool_name!r}", "invalid_request_error"
            )
    elif tools and isinstance(tools[0], dict):
        tool_name = str(tools[0].get("name"))
    try:
        answer = state.answer(
            judge_text, digest=digest, attempt=attempt, max_tokens=max_tokens, fault=fault
        )
    except NoEssaysError as exc:
        raise _anthropic_error(400, str(exc), "invalid_request_error") from exc

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
        if prefix_tokens >= prof.anthropic_cache_min_tokens:
            key = _digest([model, prefix_blocks])
            if key in state.anthropic_prefixes:
                cache_read = prefix_tokens
            else:
                if len(state.anthropic_prefixes) > _CACHE_LIMIT:
                    state.anthropic_prefixes.clear()
                state.anthropic_prefixes.add(key)
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
    state = _state(request)
    state.stats["anthropic_messages_requests"] += 1
    request_id = state.new_id("req_")
    headers = {"request-id": request_id}
    try:
        _check_key(request, anthropic=True)
        body = await _read_json(request, anthropic=True)
        digest, attempt = state.next_attempt("anthropic-messages", body)
        blocks = _anthropic_blocks(body)
        max_tokens = body.get("max_tokens")
        estimate = sum(state.tokens(t) for _, t, _ in blocks) + (
            max_tokens if isinstance(max_tokens, int) else 0
        )
        _enforce_rate(state, estimate, anthropic=True)
        headers.update(state.anthropic_rate_headers())
        fault = state.draw_fault(digest, attempt)
        await _transport_fault(state, request, fault, anthropic=True)
        response = _anthropic_message(state, body, digest, attempt, fault)
        n_pairs = _count_pairs(response)
        await asyncio.sleep(state.latency(digest, attempt, n_pairs))
        return web.json_response(response, headers=headers)
    except _FaultError as exc:
        headers.update(state.anthropic_rate_headers())
        return _fault_response(exc, headers)


def _count_pairs(message: JSONDict) -> int:
    for block in message.get("content", []):
        if block.get("type") == "tool_use":
            verdicts = block.get("input", {}).get("verdicts")
            if isinstance(verdicts, list):
                return max(1, len(verdicts))
    return 1


# ---------------------------------------------------------------------------------------------
# OpenAI files and batches
# ---------------------------------------------------------------------------------------------


Handler = Callable[[web.Request, "SimState"], Awaitable[web.StreamResponse]]


def _guarded(
    *, anthropic: bool
) -> Callable[[Handler], Callable[[web.Request], Awaitable[web.StreamResponse]]]:
    """Endpoint wrapper: check the API key, hand over the server state, and turn a simulated
    provider error into the provider's error response."""

    def wrap(handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        @functools.wraps(handler)
        async def guarded(request: web.Request) -> web.StreamResponse:
            try:
                _check_key(request, anthropic=anthropic)
                return await handler(request, _state(request))
            except _FaultError as exc:
                return _fault_response(exc, {})

        return guarded

    return wrap


@_guarded(anthropic=False)
async def _files_create(request: web.Request, state: SimState) -> web.StreamResponse:
    form = await request.post()
    upload = form.get("file")
    purpose = str(form.get("purpose", ""))
    if upload is None or not hasattr(upload, "file"):
        raise _openai_error(400, "a multipart 'file' field is required", "invalid_request_error")
    if purpose not in {"batch", "batch_output", "user_data", "assistants", "fine-tune"}:
        raise _openai_error(400, f"unknown purpose {purpose!r}", "invalid_request_error")
    data = upload.file.read()
    stored = _StoredFile(
        id=state.new_id("file-"),
        filename=str(getattr(upload, "filename", "upload.jsonl")),
        purpose=purpose,
        data=data,
        created_at=int(time.time()),
    )
    state.files[stored.id] = stored
    return web.json_response(stored.to_json())


def _get_file(state: SimState, file_id: str) -> _StoredFile:
    stored = state.files.get(file_id)
    if stored is None:
        raise _openai_error(404, f"No such File object: {file_id}", "invalid_request_error")
    return stored


@_guarded(anthropic=False)
async def _files_get(request: web.Request, state: SimState) -> web.StreamResponse:
    return web.json_response(_get_file(state, request.match_info["file_id"]).to_json())


@_guarded(anthropic=False)
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


@_guarded(anthropic=False)
async def _batches_create(request: web.Request, state: SimState) -> web.StreamResponse:
    body = await _read_json(request, anthropic=False)
    endpoint = body.get("endpoint")
    if endpoint != "/v1/chat/completions":
        raise _openai_error(
            400, "only the /v1/chat/completions endpoint is supported", "invalid_request_error"
        )
    if body.get("completion_window") != "24h":
        raise _openai_error(400, "completion_window must be '24h'", "invalid_request_error")
    stored = _get_file(state, str(body.get("input_file_id")))
    requests, errors = _parse_batch_lines(stored.data, endpoint)
    batch = _OpenAIBatch(
        id=state.new_id("batch_"),
        endpoint=endpoint,
        input_file_id=stored.id,
        completion_window="24h",
        created_at=int(time.time()),
        metadata=body.get("metadata") if isinstance(body.get("metadata"), dict) else None,
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
        _spawn(state, _run_openai_batch(state, batch))
    state.openai_batches[batch.id] = batch
    state.stats["openai_batches"] += 1
    return web.json_response(batch.to_json())


def _spawn(state: SimState, coro: Any) -> None:
    task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)
    state.tasks.add(task)
    task.add_done_callback(state.tasks.discard)


async def _sleep_until(
    state: SimState, start: float, seconds: float, cancelled: Callable[[], bool]
) -> bool:
    """Sleep until ``start + seconds/speed``; False if cancelled meanwhile."""
    deadline = start + state.scaled(seconds)
    while True:
        if cancelled():
            return False
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return True
        await asyncio.sleep(min(remaining, 0.05))


def _store_jsonl(state: SimState, lines: list[JSONDict], purpose: str, name: str) -> str | None:
    if not lines:
        return None
    data = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines).encode("utf-8")
    stored = _StoredFile(
        id=state.new_id("file-"),
        filename=name,
        purpose=purpose,
        data=data,
        created_at=int(time.time()),
    )
    state.files[stored.id] = stored
    return stored.id


def _batch_item_error(state: SimState, key: str) -> bool:
    rate = state.profile.batch_item_error_rate
    return rate > 0 and float(state.rng("batch-item", key).uniform()) < rate


def _content_fault(state: SimState, digest: str, attempt: int) -> str | None:
    fault = state.draw_fault(digest, attempt)
    return fault if fault in {"malformed", "truncated"} else None


def _openai_batch_line(
    state: SimState, batch: _OpenAIBatch, item: JSONDict
) -> tuple[JSONDict, bool]:
    """One output line; True if it belongs in the error file."""
    custom_id = item["custom_id"]
    line_id = state.new_id("batch_req_")
    body = item["body"]
    digest, attempt = state.next_attempt("openai-chat", body)
    if _batch_item_error(state, f"{batch.id}/{custom_id}"):
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
            state, body, digest, attempt, _content_fault(state, digest, attempt)
        )
        status = 200
        payload: JSONDict = response
    except _FaultError as exc:
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


async def _run_openai_batch(state: SimState, batch: _OpenAIBatch) -> None:
    prof = state.profile

    def cancelled() -> bool:
        return batch.cancel_requested

    start = batch.started_monotonic
    expire = (
        prof.batch_expire_rate > 0
        and float(state.rng("batch-expire", batch.id).uniform()) < prof.batch_expire_rate
    )
    if await _sleep_until(state, start, prof.batch_validating_s, cancelled):
        batch.status = "in_progress"
        batch.in_progress_at = int(time.time())
        finished = await _sleep_until(state, start, prof.batch_delay_s, cancelled)
    else:
        finished = False
    if finished:
        batch.status = "finalizing"
        batch.finalizing_at = int(time.time())
        n_done = len(batch.requests)
        if expire:
            n_done = int(state.rng("batch-expire-share", batch.id).integers(0, len(batch.requests)))
    else:
        elapsed = (time.monotonic() - start) / max(state.scaled(prof.batch_delay_s), 1e-9)
        n_done = int(len(batch.requests) * min(max(elapsed, 0.0), 1.0) * 0.5)
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


def _get_openai_batch(state: SimState, batch_id: str) -> _OpenAIBatch:
    batch = state.openai_batches.get(batch_id)
    if batch is None:
        raise _openai_error(404, f"No such Batch object: {batch_id}", "invalid_request_error")
    return batch


@_guarded(anthropic=False)
async def _batches_get(request: web.Request, state: SimState) -> web.StreamResponse:
    return web.json_response(_get_openai_batch(state, request.match_info["batch_id"]).to_json())


@_guarded(anthropic=False)
async def _batches_list(request: web.Request, state: SimState) -> web.StreamResponse:
    data = [b.to_json() for b in reversed(list(state.openai_batches.values()))]
    return web.json_response(
        {
            "object": "list",
            "data": data,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
            "has_more": False,
        }
    )


@_guarded(anthropic=False)
async def _batches_cancel(request: web.Request, state: SimState) -> web.StreamResponse:
    batch = _get_openai_batch(state, request.match_info["batch_id"])
    if batch.status in {"validating", "in_progress"}:
        batch.cancel_requested = True
        batch.status = "cancelling"
        batch.cancelling_at = int(time.time())
    elif batch.status not in {"cancelling", "cancelled"}:
        raise _openai_error(
            409, f"Cannot cancel a batch with status '{batch.status}'.", "invalid_request_error"
        )
    return web.json_response(batch.to_json())


# ---------------------------------------------------------------------------------------------
# Anthropic message batches
# ---------------------------------------------------------------------------------------------


def _base_url(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


@_guarded(anthropic=True)
async def _mbatches_create(request: web.Request, state: SimState) -> web.StreamResponse:
    body = await _read_json(request, anthropic=True)
    requests = body.get("requests")
    if not isinstance(requests, list) or not requests:
        raise _anthropic_error(400, "'requests' must be a non-empty list", "invalid_request_error")
    seen: set[str] = set()
    for item in requests:
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("custom_id"), str)
            or not isinstance(item.get("params"), dict)
        ):
            raise _anthropic_error(
                400, "each request needs 'custom_id' and 'params'", "invalid_request_error"
            )
        if item["custom_id"] in seen:
            raise _anthropic_error(
                400, f"custom_id {item['custom_id']!r} is repeated", "invalid_request_error"
            )
        seen.add(item["custom_id"])
    batch = _AnthropicBatch(
        id=state.new_id("msgbatch_"),
        created_at=time.time(),
        requests=list(requests),
        started_monotonic=time.monotonic(),
    )
    batch.counts["processing"] = len(requests)
    state.anthropic_batches[batch.id] = batch
    state.stats["anthropic_batches"] += 1
    _spawn(state, _run_anthropic_batch(state, batch))
    return web.json_response(batch.to_json(_base_url(request)))


def _anthropic_batch_result(state: SimState, batch: _AnthropicBatch, item: JSONDict) -> JSONDict:
    custom_id = item["custom_id"]
    params = item["params"]
    if _batch_item_error(state, f"{batch.id}/{custom_id}"):
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
            state, params, digest, attempt, _content_fault(state, digest, attempt)
        )
    except _FaultError as exc:
        return {"custom_id": custom_id, "result": {"type": "errored", "error": exc.body}}
    return {"custom_id": custom_id, "result": {"type": "succeeded", "message": message}}


async def _run_anthropic_batch(state: SimState, batch: _AnthropicBatch) -> None:
    prof = state.profile

    def cancelled() -> bool:
        return batch.cancel_requested

    start = batch.started_monotonic
    expire = (
        prof.batch_expire_rate > 0
        and float(state.rng("batch-expire", batch.id).uniform()) < prof.batch_expire_rate
    )
    finished = await _sleep_until(state, start, prof.batch_delay_s, cancelled)
    if finished:
        n_done = len(batch.requests)
        if expire:
            n_done = int(state.rng("batch-expire-share", batch.id).integers(0, len(batch.requests)))
    else:
        elapsed = (time.monotonic() - start) / max(state.scaled(prof.batch_delay_s), 1e-9)
        n_done = int(len(batch.requests) * min(max(elapsed, 0.0), 1.0) * 0.5)
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


def _get_anthropic_batch(state: SimState, batch_id: str) -> _AnthropicBatch:
    batch = state.anthropic_batches.get(batch_id)
    if batch is None:
        raise _anthropic_error(404, f"message batch {batch_id} not found", "not_found_error")
    return batch


@_guarded(anthropic=True)
async def _mbatches_get(request: web.Request, state: SimState) -> web.StreamResponse:
    batch = _get_anthropic_batch(state, request.match_info["batch_id"])
    return web.json_response(batch.to_json(_base_url(request)))


@_guarded(anthropic=True)
async def _mbatches_list(request: web.Request, state: SimState) -> web.StreamResponse:
    base = _base_url(request)
    data = [b.to_json(base) for b in reversed(list(state.anthropic_batches.values()))]
    return web.json_response(
        {
            "data": data,
            "has_more": False,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
        }
    )


@_guarded(anthropic=True)
async def _mbatches_results(request: web.Request, state: SimState) -> web.StreamResponse:
    batch = _get_anthropic_batch(state, request.match_info["batch_id"])
    if batch.processing_status != "ended" or batch.results is None:
        raise _anthropic_error(
            400,
            f"message batch {batch.id} is still processing; results are not ready",
            "invalid_request_error",
        )
    data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in batch.results)
    return web.Response(text=data, content_type="application/binary")


@_guarded(anthropic=True)
async def _mbatches_cancel(request: web.Request, state: SimState) -> web.StreamResponse:
    batch = _get_anthropic_batch(state, request.match_info["batch_id"])
    if batch.processing_status == "in_progress":
        batch.cancel_requested = True
        batch.processing_status = "canceling"
        batch.cancel_initiated_at = time.time()
    return web.json_response(batch.to_json(_base_url(request)))


# ---------------------------------------------------------------------------------------------
# Service endpoints and application
# ---------------------------------------------------------------------------------------------


async def _health(request: web.Request) -> web.StreamResponse:
    state = _state(request)
    return web.json_response(
        {"status": "ok", "profile": state.profile.name, "speed": state.speed, "seed": state.seed}
    )


async def _stats(request: web.Request) -> web.StreamResponse:
    return web.json_response(dict(_state(request).stats))


async def _ledger(request: web.Request) -> web.StreamResponse:
    """Winners stated per ordered pair (key: ``judging.pair_fingerprint``)."""
    return web.json_response(_state(request).ledger)


@web.middleware
async def _drop_middleware(
    request: web.Request, handler: Callable[[web.Request], Any]
) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except _DroppedError:
        # The transport is closed; nothing can be sent. Answer with an empty response object,
        # which aiohttp fails to write and discards.
        return web.Response(status=499)


def build_app(
    profile: str | SimProfile = "generic", *, speed: float = 1.0, seed: int = 0, **overrides: Any
) -> web.Application:
    """The aiohttp application of a simulated provider.

    ``profile`` is a built-in profile name or a :class:`SimProfile`; ``overrides`` replace
    profile fields (see :func:`app.simserver.profiles.get_profile`). The application's
    :class:`SimState` is ``app[STATE_KEY]``.
    """
    state = SimState(get_profile(profile, **overrides), speed, seed)
    app = web.Application(middlewares=[_drop_middleware], client_max_size=256 * 1024 * 1024)
    app[STATE_KEY] = state
    app.router.add_post("/v1/chat/completions", _chat_completions)
    app.router.add_post("/v1/files", _files_create)
    app.router.add_get("/v1/files/{file_id}", _files_get)
    app.router.add_get("/v1/files/{file_id}/content", _files_content)
    app.router.add_post("/v1/batches", _batches_create)
    app.router.add_get("/v1/batches", _batches_list)
    app.router.add_get("/v1/batches/{batch_id}", _batches_get)
    app.router.add_post("/v1/batches/{batch_id}/cancel", _batches_cancel)
    app.router.add_post("/v1/messages", _messages)
    app.router.add_post("/v1/messages/batches", _mbatches_create)
    app.router.add_get("/v1/messages/batches", _mbatches_list)
    app.router.add_get("/v1/messages/batches/{batch_id}", _mbatches_get)
    app.router.add_get("/v1/messages/batches/{batch_id}/results", _mbatches_results)
    app.router.add_post("/v1/messages/batches/{batch_id}/cancel", _mbatches_cancel)
    app.router.add_get("/sim/health", _health)
    app.router.add_get("/sim/stats", _stats)
    app.router.add_get("/sim/ledger", _ledger)

    async def _cleanup(app: web.Application) -> None:
        tasks = list(app[STATE_KEY].tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    app.on_cleanup.append(_cleanup)
    return app


async def _start(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    address = runner.addresses[0]
    actual_host, actual_port = address[0], address[1]
    shown = f"[{actual_host}]" if ":" in str(actual_host) else str(actual_host)
    return runner, f"http://{shown}:{actual_port}"


@contextlib.asynccontextmanager
async def running_server(
    profile: str | SimProfile = "generic",
    speed: float = 1000.0,
    seed: int = 0,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    **overrides: Any,
) -> AsyncIterator[str]:
    """Run a simulated provider on ``host`` (a free port by default); yields its base URL.

    Example: ``async with running_server("flaky", speed=1000, seed=3) as url: ...`` then
    use ``url + "/v1"`` as the OpenAI base URL or ``url`` as the Anthropic one.
    """
    app = build_app(profile, speed=speed, seed=seed, **overrides)
    runner, url = await _start(app, host, port)
    try:
        yield url
    finally:
        await runner.cleanup()


def start_in_thread(
    profile: str | SimProfile = "generic",
    speed: float = 1000.0,
    seed: int = 0,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    **overrides: Any,
) -> tuple[str, Callable[[], None]]:
    """Run a simulated provider in a background thread; returns (base URL, stop function)."""
    app = build_app(profile, speed=speed, seed=seed, **overrides)
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    box: dict[str, Any] = {}

    def _main() -> None:
        asyncio.set_event_loop(loop)
        try:
            box["runner"], box["url"] = loop.run_until_complete(_start(app, host, port))
        except BaseException as exc:  # handed to the caller below
            box["error"] = exc
            ready.set()
            return
        ready.set()
        loop.run_forever()
        loop.run_until_complete(box["runner"].cleanup())
        loop.close()

    thread = threading.Thread(target=_main, name="huleedu-sim-server", daemon=True)
    thread.start()
    ready.wait()
    if "error" in box:
        thread.join()
        raise box["error"]

    stopped = threading.Event()

    def stop() -> None:
        if stopped.is_set():
            return
        stopped.set()
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)

    return str(box["url"]), stop
