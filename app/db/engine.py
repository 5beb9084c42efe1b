"""Where the database lives and how a connection to it is opened.

The data folder is, in order of precedence: an explicit argument (the ``--data-dir`` option),
the ``HULEEDU_DATA_DIR`` environment variable, then the platform's per-user data folder
(``platformdirs.user_data_dir("HuleEdu", "HuleEdu")``).

Every connection runs SQLite in WAL mode (readers never block the single writer), with foreign
keys enforced and a busy timeout, and with transactions that really begin at ``BEGIN`` so that
DDL in migrations is transactional too.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from platformdirs import user_data_dir
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from app.db.errors import DataFolderError, classify, folder_message, is_database_fault

if TYPE_CHECKING:
    from app.db.migrate import MigrationOutcome

APP_NAME = "HuleEdu"
APP_AUTHOR = "HuleEdu"
DATA_DIR_ENV = "HULEEDU_DATA_DIR"
DB_FILENAME = "huleedu.sqlite3"
DEFAULT_BUSY_TIMEOUT_MS = 5000
#: Execution option naming how a transaction begins (``IMMEDIATE`` or ``DEFERRED``).
BEGIN_OPTION = "sqlite_begin"


def resolve_data_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The data folder: ``data_dir`` if given, else ``$HULEEDU_DATA_DIR``, else the platform's.

    The folder is not created here; :func:`open_database` creates it when needed.
    """
    if data_dir is not None and str(data_dir) != "":
        return Path(data_dir).expanduser()
    override = os.environ.get(DATA_DIR_ENV)
    if override:
        return Path(override).expanduser()
    return Path(user_data_dir(APP_NAME, APP_AUTHOR))


def database_path(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The database file inside the resolved data folder."""
    return resolve_data_dir(data_dir) / DB_FILENAME


def _install_sqlite_settings(engine: Engine, *, busy_timeout_ms: int, foreign_keys: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        # Let SQLAlchemy decide when transactions begin (see the "begin" hook below); the
        # sqlite3 module's own implicit BEGIN skips DDL and breaks SAVEPOINTs.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute(f"PRAGMA foreign_keys = {'ON' if foreign_keys else 'OFF'}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # IMMEDIATE unless asked otherwise: a transaction that reads and then writes takes the
        # write lock up front, so it waits (busy timeout) for another writer instead of failing
        # at once with "database is locked" when its read snapshot went stale. Read-only
        # sessions (:meth:`Database.read`) begin DEFERRED and never wait for writers.
        mode = connection.get_execution_options().get(BEGIN_OPTION, "IMMEDIATE")
        connection.exec_driver_sql(f"BEGIN {mode}")


def create_sqlite_engine(
    path: str | os.PathLike[str],
    *,
    busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
    foreign_keys: bool = True,
    echo: bool = False,
) -> Engine:
    """An engine on the SQLite file at ``path`` with WAL, foreign keys and a busy timeout.

    This opens the file as it is: it does not check, back up or migrate it (see
    :func:`open_database`). ``foreign_keys=False`` is for migrations only, which may rebuild
    tables and check the keys afterwards.
    """
    engine = create_engine(
        f"sqlite:///{Path(path)}",
        echo=echo,
        connect_args={"timeout": busy_timeout_ms / 1000.0, "check_same_thread": False},
    )
    _install_sqlite_settings(engine, busy_timeout_ms=busy_timeout_ms, foreign_keys=foreign_keys)
    return engine


@dataclass
class Database:
    """An open, migrated database: its file, its engine and a session factory."""

    path: Path
    engine: Engine
    migration: MigrationOutcome | None = None
    busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS
    sessions: sessionmaker[Session] = field(init=False)

    def __post_init__(self) -> None:
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.read_sessions = sessionmaker(
            self.engine.execution_options(**{BEGIN_OPTION: "DEFERRED"}), expire_on_commit=False
        )

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits when the block ends normally and rolls back otherwise.

        It holds the write lock from its first statement (``BEGIN IMMEDIATE``), so keep it
        short: read files and compute outside it. Trouble with the file itself (another program
        holding it past the busy timeout, a full disk, a read-only folder, damage) is raised as
        the :class:`~app.db.errors.DatabaseError` of its cause, after the rollback.
        """
        with self.faults(), self.sessions.begin() as session:
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only session: it sees one consistent snapshot and never waits for a writer.
        Anything written in it is rolled back."""
        with self.faults():
            session = self.read_sessions()
            try:
                yield session
            finally:
                session.rollback()
                session.close()

    @contextmanager
    def faults(self) -> Iterator[None]:
        """Raise a database fault met in the block as the :class:`DatabaseError` of its cause
        (a mistyped query or a broken constraint is raised as it is: that is a bug)."""
        try:
            yield
        except DBAPIError as error:
            if not is_database_fault(error):
                raise
            raise classify(error, self.path, busy_timeout_ms=self.busy_timeout_ms) from error

    def close(self) -> None:
        """Close every pooled connection (the WAL is checkpointed by SQLite on last close)."""
        self.engine.dispose()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def open_database(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    path: str | os.PathLike[str] | None = None,
    migrate: bool = True,
    busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
) -> Database:
    """Open the application's database, checking, backing up and migrating it first.

    ``path`` names a database file directly; otherwise it is ``DB_FILENAME`` in the resolved
    data folder. Raises a :class:`app.db.errors.DatabaseError` subclass, with a message meant
    for a teacher, when the data folder cannot be created, or the file is locked by another
    program, on a full disk, read-only, damaged, or from a newer version of the app; the file is
    left untouched in those cases.
    """
    from app.db.migrate import migrate_database  # noqa: PLC0415  (migrate imports this module)

    db_path = Path(path) if path is not None else database_path(data_dir)
    try:
        db_path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        in_the_way = next(
            (p for p in (db_path.parent, *db_path.parent.parents) if p.exists() and not p.is_dir()),
            None,
        )
        if in_the_way is not None:
            error.strerror = f"{in_the_way} is a file, not a folder"
        raise DataFolderError(folder_message(db_path.parent, error), db_path) from error
    outcome = None
    if migrate:
        outcome = migrate_database(db_path, busy_timeout_ms=busy_timeout_ms)
    engine = create_sqlite_engine(db_path, busy_timeout_ms=busy_timeout_ms)
    return Database(path=db_path, engine=engine, migration=outcome, busy_timeout_ms=busy_timeout_ms)
