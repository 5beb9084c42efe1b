"""The local database: typed models, opening a connection, and safe start-up migrations.

Typical use::

    from app.db import open_database, Student

    with open_database(data_dir) as db, db.session() as session:
        session.add(Student(first_name="Ada", last_name="Lind"))
"""

from __future__ import annotations

from app.db.engine import (
    DATA_DIR_ENV,
    DB_FILENAME,
    Database,
    create_sqlite_engine,
    database_path,
    open_database,
    resolve_data_dir,
)
from app.db.migrate import (
    DatabaseCorruptError,
    DatabaseError,
    DatabaseLockedError,
    DatabaseNotRecognisedError,
    DatabaseTooNewError,
    MigrationFailedError,
    MigrationOutcome,
    alembic_config,
    backup_database,
    current_revision,
    head_revision,
    known_revisions,
    migrate_database,
)
from app.db.models import (
    Anchor,
    Assignment,
    Base,
    Batch,
    BatchStatus,
    ClassMembership,
    Comparison,
    ComparisonStatus,
    Course,
    Essay,
    IntakeRecord,
    MatchSuggestion,
    Record,
    Result,
    Run,
    RunStatus,
    SchoolClass,
    StopReason,
    Student,
    TeacherOverride,
    TeacherProfile,
    live,
    new_id,
    utcnow,
)

__all__ = [
    "DATA_DIR_ENV",
    "DB_FILENAME",
    "Anchor",
    "Assignment",
    "Base",
    "Batch",
    "BatchStatus",
    "ClassMembership",
    "Comparison",
    "ComparisonStatus",
    "Course",
    "Database",
    "DatabaseCorruptError",
    "DatabaseError",
    "DatabaseLockedError",
    "DatabaseNotRecognisedError",
    "DatabaseTooNewError",
    "Essay",
    "IntakeRecord",
    "MatchSuggestion",
    "MigrationFailedError",
    "MigrationOutcome",
    "Record",
    "Result",
    "Run",
    "RunStatus",
    "SchoolClass",
    "StopReason",
    "Student",
    "TeacherOverride",
    "TeacherProfile",
    "alembic_config",
    "backup_database",
    "create_sqlite_engine",
    "current_revision",
    "database_path",
    "head_revision",
    "known_revisions",
    "live",
    "migrate_database",
    "new_id",
    "open_database",
    "resolve_data_dir",
    "utcnow",
]
