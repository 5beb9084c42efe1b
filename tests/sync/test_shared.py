"""A lead publishes a grade scale and an anchor set to the school; teachers receive them; an
ordinary teacher cannot publish. Against the real service on PostgreSQL."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest
from sqlalchemy import select

from app.db.models import Anchor, Assignment, GradeScaleRecord, SyncConflict
from app.operations.scales import resolve_scale, save_custom_scale
from app.sync import shared
from app.sync.client import SyncError
from app.sync.device import Device
from tests.pgcluster import SyncService
from tests.sync.conftest import PASSWORD

_n = itertools.count()


def signed_in(device: Device) -> Device:
    device.sync()
    return device


def org(device: Device) -> str:
    return shared.org_scopes(device.http)[0][0]


def live_anchors(device: Device, assignment_id: str) -> list[tuple[str, str]]:
    with device.db.read() as s:
        rows = s.scalars(
            select(Anchor).where(Anchor.assignment_id == assignment_id, Anchor.deleted_at.is_(None))
        )
        return sorted((a.grade, a.text) for a in rows)


def test_published_versions_reach_every_teacher(
    make_device: Callable[..., Device], sync_service: SyncService
) -> None:
    lead_email, teacher_email = f"lead{next(_n)}@example.org", f"t{next(_n)}@example.org"
    sync_service.create_user(lead_email, PASSWORD, roles=("lead",))
    sync_service.create_user(teacher_email, PASSWORD)
    lead = signed_in(make_device("lead", lead_email))
    teacher = signed_in(make_device("teacher", teacher_email))
    scale = save_custom_scale(lead.db, "Department scale", ["E", "C", "A"])
    with lead.db.session() as s:
        assignment = Assignment(
            title="Shared essay", judge_rubric="Argument.", grade_scale=scale.id
        )
        s.add(assignment)
        s.add_all(
            [
                Anchor(assignment=assignment, text="An E essay.", grade="E", content_hash="e"),
                Anchor(assignment=assignment, text="An A essay.", grade="A", content_hash="a"),
            ]
        )
        s.flush()
        source = assignment.id
    scope = org(lead)
    key = shared.publish_anchor_set(lead.db, lead.http, scope, source)
    assert shared.publish_anchor_set(lead.db, lead.http, scope, source) == key  # a no-op
    assert shared.publish_scale(lead.db, lead.http, scope, scale.id).startswith(scale.id + "@")
    assert teacher.sync().shared_received == 2
    assert resolve_scale(teacher.db, scale.id).grades == ("E", "C", "A")
    local = shared.shared_id(scope, "assignment", source)
    with teacher.db.read() as s:
        got = s.get(Assignment, local)
        assert got is not None and got.title == "Shared essay" and got.grade_scale == scale.id
    assert live_anchors(teacher, local) == [("A", "An A essay."), ("E", "An E essay.")]
    # a new version replaces the anchors
    with lead.db.session() as s:
        row = s.scalars(select(Anchor).where(Anchor.grade == "E")).one()
        row.text = "A better E essay."
    assert shared.publish_anchor_set(lead.db, lead.http, scope, source) != key
    teacher.sync()
    assert live_anchors(teacher, local) == [("A", "An A essay."), ("E", "A better E essay.")]
    # the publisher keeps its own rows: no copy, no conflict
    lead.sync()
    with lead.db.read() as s:
        assert s.scalars(select(Assignment.title)).all() == ["Shared essay"]
        assert s.scalars(select(SyncConflict)).all() == []
    # an ordinary teacher cannot publish
    with teacher.db.read() as s:
        own = s.scalars(select(GradeScaleRecord.scale_id)).first()
    assert own is not None
    with pytest.raises(SyncError) as refused:
        shared.publish_scale(teacher.db, teacher.http, org(teacher), own)
    assert refused.value.status == 403 and "lead" in str(refused.value)
