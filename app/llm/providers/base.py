"""Shared plumbing of the provider clients.

* :class:`ProviderConfig`: how to reach one provider and model.
* :class:`BaseProvider`: one pooled ``httpx.AsyncClient`` per provider (connection limit and
  timeouts), prompt rendering (one pair → pair prompt, 2..10 → bundle prompt), the POST, error
  mapping, and the assembly of per-item results from an answer. Subclasses only build the
  request body and read the response body.
* Error mapping: HTTP status / transport exception → :class:`~app.llm.types.FailureCategory`,
  with ``Retry-After`` (seconds or HTTP date), ``retry-after-ms``, OpenAI
  ``x-ratelimit-reset-*`` durations ("1s", "20ms", "6m0s"), Anthropic
  ``anthropic-ratelimit-*-reset`` timestamps and Gemini ``RetryInfo.retryDelay``.
* Token estimates for planning a run before any call is made.
"""

from __future__ import annotations

import json
import math
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar, Literal, Self

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from app.llm.capabilities import ModelCapabilities, safe_capabilities
from app.llm.catalogue import Catalogue, ModelInfo, default_catalogue
from app.llm.types import (
    CallOutcome,
    FailureCategory,
    ItemResult,
    PairTask,
    ProviderError,
    ProviderKind,
    Usage,
)
from core.prompt import (
    MAX_BUNDLE_PAIRS,
    PROMPT_VERSION,
    AssignmentContext,
    RenderedPrompt,
    render_bundle_prompt,
    render_pair_prompt,
)
from core.verdict import (
    ParsedVerdict,
    VerdictParseError,
    parse_bundle_verdicts,
    parse_pair_verdict,
)

__all__ = [
    "DEFAULT_BASE_URLS",
    "Answer",
    "BaseProvider",
    "ModelTraits",
    "ProviderConfig",
    "build_items",
    "error_from_exception",
    "error_from_response",
    "estimate_output_tokens",
    "estimate_prompt_tokens",
    "estimate_tokens",
    "parse_duration",
    "parse_retry_after",
    "rate_limit_info",
    "resolve_traits",
    "retry_after_from",
]

DEFAULT_BASE_URLS: dict[str, str] = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com/v1",
    "gemini": "https://generativelanguage.googleapis.com/v1beta",
}
"""Base URL per provider kind; ``openai_compatible`` has none and needs one configured."""

_API_VERSION = {"anthropic": "v1", "gemini": "v1beta"}
_VERSION_SEGMENT = re.compile(r"/v\d+(?:alpha|beta)?\d*$")

ANSWER_TOKENS_BASE = 400
"""Output cap for a call: this many tokens ..."""

ANSWER_TOKENS_PER_PAIR = 150
"""... plus this many per pair (justifications are at most 400 characters, ~100 tokens)."""

_MESSAGE_LIMIT = 300


# ---------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------


class ProviderConfig(BaseModel):
    """How to reach one provider and model.

    Attributes:
        kind: ``openai``, ``anthropic``, ``gemini`` or ``openai_compatible`` (any server speaking
            the OpenAI Chat Completions API: Ollama, LM Studio, llama.cpp, vLLM, OpenRouter,
            the simulated server).
        model: the model name as the provider knows it.
        base_url: API root, e.g. ``http://127.0.0.1:11434/v1``; defaults per kind
            (:data:`DEFAULT_BASE_URLS`), required for ``openai_compatible``.
        api_key: the key; may be empty for local servers (then no auth header is sent).
        timeout_s: read/write timeout of one call (connect timeout is at most 10 s).
        max_connections: connection pool size of this provider's client.
        use_logprobs: ask for token log-probabilities. None = when the model's capabilities
            say it has them; False = never; True = also for a model no catalogue entry
            describes.
        strict_schema: OpenAI strict ``json_schema`` (unsupported keywords stripped); False sends
            the full schema without ``strict`` for servers that lack strict mode.
        json_mode: OpenAI-style answer format: ``json_schema`` (default), ``json_object`` or
            ``none`` for servers that support neither.
        max_output_tokens: output cap per call; None = 400 + 150 per pair (plus
            ``reasoning_token_allowance`` for reasoning models).
        temperature: sampling temperature; None = not sent. Never sent to models the
            catalogue marks as not supporting it (the GPT-5 family).
        reasoning_effort: OpenAI ``reasoning_effort``; None = ``low``. Sent only to models whose
            capabilities accept a reasoning control.
        reasoning_token_allowance: extra output tokens allowed for hidden reasoning; for Gemini
            thinking models it is also the ``thinkingBudget``.
        anthropic_version: the ``anthropic-version`` header.
        extra_headers: more headers for every request (e.g. OpenRouter's ``X-Title``).
        name: provider label for logs and metrics; default ``kind``.
        capabilities: what the model accepts, overriding the catalogue (``--model-capabilities``);
            None = the catalogue entry, else the safe profile.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: ProviderKind
    model: str = Field(min_length=1)
    base_url: str | None = None
    api_key: SecretStr = SecretStr("")
    timeout_s: float = Field(default=60.0, gt=0)
    max_connections: int = Field(default=8, ge=1)
    use_logprobs: bool | None = None
    strict_schema: bool = True
    json_mode: Literal["json_schema", "json_object", "none"] = "json_schema"
    max_output_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    reasoning_effort: Literal["none", "minimal", "low", "medium", "high"] | None = None
    reasoning_token_allowance: int = Field(default=4096, ge=0)
    anthropic_version: str = "2023-06-01"
    extra_headers: dict[str, str] = Field(default_factory=dict)
    name: str | None = None
    capabilities: ModelCapabilities | None = None

    @model_validator(mode="after")
    def _check_base_url(self) -> Self:
        if self.kind == "openai_compatible" and not self.base_url:
            raise ValueError(
                "an openai_compatible provider needs base_url "
                "(e.g. http://127.0.0.1:11434/v1 for Ollama)"
            )
        if self.base_url is not None and not self.base_url.startswith(("http://", "https://")):
            raise ValueError(
                f"base_url must start with http:// or https:// (got {self.base_url!r})"
            )
        return self

    @property
    def resolved_base_url(self) -> str:
        """``base_url`` or the kind's default, without a trailing slash.

        Anthropic and Gemini URLs may be given as their SDKs take them, without the version
        (``http://HOST:PORT`` → ``http://HOST:PORT/v1`` for Anthropic, ``…/v1beta`` for
        Gemini); a URL that already ends in a version segment (``/v1``, ``/v1beta``) is kept.
        """
        url = (self.base_url or DEFAULT_BASE_URLS[self.kind]).rstrip("/")
        version = _API_VERSION.get(self.kind)
        if version is not None and not _VERSION_SEGMENT.search(url):
            url = f"{url}/{version}"
        return url

    @property
    def label(self) -> str:
        """``name`` or ``kind``."""
        return self.name or self.kind

    def output_token_limit(self, n_pairs: int, *, reasoning: bool = False) -> int:
        """Output cap for a call with ``n_pairs`` pairs."""
        if self.max_output_tokens is not None:
            base = self.max_output_tokens
        else:
            base = ANSWER_TOKENS_BASE + ANSWER_TOKENS_PER_PAIR * n_pairs
        return base + (self.reasoning_token_allowance if reasoning else 0)


@dataclass(frozen=True)
class ModelTraits:
    """What a provider client may send to a model (see :mod:`app.llm.capabilities`).

    ``source`` says where it came from: ``override``, ``catalogue`` or ``safe`` (a model
    neither describes: no optional parameter is sent)."""

    info: ModelInfo | None
    supports_temperature: bool
    logprobs: bool
    reasoning: bool
    max_tokens_param: Literal["max_tokens", "max_completion_tokens"]
    reasoning_effort: bool = False
    source: Literal["override", "catalogue", "safe"] = "catalogue"


def resolve_traits(config: ProviderConfig, catalogue: Catalogue | None) -> ModelTraits:
    """Capabilities of ``config.model``: ``config.capabilities`` when given, else the catalogue
    entry, else the safe profile (:func:`app.llm.capabilities.safe_capabilities`). Never from
    the model's name. ``config.use_logprobs`` False turns log-probabilities off; True turns them
    on only where no catalogue entry says the model lacks them."""
    info = catalogue.find(config.model) if catalogue is not None else None
    source: Literal["override", "catalogue", "safe"]
    if config.capabilities is not None:
        caps, source = config.capabilities, "override"
    elif info is not None:
        caps, source = info.capabilities(), "catalogue"
    else:
        caps, source = safe_capabilities(config.kind), "safe"
    logprobs = caps.logprobs
    if config.use_logprobs is False:
        logprobs = False
    elif config.use_logprobs is True and source == "safe":
        logprobs = True
    return ModelTraits(
        info=info,
        supports_temperature=caps.temperature,
        logprobs=logprobs,
        reasoning=caps.reasoning,
        max_tokens_param=caps.max_tokens_param,
        reasoning_effort=caps.reasoning_effort,
        source=source,
    )


# ---------------------------------------------------------------------------------------------
# Token estimates
# ---------------------------------------------------------------------------------------------

_WORD = re.compile(r"\S+")


def estimate_tokens(text: str) -> int:
    """Rough token count of ``text`` for planning (about 4 characters or 0.75 words a token,
    whichever gives more; Swedish and other long-word text lands on the character rule)."""
    if not text:
        return 0
    by_chars = len(text) / 4.0
    by_words = len(_WORD.findall(text)) * 1.33
    return math.ceil(max(by_chars, by_words))


def estimate_prompt_tokens(prompt: RenderedPrompt) -> int:
    """Rough input tokens of one call: system, context, body, the answer schema (sent as a
    response format or tool) and a small per-message overhead."""
    schema_tokens = estimate_tokens(json.dumps(prompt.schema, separators=(",", ":")))
    return (
        estimate_tokens(prompt.system)
        + estimate_tokens(prompt.context)
        + estimate_tokens(prompt.body)
        + schema_tokens
        + 12
    )


def estimate_output_tokens(n_pairs: int) -> int:
    """Rough visible output tokens of an answer with ``n_pairs`` verdicts (~55 per verdict)."""
    return 10 + 55 * max(1, n_pairs)


# ---------------------------------------------------------------------------------------------
# Retry-After and rate-limit headers
# ---------------------------------------------------------------------------------------------

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ms|us|µs|ns|h|m|s)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


def parse_duration(value: str) -> float | None:
    """Seconds in a Go-style duration ("1s", "20ms", "6m0s", "1h2m3.5s") or a bare number of
    seconds; None when it is neither."""
    text = value.strip()
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        pass
    else:
        return number if math.isfinite(number) and number >= 0 else None
    total = 0.0
    pos = 0
    for match in _DURATION_PART.finditer(text):
        if match.start() != pos:
            return None
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if pos != len(text) or pos == 0:
        return None
    return total


def _now(now: datetime | None) -> datetime:
    return now if now is not None else datetime.now(UTC)


def parse_retry_after(value: str, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: delay-seconds or an HTTP date (a date in
    the past gives 0); None when unreadable."""
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - _now(now)).total_seconds())


def _seconds_until(timestamp: str, now: datetime | None) -> float | None:
    try:
        when = datetime.fromisoformat(timestamp.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - _now(now)).total_seconds())


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        return int(float(value.strip()))
    except ValueError:
        return None


def rate_limit_info(
    headers: Mapping[str, str], *, now: datetime | None = None
) -> dict[str, object]:
    """Rate-limit figures a response carried, under provider-neutral keys.

    Keys (only those present): ``rate_limit_limit_requests``, ``rate_limit_limit_tokens``,
    ``rate_limit_remaining_requests``, ``rate_limit_remaining_tokens``,
    ``rate_limit_remaining_input_tokens``, ``rate_limit_remaining_output_tokens`` (ints) and
    ``rate_limit_reset_requests_s``, ``rate_limit_reset_tokens_s`` (seconds). Reads OpenAI
    ``x-ratelimit-*`` and Anthropic ``anthropic-ratelimit-*`` headers.
    """
    h = httpx.Headers(headers)
    info: dict[str, object] = {}
    ints = {
        "rate_limit_limit_requests": (
            "x-ratelimit-limit-requests",
            "anthropic-ratelimit-requests-limit",
        ),
        "rate_limit_limit_tokens": ("x-ratelimit-limit-tokens", "anthropic-ratelimit-tokens-limit"),
        "rate_limit_remaining_requests": (
            "x-ratelimit-remaining-requests",
            "anthropic-ratelimit-requests-remaining",
        ),
        "rate_limit_remaining_tokens": (
            "x-ratelimit-remaining-tokens",
            "anthropic-ratelimit-tokens-remaining",
        ),
        "rate_limit_remaining_input_tokens": ("anthropic-ratelimit-input-tokens-remaining",),
        "rate_limit_remaining_output_tokens": ("anthropic-ratelimit-output-tokens-remaining",),
    }
    for key, names in ints.items():
        for name in names:
            number = _int_header(h, name)
            if number is not None:
                info[key] = number
                break
    resets = {
        "rate_limit_reset_requests_s": ("requests", "x-ratelimit-reset-requests"),
        "rate_limit_reset_tokens_s": ("tokens", "x-ratelimit-reset-tokens"),
    }
    for key, (kind, openai_name) in resets.items():
        seconds: float | None = None
        if openai_name in h:
            seconds = parse_duration(h[openai_name])
        anthropic_name = f"anthropic-ratelimit-{kind}-reset"
        if seconds is None and anthropic_name in h:
            seconds = _seconds_until(h[anthropic_name], now)
        if seconds is not None:
            info[key] = seconds
    return info


def _gemini_retry_delay(body: object) -> float | None:
    if not isinstance(body, Mapping):
        return None
    error = body.get("error")
    if not isinstance(error, Mapping):
        return None
    details = error.get("details")
    if not isinstance(details, list):
        return None
    for detail in details:
        if isinstance(detail, Mapping) and str(detail.get("@type", "")).endswith("RetryInfo"):
            delay = detail.get("retryDelay")
            if isinstance(delay, str):
                return parse_duration(delay)
    return None


def retry_after_from(
    headers: Mapping[str, str], body: object = None, *, now: datetime | None = None
) -> float | None:
    """How long the provider asked us to wait, in seconds, or None.

    Looks at ``retry-after-ms``, ``Retry-After`` (seconds or HTTP date), then the rate-limit
    reset headers (OpenAI durations, Anthropic timestamps; the exhausted limit's reset, else the
    longest), then a Gemini ``RetryInfo`` in the error body.
    """
    h = httpx.Headers(headers)
    if "retry-after-ms" in h:
        try:
            ms = float(h["retry-after-ms"])
        except ValueError:
            ms = math.nan
        if math.isfinite(ms) and ms >= 0:
            return ms / 1000.0
    if "retry-after" in h:
        seconds = parse_retry_after(h["retry-after"], now=now)
        if seconds is not None:
            return seconds
    info = rate_limit_info(h, now=now)
    reset_requests = info.get("rate_limit_reset_requests_s")
    reset_tokens = info.get("rate_limit_reset_tokens_s")
    if info.get("rate_limit_remaining_requests") == 0 and isinstance(reset_requests, float):
        return reset_requests
    if info.get("rate_limit_remaining_tokens") == 0 and isinstance(reset_tokens, float):
        return reset_tokens
    candidates = [v for v in (reset_requests, reset_tokens) if isinstance(v, float)]
    if candidates:
        return max(candidates)
    return _gemini_retry_delay(body)


# ---------------------------------------------------------------------------------------------
# Error mapping
# ---------------------------------------------------------------------------------------------


class _ErrorDetail(BaseModel):
    message: str | None = None
    type: str | None = None
    code: str | int | None = None
    status: str | None = None
    details: list[Any] | dict[str, Any] | None = None


class _ErrorBody(BaseModel):
    error: _ErrorDetail | str | None = None
    detail: Any = None
    message: str | None = None


def _error_message(body: object, fallback: str) -> tuple[str, _ErrorDetail | None]:
    try:
        parsed = _ErrorBody.model_validate(body)
    except ValidationError:
        return fallback, None
    if isinstance(parsed.error, _ErrorDetail):
        return parsed.error.message or parsed.error.type or fallback, parsed.error
    if isinstance(parsed.error, str):
        return parsed.error, None
    if parsed.message:
        return parsed.message, None
    if parsed.detail is not None:
        return str(parsed.detail), None
    return fallback, None


def _is_auth_failure(detail: _ErrorDetail | None) -> bool:
    """Gemini answers a bad API key with 400 INVALID_ARGUMENT and reason API_KEY_INVALID."""
    if detail is None:
        return False
    if detail.status in ("UNAUTHENTICATED", "PERMISSION_DENIED"):
        return True
    for item in _google_details(detail):
        if str(item.get("reason", "")).startswith("API_KEY"):
            return True
    return "API key not valid" in (detail.message or "")


#: OpenAI (and OpenAI-compatible) error codes/types that mean the account cannot pay.
_OPENAI_QUOTA_CODES = frozenset(
    {"insufficient_quota", "billing_hard_limit_reached", "billing_not_active"}
)
#: Anthropic ``error.details.error_code`` values that mean a spend limit was reached.
_ANTHROPIC_SPEND_CODES = frozenset({"enforced_spend_limit_reached"})
#: Message beginnings of Anthropic's 400 answers for a spend limit or an empty balance.
_ANTHROPIC_BILLING_MESSAGES = (
    "your credit balance is too low",
    "you have reached your specified api usage limits",
    "you have reached your specified workspace api usage limits",
)
#: Gemini ``ErrorInfo.reason`` values that mean billing is off or unpaid.
_GOOGLE_BILLING_REASONS = frozenset({"BILLING_DISABLED", "BILLING_NOT_ACTIVE"})


def _google_details(detail: _ErrorDetail) -> list[Mapping[str, Any]]:
    return [d for d in detail.details or [] if isinstance(d, Mapping)]


def _is_quota_failure(status: int, detail: _ErrorDetail | None) -> bool:
    """Whether an error answer means the account cannot pay for more calls.

    * OpenAI: ``code``/``type`` ``insufficient_quota`` (HTTP 429, "You exceeded your current
      quota, please check your plan and billing details").
    * Anthropic: 402 ``billing_error``; 429 with ``error.details.error_code``
      ``enforced_spend_limit_reached`` (a tier's monthly spend cap); 400
      ``invalid_request_error`` for a spend limit set by the organisation ("You have reached
      your specified API usage limits …") or an empty balance ("Your credit balance is too
      low …").
    * Gemini: 402 (prepaid credit used up); 403 with ``ErrorInfo.reason`` ``BILLING_DISABLED``;
      400 ``FAILED_PRECONDITION`` that asks to enable billing; 429 ``RESOURCE_EXHAUSTED`` whose
      ``QuotaFailure`` names a per-day quota (a per-minute one stays a rate limit).
    * Any other server: HTTP 402 Payment Required.
    """
    if status == 402:
        return True
    if detail is None:
        return False
    code = str(detail.code) if detail.code is not None else ""
    if code in _OPENAI_QUOTA_CODES or (detail.type or "") in _OPENAI_QUOTA_CODES:
        return True
    if detail.type == "billing_error":
        return True
    if (  # Anthropic: "details": {"error_code": ...}
        isinstance(detail.details, Mapping)
        and str(detail.details.get("error_code", "")) in _ANTHROPIC_SPEND_CODES
    ):
        return True
    message = (detail.message or "").strip().lower()
    if detail.type == "invalid_request_error" and message.startswith(_ANTHROPIC_BILLING_MESSAGES):
        return True
    if detail.status is not None:  # Gemini (google.rpc.Status)
        items = _google_details(detail)
        reasons = {str(d.get("reason", "")) for d in items}
        if reasons & _GOOGLE_BILLING_REASONS:
            return True
        if detail.status == "FAILED_PRECONDITION" and "billing" in message:
            return True
        if status == 429 or detail.status == "RESOURCE_EXHAUSTED":
            for item in items:
                if not str(item.get("@type", "")).endswith("QuotaFailure"):
                    continue
                violations = item.get("violations")
                for v in violations if isinstance(violations, list) else []:
                    if isinstance(v, Mapping) and "PerDay" in str(v.get("quotaId", "")):
                        return True
    return False


def _category_for_status(status: int, detail: _ErrorDetail | None) -> FailureCategory:
    if _is_quota_failure(status, detail):
        return FailureCategory.QUOTA
    if status == 429:
        return FailureCategory.RATE_LIMIT
    if status in (401, 402, 403):
        return FailureCategory.AUTH
    if status == 408:
        return FailureCategory.TIMEOUT
    if status >= 500:
        return FailureCategory.SERVER
    if _is_auth_failure(detail):
        return FailureCategory.AUTH
    return FailureCategory.BAD_REQUEST


def _body_json(response: httpx.Response) -> object:
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None


def error_from_response(
    response: httpx.Response,
    *,
    request_id: str | None = None,
    now: datetime | None = None,
) -> ProviderError:
    """The :class:`ProviderError` for a non-2xx response.

    Out of credit / spend limit / billing off (see :func:`_is_quota_failure`) → QUOTA; other
    429 → RATE_LIMIT; 401/403 → AUTH (and Gemini's 400 for an invalid key); 408 → TIMEOUT;
    400/404/413/422 and other 4xx → BAD_REQUEST; 5xx (incl. 529 overloaded) → SERVER.
    ``retry_after`` comes from :func:`retry_after_from` for every status.
    """
    body = _body_json(response)
    text = response.text if body is None else ""
    message, detail = _error_message(body, text.strip() or response.reason_phrase or "error")
    category = _category_for_status(response.status_code, detail)
    return ProviderError(
        category,
        f"HTTP {response.status_code}: {message[:_MESSAGE_LIMIT]}",
        status=response.status_code,
        retry_after=retry_after_from(response.headers, body, now=now),
        request_id=request_id,
    )


def error_from_exception(exc: Exception) -> ProviderError:
    """The :class:`ProviderError` for a transport failure: any ``httpx.TimeoutException``
    (connect, read, write, pool) → TIMEOUT; other transport errors (refused or dropped
    connections, protocol errors) → NETWORK."""
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        return ProviderError(FailureCategory.TIMEOUT, f"timed out: {detail}")
    return ProviderError(FailureCategory.NETWORK, f"network error: {detail}")


# ---------------------------------------------------------------------------------------------
# Answers → items
# ---------------------------------------------------------------------------------------------


@dataclass
class Answer:
    """What a provider's response body says, in neutral terms.

    ``raw`` is the answer text (or the decoded tool input); None when there is none.
    ``probabilities[i]`` is P(first wins) for pair ``i`` from log-probabilities, if any.
    """

    raw: str | Mapping[str, object] | None
    finish_reason: str | None
    truncated: bool
    usage: Usage
    probabilities: Sequence[float | None] | None = None
    response_id: str | None = None
    extra: dict[str, object] = field(default_factory=dict)


def build_items(pairs: Sequence[PairTask], answer: Answer) -> list[ItemResult]:
    """One :class:`ItemResult` per pair, in order (``place_in_bundle`` = index).

    One pair: the answer is parsed as a pair verdict; several: as a bundle, item by item, so
    good items are kept when others are bad. Failed items get category TRUNCATED when the answer
    was cut off by the output cap, else PARSE_ERROR.
    """
    n = len(pairs)
    results: list[ParsedVerdict | VerdictParseError]
    if answer.raw is None or (isinstance(answer.raw, str) and not answer.raw.strip()):
        message = "answer was cut off before any verdict" if answer.truncated else "answer is empty"
        results = [VerdictParseError("parse_error", message)] * n
    elif n == 1:
        try:
            results = [parse_pair_verdict(answer.raw)]
        except VerdictParseError as exc:
            results = [exc]
    else:
        results = parse_bundle_verdicts(answer.raw, n)
    failed = FailureCategory.TRUNCATED if answer.truncated else FailureCategory.PARSE_ERROR
    items: list[ItemResult] = []
    for index, (task, result) in enumerate(zip(pairs, results, strict=True)):
        if isinstance(result, ParsedVerdict):
            probability = None
            if answer.probabilities is not None and index < len(answer.probabilities):
                probability = answer.probabilities[index]
            items.append(
                ItemResult(
                    pair_id=task.pair_id,
                    place_in_bundle=index,
                    verdict=result,
                    probability_first=probability,
                )
            )
        else:
            items.append(
                ItemResult(
                    pair_id=task.pair_id, place_in_bundle=index, error=result, category=failed
                )
            )
    return items


# ---------------------------------------------------------------------------------------------
# The base client
# ---------------------------------------------------------------------------------------------


class BaseProvider(ABC):
    """One provider configuration with its own pooled HTTP client.

    Subclasses set :attr:`request_id_headers` and implement :meth:`endpoint`,
    :meth:`auth_headers`, :meth:`build_request` and :meth:`read_answer`.
    """

    request_id_headers: ClassVar[tuple[str, ...]] = ("x-request-id", "request-id")

    def __init__(
        self,
        config: ProviderConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        catalogue: Catalogue | None = None,
    ) -> None:
        self.config = config
        self.name: str = config.label
        self.model: str = config.model
        self.catalogue = catalogue if catalogue is not None else default_catalogue()
        self.traits = resolve_traits(config, self.catalogue)
        headers = {**self.auth_headers(), **config.extra_headers}
        self._client = httpx.AsyncClient(
            base_url=config.resolved_base_url,
            headers=headers,
            timeout=httpx.Timeout(config.timeout_s, connect=min(10.0, config.timeout_s), pool=None),
            limits=httpx.Limits(
                max_connections=config.max_connections,
                max_keepalive_connections=config.max_connections,
            ),
            transport=transport,
        )

    # -- to implement ---------------------------------------------------------------------

    @abstractmethod
    def endpoint(self) -> str:
        """Path of the call relative to the base URL."""

    @abstractmethod
    def auth_headers(self) -> dict[str, str]:
        """Headers that authenticate (and version) every request."""

    @abstractmethod
    def build_request(self, prompt: RenderedPrompt) -> dict[str, object]:
        """The JSON request body for ``prompt``."""

    @abstractmethod
    def read_answer(
        self, payload: object, prompt: RenderedPrompt, request_id: str | None
    ) -> Answer:
        """Read a 2xx response body.

        Raises:
            ProviderError: REFUSAL for a refusal, PARSE_ERROR when the body is not the
                provider's response shape.
        """

    # -- shared ---------------------------------------------------------------------------

    @property
    def client(self) -> httpx.AsyncClient:
        """This provider's HTTP client."""
        return self._client

    @property
    def use_logprobs(self) -> bool:
        """Whether calls ask for token log-probabilities."""
        return self.traits.logprobs

    def output_token_limit(self, n_pairs: int) -> int:
        """Output cap for a call with ``n_pairs`` pairs."""
        return self.config.output_token_limit(n_pairs, reasoning=self.traits.reasoning)

    def temperature(self) -> float | None:
        """The temperature to send, or None (not configured or not supported)."""
        if self.config.temperature is None or not self.traits.supports_temperature:
            return None
        return self.config.temperature

    def render(
        self, context: AssignmentContext, pairs: Sequence[PairTask], nonce: str
    ) -> RenderedPrompt:
        """The prompt for ``pairs``: the pair prompt for one, the bundle prompt for 2..10.

        Raises:
            ProviderError: BAD_REQUEST for a wrong number of pairs, a bad nonce or an empty
                essay (nothing is sent).
        """
        if not 1 <= len(pairs) <= MAX_BUNDLE_PAIRS:
            raise ProviderError(
                FailureCategory.BAD_REQUEST,
                f"a call judges 1 to {MAX_BUNDLE_PAIRS} pairs (got {len(pairs)})",
            )
        try:
            if len(pairs) == 1:
                return render_pair_prompt(context, pairs[0].first_text, pairs[0].second_text, nonce)
            return render_bundle_prompt(
                context, [(p.first_text, p.second_text) for p in pairs], nonce
            )
        except ValueError as exc:
            raise ProviderError(
                FailureCategory.BAD_REQUEST, f"cannot render the prompt: {exc}"
            ) from exc

    def request_id(self, headers: httpx.Headers) -> str | None:
        """The provider's request id from the response headers."""
        for name in self.request_id_headers:
            value = headers.get(name)
            if value:
                return str(value)
        return None

    async def post(self, body: dict[str, object]) -> httpx.Response:
        """POST ``body`` to :meth:`endpoint`; transport failures and non-2xx statuses become
        :class:`ProviderError`."""
        try:
            response = await self._client.post(self.endpoint(), json=body)
        except httpx.TransportError as exc:
            raise error_from_exception(exc) from exc
        if not response.is_success:
            raise error_from_response(response, request_id=self.request_id(response.headers))
        return response

    async def judge(
        self, context: AssignmentContext, pairs: Sequence[PairTask], *, nonce: str
    ) -> CallOutcome:
        """Judge 1..10 pairs in one call; see :class:`app.llm.types.Provider`."""
        prompt = self.render(context, pairs, nonce)
        body = self.build_request(prompt)
        started = time.perf_counter()
        response = await self.post(body)
        latency = time.perf_counter() - started
        request_id = self.request_id(response.headers)
        try:
            payload: object = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ProviderError(
                FailureCategory.PARSE_ERROR,
                f"response body is not JSON: {response.text[:120]!r}",
                status=response.status_code,
                request_id=request_id,
            ) from exc
        answer = self.read_answer(payload, prompt, request_id)
        extra: dict[str, object] = dict(rate_limit_info(response.headers))
        extra.update(answer.extra)
        extra["prompt_version"] = prompt.version
        if answer.response_id is not None:
            extra["response_id"] = answer.response_id
        return CallOutcome(
            items=build_items(pairs, answer),
            usage=answer.usage,
            latency_s=latency,
            model=self.model,
            request_id=request_id or answer.response_id,
            raw_finish_reason=answer.finish_reason,
            extra=extra,
        )

    # -- provider batch APIs ------------------------------------------------------------------

    def build_batch_body(
        self, context: AssignmentContext, pairs: Sequence[PairTask], nonce: str
    ) -> dict[str, object]:
        """The request body that :meth:`judge` would POST for ``pairs``; a provider batch API
        sends it as one of its requests.

        Raises:
            ProviderError: BAD_REQUEST as :meth:`render` does.
        """
        return self.build_request(self.render(context, pairs, nonce))

    def read_batch_answer(
        self,
        payload: object,
        pair_ids: Sequence[str],
        *,
        request_id: str | None = None,
        prompt_version: str = PROMPT_VERSION,
    ) -> CallOutcome:
        """Read the response body of one provider batch request (the same shape as the body of a
        direct call) sent for ``pair_ids``, in the order sent.

        The answer is read exactly as :meth:`judge` reads it (:meth:`read_answer`, then
        :func:`build_items`); ``latency_s`` is 0, a batch has no per-request latency.

        Raises:
            ProviderError: REFUSAL or PARSE_ERROR as :meth:`read_answer` does.
        """
        n_pairs = len(pair_ids)
        if not 1 <= n_pairs <= MAX_BUNDLE_PAIRS:
            raise ProviderError(
                FailureCategory.BAD_REQUEST,
                f"a call judges 1 to {MAX_BUNDLE_PAIRS} pairs (got {n_pairs})",
            )
        # Reading an answer depends only on how many pairs were asked about, so the prompt's
        # texts are not needed (and are not kept with a batch).
        shape = RenderedPrompt(
            version=prompt_version, system="", context="", body="", schema={}, n_pairs=n_pairs
        )
        answer = self.read_answer(payload, shape, request_id)
        extra: dict[str, object] = dict(answer.extra)
        extra["prompt_version"] = prompt_version
        if answer.response_id is not None:
            extra["response_id"] = answer.response_id
        return CallOutcome(
            items=build_items([PairTask(pid, "", "") for pid in pair_ids], answer),
            usage=answer.usage,
            latency_s=0.0,
            model=self.model,
            request_id=request_id or answer.response_id,
            raw_finish_reason=answer.finish_reason,
            extra=extra,
        )

    def invalid_response(self, exc: ValidationError, request_id: str | None) -> ProviderError:
        """PARSE_ERROR for a 2xx body that is not the provider's response shape."""
        first = exc.errors()[0] if exc.errors() else None
        where = ".".join(str(p) for p in first["loc"]) if first else "?"
        what = first["msg"] if first else str(exc)
        return ProviderError(
            FailureCategory.PARSE_ERROR,
            f"unexpected {self.config.kind} response shape ({where}: {what})",
            request_id=request_id,
        )

    async def aclose(self) -> None:
        """Close the HTTP client and its connections."""
        await self._client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
