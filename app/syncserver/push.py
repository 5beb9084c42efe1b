"""``POST /v1/scopes/{scope}/push``: one transaction per push (protocol v1, "Push").

Order inside the transaction:

1. the scope's counter row is created if missing and locked (``SELECT ... FOR UPDATE``), so
   pushes to one scope take their ``seq`` numbers one after another and ``seq`` order is commit
   order (a reader paging by ``seq`` can never skip a row that commits later with a lower seq);
2. a stored response for the same ``push_id`` is returned as is (nothing applied again);
3. the current rows of the pushed keys are read in one statement, every change is decided in
   memory (see :func:`decide`; a change to a key that an earlier change of the same push wrote
   builds on it), and the results are written in bulk: new records in one multi-row
   insert (``COPY`` on PostgreSQL), changed ones in one executemany update, losers into
   ``conflicts``, the counter, and the response under ``push_id``.

Decision for one change against the current record ``cur`` (``None`` when absent):

- same ``hlc``, ``deleted`` and ``data`` as ``cur``: a repeat, reported as applied, no new seq;
- ``cur`` is None: insert (version 1);
- immutable kind: a tombstone applies, different content is rejected;
- run: a tombstone applies; a lower state rank or a terminal ``cur`` -> rejected; a higher rank
  applies;
- ``base_version == cur.version``: applies (version + 1);
- otherwise a conflict: the later ``hlc`` wins (applies if it is the pushed one), and the loser
  is stored in ``conflicts`` and returned.
"""

from __future__ import annotations

import random
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, bindparam, delete, insert, select, update

from app.syncserver import rules
from app.syncserver.db import insert_ignore, is_postgres, scope_write_lock
from app.syncserver.errors import ApiError, bad_request
from app.syncserver.hlc import check_skew
from app.syncserver.models import conflicts, pushes, records, scopes
from app.syncserver.scopes import Principal
from app.syncserver.settings import Settings

_KIND = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


@dataclass
class Change:
    kind: str
    key: str
    base_version: int
    hlc: str
    deleted: bool
    data: dict[str, Any]


def parse_push(body: Any, settings: Settings, now_ms: int) -> tuple[str, str, list[Change]]:
    """Validate a push body; 400 with a precise message for the first problem found."""
    if not isinstance(body, dict):
        raise bad_request("the push must be a JSON object")
    push_id = body.get("push_id")
    device_id = body.get("device_id")
    raw = body.get("changes")
    if not isinstance(push_id, str) or not 8 <= len(push_id) <= 64:
        raise bad_request("push_id must be a string of 8 to 64 characters (a UUID)")
    if not isinstance(device_id, str) or not 1 <= len(device_id) <= 200:
        raise bad_request("device_id must be a non-empty string")
    if not isinstance(raw, list):
        raise bad_request("changes must be a list")
    if len(raw) > settings.max_changes:
        raise bad_request(f"at most {settings.max_changes} changes per push, got {len(raw)}")
    out: list[Change] = []
    for i, c in enumerate(raw):
        if not isinstance(c, dict):
            raise bad_request(f"change {i} is not an object")
        kind, key, base = c.get("kind"), c.get("key"), c.get("base_version", 0)
        hlc, deleted, data = c.get("hlc"), c.get("deleted", False), c.get("data", {})
        if not isinstance(kind, str) or not _KIND.match(kind):
            raise bad_request(f"change {i}: kind must be lower-case letters, digits and _")
        if not isinstance(key, str) or not 1 <= len(key) <= 300:
            raise bad_request(f"change {i}: key must be a string of 1 to 300 characters")
        if not isinstance(base, int) or isinstance(base, bool) or base < 0:
            raise bad_request(f"change {i}: base_version must be an integer >= 0")
        if not isinstance(hlc, str):
            raise bad_request(f"change {i}: hlc must be a string")
        check_skew(hlc, now_ms, settings.max_clock_skew_ms)
        if not isinstance(deleted, bool):
            raise bad_request(f"change {i}: deleted must be true or false")
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise bad_request(f"change {i}: data must be a JSON object")
        out.append(Change(kind, key, base, hlc, deleted, data))
    return push_id, device_id, out


@dataclass
class _Rec:
    """A record's state during the push; ``id`` None = not yet in the database."""

    id: int | None
    kind: str
    key: str
    version: int
    hlc: str
    deleted: bool
    data: dict[str, Any]
    device_id: str
    seq: int
    dirty: bool = False

    def public(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "key": self.key,
            "version": self.version,
            "hlc": self.hlc,
            "deleted": self.deleted,
            "data": self.data,
            "device_id": self.device_id,
        }


@dataclass
class _Outcome:
    applied: list[dict[str, Any]] = field(default_factory=list)
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)


def _same(cur: _Rec, ch: Change) -> bool:
    return cur.hlc == ch.hlc and cur.deleted == ch.deleted and cur.data == ch.data


def decide(
    cur: _Rec | None, ch: Change, device_id: str, next_seq: int, out: _Outcome
) -> tuple[_Rec | None, bool]:
    """Apply ``ch`` to ``cur`` in memory; returns (new state, whether a seq was used).

    Appends to ``out`` (applied / conflicts / rejected) exactly one entry for the change.
    """

    def apply(version: int) -> _Rec:
        rec = _Rec(
            id=cur.id if cur else None,
            kind=ch.kind,
            key=ch.key,
            version=version,
            hlc=ch.hlc,
            deleted=ch.deleted,
            data=ch.data,
            device_id=device_id,
            seq=next_seq,
            dirty=True,
        )
        out.applied.append({"kind": ch.kind, "key": ch.key, "version": version, "seq": next_seq})
        return rec

    if cur is None:
        return apply(1), True
    if _same(cur, ch):
        out.applied.append({"kind": ch.kind, "key": ch.key, "version": cur.version, "seq": cur.seq})
        return cur, False
    if ch.kind in rules.IMMUTABLE_KINDS:
        if ch.deleted:
            return apply(cur.version + 1), True
        reason = "deleted" if cur.deleted else "immutable"
        out.rejected.append(
            {
                "kind": ch.kind,
                "key": ch.key,
                "reason": f"{reason}: a {ch.kind} is never changed once written",
            }
        )
        return cur, False
    if ch.kind == rules.RUN_KIND and not cur.deleted:
        if ch.deleted:
            return apply(cur.version + 1), True
        cur_rank, new_rank = rules.run_rank(cur.data), rules.run_rank(ch.data)
        if cur_rank >= rules.TERMINAL_RANK:
            out.rejected.append(
                {"kind": ch.kind, "key": ch.key, "reason": "finished: a finished run is fixed"}
            )
            return cur, False
        if new_rank < cur_rank:
            out.rejected.append(
                {"kind": ch.kind, "key": ch.key, "reason": "backwards: a run only moves forward"}
            )
            return cur, False
        if new_rank > cur_rank:
            return apply(cur.version + 1), True
    if ch.base_version == cur.version:
        return apply(cur.version + 1), True
    pushed = {
        "kind": ch.kind,
        "key": ch.key,
        "version": ch.base_version,
        "hlc": ch.hlc,
        "deleted": ch.deleted,
        "data": ch.data,
        "device_id": device_id,
    }
    if ch.hlc > cur.hlc:
        loser = cur.public()
        rec = apply(cur.version + 1)
        out.conflicts.append(
            {"kind": ch.kind, "key": ch.key, "winner": rec.public(), "loser": loser}
        )
        return rec, True
    out.conflicts.append({"kind": ch.kind, "key": ch.key, "winner": cur.public(), "loser": pushed})
    return cur, False


def _load(conn: Connection, scope: str, changes: list[Change]) -> dict[tuple[str, str], _Rec]:
    keys = sorted({c.key for c in changes})
    kinds = {c.kind for c in changes}
    found: dict[tuple[str, str], _Rec] = {}
    cols = [
        records.c.id,
        records.c.kind,
        records.c.key,
        records.c.version,
        records.c.hlc,
        records.c.deleted,
        records.c.data,
        records.c.device_id,
        records.c.seq,
    ]
    for start in range(0, len(keys), 5000):
        chunk = keys[start : start + 5000]
        rows = conn.execute(
            select(*cols).where(records.c.scope == scope, records.c.key.in_(chunk))
        ).all()
        for r in rows:
            if r.kind in kinds:
                found[(r.kind, r.key)] = _Rec(
                    r.id, r.kind, r.key, r.version, r.hlc, r.deleted, r.data, r.device_id, r.seq
                )
    return found


def _lock_counter(conn: Connection, scope: str) -> int:
    insert_ignore(conn, scopes, [{"scope": scope, "last_seq": 0}])
    stmt = select(scopes.c.last_seq).where(scopes.c.scope == scope).with_for_update()
    return int(conn.execute(stmt).scalar_one())


def _copy_new(conn: Connection, scope: str, rows: list[_Rec]) -> None:
    """New records into ``sync_records``: COPY on PostgreSQL, a multi-row insert elsewhere."""
    if not rows:
        return
    if is_postgres(conn):
        raw = conn.connection.driver_connection
        assert raw is not None
        with (
            raw.cursor() as cur,
            cur.copy(
                "COPY sync_records (scope, kind, key, version, hlc, deleted, data, device_id, seq) "
                "FROM STDIN"
            ) as copy,
        ):
            for r in rows:
                copy.write_row(
                    (
                        scope,
                        r.kind,
                        r.key,
                        r.version,
                        r.hlc,
                        r.deleted,
                        orjson.dumps(r.data).decode(),
                        r.device_id,
                        r.seq,
                    )
                )
        return
    conn.execute(
        insert(records),
        [
            {
                "scope": scope,
                "kind": r.kind,
                "key": r.key,
                "version": r.version,
                "hlc": r.hlc,
                "deleted": r.deleted,
                "data": r.data,
                "device_id": r.device_id,
                "seq": r.seq,
            }
            for r in rows
        ],
    )


def _update_changed(conn: Connection, rows: list[_Rec]) -> None:
    if not rows:
        return
    stmt = (
        update(records)
        .where(records.c.id == bindparam("rid"))
        .values(
            version=bindparam("v"),
            hlc=bindparam("h"),
            deleted=bindparam("d"),
            data=bindparam("j", type_=records.c.data.type),
            device_id=bindparam("dev"),
            seq=bindparam("s"),
        )
    )
    conn.execute(
        stmt,
        [
            {
                "rid": r.id,
                "v": r.version,
                "h": r.hlc,
                "d": r.deleted,
                "j": r.data,
                "dev": r.device_id,
                "s": r.seq,
            }
            for r in rows
        ],
    )


def prune_pushes(engine: Engine, settings: Settings) -> int:
    """Delete stored push responses older than ``push_retention_days``; returns how many."""
    cutoff = datetime.now(UTC) - timedelta(days=settings.push_retention_days)
    with engine.begin() as conn:
        return int(conn.execute(delete(pushes).where(pushes.c.created_at < cutoff)).rowcount)


def push(engine: Engine, settings: Settings, principal: Principal, scope: str, body: Any) -> bytes:
    """Run one push; returns the response JSON (stored under ``push_id`` in the same commit).

    About one push in a hundred also prunes old stored responses afterwards.
    """
    response = _push(engine, settings, principal, scope, body)
    if random.random() < 0.01:
        prune_pushes(engine, settings)
    return response


def _push(engine: Engine, settings: Settings, principal: Principal, scope: str, body: Any) -> bytes:
    now_ms = int(time.time() * 1000)
    push_id, device_id, changes = parse_push(body, settings, now_ms)
    with engine.begin() as conn, scope_write_lock(conn):
        last_seq = _lock_counter(conn, scope)
        stored = conn.execute(
            select(pushes.c.scope, pushes.c.user_id, pushes.c.response).where(
                pushes.c.push_id == push_id
            )
        ).first()
        if stored is not None:
            if stored.scope != scope or stored.user_id != principal.user_id:
                raise ApiError(
                    409, "push_id_reused", "This push_id was already used for other data."
                )
            return bytes(stored.response)
        state = _load(conn, scope, changes)
        out = _Outcome()
        seq = last_seq
        written_here: set[tuple[str, str]] = set()
        for ch in changes:
            k = (ch.kind, ch.key)
            cur = state.get(k)
            if k in written_here and cur is not None:
                # The device wrote these one after another: a later change in the same push
                # builds on the earlier one, whatever base it carries.
                ch.base_version = cur.version
            new, used = decide(cur, ch, device_id, seq + 1, out)
            if used:
                seq += 1
                written_here.add(k)
            if new is not None:
                state[k] = new
        fresh = [r for r in state.values() if r.dirty and r.id is None]
        changed = [r for r in state.values() if r.dirty and r.id is not None]
        _copy_new(conn, scope, fresh)
        _update_changed(conn, changed)
        if out.conflicts:
            stamp = datetime.now(UTC)
            conn.execute(
                insert(conflicts),
                [
                    {
                        "scope": scope,
                        "kind": c["kind"],
                        "key": c["key"],
                        "winner": c["winner"],
                        "loser": c["loser"],
                        "created_at": stamp,
                    }
                    for c in out.conflicts
                ],
            )
        if seq != last_seq:
            conn.execute(update(scopes).where(scopes.c.scope == scope).values(last_seq=seq))
        response = orjson.dumps(
            {
                "applied": out.applied,
                "conflicts": out.conflicts,
                "rejected": out.rejected,
                "server_seq": seq,
            }
        )
        conn.execute(
            insert(pushes).values(
                push_id=push_id,
                scope=scope,
                user_id=principal.user_id,
                response=response,
                created_at=datetime.now(UTC),
            )
        )
        return response


def new_push_id() -> str:
    return str(uuid.uuid4())
