"""The ``setting`` kind: the teacher's run defaults (``preferences.json`` in the data folder),
one record per field (key = field name, ``data = {"value": ...}``), so edits of different
fields on two machines both survive.

The file is not in the database, so the last value sync knows of each field is kept in
``sync_meta`` (``setting:<field>``, JSON). :func:`capture` (at the start of a sync) queues
every field whose file value differs from it; on a device's first sync only a file that exists
is captured (a new machine's defaults do not overwrite the teacher's settings).
:func:`write_file` (after a pull) writes the values received into the file.
"""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import models as m
from app.db.engine import Database
from app.operations.base import OperationError
from app.operations.preferences import (
    Preferences,
    load_preferences,
    preferences_path,
    save_preferences,
    with_changes,
)
from app.sync import outbox

KIND = "setting"
PREFIX = "setting:"
FIELDS = frozenset(f.name for f in fields(Preferences))


def _known(session: Session) -> dict[str, Any]:
    rows = session.scalars(select(m.SyncMeta).where(m.SyncMeta.key.startswith(PREFIX)))
    return {row.key.removeprefix(PREFIX): json.loads(row.value) for row in rows}


def remember(session: Session, field: str, value: Any) -> None:
    """Store ``value`` as the field's value known to sync."""
    row = session.get(m.SyncMeta, PREFIX + field)
    if row is None:
        session.add(m.SyncMeta(key=PREFIX + field, value=json.dumps(value)))
    else:
        row.value = json.dumps(value)


def data_of(session: Session, field: str) -> dict[str, Any] | None:
    """The protocol data of one setting record (None if unknown)."""
    row = session.get(m.SyncMeta, PREFIX + field)
    return None if row is None else {"value": json.loads(row.value)}


def capture(db: Database) -> int:
    """Queue the fields of the preferences file that changed since sync last saw them."""
    folder = db.path.parent
    if not preferences_path(folder).exists():
        return 0
    values = asdict(load_preferences(folder).preferences)
    queued = 0
    with db.session() as session:
        known = _known(session)
        conn = session.connection()
        clock = outbox.clock_for(conn, outbox.outbox_device(conn))
        for name, value in sorted(values.items()):
            if name in known and known[name] == value:
                continue
            remember(session, name, value)
            outbox.record_change(conn, clock, KIND, name, False)
            queued += 1
    return queued


def write_file(db: Database) -> str | None:
    """Write the values sync knows into the preferences file when they differ; a sentence if
    they make no usable settings (the file is then left as it is)."""
    folder = db.path.parent
    with db.read() as session:
        known = {k: v for k, v in _known(session).items() if k in FIELDS}
    current = load_preferences(folder).preferences
    changes = {k: v for k, v in known.items() if asdict(current).get(k) != v}
    if not changes:
        return None
    try:
        save_preferences(folder, with_changes(current, **changes))
    except (OperationError, TypeError) as exc:
        return f"The settings received were not applied: {exc}"
    return None
