"""Grade scales as operations: the built-in ones and the teacher's own (``grade_scales``).

An assignment names its scale by id (:attr:`app.db.models.Assignment.grade_scale`), built-in
or custom alike. :func:`resolve_scale` is the one place that turns such an id into a
:class:`~core.scales.GradeScale`: built-in scales first, then the stored custom ones; every
part of the app that grades (runs, the finaliser, anchor intake) looks scales up through it.

Custom scales are validated by :func:`core.scales.custom_scale`. Their labels cannot change
once a run has used them (the grades a finished run gave would no longer be on the scale it
names): :func:`save_custom_scale` refuses and suggests saving a new scale instead; renaming is
always allowed. :func:`delete_custom_scale` refuses while an assignment uses the scale.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db.engine import Database
from app.db.models import Anchor, Assignment, Batch, GradeScaleRecord, Run, live
from app.operations.base import FailureKind, OperationError
from core.scales import BUILTIN_SCALES, GradeScale, UnknownScaleError, custom_scale

__all__ = [
    "ScaleNotFoundError",
    "ScaleRow",
    "delete_custom_scale",
    "get_scale_row",
    "list_scales",
    "resolve_scale",
    "save_custom_scale",
]

_ID_MAX = 64
_NAME_MAX = 200
_LABEL_MAX = 32


class ScaleNotFoundError(OperationError, UnknownScaleError):
    """A scale id that is neither built in nor stored (an input error, and a ValueError as
    :func:`core.scales.get_scale` raises)."""

    def __init__(self, message: str) -> None:
        super().__init__(FailureKind.INPUT, message)


@dataclass(frozen=True)
class ScaleRow:
    """A grade scale as lists show it. ``assignments`` counts the live assignments on it."""

    id: str
    name: str
    grades: tuple[str, ...]
    """Every label, lowest first."""
    builtin: bool
    below_lowest: str | None = None
    priors: tuple[float, ...] | None = None
    assignments: int = 0

    @property
    def anchor_grades(self) -> tuple[str, ...]:
        """The labels an anchor may carry (all but the below-lowest one)."""
        return tuple(g for g in self.grades if g != self.below_lowest)


def _bad(message: str) -> OperationError:
    return OperationError(FailureKind.INPUT, message)


# ---------------------------------------------------------------------------------- lookup


def _from_record(record: GradeScaleRecord) -> GradeScale:
    return custom_scale(
        record.scale_id,
        record.name,
        record.grades,
        record.priors,
        below_lowest=record.below_lowest,
    )


def _record(session: Session, scale_id: str, *, deleted: bool = False) -> GradeScaleRecord | None:
    query = select(GradeScaleRecord).where(GradeScaleRecord.scale_id == scale_id)
    if not deleted:
        query = query.where(live(GradeScaleRecord))
    return session.scalars(query).first()


def resolve_scale(source: Database | Session, scale_id: str) -> GradeScale:
    """The grade scale with this id: a built-in one, else a stored custom one.

    ``source`` is a database (read in its own read session) or the caller's session. Raises
    :class:`ScaleNotFoundError` (an input :class:`OperationError` and a ValueError) if there
    is none.
    """
    builtin = BUILTIN_SCALES.get(scale_id)
    if builtin is not None:
        return builtin
    if isinstance(source, Database):
        with source.read() as session:
            return resolve_scale(session, scale_id)
    record = _record(source, scale_id)
    if record is None:
        names = [s.id for s in BUILTIN_SCALES.values()]
        names += source.scalars(
            select(GradeScaleRecord.scale_id)
            .where(live(GradeScaleRecord))
            .order_by(GradeScaleRecord.created_at)
        ).all()
        raise ScaleNotFoundError(
            f"Unknown grade scale {scale_id!r}; known scales: {', '.join(names)}."
        )
    return _from_record(record)


def _usage(session: Session) -> dict[str, int]:
    rows = session.execute(
        select(Assignment.grade_scale, func.count())
        .where(live(Assignment))
        .group_by(Assignment.grade_scale)
    ).all()
    return {scale_id: int(n) for scale_id, n in rows}


def _row(scale: GradeScale, builtin: bool, usage: dict[str, int]) -> ScaleRow:
    return ScaleRow(
        scale.id,
        scale.name,
        scale.grades,
        builtin,
        scale.below_lowest,
        scale.priors,
        usage.get(scale.id, 0),
    )


def list_scales(db: Database) -> list[ScaleRow]:
    """The built-in scales (in their fixed order), then the custom ones, oldest first."""
    with db.read() as s:
        usage = _usage(s)
        rows = [_row(scale, True, usage) for scale in BUILTIN_SCALES.values()]
        records = s.scalars(
            select(GradeScaleRecord)
            .where(live(GradeScaleRecord))
            .order_by(GradeScaleRecord.created_at)
        ).all()
        rows += [_row(_from_record(r), False, usage) for r in records]
        return rows


def get_scale_row(db: Database, scale_id: str) -> ScaleRow:
    """One scale (built-in or custom) as a :class:`ScaleRow`."""
    with db.read() as s:
        scale = resolve_scale(s, scale_id)
        return _row(scale, scale_id in BUILTIN_SCALES, _usage(s))


# ---------------------------------------------------------------------------------- saving


def _slug(name: str) -> str:
    text = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    return (text or "scale")[:40]


def _new_id(session: Session, name: str) -> str:
    taken = set(session.scalars(select(GradeScaleRecord.scale_id)).all()) | set(BUILTIN_SCALES)
    base = f"custom_{_slug(name)}"
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}_{n}", n + 1
    return candidate


def _runs_on(session: Session, scale_id: str) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(Run)
            .join(Batch, Run.batch_id == Batch.id)
            .join(Assignment, Batch.assignment_id == Assignment.id)
            .where(Assignment.grade_scale == scale_id)
        )
        or 0
    )


def stray_anchor_grades(
    session: Session, scale: GradeScale, assignment_ids: Sequence[str]
) -> dict[str, int]:
    """Grades carried by live anchors of these assignments that ``scale`` does not allow on
    an anchor, with how many anchors carry each."""
    if not assignment_ids:
        return {}
    rows = session.execute(
        select(Anchor.grade, func.count())
        .where(live(Anchor), Anchor.assignment_id.in_(list(assignment_ids)))
        .group_by(Anchor.grade)
    ).all()
    return {grade: int(n) for grade, n in rows if not scale.is_anchorable(grade)}


def describe_stray(stray: dict[str, int]) -> str:
    """``'X' (2 anchors), 'Y' (1 anchor)``."""
    return ", ".join(
        f"{grade!r} ({n} anchor{'' if n == 1 else 's'})" for grade, n in sorted(stray.items())
    )


def save_custom_scale(
    db: Database,
    name: str,
    labels: Sequence[str],
    *,
    scale_id: str | None = None,
    priors: Sequence[float] | None = None,
    below_lowest: str | None = None,
) -> ScaleRow:
    """Store a teacher's own scale (``labels`` lowest first) and return it.

    Without ``scale_id`` a new scale gets an id made from its name. With the id of a stored
    scale, that scale is changed: its name always, its labels (and priors, below-lowest
    label) only while no run has used it and every anchor of its assignments keeps a grade on
    it. Built-in ids are refused. Blank lines among ``labels`` are ignored.
    """
    name = name.strip()
    if not name:
        raise _bad("A scale needs a name.")
    if len(name) > _NAME_MAX:
        raise _bad(f"The scale name is too long ({len(name)} characters; at most {_NAME_MAX}).")
    clean = [label.strip() for label in labels if label.strip()]
    long = [label for label in clean if len(label) > _LABEL_MAX]
    if long:
        raise _bad(f"The grade {long[0]!r} is too long (at most {_LABEL_MAX} characters).")
    if scale_id is not None:
        scale_id = scale_id.strip()
        if scale_id in BUILTIN_SCALES:
            raise _bad(
                f"{BUILTIN_SCALES[scale_id].name} is a built-in scale and cannot be changed; "
                "save your version as a new scale."
            )
        if not scale_id or len(scale_id) > _ID_MAX:
            raise _bad(f"A scale id needs 1 to {_ID_MAX} characters.")
    for builtin in BUILTIN_SCALES.values():
        if builtin.name.casefold() == name.casefold():
            raise _bad(f"{builtin.name!r} is the name of a built-in scale; choose another name.")
    with db.session() as s:
        record = _record(s, scale_id, deleted=True) if scale_id is not None else None
        new_id = scale_id if scale_id is not None else _new_id(s, name)
        try:
            scale = custom_scale(new_id, name, clean, priors, below_lowest=below_lowest)
        except ValueError as exc:
            raise _bad(_scale_sentence(str(exc), name)) from exc
        same_name = s.scalars(
            select(GradeScaleRecord).where(
                live(GradeScaleRecord),
                func.lower(GradeScaleRecord.name) == name.casefold(),
                GradeScaleRecord.scale_id != new_id,
            )
        ).first()
        if same_name is not None:
            raise _bad(f"There is already a scale named {same_name.name!r}; choose another name.")
        if record is None:
            record = GradeScaleRecord(scale_id=new_id)
            s.add(record)
        elif record.deleted_at is None:
            _check_change(s, record, scale)
        else:
            record.restore()
        record.name = scale.name
        record.grades = list(scale.grades)
        record.priors = None if scale.priors is None else list(scale.priors)
        record.below_lowest = scale.below_lowest
        s.flush()
        return _row(scale, False, _usage(s))


def _scale_sentence(message: str, name: str) -> str:
    """core.scales' validation message, with the scale called by its name."""
    message = re.sub(r"grade scale '[^']*'", f"The scale {name!r}", message)
    message = message[0].upper() + message[1:] if message else message
    return message if message.endswith(".") else message + "."


def _check_change(session: Session, record: GradeScaleRecord, scale: GradeScale) -> None:
    changed = (
        tuple(record.grades) != scale.grades
        or record.below_lowest != scale.below_lowest
        or (None if record.priors is None else tuple(record.priors)) != scale.priors
    )
    if not changed:
        return
    runs = _runs_on(session, record.scale_id)
    if runs:
        raise _bad(
            f"The grades of {record.name!r} cannot change: {runs} "
            f"run{'' if runs == 1 else 's'} graded with it already. Save the new grades as a "
            "new scale instead."
        )
    assignment_ids = session.scalars(
        select(Assignment.id).where(live(Assignment), Assignment.grade_scale == record.scale_id)
    ).all()
    stray = stray_anchor_grades(session, scale, assignment_ids)
    if stray:
        raise _bad(
            f"Anchors of assignments on {record.name!r} carry grades the new scale does not "
            f"allow: {describe_stray(stray)}. Change those anchors' grades first."
        )


def delete_custom_scale(db: Database, scale_id: str) -> None:
    """Remove a custom scale (kept in the database, no longer listed). Refused for built-in
    scales and while a live assignment uses it."""
    if scale_id in BUILTIN_SCALES:
        raise _bad(f"{BUILTIN_SCALES[scale_id].name} is a built-in scale and cannot be removed.")
    with db.session() as s:
        record = _record(s, scale_id)
        if record is None:
            raise ScaleNotFoundError(f"There is no custom grade scale {scale_id!r}.")
        titles = s.scalars(
            select(Assignment.title)
            .where(live(Assignment), Assignment.grade_scale == scale_id)
            .order_by(Assignment.title)
        ).all()
        if titles:
            shown = ", ".join(repr(t) for t in titles[:3])
            more = f" and {len(titles) - 3} more" if len(titles) > 3 else ""
            raise _bad(
                f"The scale {record.name!r} is used by {shown}{more}; give "
                f"{'that assignment' if len(titles) == 1 else 'those assignments'} another "
                "scale first."
            )
        record.soft_delete()
