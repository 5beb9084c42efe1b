"""The judge a run's frozen settings name, opened for the length of a drive.

``provider="sim"`` starts the project's simulated provider server on 127.0.0.1 in a thread of
its own (like a remote service, it never runs on the caller's event loop) and speaks to it over
the OpenAI wire format. Any other provider gets its key from the environment variable the
settings name, or from the system keyring; the key is never stored with the run.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from pydantic import SecretStr

from app.llm.catalogue import load_catalogue
from app.llm.dispatcher import Dispatcher, DispatchSettings
from app.llm.providers.base import ProviderConfig
from app.llm.providers.factory import make_provider
from app.llm.types import Usage
from app.runs.settings import RunSettings
from app.secrets import find_api_key
from app.simserver import start_in_thread

#: The simulated server's profile behind ``provider="sim"``.
SIM_PROFILE = "gpt51-low"


def provider_config(settings: RunSettings, base_url: str | None = None) -> ProviderConfig:
    """The provider configuration for ``settings`` (``base_url`` for the simulated server).

    Raises :class:`app.secrets.MissingKeyError` when a real provider has no key.
    """
    if settings.provider == "sim":
        return ProviderConfig(
            kind="openai_compatible",
            model=settings.model,
            base_url=base_url,
            api_key=SecretStr("sim"),
            max_connections=max(1, settings.concurrency),
        )
    key = find_api_key(settings.provider, settings.api_key_env)
    return ProviderConfig(
        kind=settings.provider,  # type: ignore[arg-type]
        model=settings.model,
        base_url=settings.base_url,
        api_key=SecretStr(key),
        strict_schema=settings.strict_schema,
        max_connections=max(1, settings.concurrency),
    )


def pricing(model: str) -> Callable[[Usage], float]:
    """Cost of a call from the dated price catalogue (0 for models it does not list)."""
    catalogue = load_catalogue()
    known = catalogue.find(model) is not None

    def price(usage: Usage) -> float:
        return catalogue.cost_usd(model, usage) if known else 0.0

    return price


@asynccontextmanager
async def open_judge(settings: RunSettings) -> AsyncIterator[Dispatcher]:
    """A dispatcher for the judge ``settings`` name; closed (and the simulated server
    stopped) when the block ends."""
    stop: Callable[[], None] | None = None
    base_url = None
    if settings.provider == "sim":
        url, stop = await asyncio.get_running_loop().run_in_executor(
            None, lambda: start_in_thread(SIM_PROFILE, speed=settings.sim_speed, seed=settings.seed)
        )
        base_url = url + "/v1"
    try:
        provider = make_provider(provider_config(settings, base_url))
        try:
            yield Dispatcher(
                provider,
                DispatchSettings(
                    mode="bundle" if settings.mode == "provider_batch" else settings.mode,  # type: ignore[arg-type]
                    bundle_size=settings.bundle_size,
                    concurrency=settings.concurrency,
                ),
                cost=pricing(settings.model),
            )
        finally:
            await provider.aclose()
    finally:
        if stop is not None:
            await asyncio.get_running_loop().run_in_executor(None, stop)
