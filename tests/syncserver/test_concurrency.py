"""Concurrency over real loopback HTTP: four writers and a paging reader; concurrent conflicting
edits; random push orders converge (hypothesis)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.pgcluster import SyncService
from tests.syncserver.wire import Api, change, hlc, signin


@dataclass
class Teacher:
    url: str
    token: str
    scope: str

    def api(self, device: str) -> Api:
        return Api(self.url, self.token, device)


@pytest.fixture(scope="module")
def teacher(sync_service: SyncService) -> Iterator[Teacher]:
    uid = sync_service.create_user("busy@example.org", "password 123")
    token = signin(sync_service.url, "busy@example.org", "password 123")["access_token"]
    yield Teacher(sync_service.url, token, f"user:{uid}")


def test_four_writers_and_a_paging_reader_see_every_row_once(teacher: Teacher) -> None:
    """Every (key, version) a writer was told is applied is seen by the reader exactly once,
    unless the reader saw a later version of that key instead; no duplicates, no gaps."""
    writers, pushes_each, per_push = 4, 25, 12
    applied: list[tuple[str, int, int]] = []
    applied_lock = threading.Lock()
    done = threading.Event()

    def write(w: int) -> None:
        api = teacher.api(f"w{w}")
        versions: dict[str, int] = {}
        try:
            for p in range(pushes_each):
                changes = []
                for i in range(per_push):
                    # Half new keys, half edits of this writer's earlier keys.
                    key = f"w{w}-{p}-{i}" if i % 2 == 0 or p == 0 else f"w{w}-{p - 1}-{i - 1}"
                    changes.append(
                        change(
                            "student", key, {"w": w, "p": p, "i": i}, versions.get(key, 0), f"w{w}"
                        )
                    )
                r = api.push(teacher.scope, changes)
                assert r.status_code == 200, r.text
                body = r.json()
                assert body["conflicts"] == [] and body["rejected"] == []
                with applied_lock:
                    for a in body["applied"]:
                        applied.append((a["key"], a["version"], a["seq"]))
                        versions[a["key"]] = a["version"]
        finally:
            api.close()

    seen: list[dict[str, Any]] = []

    def read() -> None:
        api = teacher.api("reader")
        after = 0
        try:
            while True:
                finished = done.is_set()
                r = api.pull(teacher.scope, after=after, limit=7)
                assert r.status_code == 200, r.text
                page = r.json()
                seen.extend(page["changes"])
                after = page["next"]
                if finished and not page["more"]:
                    return
        finally:
            api.close()

    reader = threading.Thread(target=read)
    reader.start()
    with ThreadPoolExecutor(writers) as pool:
        for f in [pool.submit(write, w) for w in range(writers)]:
            f.result()
    done.set()
    reader.join(timeout=120)
    assert not reader.is_alive()

    seqs = [c["seq"] for c in seen]
    assert seqs == sorted(seqs) and len(seqs) == len(set(seqs)), "the cursor went back or repeated"
    pairs = [(c["key"], c["version"]) for c in seen]
    assert len(pairs) == len(set(pairs)), "a change was seen twice"
    applied_seqs = sorted(s for _, _, s in applied)
    assert applied_seqs == list(range(1, len(applied) + 1)), "seq numbers are not contiguous"
    latest_seen: dict[str, int] = {}
    for key, version in pairs:
        latest_seen[key] = max(latest_seen.get(key, 0), version)
    by_seq = {c["seq"]: (c["key"], c["version"]) for c in seen}
    for key, version, seq in applied:
        if seq in by_seq:
            assert by_seq[seq] == (key, version)
        else:
            # Not seen at this seq: only allowed if a newer version of the key was seen.
            assert latest_seen.get(key, 0) > version, f"{key} v{version} (seq {seq}) was missed"
    final: dict[str, int] = {}
    for key, version, _ in applied:
        final[key] = max(final.get(key, 0), version)
    assert latest_seen == final


def test_concurrent_conflicting_edits_keep_every_loser(teacher: Teacher) -> None:
    api = teacher.api("setup")
    key = "contested"
    assert api.push(teacher.scope, [change("class", key, {"v": "start"})]).status_code == 200
    api.close()
    n = 6
    base_ms = int(time.time() * 1000)

    def edit(d: int) -> dict[str, Any]:
        dev = teacher.api(f"d{d}")
        try:
            stamp = hlc(f"d{d}", base_ms + d * 10)
            r = dev.push(teacher.scope, [change("class", key, {"v": f"from d{d}"}, 1, stamp=stamp)])
            assert r.status_code == 200, r.text
            return dict(r.json())
        finally:
            dev.close()

    with ThreadPoolExecutor(n) as pool:
        results = list(pool.map(edit, range(n)))
    api = teacher.api("check")
    [rec] = [c for c in api.pull_all(teacher.scope) if c["key"] == key]
    losers = [
        c["loser"]["data"]["v"]
        for c in api.conflicts(teacher.scope).json()["conflicts"]
        if c["key"] == key
    ]
    api.close()
    # The latest clock wins whatever the commit order.
    assert rec["data"] == {"v": f"from d{n - 1}"}
    values = {f"from d{d}" for d in range(n)} | {"start"}
    # Every edit is either the winner or listed as a loser; only the start value was replaced
    # by an edit made on top of it (the first to commit, whose base version matched).
    kept = set(losers) | {rec["data"]["v"]}
    assert values - kept == {"start"}
    assert len(losers) == n - 1 == len(set(losers))
    assert sum(1 for r in results if r["applied"] and not r["conflicts"]) == 1


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    stamps=st.lists(st.integers(0, 50_000), min_size=2, max_size=5, unique=True),
    order_seed=st.randoms(use_true_random=False),
)
def test_random_push_orders_converge_to_the_latest_clock(
    teacher: Teacher, stamps: list[int], order_seed: Any
) -> None:
    """Devices that all edited the same record from version 1 while offline push in any order:
    the value with the latest clock wins and every other edit is listed as a loser."""
    api = teacher.api("prop")
    key = f"prop-{time.time_ns()}"
    base_ms = int(time.time() * 1000) - 60_000
    assert api.push(teacher.scope, [change("setting", key, {"v": -1})]).status_code == 200
    edits = [(d, base_ms + s) for d, s in enumerate(stamps)]
    order_seed.shuffle(edits)
    for d, ms in edits:
        r = api.push(teacher.scope, [change("setting", key, {"v": d}, 1, stamp=hlc(f"dev{d}", ms))])
        assert r.status_code == 200, r.text
    [rec] = [
        c for c in api.pull(teacher.scope, after=0, limit=5000).json()["changes"] if c["key"] == key
    ]
    winner = max(range(len(stamps)), key=lambda d: stamps[d])
    assert rec["data"] == {"v": winner}
    conflicts = api.client.get(
        f"/v1/scopes/{teacher.scope}/conflicts", params={"limit": 5000}
    ).json()["conflicts"]
    losers = {c["loser"]["data"]["v"] for c in conflicts if c["key"] == key}
    api.close()
    # Nothing vanished: every edit but the winner is listed as a loser.
    assert losers == set(range(len(stamps))) - {winner}
