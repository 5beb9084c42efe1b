"""Why the database cannot be used, told by cause, with the action that fits each.

Every fault a teacher can meet with the database file has its own exception (all subclasses of
:class:`DatabaseError`, whose ``str()`` is the sentence to show) and :class:`FaultCause`:

* **locked**: another program holds the database longer than HuleEdu waits;
* **full**: the disk holding the data folder is full;
* **read-only**: the data folder or the database file cannot be written;
* **damaged**: not a SQLite file, or SQLite reports it corrupt (only then is restoring a backup
  suggested);
* **not recognised**: a SQLite database, but someone else's;
* **too new**: written by a newer version of HuleEdu;
* **folder**: the data folder cannot be created;
* **unreadable**: reading or writing failed for another reason (a disk I/O error).

:func:`classify` turns a SQLite, SQLAlchemy or operating-system error into the right one. SQLite
reports a full disk or a read-only folder under several codes (a failed shared-memory file is a
"disk I/O error"), so an unclear code is settled by :func:`probe_folder`, which tries to write a
small file beside the database.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import sqlite3
import tempfile
from enum import StrEnum
from pathlib import Path

# Primary SQLite result codes (https://sqlite.org/rescode.html).
SQLITE_PERM = 3
SQLITE_BUSY = 5
SQLITE_LOCKED = 6
SQLITE_READONLY = 8
SQLITE_IOERR = 10
SQLITE_CORRUPT = 11
SQLITE_FULL = 13
SQLITE_CANTOPEN = 14
SQLITE_NOTADB = 26

#: Less free space than this on the data folder's disk counts as a full disk.
LOW_SPACE_BYTES = 1 << 20
#: Bytes :func:`probe_folder` writes to find out whether the folder takes writes.
PROBE_BYTES = 64 * 1024


class FaultCause(StrEnum):
    LOCKED = "locked"
    FULL = "full"
    READ_ONLY = "read_only"
    DAMAGED = "damaged"
    NOT_RECOGNISED = "not_recognised"
    TOO_NEW = "too_new"
    FOLDER = "folder"
    MIGRATION = "migration"
    UNREADABLE = "unreadable"


class DatabaseError(Exception):
    """The database cannot be used; ``str(error)`` is a message meant for a teacher."""

    cause: FaultCause = FaultCause.UNREADABLE

    def __init__(self, message: str, path: Path) -> None:
        super().__init__(message)
        self.message = message
        self.path = path

    def __reduce__(self) -> tuple[object, ...]:
        # Picklable with its fields, so it can cross from a worker process.
        return (self.__class__, (self.message, self.path), self.__dict__)


class DatabaseLockedError(DatabaseError):
    """Another program (often a second copy of the app) holds the database locked."""

    cause = FaultCause.LOCKED


class DatabaseFullError(DatabaseError):
    """The disk holding the database is full."""

    cause = FaultCause.FULL


class DatabaseReadOnlyError(DatabaseError):
    """The data folder or the database file cannot be written."""

    cause = FaultCause.READ_ONLY


class DatabaseCorruptError(DatabaseError):
    """The file is not a SQLite database, or SQLite reports it damaged."""

    cause = FaultCause.DAMAGED


class DatabaseNotRecognisedError(DatabaseError):
    """A SQLite database, but not one of this app's (someone else's tables, no revision)."""

    cause = FaultCause.NOT_RECOGNISED


class DatabaseTooNewError(DatabaseError):
    """The database was written by a newer version of the app."""

    cause = FaultCause.TOO_NEW

    def __init__(self, message: str, path: Path, revision: str = "") -> None:
        super().__init__(message, path)
        self.revision = revision


class DataFolderError(DatabaseError):
    """The data folder cannot be created."""

    cause = FaultCause.FOLDER


class DatabaseUnreadableError(DatabaseError):
    """Reading or writing the file failed for a reason that is none of the above."""

    cause = FaultCause.UNREADABLE


class MigrationFailedError(DatabaseError):
    """Updating the database failed; it was left as it was and a backup is kept."""

    cause = FaultCause.MIGRATION


# ---------------------------------------------------------------------------------- messages

_ELSEWHERE = "or choose another data folder (--data-dir, or HULEEDU_DATA_DIR)"


def locked_message(path: Path, waited_s: float | None = None) -> str:
    waited = f" for longer than HuleEdu waits ({waited_s:g} s)" if waited_s else ""
    return (
        f"The database {path} is in use by another program{waited}, probably another HuleEdu "
        "window or a backup or sync program. Close the other program (or wait for it to "
        "finish) and try again."
    )


def full_message(path: Path) -> str:
    free = _free_bytes(path.parent)
    # Much free space means a limit of its own (a quota, the largest file the disk takes).
    left = "" if free is None or free >= 1 << 30 else f" ({_size(free)} free)"
    return (
        f"The disk holding the database {path} is full{left}. Free some space on it, "
        f"{_ELSEWHERE} on a disk with room, and try again."
    )


def read_only_message(path: Path, *, folder: bool) -> str:
    what = f"the data folder {path.parent}" if folder else f"the database file {path}"
    return (
        f"HuleEdu cannot write to {what}: it is read-only. Make it writable (its permissions, "
        f"or a disk or USB stick mounted read-only), {_ELSEWHERE}, and try again."
    )


def corrupt_message(path: Path, detail: str) -> str:
    return (
        f"The database {path} is damaged or is not a HuleEdu database ({detail}). "
        "It has not been changed. Restore a backup from the 'backups' folder beside it, or move "
        "the file away to start with an empty database."
    )


def folder_message(folder: Path, error: OSError) -> str:
    reason = error.strerror or str(error)
    return (
        f"The data folder {folder} cannot be created ({reason}). Create it yourself, "
        f"{_ELSEWHERE}, and try again."
    )


def unreadable_message(path: Path, detail: str) -> str:
    return (
        f"Reading or writing the database {path} failed ({detail}). The disk may have been "
        "removed or may be failing: check it and try again. If this keeps happening, copy the "
        "data folder to another disk."
    )


# ---------------------------------------------------------------------------------- classifying


def sqlite_error(error: BaseException) -> sqlite3.Error | None:
    """The SQLite error behind ``error`` (a SQLAlchemy wrapper's ``orig``, or a cause)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, sqlite3.Error):
            return current
        orig = getattr(current, "orig", None)
        if isinstance(orig, sqlite3.Error):
            return orig
        current = current.__cause__ or current.__context__
    return None


def sqlite_cause(error: sqlite3.Error) -> FaultCause | None:
    """The cause a SQLite error names by itself (None: its code does not say; probe)."""
    code = getattr(error, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    text = str(error).lower()
    if primary in (SQLITE_BUSY, SQLITE_LOCKED) or "database is locked" in text:
        return FaultCause.LOCKED
    if primary == SQLITE_FULL or "disk is full" in text:
        return FaultCause.FULL
    if primary == SQLITE_READONLY or "readonly database" in text:
        return FaultCause.READ_ONLY
    if primary in (SQLITE_CORRUPT, SQLITE_NOTADB) or "malformed" in text:
        return FaultCause.DAMAGED
    if "file is not a database" in text:
        return FaultCause.DAMAGED
    return None


def is_database_fault(error: BaseException) -> bool:
    """Whether ``error`` is trouble with the database file (locked, full, read-only, damaged,
    I/O) rather than a bug such as a mistyped query."""
    if isinstance(error, DatabaseError):
        return True
    found = sqlite_error(error)
    if found is None:
        return False
    if sqlite_cause(found) is not None:
        return True
    code = getattr(found, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    text = str(found).lower()
    return primary in (SQLITE_IOERR, SQLITE_CANTOPEN, SQLITE_PERM) or (
        "disk i/o error" in text or "unable to open database" in text
    )


def os_cause(error: OSError) -> FaultCause | None:
    if error.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return FaultCause.FULL
    if error.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return FaultCause.READ_ONLY
    return None


def probe_folder(path: Path) -> tuple[FaultCause, bool] | None:
    """Find out by trying whether the database at ``path`` can be written: ``(cause,
    is_folder)`` when its folder is full or read-only or the file is read-only, else None.

    It writes (and removes) a small file beside the database, opens the database file for
    writing without changing it, and looks at the free space.
    """
    folder = path.parent
    try:
        handle, name = tempfile.mkstemp(prefix=".huleedu-probe-", dir=folder)
    except OSError as error:
        cause = os_cause(error)
        return None if cause is None else (cause, True)
    try:
        with os.fdopen(handle, "wb") as probe:
            probe.write(b"\0" * PROBE_BYTES)
            probe.flush()
            os.fsync(probe.fileno())
    except OSError as error:
        cause = os_cause(error)
        if cause is not None:
            return cause, True
    finally:
        with contextlib.suppress(OSError):
            os.unlink(name)
    if path.exists():
        try:
            os.close(os.open(path, os.O_RDWR))
        except OSError as error:
            cause = os_cause(error)
            if cause is not None:
                return cause, False
    free = _free_bytes(folder)
    if free is not None and free < LOW_SPACE_BYTES:
        return FaultCause.FULL, True
    return None


def classify(
    error: BaseException, path: Path, *, busy_timeout_ms: int | None = None
) -> DatabaseError:
    """The :class:`DatabaseError` that says why ``error`` happened to the database at ``path``."""
    if isinstance(error, DatabaseError):
        return error
    found = sqlite_error(error)
    cause: FaultCause | None = None
    folder = True
    if found is not None:
        cause = sqlite_cause(found)
    elif isinstance(error, OSError):
        cause = os_cause(error)
    if cause in (None, FaultCause.READ_ONLY, FaultCause.FULL):
        probed = probe_folder(path)
        if probed is not None:
            cause, folder = probed
    detail = str(found if found is not None else error)
    waited = None if busy_timeout_ms is None else busy_timeout_ms / 1000.0
    if cause is FaultCause.LOCKED:
        return DatabaseLockedError(locked_message(path, waited), path)
    if cause is FaultCause.FULL:
        return DatabaseFullError(full_message(path), path)
    if cause is FaultCause.READ_ONLY:
        return DatabaseReadOnlyError(read_only_message(path, folder=folder), path)
    if cause is FaultCause.DAMAGED:
        return DatabaseCorruptError(corrupt_message(path, detail), path)
    return DatabaseUnreadableError(unreadable_message(path, detail), path)


def _free_bytes(folder: Path) -> int | None:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def _size(n: int) -> str:
    if n >= 1 << 30:
        return f"{n / (1 << 30):.1f} GB"
    if n >= 1 << 20:
        return f"{n / (1 << 20):.1f} MB"
    return f"{n / 1024:.0f} KB"
