"""Shared data of a school (the ``org:<id>`` scope): grade scales and anchor sets published
as immutable versions by a lead or an admin, received by every teacher of the school.

* ``scale_version`` key ``"<scale_id>@<hash>"``, data: the scale (``scale_id``, ``name``,
  ``grades``, ``priors``, ``below_lowest``).
* ``anchor_set_version`` key ``"<assignment id>@<hash>"``, data: the assignment's texts
  (``title``, ``student_prompt``, ``assessment_criteria``, ``judge_rubric``, ``grade_scale``),
  its anchors (``grade``, ``label``, ``text_sha256``; texts are blobs of the org scope) and the
  scale when it is a teacher's own.

The hash is of the content, so publishing the same content again is a no-op and a changed set
is a new version. Publishing is online only (nothing is queued). On receiving, the newest
version (by clock) of each scale and anchor set becomes the local one: the scale under its id
(a teacher's own scale with the same id is left alone and the version listed as a conflict),
the anchor set as an assignment whose id is derived from the school's, so every machine holds
the same rows (the publisher's machines keep their own assignment and scale, no copy).
Received rows are written with Core statements, so they do not travel in the teacher's own
scope.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from app.db import models as m
from app.db.engine import Database
from app.sync import outbox
from app.sync.client import SyncError, SyncHttp
from app.sync.hlc import Clock
from app.sync.kinds import BY_NAME, sha256_text

SCALE_KIND = "scale_version"
ANCHOR_KIND = "anchor_set_version"
_NS = uuid.UUID("6f1c2a53-3a43-4d51-9d7e-9b0b3c3a8e11")


def _digest(data: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def shared_id(*parts: str) -> str:
    """A local id derived from the school's keys (the same on every machine)."""
    return str(uuid.uuid5(_NS, " ".join(parts)))


def org_scopes(http: SyncHttp) -> list[tuple[str, bool]]:
    """The organisation scopes of the account, with whether it may publish there."""
    answer = http.call("GET", "/v1/scopes")
    return [
        (str(s["scope"]), bool(s["can_write"]))
        for s in answer["scopes"]
        if str(s["scope"]).startswith("org:")
    ]


def _scale_data(row: m.GradeScaleRecord) -> dict[str, Any]:
    return {
        "scale_id": row.scale_id,
        "name": row.name,
        "grades": list(row.grades),
        "priors": list(row.priors) if row.priors is not None else None,
        "below_lowest": row.below_lowest,
    }


def _push_one(http: SyncHttp, scope: str, kind: str, key: str, data: dict[str, Any]) -> str:
    clock = Clock(http.device_id)
    change = {
        "kind": kind,
        "key": key,
        "base_version": 0,
        "hlc": clock.now(),
        "deleted": False,
        "data": data,
    }
    body = {"push_id": str(uuid.uuid4()), "device_id": http.device_id, "changes": [change]}
    try:
        answer = http.call("POST", http.path(scope, "push"), json=body)
    except SyncError as exc:
        if exc.status == 403:
            raise SyncError(
                "forbidden",
                "Only a lead or an administrator can publish to the school's shared data.",
                403,
            ) from exc
        raise
    if answer.get("applied"):
        return key
    reasons = "; ".join(r.get("reason", "") for r in answer.get("rejected", []))
    if reasons.startswith("immutable"):
        return key  # the same key holds this content already
    raise SyncError("refused", f"The server did not take the version: {reasons}")


def publish_scale(db: Database, http: SyncHttp, scope: str, scale_id: str) -> str:
    """Publish a teacher's own scale to ``scope``; the version's key."""
    with db.read() as session:
        row = session.scalars(
            select(m.GradeScaleRecord).where(
                m.GradeScaleRecord.scale_id == scale_id, m.live(m.GradeScaleRecord)
            )
        ).first()
        if row is None:
            raise SyncError("not_found", f"No scale of your own with id {scale_id!r}.", 404)
        data = _scale_data(row)
    return _push_one(http, scope, SCALE_KIND, f"{scale_id}@{_digest(data)}", data)


def publish_anchor_set(db: Database, http: SyncHttp, scope: str, assignment_id: str) -> str:
    """Publish an assignment with its anchors to ``scope``; the version's key."""
    with db.read() as session:
        assignment = session.get(m.Assignment, assignment_id)
        if assignment is None or assignment.deleted_at is not None:
            raise SyncError("not_found", f"No assignment {assignment_id}.", 404)
        anchors = [a for a in assignment.anchors if a.deleted_at is None]
        texts = {sha256_text(a.text): a.text for a in anchors}
        scale = session.scalars(
            select(m.GradeScaleRecord).where(
                m.GradeScaleRecord.scale_id == assignment.grade_scale, m.live(m.GradeScaleRecord)
            )
        ).first()
        data: dict[str, Any] = {
            "title": assignment.title,
            "student_prompt": assignment.student_prompt,
            "assessment_criteria": assignment.assessment_criteria,
            "judge_rubric": assignment.judge_rubric,
            "grade_scale": assignment.grade_scale,
            "anchors": sorted(
                (
                    {"grade": a.grade, "label": a.label, "text_sha256": sha256_text(a.text)}
                    for a in anchors
                ),
                key=lambda x: (x["grade"], x["text_sha256"]),
            ),
            "scale": _scale_data(scale) if scale is not None else None,
        }
    if texts:
        missing = http.call("POST", http.path(scope, "blobs/missing"), json={"sha256": list(texts)})
        blobs = [{"sha256": s, "text": texts[s]} for s in missing["missing"]]
        if blobs:
            http.call("POST", http.path(scope, "blobs/batch"), json={"blobs": blobs})
    return _push_one(http, scope, ANCHOR_KIND, f"{assignment_id}@{_digest(data)}", data)


# ---------------------------------------------------------------------------- receiving


def _newer(session: Session, kind: str, name: str, hlc: str) -> bool:
    state = session.get(m.SyncRecordState, (kind, name))
    if state is not None and state.hlc >= hlc:
        return False
    if state is None:
        session.add(m.SyncRecordState(kind=kind, key=name, version=0, hlc=hlc, deleted=False))
    else:
        state.hlc = hlc
    return True


def _take_scale(session: Session, scope: str, record: dict[str, Any]) -> None:
    data = record["data"]
    if not _newer(session, SCALE_KIND, f"{scope} {data['scale_id']}", record["hlc"]):
        return
    table = BY_NAME["grade_scale"].table
    local_id = shared_id(scope, "scale", data["scale_id"])
    values = {k: data[k] for k in ("scale_id", "name", "grades", "priors", "below_lowest")}
    mine = (
        session.execute(select(table).where(table.c.scale_id == data["scale_id"]))
        .mappings()
        .first()
    )
    if mine is not None and mine["id"] != local_id:
        if all(mine[k] == v for k, v in values.items()):
            return  # the publisher's own scale (or one just like it)
        session.add(
            m.SyncConflict(
                scope=scope,
                kind=SCALE_KIND,
                key=record["key"],
                winner=None,
                loser=record,
                reason="not used here: a scale of your own has the same id",
            )
        )
        return
    now = m.utcnow()
    session.execute(
        sqlite_insert(table)
        .values(id=local_id, created_at=now, updated_at=now, deleted_at=None, **values)
        .on_conflict_do_update(index_elements=["id"], set_={**values, "updated_at": now})
    )


def _take_anchor_set(
    session: Session, scope: str, record: dict[str, Any], texts: dict[str, str]
) -> None:
    data = record["data"]
    source = record["key"].rsplit("@", 1)[0]
    if not _newer(session, ANCHOR_KIND, f"{scope} {source}", record["hlc"]):
        return
    own = session.get(m.Assignment, source)
    if own is not None and own.deleted_at is None:
        return  # the publisher's own assignment: no copy beside it
    if data.get("scale"):
        _take_scale(session, scope, {**record, "data": data["scale"], "key": f"{source}:scale"})
    assignments = BY_NAME["assignment"].table
    anchors = BY_NAME["anchor"].table
    assignment_id = shared_id(scope, "assignment", source)
    values = {
        k: data[k]
        for k in ("title", "student_prompt", "assessment_criteria", "judge_rubric", "grade_scale")
    }
    now = m.utcnow()
    session.execute(
        sqlite_insert(assignments)
        .values(id=assignment_id, created_at=now, updated_at=now, deleted_at=None, **values)
        .on_conflict_do_update(
            index_elements=["id"], set_={**values, "updated_at": now, "deleted_at": None}
        )
    )
    wanted: dict[str, dict[str, Any]] = {}
    for anchor in data["anchors"]:
        sha = anchor["text_sha256"]
        wanted[shared_id(assignment_id, sha, anchor["grade"])] = anchor
    existing = {
        row_id
        for (row_id,) in session.execute(
            select(anchors.c.id).where(
                anchors.c.assignment_id == assignment_id, anchors.c.deleted_at.is_(None)
            )
        )
    }
    for gone in existing - set(wanted):
        session.execute(anchors.update().where(anchors.c.id == gone).values(deleted_at=now))
    for anchor_id, anchor in wanted.items():
        sha = anchor["text_sha256"]
        if sha not in texts:
            raise SyncError("missing_text", f"The server has no text for shared anchor {sha}.")
        fields = {
            "assignment_id": assignment_id,
            "text": texts[sha],
            "grade": anchor["grade"],
            "label": anchor.get("label") or "",
            "content_hash": sha,
            "deleted_at": None,
            "updated_at": now,
        }
        session.execute(
            sqlite_insert(anchors)
            .values(id=anchor_id, created_at=now, **fields)
            .on_conflict_do_update(index_elements=["id"], set_=fields)
        )


def pull_shared(db: Database, http: SyncHttp, scope: str, server_url: str, email: str) -> int:
    """Receive the school's new scale and anchor-set versions; how many were received."""
    from app.sync.engine import ensure_scope, fetch_texts  # noqa: PLC0415

    ensure_scope(db, scope, server_url, email)
    with db.read() as session:
        row = session.get(m.SyncScope, scope)
        cursor = row.cursor if row is not None else 0
    changes: list[dict[str, Any]] = []
    while True:
        answer = http.call(
            "GET", http.path(scope, "changes"), params={"after": cursor, "limit": 1000}
        )
        changes.extend(answer["changes"])
        cursor = int(answer["next"])
        if not answer.get("more"):
            break
    live = [c for c in changes if not c.get("deleted")]
    need = [
        a["text_sha256"]
        for c in live
        if c["kind"] == ANCHOR_KIND
        for a in c["data"].get("anchors", [])
    ]
    texts = fetch_texts(http, scope, need) if need else {}
    live.sort(key=lambda c: c["hlc"])
    with db.session() as session:
        for change in live:
            outbox.observe(session.connection(), change["hlc"])
            if change["kind"] == SCALE_KIND:
                _take_scale(session, scope, change)
            elif change["kind"] == ANCHOR_KIND:
                _take_anchor_set(session, scope, change, texts)
        row = session.get(m.SyncScope, scope)
        if row is not None:
            row.cursor = cursor
            row.last_sync_at = m.utcnow()
    return len(live)
