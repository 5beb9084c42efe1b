"""Creating a batch (with its assignment and anchors) from texts, for headless grading."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from app.db.engine import Database
from app.db.models import Anchor, Assignment, Batch, BatchStatus, Essay
from app.operations.scales import resolve_scale
from core.prompt import AssignmentContext
from core.texts import content_hash


@dataclass(frozen=True)
class TextItem:
    """An essay or anchor text with where it came from; ``grade`` only for anchors."""

    name: str
    text: str
    grade: str | None = None
    label: str = ""


def create_batch(
    db: Database,
    title: str,
    context: AssignmentContext,
    scale_id: str,
    essays: Sequence[TextItem],
    anchors: Sequence[TextItem] = (),
) -> str:
    """Store an assignment, its anchors and a guest batch of essays; returns the batch id.

    Anchors join the batch as essays flagged ``is_anchor`` (the judge cannot tell them apart).
    Duplicate texts are stored once. Anchor grades are checked against the scale.
    """
    scale = resolve_scale(db, scale_id)
    for a in anchors:
        if a.grade is None or not scale.is_anchorable(a.grade):
            raise ValueError(
                f"anchor {a.name!r}: grade {a.grade!r} is not an anchor grade of {scale.name}"
            )
    with db.session() as s:
        assignment = Assignment(
            title=context.title,
            student_prompt=context.student_prompt,
            assessment_criteria=context.assessment_criteria,
            judge_rubric=context.judge_rubric,
            grade_scale=scale_id,
        )
        s.add(assignment)
        s.flush()
        batch = Batch(title=title, assignment_id=assignment.id, status=BatchStatus.READY.value)
        s.add(batch)
        s.flush()
        seen: set[str] = set()
        for item in essays:
            h = content_hash(item.text)
            if h in seen:
                continue
            seen.add(h)
            s.add(Essay(batch_id=batch.id, text=item.text, source_file=item.name, content_hash=h))
        for item in anchors:
            h = content_hash(item.text)
            if h in seen:
                continue
            seen.add(h)
            anchor = Anchor(
                assignment_id=assignment.id,
                text=item.text,
                grade=item.grade or "",
                label=item.label or item.name,
                source_file=item.name,
                content_hash=h,
            )
            s.add(anchor)
            s.flush()
            s.add(
                Essay(
                    batch_id=batch.id,
                    text=item.text,
                    source_file=item.name,
                    content_hash=h,
                    is_anchor=True,
                    anchor_id=anchor.id,
                )
            )
        return batch.id
