"""The local database: schema, start-up migrations and their refusals, and the models."""

from __future__ import annotations

import itertools
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError

from app.db import (
    DATA_DIR_ENV,
    DB_FILENAME,
    Anchor,
    Assignment,
    Base,
    Batch,
    ClassMembership,
    Comparison,
    ComparisonStatus,
    Course,
    Database,
    DatabaseCorruptError,
    DatabaseError,
    DatabaseLockedError,
    DatabaseNotRecognisedError,
    DatabaseTooNewError,
    Essay,
    Result,
    Run,
    RunStatus,
    SchoolClass,
    StopReason,
    Student,
    TeacherOverride,
    TeacherProfile,
    alembic_config,
    create_sqlite_engine,
    current_revision,
    database_path,
    head_revision,
    known_revisions,
    live,
    migrate_database,
    open_database,
    resolve_data_dir,
)
from app.db import engine as engine_module

FAST_LOCK_MS = 200


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may reach the real per-user data folder."""
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    fake_platform = tmp_path / "platform-data"
    monkeypatch.setattr(engine_module, "user_data_dir", lambda *_a, **_k: str(fake_platform))


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = open_database(tmp_path / "data")
    try:
        yield database
    finally:
        database.close()


def _tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as connection:
        rows = connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        ).fetchall()
    return {str(row[0]) for row in rows}


def _downgrade_to(path: Path, revision: str) -> None:
    engine = create_sqlite_engine(path, foreign_keys=False)
    try:
        with engine.begin() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.downgrade(config, revision)
    finally:
        engine.dispose()


def _upgrade_to(path: Path, revision: str) -> None:
    engine = create_sqlite_engine(path, foreign_keys=False)
    try:
        with engine.begin() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- data folder


def test_data_dir_argument_beats_environment_beats_platform(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert resolve_data_dir() == tmp_path / "platform-data"
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "from-env"))
    assert resolve_data_dir() == tmp_path / "from-env"
    assert resolve_data_dir(tmp_path / "from-arg") == tmp_path / "from-arg"
    assert database_path(tmp_path / "from-arg") == tmp_path / "from-arg" / DB_FILENAME


def test_open_database_creates_the_folder_and_file(tmp_path: Path) -> None:
    with open_database(tmp_path / "new" / "folder") as database:
        assert database.path == tmp_path / "new" / "folder" / DB_FILENAME
        assert database.path.exists()
        assert database.migration is not None
        assert database.migration.from_revision is None
        assert database.migration.to_revision == head_revision()
        assert database.migration.backup_path is None


# --------------------------------------------------------------------------- migrations


def test_upgrade_from_empty_creates_every_table(tmp_path: Path) -> None:
    path = tmp_path / DB_FILENAME
    outcome = migrate_database(path)
    assert outcome.migrated
    assert _tables(path) == set(Base.metadata.tables) | {"alembic_version"}
    assert current_revision(path) == head_revision()


def test_zero_length_file_counts_as_empty(tmp_path: Path) -> None:
    path = tmp_path / DB_FILENAME
    path.touch()
    outcome = migrate_database(path)
    assert outcome.backup_path is None
    assert current_revision(path) == head_revision()


def test_migrations_match_the_models(tmp_path: Path) -> None:
    path = tmp_path / DB_FILENAME
    migrate_database(path)
    engine = create_sqlite_engine(path)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def test_the_known_head_is_the_newest_migration() -> None:
    from app.db.migrate import HEAD_REVISION  # noqa: PLC0415

    assert head_revision() == HEAD_REVISION


def test_running_migrations_twice_is_a_no_op(tmp_path: Path) -> None:
    path = tmp_path / DB_FILENAME
    migrate_database(path)
    schema_before = _schema(path)
    outcome = migrate_database(path)
    assert not outcome.migrated
    assert outcome.backup_path is None
    assert _schema(path) == schema_before
    assert not (tmp_path / "backups").exists()


def _schema(path: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(path) as connection:
        rows = connection.execute(
            "SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name"
        ).fetchall()
    return [(str(name), str(sql)) for name, sql in rows]


@pytest.mark.parametrize("start", ["base", *known_revisions()[:-1]])
def test_upgrade_from_every_earlier_revision(tmp_path: Path, start: str) -> None:
    path = tmp_path / DB_FILENAME
    migrate_database(path)
    _downgrade_to(path, start)
    outcome = migrate_database(path)
    assert outcome.to_revision == head_revision()
    assert _tables(path) == set(Base.metadata.tables) | {"alembic_version"}


def test_backup_is_made_before_migrating_an_existing_database(tmp_path: Path) -> None:
    path = tmp_path / DB_FILENAME
    migrate_database(path)
    _downgrade_to(path, "base")
    before = path.read_bytes()

    outcome = migrate_database(path)

    assert outcome.backup_path is not None
    assert outcome.backup_path.parent == tmp_path / "backups"
    assert outcome.backup_path.exists()
    backup_tables = _tables(outcome.backup_path)
    assert "essays" not in backup_tables
    assert "alembic_version" in backup_tables
    assert "essays" in _tables(path)
    assert path.read_bytes() != before


def test_backup_directory_can_be_chosen(tmp_path: Path) -> None:
    path = tmp_path / DB_FILENAME
    migrate_database(path)
    _downgrade_to(path, "base")
    outcome = migrate_database(path, backup_dir=tmp_path / "elsewhere")
    assert outcome.backup_path is not None
    assert outcome.backup_path.parent == tmp_path / "elsewhere"


def test_random_bytes_are_refused_and_left_unchanged(tmp_path: Path) -> None:
    path = tmp_path / DB_FILENAME
    garbage = os.urandom(8192)
    path.write_bytes(garbage)
    with pytest.raises(DatabaseCorruptError) as caught:
        open_database(path=path)
    assert "damaged" in str(caught.value)
    assert str(path) in str(caught.value)
    assert isinstance(caught.value, DatabaseError)
    assert path.read_bytes() == garbage
    assert sorted(p.name for p in tmp_path.iterdir()) == [DB_FILENAME]


def test_damaged_pages_are_refused_and_left_unchanged(tmp_path: Path) -> None:
    path = tmp_path / DB_FILENAME
    with open_database(path=path) as database, database.session() as session:
        session.add_all(
            Student(first_name=f"First{i}", last_name=f"Last{i}", code=f"C{i:04d}")
            for i in range(500)
        )
    data = bytearray(path.read_bytes())
    page_size = int.from_bytes(data[16:18], "big")
    assert len(data) > 4 * page_size
    data[page_size : 3 * page_size] = bytes(range(256)) * (2 * page_size // 256)
    path.write_bytes(bytes(data))

    with pytest.raises(DatabaseCorruptError):
        migrate_database(path)
    assert path.read_bytes() == bytes(data)


def test_newer_database_is_refused_and_left_unchanged(tmp_path: Path) -> None:
    path = tmp_path / DB_FILENAME
    migrate_database(path)
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '9999_from_the_future'")
    before = path.read_bytes()

    with pytest.raises(DatabaseTooNewError) as caught:
        open_database(path=path)
    assert "newer version of HuleEdu" in str(caught.value)
    assert caught.value.revision == "9999_from_the_future"
    assert path.read_bytes() == before
    assert not (tmp_path / "backups").exists()


def test_someone_elses_sqlite_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / DB_FILENAME
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE recipes (name TEXT)")
    before = path.read_bytes()
    with pytest.raises(DatabaseNotRecognisedError):
        migrate_database(path)
    assert path.read_bytes() == before


@pytest.mark.parametrize("wal", [True, False])
def test_locked_database_gives_a_clear_error(tmp_path: Path, wal: bool) -> None:
    path = tmp_path / DB_FILENAME
    if wal:
        migrate_database(path)
    else:
        with sqlite3.connect(path) as connection:
            connection.execute("CREATE TABLE alembic_version (version_num VARCHAR(32))")
    before = path.read_bytes()
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        with pytest.raises(DatabaseLockedError) as caught:
            migrate_database(path, busy_timeout_ms=FAST_LOCK_MS)
        assert "in use by another program" in str(caught.value)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert path.read_bytes() == before
    assert not (tmp_path / "backups").exists()


# --------------------------------------------------------------------------- connections


def test_wal_and_foreign_keys_are_on(db: Database) -> None:
    with db.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert (connection.exec_driver_sql("PRAGMA busy_timeout").scalar() or 0) > 0


def test_foreign_keys_are_enforced(db: Database) -> None:
    with pytest.raises(IntegrityError), db.session() as session:
        session.add(Essay(batch_id="no-such-batch", text="x", content_hash="h"))


def test_essay_content_hash_is_unique_within_a_batch(db: Database) -> None:
    with db.session() as session:
        assignment = Assignment(title="A", grade_scale="swedish_8_anchor")
        batch = Batch(title="B", assignment=assignment)
        session.add(batch)
    with pytest.raises(IntegrityError), db.session() as session:
        session.add_all(
            [
                Essay(batch_id=batch.id, text="same", content_hash="h1"),
                Essay(batch_id=batch.id, text="same", content_hash="h1"),
            ]
        )


# --------------------------------------------------------------------------- models


def _build_graded_batch(db: Database) -> dict[str, str]:
    with db.session() as session:
        session.add(TeacherProfile(display_name="Karin Berg", email="karin@example.org"))
        course = Course(code="ENG5", name="English 5")
        school_class = SchoolClass(name="SA24D", course=course, school_year="2025/26")
        students = [
            Student(first_name="Alva", last_name="Ek", code="ABCDWXYZ"),
            Student(first_name="Bo", last_name="Ström", email="bo@example.org"),
            Student(first_name="Cleo", last_name="Åberg"),
        ]
        school_class.memberships = [ClassMembership(student=s) for s in students]
        assignment = Assignment(
            title="Writing 2025",
            student_prompt="Write about a place you love.",
            assessment_criteria="Content, structure, language.",
            judge_rubric="Ignore length.",
            grade_scale="swedish_8_anchor",
        )
        anchor = Anchor(
            assignment=assignment,
            text="An anchor essay.",
            grade="C",
            label="C-anchor",
            source_file="anchor_c.txt",
            content_hash="anchorhash",
        )
        batch = Batch(title="Writing SA24D", school_class=school_class, assignment=assignment)
        essays = [
            Essay(
                batch=batch,
                text=f"Essay by {s.first_name}.",
                source_file=f"{s.first_name}.txt",
                content_hash=f"hash-{s.first_name}",
                student=s,
                match_confidence=0.9,
                match_confirmed=True,
            )
            for s in students
        ]
        essays.append(
            Essay(
                batch=batch,
                text=anchor.text,
                source_file=anchor.source_file,
                content_hash=anchor.content_hash,
                is_anchor=True,
                anchor=anchor,
            )
        )
        run = Run(
            batch=batch,
            status=RunStatus.COMPLETE,
            stop_reason=StopReason.STABLE,
            settings={
                "provider": "sim",
                "model": "sim-judge",
                "mode": "per_pair",
                "bundle_size": 1,
                "budget": 120,
                "stopping_rule": {"max_change": 0.025},
                "prompt_version": "1",
            },
            reliability=0.81,
            ssr=0.85,
        )
        for wave, (first, second) in enumerate(itertools.pairwise(essays)):
            run.comparisons.append(
                Comparison(
                    first_essay=first,
                    second_essay=second,
                    wave=wave,
                    status=ComparisonStatus.DONE,
                    first_wins=wave % 2 == 0,
                    probability_first=0.7,
                    confidence=4,
                    justification="Clearer structure.",
                    input_tokens=1300,
                    cached_tokens=1000,
                    output_tokens=40,
                    cost_usd=0.0004,
                    latency_ms=1588.0,
                    attempts=1,
                    provider_request_id=f"req-{wave}",
                )
            )
        run.comparisons.append(
            Comparison(
                first_essay=essays[0],
                second_essay=essays[3],
                wave=3,
                status=ComparisonStatus.FAILED,
                error_category="timeout",
                error_message="no answer in 60 s",
                attempts=3,
            )
        )
        for rank, essay in enumerate(essays, start=1):
            run.results.append(
                Result(
                    essay=essay,
                    ability=1.0 - rank,
                    se=0.5,
                    rank=rank,
                    comparisons=2,
                    grade="C",
                    grade_probabilities={"C": 0.6, "C+": 0.4},
                    confidence="HIGH",
                    infit=1.0,
                    outfit=1.1,
                )
            )
        session.add(run)
        session.flush()
        session.add(
            TeacherOverride(essay=essays[0], result=run.results[0], grade="B", note="Strong voice.")
        )
        return {"class": school_class.id, "batch": batch.id, "run": run.id}


def test_round_trip_of_a_graded_batch(db: Database) -> None:
    ids = _build_graded_batch(db)
    with db.session() as session:
        school_class = session.get_one(SchoolClass, ids["class"])
        assert school_class.course.code == "ENG5"
        assert [s.last_name for s in school_class.students] == ["Ek", "Ström", "Åberg"]

        batch = session.get_one(Batch, ids["batch"])
        assert not batch.is_guest
        assert len(batch.essays) == 4
        anchors = [e for e in batch.essays if e.is_anchor]
        assert len(anchors) == 1
        assert anchors[0].anchor is not None
        assert anchors[0].anchor.grade == "C"
        assert batch.assignment.anchors[0].label == "C-anchor"

        run = session.get_one(Run, ids["run"])
        assert run.settings["budget"] == 120
        assert run.settings["stopping_rule"] == {"max_change": 0.025}
        assert run.stop_reason == StopReason.STABLE
        assert [c.status for c in run.comparisons].count(ComparisonStatus.DONE) == 3
        failed = session.scalars(
            select(Comparison).where(
                Comparison.run_id == run.id, Comparison.status == ComparisonStatus.FAILED
            )
        ).one()
        assert failed.error_category == "timeout"
        assert failed.first_wins is None
        assert [r.rank for r in run.results] == [1, 2, 3, 4]
        assert run.results[0].grade_probabilities == {"C": 0.6, "C+": 0.4}
        assert run.results[0].overrides[0].grade == "B"
        assert run.results[0].essay.student is not None
        assert run.results[0].essay.student.first_name == "Alva"
        assert run.created_at.tzinfo is not None


def test_guest_batch_has_no_class(db: Database) -> None:
    with db.session() as session:
        batch = Batch(title="Guest", assignment=Assignment(title="A", grade_scale="g"))
        session.add(batch)
    assert batch.is_guest


def test_comparison_of_an_essay_with_itself_is_refused(db: Database) -> None:
    with db.session() as session:
        batch = Batch(title="B", assignment=Assignment(title="A", grade_scale="g"))
        essay = Essay(batch=batch, text="t", content_hash="h")
        session.add_all([batch, Run(batch=batch)])
    with pytest.raises(IntegrityError), db.session() as session:
        run = session.scalars(select(Run)).one()
        session.add(Comparison(run=run, first_essay_id=essay.id, second_essay_id=essay.id))


def test_soft_delete_keeps_rows(db: Database) -> None:
    ids = _build_graded_batch(db)
    with db.session() as session:
        student = session.scalars(select(Student).where(Student.first_name == "Bo")).one()
        student.soft_delete()
        membership = session.scalars(
            select(ClassMembership).where(ClassMembership.student_id == student.id)
        ).one()
        membership.soft_delete()
    with db.session() as session:
        assert len(session.scalars(select(Student)).all()) == 3
        live_names = session.scalars(select(Student.first_name).where(live(Student))).all()
        assert sorted(live_names) == ["Alva", "Cleo"]
        deleted = session.scalars(select(Student).where(Student.first_name == "Bo")).one()
        assert deleted.is_deleted
        school_class = session.get_one(SchoolClass, ids["class"])
        assert [s.first_name for s in school_class.students] == ["Alva", "Cleo"]
        assert len(school_class.memberships) == 3
        deleted.restore()
    with db.session() as session:
        assert len(session.scalars(select(Student).where(live(Student))).all()) == 3


def test_updated_at_changes_on_update(db: Database) -> None:
    with db.session() as session:
        student = Student(first_name="Dag", last_name="Holm")
        session.add(student)
    created, updated = student.created_at, student.updated_at
    time.sleep(0.01)
    with db.session() as session:
        loaded = session.get_one(Student, student.id)
        loaded.email = "dag@example.org"
    with db.session() as session:
        again = session.get_one(Student, student.id)
        assert again.created_at == created
        assert again.updated_at > updated


def test_ids_are_client_generated_uuids(db: Database) -> None:
    course = Course(code="SV1", name="Svenska 1")
    with db.session() as session:
        session.add(course)
        session.flush()
        assert len(course.id) == 36
    assert inspect(course).persistent or inspect(course).detached


def test_stop_reasons_stored_by_0_1_are_renamed_to_the_engine_vocabulary(tmp_path: Path) -> None:
    path = tmp_path / DB_FILENAME
    _upgrade_to(path, "0002")
    with sqlite3.connect(path) as con:
        now = "2026-11-30 10:00:00"
        con.execute(
            "INSERT INTO courses (id, created_at, updated_at, code, name) "
            "VALUES ('c', ?, ?, 'ENG5', 'English 5')",
            (now, now),
        )
        con.execute(
            "INSERT INTO assignments (id, created_at, updated_at, title, student_prompt, "
            "assessment_criteria, judge_rubric, grade_scale) "
            "VALUES ('a', ?, ?, 'A', '', '', '', 'swedish_8_anchor')",
            (now, now),
        )
        con.execute(
            "INSERT INTO batches (id, created_at, updated_at, title, assignment_id, status) "
            "VALUES ('b', ?, ?, 'B', 'a', 'completed_successfully')",
            (now, now),
        )
        for run_id, reason in (("r1", "budget"), ("r2", "error"), ("r3", "stable")):
            con.execute(
                "INSERT INTO runs (id, created_at, updated_at, batch_id, status, stop_reason, "
                "settings) VALUES (?, ?, ?, 'b', 'complete', ?, '{}')",
                (run_id, now, now, reason),
            )
    migrate_database(path)
    with sqlite3.connect(path) as con:
        stored = dict(con.execute("SELECT id, stop_reason FROM runs").fetchall())
    assert stored == {"r1": "budget_reached", "r2": "too_many_failures", "r3": "stable"}
