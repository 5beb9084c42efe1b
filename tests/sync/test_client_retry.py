"""The HTTP client's own logic (no server needed): back-off on 5xx and network errors, giving
up with an "offline" error, Cancel during a wait, refresh on an expired token."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import pytest

from app.operations.base import CancelToken, OperationCancelledError
from app.sync.client import SyncError, SyncHttp
from app.sync.tokens import MemoryStore


def client(handler: httpx.MockTransport, **kw: Any) -> SyncHttp:
    http = SyncHttp(
        "http://sync.test", "t@example.org", "dev", tokens=MemoryStore(), transport=handler, **kw
    )
    http.access_token = "token"
    return http


def test_backs_off_exponentially_on_5xx_then_succeeds(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = iter([503, 502, 200])
    waits: list[float] = []

    def handle(request: httpx.Request) -> httpx.Response:
        status = next(answers)
        return httpx.Response(
            status,
            json={"ok": status == 200} if status == 200 else {"error": "internal", "message": "x"},
        )

    http = client(httpx.MockTransport(handle), base_delay=0.25)
    monkeypatch.setattr(http, "_wait", waits.append)
    assert http.call("GET", "/v1/health") == {"ok": True}
    assert waits == [0.25, 0.5]


def test_gives_up_as_offline_after_the_last_attempt(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = 0

    def handle(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        raise httpx.ConnectError("refused", request=request)

    http = client(httpx.MockTransport(handle), max_attempts=4)
    monkeypatch.setattr(http, "_wait", lambda _s: None)
    with pytest.raises(SyncError) as offline:
        http.call("GET", "/v1/health")
    assert calls == 4 and offline.value.code == "offline"


def test_cancel_interrupts_a_back_off_wait() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, json={"error": "internal", "message": "busy"})

    cancel = CancelToken()
    http = client(httpx.MockTransport(handle), base_delay=30.0, cancel=cancel)
    threading.Timer(0.2, cancel.cancel).start()
    started = time.monotonic()
    with pytest.raises(OperationCancelledError):
        http.call("GET", "/v1/health")
    assert time.monotonic() - started < 5


def test_an_expired_token_is_refreshed_once() -> None:
    seen: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/auth/refresh":
            return httpx.Response(
                200,
                json={
                    "access_token": "fresh",
                    "refresh_token": "r2",
                    "expires_in": 900,
                    "user": {"id": "7"},
                },
            )
        seen.append(request.headers["Authorization"])
        if request.headers["Authorization"] == "Bearer token":
            return httpx.Response(401, json={"error": "token_expired", "message": "expired"})
        return httpx.Response(200, json={"scopes": []})

    http = client(httpx.MockTransport(handle))
    http.tokens.put(http.account, "r1")
    assert http.call("GET", "/v1/scopes") == {"scopes": []}
    assert seen == ["Bearer token", "Bearer fresh"]
    assert http.tokens.get(http.account) == "r2" and http.scope == "user:7"
