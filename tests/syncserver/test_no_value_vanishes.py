"""Property: whatever three devices push, in whatever order and from whatever stale state, no
pushed value vanishes on the server. Each value is the record's current value, or is listed as
a conflict loser, or was replaced by a change whose base version was exactly that value's
version (its writer had seen it)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.pgcluster import SyncService
from tests.syncserver.wire import Api, signin

_run = itertools.count()


@dataclass
class Device:
    name: str
    api: Api
    known: dict[str, int] = field(default_factory=dict)  # key -> version last seen
    counter: int = 0


@pytest.fixture(scope="module")
def account(sync_service: SyncService) -> Iterator[tuple[str, str, str]]:
    uid = sync_service.create_user("prop@example.org", "password 123")
    token = signin(sync_service.url, "prop@example.org", "password 123")["access_token"]
    yield sync_service.url, token, f"user:{uid}"


ops = st.lists(
    st.tuples(
        st.sampled_from(["push", "pull"]),
        st.integers(0, 2),  # device
        st.lists(st.integers(0, 3), min_size=1, max_size=3),  # keys edited in one push
        st.integers(-3000, 3000),  # clock offset of this device's write (ms)
        st.booleans(),  # a deletion
    ),
    min_size=3,
    max_size=14,
)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(script=ops)
def test_no_pushed_value_vanishes(account: tuple[str, str, str], script: list[Any]) -> None:
    url, token, scope = account
    run = next(_run)
    devices = [Device(f"d{i}", Api(url, token, f"d{i}")) for i in range(3)]
    base_ms = int(time.time() * 1000) - 60_000
    written: list[tuple[str, str, int | None]] = []  # (key, value, applied version or None)
    replaced_by_base: dict[tuple[str, int], bool] = {}
    try:
        for n, (op, d, keys, offset, delete) in enumerate(script):
            dev = devices[d]
            if op == "pull":
                for c in dev.api.pull_all(scope):
                    dev.known[c["key"]] = c["version"]
                continue
            changes = []
            for k in dict.fromkeys(keys):
                key = f"r{run}-k{k}"
                dev.counter += 1
                value = f"{dev.name}#{n}#{k}"
                changes.append(
                    {
                        "kind": "student",
                        "key": key,
                        "base_version": dev.known.get(key, 0),
                        "hlc": f"{base_ms + n * 10 + offset:013d}-{dev.counter:05d}-{dev.name}",
                        "deleted": delete,
                        "data": {"v": value},
                    }
                )
            r = dev.api.push(scope, changes)
            assert r.status_code == 200, r.text
            body = r.json()
            applied = {a["key"]: a["version"] for a in body["applied"]}
            for ch in changes:
                version = applied.get(ch["key"])
                written.append((ch["key"], ch["data"]["v"], version))
                if version is not None:
                    dev.known[ch["key"]] = version
                    if ch["base_version"] == version - 1:
                        replaced_by_base[(ch["key"], version - 1)] = True
            for c in body["conflicts"]:
                dev.known[c["key"]] = c["winner"]["version"]
        reader = devices[0].api
        current = {
            c["key"]: (c["data"].get("v"), c["version"])
            for c in reader.pull_all(scope)
            if c["key"].startswith(f"r{run}-")
        }
        losers = {
            (c["key"], c["loser"]["data"].get("v"))
            for c in reader.client.get(
                f"/v1/scopes/{scope}/conflicts", params={"limit": 5000}
            ).json()["conflicts"]
            if c["key"].startswith(f"r{run}-")
        }
        for key, value, version in written:
            if current.get(key, (None, 0))[0] == value:
                continue
            if (key, value) in losers:
                continue
            assert version is not None and replaced_by_base.get((key, version)), (
                f"{value} of {key} vanished"
            )
    finally:
        for dev in devices:
            dev.api.close()
