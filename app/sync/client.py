"""HTTP calls of protocol v1 with sign-in, automatic token refresh and retry with back-off.

:class:`SyncHttp` retries a call that met a network error or a 5xx answer with exponential
back-off (``base_delay * 2**attempt``, at most ``max_attempts`` tries), waiting on the cancel
token so Cancel stops at once; a 401 ``token_expired`` refreshes the access token with the
stored refresh token (which rotates) and repeats the call once. Other errors raise
:class:`SyncError` carrying the server's code and teacher-readable message.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from app.operations.base import CancelToken
from app.sync.tokens import MemoryStore, TokenStore, account_name


class SyncError(Exception):
    """A call the server refused or could not answer; ``code`` is the protocol's error code
    (``offline`` when the server could not be reached)."""

    def __init__(self, code: str, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


@dataclass
class SyncHttp:
    """One account on one server."""

    server_url: str
    email: str
    device_id: str
    tokens: TokenStore = field(default_factory=MemoryStore)
    cancel: CancelToken | None = None
    max_attempts: int = 5
    base_delay: float = 0.5
    timeout: float = 60.0
    access_token: str | None = None
    user: dict[str, Any] = field(default_factory=dict)
    transport: httpx.BaseTransport | None = None
    _client: httpx.Client | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def account(self) -> str:
        return account_name(self.server_url, self.email)

    @property
    def scope(self) -> str:
        """The user's own scope, ``user:<id>`` (known after sign-in or refresh)."""
        return f"user:{self.user['id']}"

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(
                base_url=self.server_url.rstrip("/"), timeout=self.timeout, transport=self.transport
            )
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # ------------------------------------------------------------------ transport with retry

    def _wait(self, seconds: float) -> None:
        if self.cancel is None:
            threading.Event().wait(seconds)
            return
        done = threading.Event()
        self.cancel.on_cancel(done.set)
        done.wait(seconds)
        self.cancel.raise_if_cancelled()

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        last: str = ""
        for attempt in range(self.max_attempts):
            if self.cancel is not None:
                self.cancel.raise_if_cancelled()
            try:
                response = self.client.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                last = f"the sync server at {self.server_url} cannot be reached ({exc})"
            else:
                if response.status_code < 500:
                    return response
                last = (
                    f"the sync server had a problem ({response.status_code}: {_message(response)})"
                )
            if attempt + 1 < self.max_attempts:
                self._wait(self.base_delay * 2**attempt)
        raise SyncError("offline", last[0].upper() + last[1:] + ". Nothing was lost; try later.")

    def call(self, method: str, path: str, *, auth: bool = True, **kwargs: Any) -> Any:
        """One call; JSON (or bytes for a blob GET) back, or :class:`SyncError`."""
        for refreshed in (False, True):
            headers = dict(kwargs.pop("headers", {}) or {})
            if auth:
                if self.access_token is None:
                    self.refresh()
                headers["Authorization"] = f"Bearer {self.access_token}"
            response = self._send(method, path, headers=headers, **kwargs)
            if (
                response.status_code == 401
                and auth
                and not refreshed
                and _code(response) in ("token_expired", "unauthorized")
            ):
                self.access_token = None
                continue
            if response.status_code >= 400:
                raise _error(response)
            if response.headers.get("content-type", "").startswith("application/json"):
                return response.json()
            return response.content
        raise SyncError("unauthorized", "Sign in again.", 401)  # pragma: no cover

    # ------------------------------------------------------------------ auth

    def _took(self, body: dict[str, Any]) -> None:
        self.access_token = str(body["access_token"])
        self.user = dict(body.get("user") or {})
        self.tokens.put(self.account, str(body["refresh_token"]))

    def signin(self, password: str) -> None:
        """Sign in; keeps the access token here and the refresh token in the token store."""
        body = self.call(
            "POST",
            "/v1/auth/signin",
            auth=False,
            json={"email": self.email, "password": password, "device_id": self.device_id},
        )
        self._took(body)

    def refresh(self) -> None:
        """Swap the stored refresh token for a new pair (:class:`SyncError` ``signin_needed``
        when there is none or the server refuses it)."""
        with self._lock:
            token = self.tokens.get(self.account)
            if token is None:
                raise SyncError(
                    "signin_needed",
                    f"Not signed in to {self.server_url} as {self.email}: sign in first "
                    "(huleedu sync signin).",
                    401,
                )
            try:
                body = self.call(
                    "POST", "/v1/auth/refresh", auth=False, json={"refresh_token": token}
                )
            except SyncError as exc:
                if exc.status == 401:
                    self.tokens.delete(self.account)
                    raise SyncError(
                        "signin_needed", f"The sign-in has ended ({exc}); sign in again.", 401
                    ) from exc
                raise
            self._took(body)

    # ------------------------------------------------------------------ protocol calls

    def path(self, scope: str, tail: str) -> str:
        return f"/v1/scopes/{quote(scope, safe='')}/{tail}"


def _code(response: httpx.Response) -> str:
    try:
        return str(response.json().get("error", ""))
    except ValueError:
        return ""


def _message(response: httpx.Response) -> str:
    try:
        return str(response.json().get("message", response.text[:200]))
    except ValueError:
        return response.text[:200]


def _error(response: httpx.Response) -> SyncError:
    code = _code(response) or f"http_{response.status_code}"
    message = _message(response)
    if response.status_code == 403:
        message = f"The server refused this account access to that data: {message}"
    elif code == "bad_credentials":
        message = "The e-mail address or password is wrong."
    return SyncError(code, message, response.status_code)
