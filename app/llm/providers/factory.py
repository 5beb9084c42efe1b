"""Build the provider client for a configuration."""

from __future__ import annotations

import httpx

from app.llm.catalogue import Catalogue
from app.llm.providers.anthropic import AnthropicProvider
from app.llm.providers.base import BaseProvider, ProviderConfig
from app.llm.providers.gemini import GeminiProvider
from app.llm.providers.openai import OpenAIProvider

__all__ = ["make_provider"]


def make_provider(
    config: ProviderConfig,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    catalogue: Catalogue | None = None,
) -> BaseProvider:
    """The client for ``config``: OpenAI (also for ``openai_compatible``), Anthropic or Gemini.

    ``transport`` replaces the network (tests pass an ``httpx.MockTransport``); ``catalogue``
    replaces the bundled model catalogue. The result satisfies :class:`app.llm.types.Provider`;
    close it with ``await provider.aclose()``.
    """
    if config.kind in ("openai", "openai_compatible"):
        return OpenAIProvider(config, transport=transport, catalogue=catalogue)
    if config.kind == "anthropic":
        return AnthropicProvider(config, transport=transport, catalogue=catalogue)
    if config.kind == "gemini":
        return GeminiProvider(config, transport=transport, catalogue=catalogue)
    raise ValueError(f"unknown provider kind {config.kind!r}")
