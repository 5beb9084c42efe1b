"""Plain data shared by providers, the dispatcher and the simulated provider server."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal, Protocol

from app.operations.base import OperationCancelledError
from core.prompt import AssignmentContext
from core.verdict import ParsedVerdict, VerdictParseError

ProviderKind = Literal["openai", "anthropic", "gemini", "openai_compatible"]


class FailureCategory(StrEnum):
    """Why a call or an item failed. Every failure has exactly one."""

    RATE_LIMIT = "rate_limit"
    TIMEOUT = "timeout"
    SERVER = "server"
    NETWORK = "network"
    AUTH = "auth"
    BAD_REQUEST = "bad_request"
    REFUSAL = "refusal"
    PARSE_ERROR = "parse_error"
    TRUNCATED = "truncated"
    CIRCUIT_OPEN = "circuit_open"
    CANCELLED = "cancelled"
    QUOTA = "quota"
    """Out of credit, spend limit reached, billing off or a daily quota used up: nothing more
    will succeed until a person acts, so the run stops at once (never retried)."""

    @property
    def retryable(self) -> bool:
        """Worth another attempt (never for auth, bad requests and quota)."""
        return self in {
            FailureCategory.RATE_LIMIT,
            FailureCategory.TIMEOUT,
            FailureCategory.SERVER,
            FailureCategory.NETWORK,
            FailureCategory.PARSE_ERROR,
            FailureCategory.TRUNCATED,
            FailureCategory.CIRCUIT_OPEN,
        }


class ProviderError(Exception):
    """A call that failed as a whole (no usable answer at all)."""

    def __init__(
        self,
        category: FailureCategory,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.category = category
        self.message = message
        self.status = status
        self.retry_after = retry_after
        self.request_id = request_id


@dataclass(frozen=True)
class PairTask:
    """One pair to judge, texts already in display order (first = shown as Essay A).

    ``group`` names the bundle the scheduler planned the pair in (pairs sharing essays,
    :mod:`core.groups`); the judge layer sends a group's pairs in one call
    (:mod:`app.llm.packing`). None: no planned group.
    """

    pair_id: str
    first_text: str
    second_text: str
    group: str | None = None


@dataclass(frozen=True)
class Usage:
    """Tokens of one call. ``cached_input_tokens`` is the part of ``input_tokens`` read from
    the provider's prompt cache; ``cache_write_tokens`` the part written to it (Anthropic)."""

    input_tokens: int = 0
    cached_input_tokens: int = 0
    output_tokens: int = 0
    cache_write_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.cached_input_tokens + other.cached_input_tokens,
            self.output_tokens + other.output_tokens,
            self.cache_write_tokens + other.cache_write_tokens,
        )


@dataclass(frozen=True)
class ItemResult:
    """The answer for one pair of a call: a verdict or the reason there is none.

    ``probability_first`` is P(first-shown essay is better) from token log-probabilities when
    the provider returned them, else None. ``place_in_bundle`` counts from 0.
    """

    pair_id: str
    place_in_bundle: int
    verdict: ParsedVerdict | None = None
    probability_first: float | None = None
    error: VerdictParseError | None = None
    category: FailureCategory | None = None


@dataclass(frozen=True)
class CallOutcome:
    """What one provider call returned: one item per pair, in the order sent."""

    items: list[ItemResult]
    usage: Usage
    latency_s: float
    model: str
    request_id: str | None = None
    raw_finish_reason: str | None = None
    extra: dict[str, object] = field(default_factory=dict)


class Provider(Protocol):
    """A judge behind an HTTP API. One instance per provider configuration."""

    name: str
    model: str

    async def judge(
        self, context: AssignmentContext, pairs: Sequence[PairTask], *, nonce: str
    ) -> CallOutcome:
        """Judge 1..10 pairs in one call (one pair: the pair prompt; more: the bundle prompt).

        Raises :class:`ProviderError` when the call as a whole fails; per-item problems (a bad or
        missing verdict inside an otherwise good answer) are ``ItemResult.error``.
        """
        ...

    async def aclose(self) -> None: ...


class QuotaExhaustedError(OperationCancelledError):
    """The provider said the account cannot pay for more calls (:attr:`FailureCategory.QUOTA`).

    Raised by the dispatcher and the provider batch runner the moment such an answer arrives:
    no further call is made. It is a cancellation, so a run that meets it is paused (pairs in
    flight go back to *planned*, nothing judged is lost) and can be resumed once the account
    is topped up. ``error`` is the provider's answer; ``advice`` says what to do.
    """

    def __init__(self, error: ProviderError, advice: str) -> None:
        super().__init__(f"{advice} ({error.message})")
        self.error = error
        self.advice = advice
