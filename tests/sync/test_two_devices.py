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


def test_deleting_a_class_erases_it_everywhere(
    make_device: Callable[..., Device], teacher: str
) -> None:
    import pytest  # noqa: PLC0415

    from app.db.models import Assignment, Batch, Comparison, Essay, Run  # noqa: PLC0415
    from app.operations.erase import delete_class  # noqa: PLC0415
    from app.sync.client import SyncError  # noqa: PLC0415
    from app.sync.kinds import sha256_text  # noqa: PLC0415

    a, b = make_device("a", teacher), make_device("b", teacher)
    klass = new_class(a.db, NewClass(name="9D"))
    student = add_student(a.db, klass.id, StudentFields("Dag", "Secret"))
    text = "A private essay about my family."
    with a.db.session() as s:
        batch = Batch(
            title="W1", school_class_id=klass.id, assignment=Assignment(title="T", grade_scale="x")
        )
        e1 = Essay(batch=batch, text=text, content_hash="c1", student_id=student.id)
        e2 = Essay(batch=batch, text="Another essay.", content_hash="c2")
        run = Run(batch=batch, status="complete")
        s.add_all([e1, e2, run])
        s.flush()
        s.add(
            Comparison(
                run=run,
                first_essay_id=e1.id,
                second_essay_id=e2.id,
                status="done",
                first_wins=True,
                justification="The essay about my family is better.",
            )
        )
    a.sync()
    b.sync()
    update_student(a.db, klass.id, student.id, StudentFields("Dag", "SecretA"))
    update_student(b.db, klass.id, student.id, StudentFields("Dag", "SecretB"))
    a.sync()
    b.sync()  # a conflict, kept on b and on the server, holds the student's names
    a.sync()
    http = b.http
    listed = http.call("GET", http.path(http.scope, "conflicts"), params={"after": 0})
    assert any(c["key"] == student.id for c in listed["conflicts"])
    delete_class(b.db, klass.id)
    report = b.sync()
    assert report.texts_erased == 3  # the essays' texts and the student's kept values
    a.sync()
    with pytest.raises(SyncError) as gone:
        http.call("GET", http.path(http.scope, f"blobs/{sha256_text(text)}"))
    assert gone.value.status == 404
    listed = http.call("GET", http.path(http.scope, "conflicts"), params={"after": 0})
    assert not any(c["key"] == student.id for c in listed["conflicts"])
    changes = http.call("GET", http.path(http.scope, "changes"), params={"after": 0})["changes"]
    (verdict,) = [c for c in changes if c["kind"] == "verdict"]
    assert verdict["deleted"] and verdict["data"]["justification"] is None
    for device in (a, b):
        with device.db.read() as s:
            assert s.scalars(select(SyncConflict)).all() == []
            assert [e.text for e in s.scalars(select(Essay))] == ["", ""]
            assert [c.justification for c in s.scalars(select(Comparison))] == [None]
            row = s.get(Student, student.id)
            assert row is not None and row.deleted_at is not None and "Secret" not in row.last_name
