"""A bare protocol client for the service tests (plain HTTP, none of app/sync)."""

from __future__ import annotations

import itertools
import time
import uuid
from typing import Any
from urllib.parse import quote

import httpx

_counter = itertools.count()


def hlc(device: str, ms: int | None = None) -> str:
    """A fresh HLC string for ``device`` (counter increases within the process)."""
    ms = int(time.time() * 1000) if ms is None else ms
    return f"{ms:013d}-{next(_counter) % 100000:05d}-{device}"


def signin(url: str, email: str, password: str, device: str = "dev-a") -> dict[str, Any]:
    r = httpx.post(
        f"{url}/v1/auth/signin", json={"email": email, "password": password, "device_id": device}
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


class Api:
    """Authenticated calls for one user and device."""

    def __init__(self, url: str, token: str, device: str = "dev-a") -> None:
        self.url = url
        self.device = device
        self.client = httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60
        )

    def close(self) -> None:
        self.client.close()

    def push(
        self, scope: str, changes: list[dict[str, Any]], push_id: str | None = None
    ) -> httpx.Response:
        body = {
            "push_id": push_id or str(uuid.uuid4()),
            "device_id": self.device,
            "changes": changes,
        }
        return self.client.post(f"/v1/scopes/{quote(scope, safe='')}/push", json=body)

    def pull(self, scope: str, after: int = 0, limit: int = 1000) -> httpx.Response:
        return self.client.get(
            f"/v1/scopes/{quote(scope, safe='')}/changes", params={"after": after, "limit": limit}
        )

    def pull_all(self, scope: str, after: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        while True:
            r = self.pull(scope, after, limit)
            assert r.status_code == 200, r.text
            page = r.json()
            out.extend(page["changes"])
            after = page["next"]
            if not page["more"]:
                return out

    def conflicts(self, scope: str, after: int = 0) -> httpx.Response:
        return self.client.get(
            f"/v1/scopes/{quote(scope, safe='')}/conflicts", params={"after": after}
        )


def change(
    kind: str,
    key: str,
    data: dict[str, Any],
    base: int = 0,
    device: str = "dev-a",
    deleted: bool = False,
    stamp: str | None = None,
) -> dict[str, Any]:
    return {
        "kind": kind,
        "key": key,
        "base_version": base,
        "hlc": stamp or hlc(device),
        "deleted": deleted,
        "data": data,
    }
