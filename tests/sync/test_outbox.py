"""The outbox is written in the transaction of each change (no server needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import delete, select, update

from app.db import open_database
from app.db.models import ClassMembership, Student, SyncOutbox, SyncRecordState
from app.operations.classes import NewClass, StudentFields, add_student, new_class
from app.sync.engine import prepare


def queued(db_dir: Path) -> list[tuple[str, str]]:
    with open_database(db_dir) as db, db.read() as s:
        return [(r.kind, r.key) for r in s.scalars(select(SyncOutbox).order_by(SyncOutbox.id))]


def test_nothing_is_queued_before_sync_is_set_up(tmp_path: Path) -> None:
    with open_database(tmp_path) as db:
        new_class(db, NewClass(name="7A"))
    assert queued(tmp_path) == []


def test_first_setup_queues_every_row_once_then_each_change(tmp_path: Path) -> None:
    with open_database(tmp_path) as db:
        klass = new_class(db, NewClass(name="7A"))
        student = add_student(db, klass.id, StudentFields("Ada", "Lind"))
        device, count = prepare(db)
        assert count == 4  # course, class, student, membership
        assert prepare(db) == (device, 0)
    kinds = [k for k, _ in queued(tmp_path)]
    assert sorted(kinds) == ["class", "course", "membership", "student"]
    with open_database(tmp_path) as db:
        with db.session() as s:
            row = s.get(Student, student.id)
            assert row is not None
            row.last_name = "Lindqvist"
        with db.read() as s:
            state = s.get(SyncRecordState, ("student", student.id))
            assert state is not None and state.version == 0 and device in state.hlc
    assert queued(tmp_path)[-1] == ("student", student.id)


def test_a_rolled_back_change_leaves_no_outbox_row(tmp_path: Path) -> None:
    with open_database(tmp_path) as db:
        prepare(db)
        with pytest.raises(RuntimeError), db.session() as s:
            s.add(Student(first_name="X", last_name="Y"))
            s.flush()
            raise RuntimeError("the change fails after its flush")
    assert queued(tmp_path) == []


def test_bulk_updates_are_seen(tmp_path: Path) -> None:
    with open_database(tmp_path) as db:
        klass = new_class(db, NewClass(name="7A"))
        add_student(db, klass.id, StudentFields("Ada", "Lind"))
        prepare(db)
        with db.session() as s:
            s.execute(delete(SyncOutbox))  # start empty
        with db.session() as s:
            s.execute(
                update(ClassMembership)
                .where(ClassMembership.school_class_id == klass.id)
                .values(deleted_at=ClassMembership.created_at)
                .execution_options(synchronize_session=False)
            )
    assert [k for k, _ in queued(tmp_path)] == ["membership"]
