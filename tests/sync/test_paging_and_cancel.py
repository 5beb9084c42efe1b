"""Pushes and pulls in several pages; a cancelled sync keeps what it did and loses nothing."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import func, select

from app.db.models import Student
from app.operations.base import CancelToken, OperationCancelledError, Progress
from app.operations.classes import NewClass, StudentFields, add_student, new_class
from app.sync.device import Device
from tests.sync.test_push_once import assert_applied_once


def test_pages_and_cancel(make_device: Callable[..., Device], teacher: str) -> None:
    a, b = make_device("a", teacher), make_device("b", teacher)
    klass = new_class(a.db, NewClass(name="Paged"))
    for i in range(25):
        add_student(a.db, klass.id, StudentFields(f"P{i}", "Page"))
    records = 2 + 2 * 25
    cancel = CancelToken()
    events: list[Progress] = []

    def progress(event: Progress) -> None:
        events.append(event)
        if event.kind == "push" and event.done >= 8:
            cancel.cancel("teacher pressed Cancel")

    with pytest.raises(OperationCancelledError):
        a.sync(progress=progress, cancel=cancel, page_size=4)
    pushed = [e.done for e in events if e.kind == "push"]
    assert pushed == [4, 8] and all(e.total == records for e in events if e.kind == "push")
    report = a.sync(page_size=4)
    assert report.pushed == records - 8
    assert_applied_once(a, records)
    got = b.sync(page_size=5)
    assert got.pulled == records
    with b.db.read() as s:
        assert s.scalar(select(func.count()).select_from(Student)) == 25


def test_a_pull_stopped_between_chunks_resumes(
    make_device: Callable[..., Device], teacher: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.db.models import SyncScope  # noqa: PLC0415
    from app.sync import pull  # noqa: PLC0415

    a, b = make_device("a", teacher), make_device("b", teacher)
    klass = new_class(a.db, NewClass(name="Chunks"))
    for i in range(20):
        add_student(a.db, klass.id, StudentFields(f"C{i}", "Chunk"))
    a.sync()
    monkeypatch.setattr(pull, "APPLY_CHUNK", 7)
    cancel = CancelToken()

    def progress(event: Progress) -> None:
        if event.kind == "apply" and event.done >= 14:
            cancel.cancel()

    with pytest.raises(OperationCancelledError):
        b.sync(progress=progress, cancel=cancel)
    with b.db.read() as s:
        scope = s.scalars(select(SyncScope).where(SyncScope.scope.startswith("user:"))).one()
        assert scope.cursor == 0  # the cursor moves only with the last chunk
        assert 0 < (s.scalar(select(func.count()).select_from(Student)) or 0) < 20
    report = b.sync()
    assert report.pulled == 42 - 14
    with b.db.read() as s:
        assert s.scalar(select(func.count()).select_from(Student)) == 20
