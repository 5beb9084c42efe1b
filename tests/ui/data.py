"""Batches for UI tests: generated rows, and real ones stored with the app's own functions."""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, datetime, timedelta

from app import school as store
from app.db.engine import Database
from app.db.models import BatchStatus, Essay, Run, RunStatus
from app.operations.queries import BatchRow
from app.operations.school import NewAssignment, NewClass, create_assignment, create_class

CLASSES = ("9A English", "9B English", "Year 8 Svenska", "NA22 Engelska 6")
ASSIGNMENTS = (
    "Phones in school",
    "A letter to my future self",
    "Argumentative essay: school uniforms",
    "Book review",
)
TOPICS = ("Spring", "Autumn", "Mock exam", "Draft", "Final", "Re-take", "Group", "Homework")

# A run's status that goes with each batch status (None: no run yet).
RUN_FOR: dict[str, str | None] = {
    BatchStatus.PENDING_CONTENT: None,
    BatchStatus.AWAITING_STUDENT_CONFIRMATION: None,
    BatchStatus.READY: None,
    BatchStatus.PROCESSING: RunStatus.RUNNING,
    BatchStatus.PAUSED: RunStatus.PAUSED,
    BatchStatus.COMPLETED_SUCCESSFULLY: RunStatus.COMPLETE,
    BatchStatus.COMPLETED_WITH_FAILURES: RunStatus.COMPLETE,
    BatchStatus.FAILED: RunStatus.FAILED,
    BatchStatus.CANCELLED: RunStatus.CANCELLED,
}

STATUSES = [status.value for status in BatchStatus]


def generated_rows(n: int, seed: int = 7, extra_statuses: tuple[str, ...] = ()) -> list[BatchRow]:
    """``n`` batch rows (no database) cycling through every status, with guests, varied
    classes, assignments, essay counts and update times."""
    rng = random.Random(seed)
    start = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
    statuses = STATUSES + list(extra_statuses)
    rows = []
    for i in range(n):
        status = statuses[i % len(statuses)]
        guest = i % 7 == 3
        run_status = RUN_FOR.get(status)
        created = start + timedelta(hours=i)
        rows.append(
            BatchRow(
                id=f"batch-{i:05d}",
                title=f"{rng.choice(TOPICS)} {i:04d}",
                class_id=None if guest else f"class-{i % len(CLASSES)}",
                class_name=None if guest else CLASSES[i % len(CLASSES)],
                assignment_id=f"assignment-{i % len(ASSIGNMENTS)}",
                assignment_title=ASSIGNMENTS[(i * 3) % len(ASSIGNMENTS)],
                status=status,
                essays=rng.randrange(0, 40),
                last_run_id=None if run_status is None else f"run-{i}",
                last_run_status=run_status,
                created_at=created,
                updated_at=created + timedelta(minutes=rng.randrange(0, 50_000)),
            )
        )
    return rows


def fill_batches(db: Database, n: int, seed: int = 11) -> dict[str, int]:
    """Store ``n`` batches with the app's operations and store functions: classes and
    assignments through :mod:`app.operations.school`, batches through
    :func:`app.school.add_batch` in one transaction, every status in turn, some essays and a
    run per batch that has one. Returns how many batches have each status."""
    rng = random.Random(seed)
    class_ids = [create_class(db, NewClass(name)).id for name in CLASSES]
    assignment_ids = [create_assignment(db, NewAssignment(title)).id for title in ASSIGNMENTS]
    counts = dict.fromkeys(STATUSES, 0)
    with db.session() as s:
        for i in range(n):
            status = STATUSES[i % len(STATUSES)]
            class_id = None if i % 7 == 3 else class_ids[i % len(class_ids)]
            batch = store.add_batch(
                s,
                f"{rng.choice(TOPICS)} {i:04d}",
                assignment_ids[(i * 3) % len(assignment_ids)],
                class_id,
            )
            batch.status = status
            counts[status] += 1
            for k in range(i % 4):
                text = f"Essay {k} of batch {i}."
                s.add(
                    Essay(
                        batch_id=batch.id,
                        text=text,
                        content_hash=hashlib.sha256(text.encode()).hexdigest(),
                        source_file=f"essay_{k}.txt",
                    )
                )
            run_status = RUN_FOR[status]
            if run_status is not None:
                s.add(Run(batch_id=batch.id, status=run_status))
    return counts
