"""API keys: from an environment variable the user names, or the operating system's keyring.

Keys never go into the database, logs or exports. With no desktop session the keyring has no
backend (``NoKeyringError``); that is reported as such, never papered over with a plain-text
store.
"""

from __future__ import annotations

import os
import threading

KEYRING_SERVICE = "huleedu"

_session_keys: dict[str, str] = {}
_session_lock = threading.Lock()


def session_keys() -> tuple[dict[str, str], threading.Lock]:
    """Keys kept in this process's memory only, for a machine with no system keyring (the
    window stores one there when the keyring cannot), and the lock guarding them."""
    return _session_keys, _session_lock


def session_key(provider: str) -> str | None:
    """The key kept for ``provider`` in this process's memory, if any."""
    with _session_lock:
        return _session_keys.get(provider)


class MissingKeyError(ValueError):
    """No key could be found; the message says where it was looked for."""


def find_api_key(provider: str, env_var: str | None = None) -> str:
    """The key for ``provider`` (openai, anthropic, gemini, openai_compatible).

    ``env_var`` set: that variable, which must be non-empty. Otherwise the keyring entry
    (service "huleedu", user = provider), stored e.g. with ``keyring set huleedu openai``.
    Local OpenAI-compatible servers may have no key: an empty string is returned for them.
    """
    remembered = session_key(provider)
    if remembered and not env_var:
        return remembered
    if env_var:
        key = os.environ.get(env_var, "")
        if not key:
            raise MissingKeyError(f"environment variable {env_var} is empty or not set")
        return key
    try:
        import keyring  # noqa: PLC0415
        from keyring.errors import KeyringError  # noqa: PLC0415

        try:
            key = keyring.get_password(KEYRING_SERVICE, provider) or ""
        except KeyringError as exc:
            if provider == "openai_compatible":
                return ""
            raise MissingKeyError(
                f"no API key for {provider}: give --api-key-env VAR, or store one in the "
                f"system keyring (service '{KEYRING_SERVICE}', user '{provider}'); the keyring "
                f"is not available here ({exc})"
            ) from exc
    except ImportError:  # pragma: no cover - keyring is a dependency
        key = ""
    if not key and provider != "openai_compatible":
        raise MissingKeyError(
            f"no API key for {provider}: give --api-key-env VAR, or store one with "
            f"`keyring set {KEYRING_SERVICE} {provider}`"
        )
    return key
