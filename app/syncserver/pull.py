"""``GET /v1/scopes/{scope}/changes`` and ``GET .../conflicts`` (protocol v1, "Pull").

A record keeps only its latest state at the ``seq`` of its last change, so ``seq > after``
ordered by ``seq`` returns each record once, at its newest state. Because ``seq`` is assigned
under the scope's counter-row lock, ``seq`` order is commit order: a row committed after a page
was read always has a higher ``seq`` than that page's ``next``, so a reader paging by cursor
misses nothing and sees nothing twice.

The ``data`` column is read as JSON text and spliced into the response unparsed
(``orjson.Fragment``), which keeps large pages cheap.
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Engine, Text, cast, delete, select

from app.syncserver.errors import bad_request
from app.syncserver.models import conflicts, records
from app.syncserver.settings import Settings


def _int_arg(value: str | None, name: str, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        n = int(value)
    except ValueError as exc:
        raise bad_request(f"{name} must be an integer") from exc
    if n < 0:
        raise bad_request(f"{name} must be >= 0")
    return n


def changes(
    engine: Engine, settings: Settings, scope: str, after: str | None, limit: str | None
) -> bytes:
    """One page of changes after cursor ``after``; ``limit`` is capped at ``max_page``."""
    start = _int_arg(after, "after", 0)
    n = min(max(_int_arg(limit, "limit", 1000), 1), settings.max_page)
    stmt = (
        select(
            records.c.seq,
            records.c.kind,
            records.c.key,
            records.c.version,
            records.c.hlc,
            records.c.deleted,
            cast(records.c.data, Text),
            records.c.device_id,
        )
        .where(records.c.scope == scope, records.c.seq > start)
        .order_by(records.c.seq)
        .limit(n + 1)
    )
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    more = len(rows) > n
    rows = rows[:n]
    out: list[dict[str, Any]] = [
        {
            "seq": r[0],
            "kind": r[1],
            "key": r[2],
            "version": r[3],
            "hlc": r[4],
            "deleted": bool(r[5]),
            "data": orjson.Fragment(r[6]),
            "device_id": r[7],
        }
        for r in rows
    ]
    nxt = rows[-1][0] if rows else start
    return orjson.dumps({"changes": out, "next": nxt, "more": more})


def erase_conflicts(engine: Engine, scope: str, body: Any) -> bytes:
    """``{"records": [{"kind", "key"}]}``: remove the stored conflicts of those records.

    For a teacher erasing a class everywhere: the losing values kept for its records are
    personal data too. Only an explicit request removes them; nothing else ever does.
    """
    if not isinstance(body, dict) or not isinstance(body.get("records"), list):
        raise bad_request('expected {"records": [{"kind": .., "key": ..}]}')
    items = body["records"]
    if len(items) > 5000:
        raise bad_request("at most 5000 records per request")
    pairs: list[tuple[str, str]] = []
    for i, item in enumerate(items):
        kind = item.get("kind") if isinstance(item, dict) else None
        key = item.get("key") if isinstance(item, dict) else None
        if not isinstance(kind, str) or not isinstance(key, str):
            raise bad_request(f"record {i}: expected kind and key")
        pairs.append((kind, key))
    erased = 0
    with engine.begin() as conn:
        for kind, key in pairs:
            erased += conn.execute(
                delete(conflicts).where(
                    conflicts.c.scope == scope, conflicts.c.kind == kind, conflicts.c.key == key
                )
            ).rowcount
    return orjson.dumps({"erased": erased})


def conflict_list(
    engine: Engine, settings: Settings, scope: str, after: str | None, limit: str | None
) -> bytes:
    """Conflicts of ``scope`` with ``id > after``, oldest first."""
    start = _int_arg(after, "after", 0)
    n = min(max(_int_arg(limit, "limit", 1000), 1), settings.max_page)
    stmt = (
        select(
            conflicts.c.id,
            conflicts.c.kind,
            conflicts.c.key,
            conflicts.c.winner,
            conflicts.c.loser,
            conflicts.c.created_at,
        )
        .where(conflicts.c.scope == scope, conflicts.c.id > start)
        .order_by(conflicts.c.id)
        .limit(n)
    )
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
    return orjson.dumps(
        {
            "conflicts": [
                {
                    "id": r.id,
                    "kind": r.kind,
                    "key": r.key,
                    "winner": r.winner,
                    "loser": r.loser,
                    "created_at": r.created_at.isoformat(),
                }
                for r in rows
            ]
        }
    )
