"""Assignments, batches, essays (texts as blobs), runs and verdicts reach the second device."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import func, select

from app.db.models import Assignment, Batch, Comparison, Essay, Run, SyncConflict
from app.sync.device import Device
from app.sync.kinds import sha256_text


def seed(device: Device, essays: int) -> tuple[str, list[str]]:
    with device.db.session() as s:
        assignment = Assignment(
            title="Argument", student_prompt="Argue.", judge_rubric="Clarity.", grade_scale="x"
        )
        batch = Batch(title="Week 1", assignment=assignment)
        rows = [
            Essay(batch=batch, text=f"Essay number {i}. " * 50, content_hash=f"h{i}")
            for i in range(essays)
        ]
        run = Run(batch=batch, status="running", settings={"model": "sim"})
        s.add_all([assignment, batch, run, *rows])
        s.flush()
        s.add(
            Comparison(
                run=run,
                first_essay_id=rows[0].id,
                second_essay_id=rows[1].id,
                status="done",
                first_wins=True,
            )
        )
        s.add(Comparison(run=run, first_essay_id=rows[1].id, second_essay_id=rows[2].id))
        return run.id, [e.id for e in rows]


def test_essays_runs_and_verdicts(make_device: Callable[..., Device], teacher: str) -> None:
    a, b = make_device("a", teacher), make_device("b", teacher)
    run_id, essay_ids = seed(a, 5)
    report = a.sync()
    assert report.texts_uploaded == 5
    b.sync()
    with b.db.read() as s:
        texts = {e.id: e.text for e in s.scalars(select(Essay))}
        assert texts[essay_ids[3]] == "Essay number 3. " * 50
        assert s.scalar(select(func.count()).select_from(Comparison)) == 1  # only done ones
        run = s.get(Run, run_id)
        assert run is not None and run.status == "running" and run.settings == {"model": "sim"}
    # the run finishes on a; b, behind, cannot move it back
    with a.db.session() as s:
        run = s.get(Run, run_id)
        assert run is not None
        run.status = "complete"
    a.sync()
    with b.db.session() as s:
        run = s.get(Run, run_id)
        assert run is not None
        run.status = "paused"
    b.sync()
    with b.db.read() as s:
        run = s.get(Run, run_id)
        assert run is not None and run.status == "complete"
        assert s.scalar(select(func.count()).select_from(SyncConflict)) == 1
    # a second upload of the same texts sends none again
    with a.db.session() as s:
        essay = s.get(Essay, essay_ids[0])
        assert essay is not None
        essay.source_file = "renamed.docx"
    assert a.sync().texts_uploaded == 0
    assert sha256_text(texts[essay_ids[0]]) != ""


def test_settings_travel_field_by_field(make_device: Callable[..., Device], teacher: str) -> None:
    from app.operations.preferences import (  # noqa: PLC0415
        load_preferences,
        save_preferences,
        with_changes,
    )

    a, b = make_device("a", teacher), make_device("b", teacher)
    folder_a, folder_b = a.db.path.parent, b.db.path.parent
    save_preferences(folder_a, with_changes(load_preferences(folder_a).preferences, concurrency=7))
    a.sync()
    b.sync()  # a new machine's defaults do not overwrite the teacher's settings
    assert load_preferences(folder_b).preferences.concurrency == 7
    prefs_b = load_preferences(folder_b).preferences
    save_preferences(folder_b, with_changes(prefs_b, bundle_size=6))
    prefs_a = load_preferences(folder_a).preferences
    save_preferences(folder_a, with_changes(prefs_a, concurrency=2))
    b.sync()
    a.sync()
    b.sync()
    for folder in (folder_a, folder_b):
        prefs = load_preferences(folder).preferences
        assert (prefs.concurrency, prefs.bundle_size) == (2, 6)


def test_the_same_essay_imported_on_two_machines_is_listed_not_dropped(
    make_device: Callable[..., Device], teacher: str
) -> None:
    a, b = make_device("a", teacher), make_device("b", teacher)
    seed(a, 3)
    a.sync()
    b.sync()
    with a.db.read() as s:
        batch_id = s.scalars(select(Batch.id)).one()
    for device, name in ((a, "a.docx"), (b, "b.docx")):
        with device.db.session() as s:
            s.add(Essay(batch_id=batch_id, text="Same text", content_hash="same", source_file=name))
    a.sync()
    b.sync()
    a.sync()
    for device, other in ((a, "b.docx"), (b, "a.docx")):
        with device.db.read() as s:
            reasons = [
                (c.loser["data"]["source_file"], c.reason) for c in s.scalars(select(SyncConflict))
            ]
        assert len(reasons) == 1 and reasons[0][0] == other and "clashes" in reasons[0][1]


def test_a_teachers_own_grade_scale_travels_with_her_assignments(
    make_device: Callable[..., Device], teacher: str
) -> None:
    from app.operations.scales import resolve_scale, save_custom_scale  # noqa: PLC0415

    a, b = make_device("a", teacher), make_device("b", teacher)
    row = save_custom_scale(a.db, "Pass or not", ["F", "P"])
    with a.db.session() as s:
        s.add(Assignment(title="Uses it", grade_scale=row.id))
    a.sync()
    b.sync()
    assert resolve_scale(b.db, row.id).grades == ("F", "P")
