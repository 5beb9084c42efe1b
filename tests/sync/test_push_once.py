"""A retried push applies once; a client killed (SIGKILL) during a push loses nothing and
repeats nothing. Against the real service on PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from app.db.models import Student, SyncOutbox, SyncPendingPush
from app.operations.classes import NewClass, StudentFields, add_student, new_class
from app.sync.device import Device
from tests.pgcluster import SyncService
from tests.sync.conftest import PASSWORD
from tests.sync.proxy import PushProxy

ROOT = Path(__file__).resolve().parents[2]


def seed(device: Device, students: int) -> int:
    klass = new_class(device.db, NewClass(name="8A"))
    for i in range(students):
        add_student(device.db, klass.id, StudentFields(f"S{i}", "Test"))
    return 2 + 2 * students  # course, class, students, memberships


def server_changes(device: Device) -> dict[str, Any]:
    """Every record's latest state on the server, straight from the protocol."""
    http = device.http
    answer = http.call("GET", http.path(http.scope, "changes"), params={"after": 0, "limit": 5000})
    assert not answer["more"]
    return dict(answer)


def assert_applied_once(device: Device, records: int) -> None:
    answer = server_changes(device)
    assert len(answer["changes"]) == records
    assert {c["version"] for c in answer["changes"]} == {1}
    # every applied change took one seq: no change was applied twice
    assert answer["next"] == records
    with device.db.read() as s:
        assert s.scalar(select(func.count()).select_from(SyncOutbox)) == 0
        assert s.scalar(select(func.count()).select_from(SyncPendingPush)) == 0


class LoseFirstPushAnswer(httpx.HTTPTransport):
    """The server applies the push; the answer is lost on the way back (once)."""

    def __init__(self) -> None:
        super().__init__()
        self.lost = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        if request.url.path.endswith("/push") and not self.lost:
            response.read()
            self.lost += 1
            raise httpx.ReadError("connection reset", request=request)
        return response


def test_a_retried_push_applies_once(make_device: Callable[..., Device], teacher: str) -> None:
    a = make_device("a", teacher)
    records = seed(a, 5)
    transport = LoseFirstPushAnswer()
    a.http.transport = transport
    report = a.sync()
    assert transport.lost == 1 and report.pushed == records
    assert_applied_once(a, records)


@pytest.mark.parametrize("mode", ["hold_request", "hold_answer"])
def test_a_client_killed_during_a_push_loses_nothing_and_repeats_nothing(
    make_device: Callable[..., Device],
    teacher: str,
    sync_service: SyncService,
    tmp_path: Path,
    mode: str,
) -> None:
    a = make_device("a", teacher)
    records = seed(a, 30)
    a.close()
    proxy = PushProxy(sync_service.url, mode)  # type: ignore[arg-type]
    env = {
        **os.environ,
        "HULEEDU_SYNC_PASSWORD": PASSWORD,
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
    }
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "app",
            "sync",
            "--server",
            proxy.url,
            "--email",
            teacher,
            "--data-dir",
            str(tmp_path / "a"),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proxy.held.wait(60), child.communicate(timeout=5)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    finally:
        proxy.close()
    again = make_device("a", teacher)  # the same data folder, a new process's view
    with again.db.read() as s:
        pending = s.scalars(select(SyncPendingPush)).all()
        assert len(pending) == 1  # saved before it was sent
        assert s.scalar(select(func.count()).select_from(Student)) == 30
    report = again.sync()
    assert report.pushed == records
    assert_applied_once(again, records)
    other = make_device("b", teacher)
    other.sync()
    with other.db.read() as s:
        assert s.scalar(select(func.count()).select_from(Student)) == 30


def test_a_clock_far_ahead_is_refused_and_nothing_is_lost(
    make_device: Callable[..., Device], teacher: str
) -> None:
    import time  # noqa: PLC0415

    from app.sync import outbox  # noqa: PLC0415
    from app.sync.client import SyncError  # noqa: PLC0415
    from app.sync.hlc import Clock  # noqa: PLC0415

    a = make_device("a", teacher)
    device = a.http.device_id
    ahead = Clock(device, wall_ms=lambda: int(time.time() * 1000) + 3_600_000)
    outbox._clocks[device] = ahead  # this machine's clock is an hour fast
    try:
        seed(a, 1)
        with pytest.raises(SyncError) as skew:
            a.sync()
    finally:
        outbox._clocks.pop(device, None)
    assert skew.value.code == "clock_skew" and "clock" in str(skew.value)
    with a.db.read() as s:
        assert s.scalar(select(func.count()).select_from(SyncPendingPush)) == 0
        assert s.scalar(select(func.count()).select_from(SyncOutbox)) == 4
