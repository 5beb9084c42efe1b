"""API keys for the judge's providers: where they are, storing and removing them, and testing one.

Keys live only in the operating system's keyring (service ``huleedu``, user = provider, the
entry :func:`app.secrets.find_api_key` reads), never in the database or a settings file. With
no system keyring (a headless machine, no desktop session) :func:`key_status` says so with the
keyring's own reason, and :func:`store_key` keeps the key in this process's memory for the
session only, saying so (DESIGN.md: never a plain-text store).

:func:`test_connection` makes one minimal real call through the project's own client for the
provider (one tiny pair to judge, a short timeout) and turns what happened into a sentence a
teacher reads: it works, the key is wrong, there is no credit, the server cannot be reached, or
the model is unknown.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from pydantic import SecretStr

from app.llm.providers.base import ProviderConfig
from app.llm.providers.factory import make_provider
from app.llm.types import FailureCategory, PairTask, ProviderError
from app.operations.base import (
    CancelToken,
    FailureKind,
    OperationError,
    ProgressSink,
    ignore_progress,
    until_cancelled,
)
from app.secrets import KEYRING_SERVICE, session_keys
from core.prompt import AssignmentContext, make_nonce

#: Providers that take a key, in the order a settings page lists them.
KEY_PROVIDERS = ("openai", "anthropic", "gemini", "openai_compatible")
#: Every provider a connection can be tested with (``sim``: the built-in simulated judge).
TESTABLE_PROVIDERS = ("sim", *KEY_PROVIDERS)
#: A cheap model per provider, for a test when the teacher has not chosen one.
TEST_MODELS = {
    "sim": "sim-gpt51-low",
    "openai": "gpt-5-mini",
    "anthropic": "claude-haiku-4-5",
    "gemini": "gemini-2.5-flash",
}
#: Seconds a connection test may take, all told.
TEST_TIMEOUT_S = 20.0

_session_keys, _session_lock = session_keys()


class KeyState(StrEnum):
    STORED = "stored"
    """In the system keyring."""
    SESSION = "session"
    """Kept in memory for this session only (there is no system keyring)."""
    NOT_STORED = "not_stored"
    UNAVAILABLE = "unavailable"
    """There is no usable system keyring, and no key for this session."""


@dataclass(frozen=True)
class KeyStatus:
    """Where the key of one provider is; ``reason`` says why the keyring cannot be used."""

    provider: str
    state: KeyState
    reason: str = ""

    @property
    def has_key(self) -> bool:
        return self.state in (KeyState.STORED, KeyState.SESSION)

    def sentence(self) -> str:
        if self.state is KeyState.STORED:
            return "A key is stored in the system keyring."
        if self.state is KeyState.SESSION:
            return (
                "A key is kept for this session only: there is no system keyring, so it is "
                "forgotten when the app closes."
            )
        if self.state is KeyState.NOT_STORED:
            return "No key stored."
        return f"No system keyring on this computer ({self.reason}); keys cannot be saved."


def _check_provider(provider: str) -> None:
    if provider not in KEY_PROVIDERS:
        raise OperationError(
            FailureKind.INPUT,
            f"Provider {provider!r} takes no API key (one of {', '.join(KEY_PROVIDERS)}).",
        )


def _keyring_failure(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    first = text.split(". ")[0].rstrip(".")
    return first


def key_status(provider: str, **_operation: object) -> KeyStatus:
    """Where ``provider``'s key is (never the key itself)."""
    _check_provider(provider)
    import keyring  # noqa: PLC0415

    try:
        stored = keyring.get_password(KEYRING_SERVICE, provider)
    except Exception as exc:  # NoKeyringError, a locked or broken backend (D-Bus, …)
        with _session_lock:
            if provider in _session_keys:
                return KeyStatus(provider, KeyState.SESSION, _keyring_failure(exc))
        return KeyStatus(provider, KeyState.UNAVAILABLE, _keyring_failure(exc))
    if stored:
        return KeyStatus(provider, KeyState.STORED)
    with _session_lock:
        if provider in _session_keys:
            return KeyStatus(provider, KeyState.SESSION)
    return KeyStatus(provider, KeyState.NOT_STORED)


def store_key(provider: str, key: str, **_operation: object) -> KeyStatus:
    """Store ``key`` for ``provider`` in the system keyring; with no keyring, keep it in
    memory for this session (the status says which)."""
    _check_provider(provider)
    key = key.strip()
    if not key:
        raise OperationError(FailureKind.INPUT, "The key is empty; paste the whole key.")
    if any(ch.isspace() for ch in key):
        raise OperationError(
            FailureKind.INPUT, "The key has spaces or line breaks in it; paste the key alone."
        )
    import keyring  # noqa: PLC0415

    try:
        keyring.set_password(KEYRING_SERVICE, provider, key)
    except Exception as exc:
        with _session_lock:
            _session_keys[provider] = key
        return KeyStatus(provider, KeyState.SESSION, _keyring_failure(exc))
    with _session_lock:
        _session_keys.pop(provider, None)
    return KeyStatus(provider, KeyState.STORED)


def delete_key(provider: str, **_operation: object) -> KeyStatus:
    """Remove ``provider``'s key from the keyring (and from this session); no key is fine."""
    _check_provider(provider)
    import keyring  # noqa: PLC0415
    from keyring.errors import PasswordDeleteError  # noqa: PLC0415

    with _session_lock:
        _session_keys.pop(provider, None)
    try:
        keyring.delete_password(KEYRING_SERVICE, provider)
    except PasswordDeleteError:
        pass  # nothing was stored
    except Exception as exc:  # no keyring: it holds nothing to delete
        return KeyStatus(provider, KeyState.UNAVAILABLE, _keyring_failure(exc))
    return key_status(provider)


def stored_key(provider: str) -> str | None:
    """The key for ``provider`` from the keyring or this session, or None."""
    _check_provider(provider)
    import keyring  # noqa: PLC0415

    with contextlib.suppress(Exception):
        key = keyring.get_password(KEYRING_SERVICE, provider)
        if key:
            return key
    with _session_lock:
        return _session_keys.get(provider)


# ---------------------------------------------------------------------------------- testing


class ConnectionVerdict(StrEnum):
    WORKS = "works"
    WRONG_KEY = "wrong_key"
    NO_CREDIT = "no_credit"
    UNREACHABLE = "unreachable"
    UNKNOWN_MODEL = "unknown_model"
    NO_KEY = "no_key"
    BUSY = "busy"
    """The key works but the provider limits requests right now."""
    OTHER = "other"


@dataclass(frozen=True)
class ConnectionResult:
    """What one test call showed; ``message`` is for the teacher, ``details`` for support."""

    provider: str
    model: str
    verdict: ConnectionVerdict
    message: str
    details: str = ""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.verdict is ConnectionVerdict.WORKS


_CREDIT_WORDS = ("credit", "quota", "billing", "insufficient", "payment", "balance")
_TEST_CONTEXT = AssignmentContext(
    "Connection test", "Write one sentence about the weather.", "Clarity.", ""
)
_TEST_PAIR = PairTask(
    "connection-test",
    "The weather today is sunny and warm, so we ate lunch outside.",
    "weather ok",
)


def _verdict_for(error: ProviderError, provider: str, model: str) -> tuple[ConnectionVerdict, str]:
    text = error.message.lower()
    credit = any(word in text for word in _CREDIT_WORDS)
    name = PROVIDER_NAMES.get(provider, provider)
    no_credit = error.status == 402 or error.category is FailureCategory.QUOTA
    if no_credit or (credit and error.category is not FailureCategory.NETWORK):
        return (
            ConnectionVerdict.NO_CREDIT,
            f"The key works, but the {name} account has no credit left (or no billing set "
            "up). Add credit on the provider's website and test again.",
        )
    if error.category is FailureCategory.AUTH:
        return (
            ConnectionVerdict.WRONG_KEY,
            f"{name} refused the key. Check that you pasted the whole key, and that it is "
            "still active.",
        )
    if error.category in (FailureCategory.NETWORK, FailureCategory.TIMEOUT):
        return (
            ConnectionVerdict.UNREACHABLE,
            f"Cannot reach {name}'s server. Check the internet connection (and the server "
            "address, for a local server).",
        )
    if error.category is FailureCategory.BAD_REQUEST and (error.status == 404 or "model" in text):
        return (
            ConnectionVerdict.UNKNOWN_MODEL,
            f"{name} does not know the model {model!r}, or this key may not use it. Choose "
            "another model.",
        )
    if error.category is FailureCategory.RATE_LIMIT:
        return (
            ConnectionVerdict.BUSY,
            f"The key works, but {name} is limiting requests right now. Try again in a minute.",
        )
    if error.category in (
        FailureCategory.PARSE_ERROR,
        FailureCategory.REFUSAL,
        FailureCategory.TRUNCATED,
    ) and (error.status is None or 200 <= error.status < 300):
        # The call was accepted and answered; the answer itself is beside the point here.
        return ConnectionVerdict.WORKS, f"{name} answered with the model {model}: it works."
    if error.category is FailureCategory.SERVER:
        return (
            ConnectionVerdict.OTHER,
            f"{name}'s server has a problem right now ({error.message}). Try again later.",
        )
    return ConnectionVerdict.OTHER, f"{name} answered with an error: {error.message}."


PROVIDER_NAMES = {
    "sim": "The simulated judge",
    "openai": "OpenAI",
    "anthropic": "Anthropic",
    "gemini": "Google Gemini",
    "openai_compatible": "The OpenAI-compatible server",
}


async def test_connection(
    provider: str,
    model: str | None = None,
    key: str | None = None,
    *,
    base_url: str | None = None,
    timeout_s: float = TEST_TIMEOUT_S,
    progress: ProgressSink = ignore_progress,
    cancel: CancelToken | None = None,
) -> ConnectionResult:
    """One minimal real call to ``provider`` with ``model`` (default: a cheap one) and
    ``key`` (default: the stored key), within ``timeout_s`` seconds.

    ``provider="sim"`` starts the built-in simulated server for the call. ``base_url``
    points any provider at another server (a local OpenAI-compatible one, or the simulated
    server in tests). The call judges one tiny pair, a fraction of a cent on a paid model.
    """
    if provider not in TESTABLE_PROVIDERS:
        raise OperationError(
            FailureKind.INPUT,
            f"Unknown provider {provider!r} (one of {', '.join(TESTABLE_PROVIDERS)}).",
        )
    model = (model or "").strip() or TEST_MODELS.get(provider, "")
    if not model:
        raise OperationError(FailureKind.INPUT, "Name the model to test the connection with.")
    if provider == "openai_compatible" and not base_url:
        raise OperationError(
            FailureKind.INPUT,
            "An OpenAI-compatible server needs its address, e.g. http://localhost:11434/v1.",
        )
    name = PROVIDER_NAMES[provider]
    loop = asyncio.get_running_loop()
    if key is None and provider != "sim":
        key = await loop.run_in_executor(None, stored_key, provider)
        if key is None and provider != "openai_compatible":
            return ConnectionResult(
                provider,
                model,
                ConnectionVerdict.NO_KEY,
                f"There is no key for {name} yet. Set a key first.",
            )
    stop: Callable[[], None] | None = None
    if provider == "sim" and base_url is None:
        from app.operations.judge import SIM_PROFILE  # noqa: PLC0415
        from app.simserver import start_in_thread  # noqa: PLC0415

        url, stop = await loop.run_in_executor(
            None, lambda: start_in_thread(SIM_PROFILE, speed=1000.0, seed=0)
        )
        base_url = url + "/v1"
    config = ProviderConfig(
        kind="openai_compatible" if provider == "sim" else provider,  # type: ignore[arg-type]
        model=model,
        base_url=base_url,
        api_key=SecretStr(key if key is not None else ("sim" if provider == "sim" else "")),
        timeout_s=timeout_s,
        max_connections=1,
    )
    progress_started = time.perf_counter()
    try:
        client = make_provider(config)
        try:
            await until_cancelled(
                asyncio.wait_for(
                    client.judge(_TEST_CONTEXT, [_TEST_PAIR], nonce=make_nonce(os.urandom(16))),
                    timeout_s,
                ),
                cancel,
            )
        finally:
            await client.aclose()
    except ProviderError as exc:
        verdict, message = _verdict_for(exc, provider, model)
        return ConnectionResult(
            provider, model, verdict, message, exc.message, time.perf_counter() - progress_started
        )
    except TimeoutError:
        return ConnectionResult(
            provider,
            model,
            ConnectionVerdict.UNREACHABLE,
            f"{name} did not answer within {timeout_s:.0f} seconds. Check the internet "
            "connection and try again.",
            seconds=time.perf_counter() - progress_started,
        )
    finally:
        if stop is not None:
            await loop.run_in_executor(None, stop)
    return ConnectionResult(
        provider,
        model,
        ConnectionVerdict.WORKS,
        f"{name} answered with the model {model}: it works.",
        seconds=time.perf_counter() - progress_started,
    )


test_connection.__test__ = False  # type: ignore[attr-defined]  # not a pytest test
