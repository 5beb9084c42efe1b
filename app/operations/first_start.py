"""The first start: a demo class, assignment and batch, ready to grade with the simulated judge.

On a database with no class, no assignment and no batch, :func:`seed_demo_school` stores the
bundled demo (``resources/demo``) the way a teacher would build it through the window: the
class *Demo 9A* with its roster, the assignment with its prompt, criteria, rubric and six
anchor essays with known grades, and the batch *Phones in school* with its sixteen essays,
matched to the roster by name. The new user grades it at once with the built-in simulated judge
(no account, no key). A database holding anything is left untouched.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from app.db.engine import Database
from app.operations.base import CancelToken, ProgressSink, ignore_progress
from app.operations.intake import import_anchors, import_essays, import_roster
from app.operations.queries import list_assignments, list_batches, list_classes
from app.operations.school import NewAssignment, NewBatch, NewClass
from app.paths import resources_dir

DEMO_CLASS = "Demo 9A"
DEMO_BATCH = "Phones in school"


@dataclass(frozen=True)
class DemoSchool:
    """What :func:`seed_demo_school` stored."""

    class_id: str
    assignment_id: str
    batch_id: str
    essays: int
    anchors: int
    students: int
    batch_status: str


def is_empty(db: Database) -> bool:
    """True when the database holds no class, no assignment and no batch."""
    return not (list_classes(db, include_archived=True) or list_assignments(db) or list_batches(db))


def seed_demo_school(
    db: Database,
    demo: Path | None = None,
    progress: ProgressSink = ignore_progress,
    cancel: CancelToken | None = None,
) -> DemoSchool | None:
    """Store the demo class, assignment and batch in an empty database; None if it held
    anything (nothing is then written)."""
    if not is_empty(db):
        return None
    root = demo or resources_dir() / "demo"
    spec = json.loads((root / "assignment.json").read_text(encoding="utf-8"))
    roster = import_roster(
        db,
        root / "roster.csv",
        NewClass(DEMO_CLASS, school_year="2026/27"),
        progress=progress,
        cancel=cancel,
    )
    anchors = import_anchors(
        db,
        [root / "anchors"],
        NewAssignment(
            title=spec["title"],
            scale=spec["grade_scale"],
            prompt=spec["student_prompt"],
            criteria=spec["assessment_criteria"],
            rubric=spec["judge_rubric"],
        ),
        grades=root / "anchors" / "anchors.csv",
        progress=progress,
        cancel=cancel,
    )
    essays = import_essays(
        db,
        [root / "essays"],
        NewBatch(DEMO_BATCH, anchors.assignment_id, roster.class_id),
        progress=progress,
        cancel=cancel,
    )
    return DemoSchool(
        class_id=roster.class_id,
        assignment_id=anchors.assignment_id,
        batch_id=essays.batch_id,
        essays=essays.counts.imported,
        anchors=anchors.counts.imported,
        students=roster.added,
        batch_status=essays.batch_status,
    )
