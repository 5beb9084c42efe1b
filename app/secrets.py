"""API keys: from an environment variable the user names, or the operating system's keyring.

Keys never go into the database, logs or exports. With no desktop session the keyring has no
backend (``NoKeyringError``); that is reported as such, never papered over with a plain-text
store.
"""

from __future__ import annotations

import os

KEYRING_SERVICE = "huleedu"


class MissingKeyError(ValueError):
    """No key could be found; the message says where it was looked for."""


def find_api_key(provider: str, env_var: str | None = None) -> str:
    """The key for ``provider`` (openai, anthropic, gemini, openai_compatible).

    ``env_var`` set: that variable, which must be non-empty. Otherwise the keyring entry
    (service "huleedu", user = provider), stored e.g. with ``keyring set huleedu openai``.
    Local OpenAI-compatible servers may have no key: an empty string is returned for them.
    """
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
