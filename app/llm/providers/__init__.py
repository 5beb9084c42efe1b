"""Provider clients over httpx: OpenAI (and OpenAI-compatible servers), Anthropic and Gemini."""

from __future__ import annotations

from app.llm.providers.anthropic import AnthropicProvider
from app.llm.providers.base import (
    DEFAULT_BASE_URLS,
    BaseProvider,
    ProviderConfig,
    error_from_exception,
    error_from_response,
    estimate_output_tokens,
    estimate_prompt_tokens,
    estimate_tokens,
    parse_duration,
    parse_retry_after,
    rate_limit_info,
    retry_after_from,
)
from app.llm.providers.factory import make_provider
from app.llm.providers.gemini import GeminiProvider, gemini_schema
from app.llm.providers.openai import OpenAIProvider, strict_compatible, winner_probabilities

__all__ = [
    "DEFAULT_BASE_URLS",
    "AnthropicProvider",
    "BaseProvider",
    "GeminiProvider",
    "OpenAIProvider",
    "ProviderConfig",
    "error_from_exception",
    "error_from_response",
    "estimate_output_tokens",
    "estimate_prompt_tokens",
    "estimate_tokens",
    "gemini_schema",
    "make_provider",
    "parse_duration",
    "parse_retry_after",
    "rate_limit_info",
    "retry_after_from",
    "strict_compatible",
    "winner_probabilities",
]
