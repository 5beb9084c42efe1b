"""The first start stores a demo class, assignment and batch that can be graded at once."""

from __future__ import annotations

import asyncio
from pathlib import Path

from app.db.engine import open_database
from app.operations.base import Completed
from app.operations.first_start import DEMO_BATCH, DEMO_CLASS, is_empty, seed_demo_school
from app.operations.queries import get_assignment, list_batches, list_classes, list_students
from app.operations.runs import drive_run, prepare_batch_run
from app.operations.school import NewClass, create_class


def test_an_empty_database_gets_a_demo_ready_to_grade(tmp_path: Path) -> None:
    db = open_database(tmp_path)
    try:
        assert is_empty(db)
        seeded = seed_demo_school(db)
        assert seeded is not None
        assert seeded.batch_status == "ready"
        assert (seeded.essays, seeded.anchors, seeded.students) == (16, 6, 18)
        assert [c.name for c in list_classes(db)] == [DEMO_CLASS]
        assert len(list_students(db, seeded.class_id)) == 18
        assignment = get_assignment(db, seeded.assignment_id)
        assert assignment.anchors == 6
        assert "phones" in assignment.title.lower()
        (batch,) = list_batches(db)
        assert batch.title == DEMO_BATCH
        run = prepare_batch_run(db, batch.id, {"sim_speed": 1000.0})
        outcome = asyncio.run(drive_run(db, run.run_id))
        assert isinstance(outcome, Completed)
        assert outcome.value.status == "complete"
    finally:
        db.close()


def test_a_database_holding_anything_is_left_alone(tmp_path: Path) -> None:
    db = open_database(tmp_path)
    try:
        create_class(db, NewClass("8B"))
        assert seed_demo_school(db) is None
        assert [c.name for c in list_classes(db)] == ["8B"]
        assert list_batches(db) == []
    finally:
        db.close()
