"""Bring a database file up to this app's schema, safely.

:func:`migrate_database` is called at start-up. In order it:

1. refuses a file that is not a SQLite database, or whose integrity check fails
   (:class:`DatabaseCorruptError`), and a SQLite file that holds someone else's tables
   (:class:`DatabaseNotRecognisedError`);
2. refuses a database written by a newer version of the app, i.e. stamped with a schema
   revision this app does not know (:class:`DatabaseTooNewError`);
3. refuses a database another program holds locked (:class:`DatabaseLockedError`), on a full
   disk (:class:`~app.db.errors.DatabaseFullError`) or in a read-only folder
   (:class:`~app.db.errors.DatabaseReadOnlyError`): each cause is told apart
   (:func:`app.db.errors.classify`), so only a file SQLite finds damaged is called damaged;
4. when a migration is due on an existing (non-empty) file, copies it (SQLite's online backup,
   so the copy is consistent even with a write-ahead log) into ``backups/`` beside it;
5. applies the Alembic migrations in one transaction, with foreign keys off while tables are
   rebuilt and checked afterwards (:class:`MigrationFailedError` if anything goes wrong; the
   transaction is rolled back and the backup is named in the message).

Checks 1-3 only read the file (opened read-only), so a refused file is never modified.
Alembic is configured in code; no ``alembic.ini`` is needed.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from app.db.engine import DEFAULT_BUSY_TIMEOUT_MS, create_sqlite_engine
from app.db.errors import (  # the errors are named here too, where they were first defined
    DatabaseCorruptError,
    DatabaseError,
    DatabaseLockedError,
    DatabaseNotRecognisedError,
    DatabaseTooNewError,
    FaultCause,
    MigrationFailedError,
    classify,
    corrupt_message,
    is_database_fault,
)

ALEMBIC_DIR = Path(__file__).resolve().parent / "alembic"
VERSION_TABLE = "alembic_version"
SQLITE_HEADER = b"SQLite format 3\x00"
BACKUP_DIRNAME = "backups"


@dataclass(frozen=True)
class MigrationOutcome:
    """What :func:`migrate_database` did."""

    path: Path
    from_revision: str | None
    to_revision: str
    backup_path: Path | None

    @property
    def migrated(self) -> bool:
        return self.from_revision != self.to_revision


HEAD_REVISION = "0007"
"""The newest revision under ``alembic/versions`` (a test checks it): an up-to-date database
is opened without reading the migration scripts (about 10 ms of every start)."""


def alembic_config() -> Config:
    """An Alembic configuration for the migrations shipped inside the package."""
    config = Config()
    config.set_main_option("script_location", str(ALEMBIC_DIR))
    config.set_main_option("path_separator", "os")
    return config


def script_directory() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """The newest schema revision this app knows."""
    head = script_directory().get_current_head()
    if head is None:  # pragma: no cover - the package always ships migrations
        raise RuntimeError("no migrations found")
    return head


def known_revisions() -> list[str]:
    """Every schema revision this app knows, oldest first."""
    return [script.revision for script in reversed(list(script_directory().walk_revisions()))]


def _fault(error: BaseException, path: Path, busy_timeout_ms: int) -> DatabaseError:
    """``error`` as the :class:`DatabaseError` of its cause (locked, full, read-only, …)."""
    return classify(error, path, busy_timeout_ms=busy_timeout_ms)


@contextmanager
def _read_only(path: Path, busy_timeout_ms: int) -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(
        f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=busy_timeout_ms / 1000.0
    )
    try:
        yield connection
    finally:
        connection.close()


def _check_header(path: Path) -> None:
    with path.open("rb") as handle:
        header = handle.read(len(SQLITE_HEADER))
    if header != SQLITE_HEADER:
        raise DatabaseCorruptError(corrupt_message(path, "not a SQLite file"), path)


def inspect_database(
    path: Path, *, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS
) -> tuple[bool, str | None]:
    """Read-only checks of an existing file: ``(is_empty, revision)``.

    Raises :class:`DatabaseCorruptError`, :class:`DatabaseNotRecognisedError` or
    :class:`DatabaseLockedError`. A missing or zero-length file is empty with no revision.
    """
    if not path.exists() or path.stat().st_size == 0:
        return True, None
    try:
        _check_header(path)
    except OSError as error:
        raise _fault(error, path, busy_timeout_ms) from error
    try:
        with _read_only(path, busy_timeout_ms) as connection:
            rows = connection.execute("PRAGMA integrity_check").fetchall()
            if [tuple(row) for row in rows] != [("ok",)]:
                detail = "; ".join(str(row[0]) for row in rows[:3])
                raise DatabaseCorruptError(
                    corrupt_message(path, f"integrity check failed: {detail}"), path
                )
            tables = {
                str(row[0])
                for row in connection.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' "
                    "AND name NOT LIKE 'sqlite_%'"
                )
            }
            revisions: list[str] = []
            if VERSION_TABLE in tables:
                revisions = [
                    str(row[0])
                    for row in connection.execute(f"SELECT version_num FROM {VERSION_TABLE}")
                ]
    except sqlite3.Error as error:
        # Only SQLite's own verdict (corrupt, not a database) means damaged; a read-only
        # folder or a full disk shows up here too (the shared-memory file cannot be made).
        raise _fault(error, path, busy_timeout_ms) from error

    if len(revisions) > 1:
        raise DatabaseCorruptError(
            corrupt_message(path, f"several schema revisions recorded: {revisions}"), path
        )
    revision = revisions[0] if revisions else None
    if revision is None and tables - {VERSION_TABLE}:
        raise DatabaseNotRecognisedError(
            f"The file {path} is a SQLite database, but not one made by HuleEdu. "
            "It has not been changed. Choose another data folder, or move the file away.",
            path,
        )
    is_empty = not (tables - {VERSION_TABLE}) and revision is None
    return is_empty, revision


def _check_writable(path: Path, busy_timeout_ms: int) -> None:
    """Take and release the write lock, to find out now whether another program holds it;
    and open the file for writing (SQLite would quietly open a read-only file read-only)."""
    try:
        os.close(os.open(path, os.O_RDWR))
    except OSError as error:
        raise _fault(error, path, busy_timeout_ms) from error
    try:
        with closing(
            sqlite3.connect(path, timeout=busy_timeout_ms / 1000.0, isolation_level=None)
        ) as connection:
            connection.execute("BEGIN IMMEDIATE")
            connection.execute("ROLLBACK")
    except sqlite3.Error as error:
        raise _fault(error, path, busy_timeout_ms) from error


def backup_database(path: Path, backup_dir: Path | None = None, *, label: str = "") -> Path:
    """Copy the database with SQLite's online backup into ``backup_dir`` (default: a
    ``backups`` folder beside it) and return the copy's path. The original is only read."""
    target_dir = backup_dir if backup_dir is not None else path.parent / BACKUP_DIRNAME
    target_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    suffix = f"-{label}" if label else ""
    target = target_dir / f"{path.stem}-{stamp}{suffix}{path.suffix}"
    with (
        closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as source,
        closing(sqlite3.connect(target)) as copy,
    ):
        source.backup(copy)
    return target


def migrate_database(
    path: str | os.PathLike[str],
    *,
    backup_dir: Path | None = None,
    busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
) -> MigrationOutcome:
    """Check the database at ``path`` and upgrade it to :func:`head_revision`.

    A missing file is created. Running it on an up-to-date database changes nothing and makes
    no backup. Raises a :class:`DatabaseError` subclass with a message for a teacher.
    """
    db_path = Path(path)
    _, revision = inspect_database(db_path, busy_timeout_ms=busy_timeout_ms)
    if revision == HEAD_REVISION:
        _check_writable(db_path, busy_timeout_ms)
        return MigrationOutcome(db_path, revision, revision, None)
    head = head_revision()
    if revision is not None and revision not in known_revisions():
        raise DatabaseTooNewError(
            f"The database {db_path} was written by a newer version of HuleEdu "
            f"(schema {revision}). Install the newest version of HuleEdu to open it. "
            "It has not been changed.",
            db_path,
            revision,
        )
    if db_path.exists():
        _check_writable(db_path, busy_timeout_ms)
    if revision == head:
        return MigrationOutcome(db_path, revision, head, None)

    backup_path = None
    if db_path.exists() and db_path.stat().st_size > 0:
        try:
            backup_path = backup_database(db_path, backup_dir, label=f"before-{head}")
        except (OSError, sqlite3.Error) as error:
            # Nothing is migrated without its backup (a full disk, a read-only folder).
            raise _fault(error, db_path, busy_timeout_ms) from error

    db_path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_sqlite_engine(db_path, busy_timeout_ms=busy_timeout_ms, foreign_keys=False)
    try:
        with engine.begin() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
            problems = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if problems:
                raise RuntimeError(f"foreign key check failed after migration: {problems[:3]}")
    except Exception as error:
        kept = f" A copy from before the update is kept at {backup_path}." if backup_path else ""
        if is_database_fault(error):
            fault = _fault(error, db_path, busy_timeout_ms)
            if fault.cause is not FaultCause.LOCKED:
                fault = type(fault)(f"{fault} The database was left as it was.{kept}", db_path)
            raise fault from error
        raise MigrationFailedError(
            f"Updating the database {db_path} to schema {head} failed ({error}). "
            f"The database was left as it was.{kept}",
            db_path,
        ) from error
    finally:
        engine.dispose()
    return MigrationOutcome(db_path, revision, head, backup_path)


def current_revision(
    path: str | os.PathLike[str], *, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS
) -> str | None:
    """The schema revision recorded in the database (``None`` for an empty or new file)."""
    return inspect_database(Path(path), busy_timeout_ms=busy_timeout_ms)[1]


__all__ = [
    "ALEMBIC_DIR",
    "BACKUP_DIRNAME",
    "HEAD_REVISION",
    "SQLITE_HEADER",
    "VERSION_TABLE",
    "DatabaseCorruptError",
    "DatabaseError",
    "DatabaseLockedError",
    "DatabaseNotRecognisedError",
    "DatabaseTooNewError",
    "MigrationFailedError",
    "MigrationOutcome",
    "alembic_config",
    "backup_database",
    "current_revision",
    "head_revision",
    "inspect_database",
    "known_revisions",
    "migrate_database",
    "script_directory",
]
