"""What to tell a person whose provider account cannot pay for more calls.

A :attr:`~app.llm.types.FailureCategory.QUOTA` answer (out of credit, spend limit reached,
billing off, a daily quota used up) is never retried: only the account owner can fix it. The
sentence from :func:`quota_advice` says where, per provider, and that the run resumes where it
stopped.
"""

from __future__ import annotations

from contextvars import ContextVar

from app.llm.types import ProviderError, QuotaExhaustedError

__all__ = ["STOP_LISTENERS", "quota_advice", "quota_stop"]

STOP_LISTENERS: ContextVar[list[QuotaExhaustedError] | None] = ContextVar(
    "huleedu_quota_stop_listeners", default=None
)
"""A list that hears every quota stop made in this context (:func:`quota_stop`), whether by a
dispatch or a provider batch: how the judge's owner learns that a paused run was paused for
want of credit."""

_WHERE: dict[str, str] = {
    "openai": (
        "OpenAI says the account has no credit left or has reached its budget "
        "(insufficient_quota). Add credit or raise the monthly budget at "
        "https://platform.openai.com/settings/organization/billing"
    ),
    "anthropic": (
        "Anthropic says the organisation has reached its spend limit or has no credit left. "
        "Buy credits or raise the spend limit in the Claude Console "
        "(https://platform.claude.com/settings/billing and /settings/limits)"
    ),
    "gemini": (
        "Google says the project's quota is used up or billing is not enabled. Enable billing "
        "for the project (or add prepaid credit) in Google AI Studio "
        "(https://aistudio.google.com/usage), or wait for the daily quota to reset"
    ),
}
_GENERIC = (
    "The provider says the account cannot pay for more calls (out of credit, a spend limit or a "
    "quota). Top the account up or raise its limit at the provider"
)
_THEN = ", then resume the run; nothing judged so far is lost and no call is retried until then."


def quota_advice(kind: str | None) -> str:
    """One sentence for provider ``kind`` (``openai``, ``anthropic``, ``gemini``, anything
    else): what happened and what to do."""
    return _WHERE.get(kind or "", _GENERIC) + _THEN


def quota_stop(error: ProviderError, kind: str | None) -> QuotaExhaustedError:
    """The exception that stops a dispatch or a batch for the QUOTA ``error`` (told to
    :data:`STOP_LISTENERS` when a list is set)."""
    stop = QuotaExhaustedError(error, quota_advice(kind))
    heard = STOP_LISTENERS.get()
    if heard is not None:
        heard.append(stop)
    return stop
