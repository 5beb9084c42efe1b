"""Where the sync refresh token is kept: the system keyring (service ``huleedu-sync``, user
``<server URL> <email>``); on a machine without a keyring backend, in this process's memory only,
so the teacher signs in again next time (:attr:`TokenStore.persistent` says which)."""

from __future__ import annotations

import threading
from typing import Protocol

KEYRING_SERVICE = "huleedu-sync"


class TokenStore(Protocol):
    """Somewhere a refresh token can be kept between syncs."""

    def get(self, account: str) -> str | None: ...
    def put(self, account: str, token: str) -> None: ...
    def delete(self, account: str) -> None: ...


class MemoryStore:
    """Tokens in this process only (tests; machines without a keyring)."""

    persistent = False

    def __init__(self) -> None:
        self._tokens: dict[str, str] = {}
        self._lock = threading.Lock()

    def get(self, account: str) -> str | None:
        with self._lock:
            return self._tokens.get(account)

    def put(self, account: str, token: str) -> None:
        with self._lock:
            self._tokens[account] = token

    def delete(self, account: str) -> None:
        with self._lock:
            self._tokens.pop(account, None)


class KeyringStore:
    """The system keyring, falling back to memory (and saying why) when it cannot be used."""

    def __init__(self) -> None:
        self._memory = MemoryStore()
        self.problem: str | None = None

    @property
    def persistent(self) -> bool:
        return self.problem is None

    def get(self, account: str) -> str | None:
        import keyring  # noqa: PLC0415

        try:
            found = keyring.get_password(KEYRING_SERVICE, account)
        except Exception as exc:  # NoKeyringError, a locked backend
            self.problem = str(exc).split(". ")[0] or type(exc).__name__
            return self._memory.get(account)
        return found or self._memory.get(account)

    def put(self, account: str, token: str) -> None:
        import keyring  # noqa: PLC0415

        # Kept in memory too: a keyring that stores but cannot be read back (locked, or a
        # backend that fails on reads) still leaves this session signed in.
        self._memory.put(account, token)
        try:
            keyring.set_password(KEYRING_SERVICE, account, token)
        except Exception as exc:
            self.problem = str(exc).split(". ")[0] or type(exc).__name__

    def delete(self, account: str) -> None:
        import keyring  # noqa: PLC0415

        self._memory.delete(account)
        try:
            keyring.delete_password(KEYRING_SERVICE, account)
        except Exception:  # nothing stored, or no keyring: nothing to remove
            return


def account_name(server_url: str, email: str) -> str:
    """The keyring user name of one account on one server."""
    return f"{server_url.rstrip('/')} {email.strip().lower()}"
