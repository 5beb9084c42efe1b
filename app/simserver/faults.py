"""Provider error answers and the faults the simulated server injects.

A :class:`FaultError` carries an error answer in the OpenAI, Anthropic or Gemini shape; an
endpoint raises it and it is turned into the error response. Here too: the API key check, the
faults that replace a whole answer (429, 500, timeout, dropped connection), the per-minute rate
limits, and :func:`guarded_endpoint`, the wrapper of the files and batches endpoints.
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web

from app.simserver.state import JSONDict, SimState, request_state


class FaultError(Exception):
    """An error answer (status, body, extra headers)."""

    def __init__(self, status: int, body: JSONDict, headers: Mapping[str, str] | None = None):
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = dict(headers or {})


class DroppedError(Exception):
    """The connection was closed on purpose."""


def openai_error(status: int, message: str, kind: str, code: str | None = None) -> FaultError:
    return FaultError(
        status, {"error": {"message": message, "type": kind, "param": None, "code": code}}
    )


def anthropic_error(status: int, message: str, kind: str) -> FaultError:
    return FaultError(status, {"type": "error", "error": {"type": kind, "message": message}})


GOOGLE_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    402: "RESOURCE_EXHAUSTED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
"""The ``google.rpc.Code`` name Gemini gives with each HTTP status."""


def gemini_error(status: int, message: str, details: list[JSONDict] | None = None) -> FaultError:
    """A Gemini (``google.rpc.Status``) error: ``{"error": {"code", "message", "status"}}``."""
    error: JSONDict = {
        "code": status,
        "message": message,
        "status": GOOGLE_STATUS.get(status, "UNKNOWN"),
    }
    if details:
        error["details"] = details
    return FaultError(status, {"error": error})


Wire = str  # "openai", "anthropic" or "gemini"


def quota_check(state: SimState, wire: Wire) -> None:
    """Count one billable request; refuse it once the profile's ``quota_after_calls`` are used.

    The bodies are the providers' own: OpenAI 429 ``insufficient_quota`` ("You exceeded your
    current quota, please check your plan and billing details…"), Anthropic 400
    ``invalid_request_error`` ("Your credit balance is too low to access the Anthropic API…"),
    Gemini 429 ``RESOURCE_EXHAUSTED`` with a ``QuotaFailure`` on a per-day quota. Requests that
    arrive after the first refusal are counted in ``requests_after_quota``.
    """
    limit = state.profile.quota_after_calls
    if limit is None:
        return
    if state.stats["billable_calls"] < limit:
        state.stats["billable_calls"] += 1
        return
    if state.stats["quota_refusals"]:
        state.stats["requests_after_quota"] += 1
    state.stats["quota_refusals"] += 1
    style = state.profile.quota_style
    if wire == "anthropic" and style == "billing":
        raise anthropic_error(
            402,
            "Your organization's billing information needs attention (simulated).",
            "billing_error",
        )
    if wire == "anthropic" and style == "spend_limit":
        err = anthropic_error(
            429,
            "You have reached your monthly spend limit for this usage tier (simulated).",
            "rate_limit_error",
        )
        error = err.body["error"]
        assert isinstance(error, dict)
        error["details"] = {"error_code": "enforced_spend_limit_reached"}
        raise err
    if wire == "gemini" and style == "billing":
        raise gemini_error(
            403,
            "This API method requires billing to be enabled. Please enable billing on project "
            "#0 by visiting https://console.developers.google.com/billing/enable?project=0 then "
            "retry.",
            [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "BILLING_DISABLED",
                    "domain": "googleapis.com",
                    "metadata": {"service": "generativelanguage.googleapis.com"},
                }
            ],
        )
    if wire == "gemini" and style == "spend_limit":
        raise gemini_error(
            402, "Your prepayment credits are depleted (simulated). Add credits to continue."
        )
    if wire == "anthropic":
        raise anthropic_error(
            400,
            "Your credit balance is too low to access the Anthropic API. Please go to Plans & "
            "Billing to upgrade or purchase credits.",
            "invalid_request_error",
        )
    if wire == "gemini":
        raise gemini_error(
            429,
            "You exceeded your current quota, please check your plan and billing details. For "
            "more information on this error, head to: "
            "https://ai.google.dev/gemini-api/docs/rate-limits.",
            [
                {
                    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                    "violations": [
                        {
                            "quotaMetric": "generativelanguage.googleapis.com/"
                            "generate_content_free_tier_requests",
                            "quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
                            "quotaDimensions": {"location": "global", "model": "sim"},
                            "quotaValue": "20",
                        }
                    ],
                },
                {
                    "@type": "type.googleapis.com/google.rpc.Help",
                    "links": [
                        {
                            "description": "Learn more about Gemini API quotas",
                            "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
                        }
                    ],
                },
            ],
        )
    raise openai_error(
        429,
        "You exceeded your current quota, please check your plan and billing details. For more "
        "information on this error, read the docs: "
        "https://platform.openai.com/docs/guides/error-codes/api-errors.",
        "insufficient_quota",
        "insufficient_quota",
    )


def _seconds_header(seconds: float) -> str:
    return f"{max(seconds, 0.001):.3f}"


async def read_json(request: web.Request, anthropic: bool) -> JSONDict:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        err = anthropic_error if anthropic else _openai_error_invalid
        raise err(400, f"request body is not valid JSON: {exc}", "invalid_request_error") from exc
    if not isinstance(body, dict):
        err = anthropic_error if anthropic else _openai_error_invalid
        raise err(400, "request body must be a JSON object", "invalid_request_error")
    return body


def _openai_error_invalid(status: int, message: str, kind: str) -> FaultError:
    return openai_error(status, message, kind)


def check_key(request: web.Request, anthropic: bool) -> None:
    key = request.headers.get("x-api-key", "")
    auth = request.headers.get("Authorization", "")
    if auth.lower().startswith("bearer "):
        key = key or auth[7:].strip()
    # Like a local OpenAI-compatible server (Ollama, LM Studio), any key or none is accepted;
    # keys starting with "invalid" are refused so clients' auth handling can be tested.
    if key.startswith("invalid"):
        message = "invalid API key"
        if anthropic:
            raise anthropic_error(401, message, "authentication_error")
        raise openai_error(401, message, "invalid_request_error", "invalid_api_key")


def fault_response(exc: FaultError, headers: Mapping[str, str]) -> web.Response:
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
    raise DroppedError


async def transport_fault(
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
            anthropic_error(429, message, "rate_limit_error")
            if anthropic
            else openai_error(429, message, "requests", "rate_limit_exceeded")
        )
        err.headers.update(
            {"retry-after": _seconds_header(retry), "retry-after-ms": str(round(retry * 1000))}
        )
        raise err
    if fault == "server_error":
        await asyncio.sleep(state.scaled(prof.fault_latency_s))
        message = "The server had an error while processing your request (simulated)."
        raise (
            anthropic_error(500, message, "api_error")
            if anthropic
            else openai_error(500, message, "server_error")
        )
    if fault == "timeout":
        await _hold_open(state, request)
        message = "The request timed out (simulated)."
        raise (
            anthropic_error(504, message, "timeout_error")
            if anthropic
            else openai_error(504, message, "timeout")
        )
    if fault == "drop":
        await asyncio.sleep(state.scaled(prof.fault_latency_s))
        _drop(request)
    if fault == "overloaded":
        await asyncio.sleep(state.scaled(prof.fault_latency_s))
        if anthropic:
            raise anthropic_error(529, "Overloaded", "overloaded_error")
        # OpenAI's wording; the Gemini endpoint rewrites it as 503 UNAVAILABLE.
        raise openai_error(503, "The server is overloaded or not ready yet.", "server_error")


def enforce_rate(state: SimState, tokens: int, anthropic: bool) -> None:
    wait = state.rate_check(tokens)
    if wait is None:
        return
    state.stats["rate_limited"] += 1
    message = "Rate limit reached for requests or tokens per minute (simulated)."
    err = (
        anthropic_error(429, message, "rate_limit_error")
        if anthropic
        else openai_error(429, message, "requests", "rate_limit_exceeded")
    )
    err.headers.update(
        {"retry-after": _seconds_header(wait), "retry-after-ms": str(max(1, round(wait * 1000)))}
    )
    raise err


Handler = Callable[[web.Request, "SimState"], Awaitable[web.StreamResponse]]


def guarded_endpoint(
    *, anthropic: bool
) -> Callable[[Handler], Callable[[web.Request], Awaitable[web.StreamResponse]]]:
    """Endpoint wrapper: check the API key, hand over the server state, and turn a simulated
    provider error into the provider's error response."""

    def wrap(handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        @functools.wraps(handler)
        async def guarded(request: web.Request) -> web.StreamResponse:
            try:
                check_key(request, anthropic=anthropic)
                return await handler(request, request_state(request))
            except FaultError as exc:
                return fault_response(exc, {})

        return guarded

    return wrap
