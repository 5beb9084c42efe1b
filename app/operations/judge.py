"""The judge a run's frozen settings name, opened for the length of a drive.

``provider="sim"`` starts the project's simulated provider server on 127.0.0.1 in a thread of
its own (like a remote service, it never runs on the caller's event loop) and speaks to it over
the OpenAI wire format. Any other provider gets its key from the environment variable the
settings name, or from the system keyring; the key is never stored with the run.

Two things a caller may hand the judge for the length of a drive, through context variables
(so the operations between the caller and the judge need not carry them):

* :data:`CAPABILITIES`: what the model accepts (``--model-capabilities``), overriding the
  catalogue; not frozen with the run, so give it again on resume.
* :data:`STOPS`: a list that hears every quota stop (:class:`~app.llm.types.QuotaExhaustedError`)
  of the drive, so the caller can show the advice in its own words.

A quota stop (a dispatch or a provider batch refused for want of credit) pauses the run like a
cancel: pairs not yet judged go back to *planned*. :func:`open_judge` then raises
:class:`~app.runs.orchestrator.JudgeRefusedError` with the advice, so every caller of
``drive_run`` (the window too) gets a ``judge_refused`` failure saying what to do, not a
plain "paused".

A run in ``provider_batch`` mode whose provider has no batch API in this app (Gemini) is
refused before anything is sent (:func:`check_batch_mode`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar

from pydantic import SecretStr

from app.llm.capabilities import CapabilitiesError, ModelCapabilities, parse_capabilities
from app.llm.catalogue import default_catalogue
from app.llm.dispatcher import Dispatcher, DispatchSettings
from app.llm.providers.base import ProviderConfig
from app.llm.providers.factory import make_provider
from app.llm.quota import STOP_LISTENERS
from app.llm.types import QuotaExhaustedError, Usage
from app.runs.orchestrator import JudgeRefusedError
from app.runs.settings import RunSettings
from app.secrets import find_api_key
from app.simserver import start_in_thread

#: The simulated server's profile behind ``provider="sim"``.
SIM_PROFILE = "gpt51-low"

#: Provider kinds whose batch API this app speaks.
BATCH_KINDS = frozenset({"openai", "anthropic", "openai_compatible", "sim"})

CAPABILITIES: ContextVar[ModelCapabilities | None] = ContextVar(
    "huleedu_model_capabilities", default=None
)
"""What the judged model accepts, overriding the catalogue, for drives in this context."""

CAPABILITIES_ENV = "HULEEDU_MODEL_CAPABILITIES"
"""Environment variable read when :data:`CAPABILITIES` is not set (same text as
``--model-capabilities``): how the demo and the window get an override."""


def capabilities_for(kind: str) -> ModelCapabilities | None:
    """The capabilities override for a drive: :data:`CAPABILITIES`, else the environment
    variable :data:`CAPABILITIES_ENV` read for provider ``kind``, else None (the catalogue).

    Raises:
        CapabilitiesError: when the environment variable cannot be read.
    """
    given = CAPABILITIES.get()
    if given is not None:
        return given
    text = os.environ.get(CAPABILITIES_ENV, "").strip()
    return parse_capabilities(text, kind) if text else None


STOPS: ContextVar[list[QuotaExhaustedError] | None] = ContextVar(
    "huleedu_judge_stops", default=None
)
"""A list that hears every quota stop of drives in this context (set it before the drive)."""


def batch_mode_problem(provider: str, model: str) -> str | None:
    """Why ``provider_batch`` mode cannot be used with ``provider``/``model``, or None.

    Gemini's batch API is not spoken by this app, and a catalogue entry may say a model has no
    batch API."""
    if provider not in BATCH_KINDS:
        return (
            f"--mode provider_batch is not available for {provider}: this app speaks the batch "
            "APIs of OpenAI and Anthropic only. Use --mode bundle or --mode per_request."
        )
    info = default_catalogue().find(model)
    if provider != "sim" and info is not None and not info.batch_api:
        return (
            f"--mode provider_batch is not available for {model}: the model catalogue lists "
            "no batch API for it. Use --mode bundle or --mode per_request."
        )
    return None


def check_batch_mode(settings: RunSettings) -> None:
    """Refuse a ``provider_batch`` run whose provider has no batch API here.

    Raises:
        JudgeRefusedError: naming the modes that work (nothing is sent).
    """
    if settings.mode != "provider_batch":
        return
    problem = batch_mode_problem(settings.provider, settings.model)
    if problem is not None:
        raise JudgeRefusedError(problem)


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
            capabilities=capabilities_for("openai_compatible"),
        )
    key = find_api_key(settings.provider, settings.api_key_env)
    return ProviderConfig(
        kind=settings.provider,  # type: ignore[arg-type]
        model=settings.model,
        base_url=settings.base_url,
        api_key=SecretStr(key),
        strict_schema=settings.strict_schema,
        max_connections=max(1, settings.concurrency),
        capabilities=capabilities_for(settings.provider),
    )


def pricing(model: str) -> Callable[[Usage], float]:
    """Cost of a call from the dated price catalogue, the user's entries included (0 for
    models it does not list)."""
    catalogue = default_catalogue()
    known = catalogue.find(model) is not None

    def price(usage: Usage) -> float:
        return catalogue.cost_usd(model, usage) if known else 0.0

    return price


@asynccontextmanager
async def open_judge(settings: RunSettings) -> AsyncIterator[Dispatcher]:
    """A dispatcher for the judge ``settings`` name; closed (and the simulated server
    stopped) when the block ends.

    Raises:
        JudgeRefusedError: ``provider_batch`` mode for a provider without a batch API here;
            after the block, when a call or batch of it was refused for want of credit (the
            run was paused by then; the message says what to do).
    """
    check_batch_mode(settings)
    heard: list[QuotaExhaustedError] = []
    listening = STOP_LISTENERS.set(heard)
    try:
        async with _judge(settings) as dispatcher:
            yield dispatcher
    finally:
        with contextlib.suppress(ValueError):  # reset only in the context that set it
            STOP_LISTENERS.reset(listening)
        caller = STOPS.get()
        if caller is not None:
            caller.extend(heard)
    if heard:
        raise JudgeRefusedError(heard[0].advice.rstrip("."))


@asynccontextmanager
async def _judge(settings: RunSettings) -> AsyncIterator[Dispatcher]:
    """The dispatcher for ``settings`` (see :func:`open_judge`)."""
    stop: Callable[[], None] | None = None
    base_url = None
    if settings.provider == "sim":
        url, stop = await asyncio.get_running_loop().run_in_executor(
            None, lambda: start_in_thread(SIM_PROFILE, speed=settings.sim_speed, seed=settings.seed)
        )
        base_url = url + "/v1"
    try:
        try:
            config = provider_config(settings, base_url)
        except CapabilitiesError as exc:
            raise JudgeRefusedError(f"{CAPABILITIES_ENV}: {exc}") from exc
        provider = make_provider(config)
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
