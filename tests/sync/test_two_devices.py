"""Two data folders of one teacher syncing through the real service (PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select

from app.db.models import SchoolClass, Student, SyncConflict, SyncOutbox, live
from app.operations.classes import (
    NewClass,
    StudentFields,
    add_student,
    class_roster,
    list_class_summaries,
    new_class,
    update_student,
)
from app.sync.device import Device


def names(device: Device) -> list[str]:
    with device.db.read() as s:
        return sorted(
            f"{st.first_name} {st.last_name}"
            for st in s.scalars(select(Student).where(live(Student)))
        )


def test_edits_reach_the_second_device(make_device: Callable[..., Device], teacher: str) -> None:
    a, b = make_device("a", teacher), make_device("b", teacher)
    klass = new_class(a.db, NewClass(name="9A", course="ENG5", school_year="2026/27"))
    add_student(a.db, klass.id, StudentFields("Ada", "Lind", code="s1"))
    report = a.sync()
    assert report.pushed >= 4  # course, class, student, membership
    with a.db.read() as s:
        assert s.scalars(select(SyncOutbox)).all() == []
    b.sync()
    assert [c.name for c in list_class_summaries(b.db)] == ["9A"]
    assert [r.first_name for r in class_roster(b.db, klass.id)] == ["Ada"]
    # and back
    row = class_roster(b.db, klass.id)[0]
    update_student(b.db, klass.id, row.id, StudentFields("Ada", "Lindqvist", code="s1"))
    b.sync()
    a.sync()
    assert names(a) == ["Ada Lindqvist"]


def test_concurrent_offline_edits_converge_and_the_loser_is_listed(
    make_device: Callable[..., Device], teacher: str
) -> None:
    a, b = make_device("a", teacher), make_device("b", teacher)
    klass = new_class(a.db, NewClass(name="9B"))
    student = add_student(a.db, klass.id, StudentFields("Bo", "Berg"))
    a.sync()
    b.sync()
    update_student(a.db, klass.id, student.id, StudentFields("Bo", "FromA"))
    update_student(b.db, klass.id, student.id, StudentFields("Bo", "FromB"))  # later clock
    a.sync()
    report = b.sync()
    assert report.conflicts == 1
    a.sync()
    assert names(a) == names(b) == ["Bo FromB"]
    with b.db.read() as s:
        losers = [c.loser["data"]["last_name"] for c in s.scalars(select(SyncConflict))]
    assert losers == ["FromA"]


def test_deletes_propagate(make_device: Callable[..., Device], teacher: str) -> None:
    from app.operations.erase import delete_class  # noqa: PLC0415

    a, b = make_device("a", teacher), make_device("b", teacher)
    klass = new_class(a.db, NewClass(name="9C"))
    add_student(a.db, klass.id, StudentFields("Cy", "Dahl"))
    a.sync()
    b.sync()
    assert names(b) == ["Cy Dahl"]
    delete_class(b.db, klass.id)
    b.sync()
    a.sync()
    assert names(a) == []
    assert list_class_summaries(a.db) == []
    with a.db.read() as s:
        row = s.get(SchoolClass, klass.id)
        assert row is not None and row.deleted_at is not None
        gone = [st.first_name for st in s.scalars(select(Student))]
    assert gone == [""]  # erased on the other device too
