"""Exporting a run's results: ``results.csv``, ``results.json`` and ``results.xlsx``.

One row per essay, best first, with the documented columns (:data:`RESULT_COLUMNS`, README
"Results"); ``results.json`` adds every grade's probability and the ``run`` object (status, stop
reason, reliability figures, frozen settings, and ``anchors``: what the anchors say about the
grades, :class:`AnchorStatus`). ``addressed_to_grader`` marks an essay whose text addresses an AI
grader (the injection screen, kept with the essay, or found in its text now);
``addressed_to_grader_text`` holds what was taken out of the judge's copy (the stretches of
:func:`core.injection.addressed_spans`, joined by `` … ``; ``results.json`` also lists them with
their offsets as ``addressed_to_grader_spans``), and ``review`` says why the teacher should check
the grade (:data:`core.injection.REVIEW_NOTE`; empty otherwise). Such a grade's confidence is
at most "medium" (:func:`core.injection.review_confidence`). Each file is written to a temporary
file in the folder and moved into place with :func:`os.replace`, so an interrupted export leaves
the earlier file (or none), never a truncated one; the three are moved in one go once all are
written.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import aliased

from app.db.engine import Database
from app.db.models import Anchor, Batch, Essay, Result, Run, Student
from app.operations.base import FailureKind, OperationError
from app.operations.queries import run_report, translated_errors
from app.operations.scales import resolve_scale
from core.grading import AnchorObservation, GradingError, assess_anchors, calibrate
from core.injection import REVIEW_NOTE, addressed_spans, review_confidence
from core.scales import GradeScale

RESULT_COLUMNS: tuple[str, ...] = (
    "rank",
    "file",
    "student",
    "student_code",
    "is_anchor",
    "anchor_grade",
    "ability",
    "se",
    "grade",
    "grade_probability",
    "confidence",
    "comparisons",
    "infit",
    "outfit",
    "misfit",
    "addressed_to_grader",
    "addressed_to_grader_text",
    "review",
)
"""The columns of ``results.csv`` and ``results.xlsx``, in order (``results.json`` adds
``grade_probabilities`` after ``grade_probability`` and ``addressed_to_grader_spans`` after
``addressed_to_grader_text``)."""

SPAN_SEPARATOR = " … "
"""Between the stretches of ``addressed_to_grader_text``."""


@dataclass(frozen=True)
class GraderAddress:
    """What an essay addressed to the grader: ``spans`` as ``{"start", "end", "text", "kinds"}``
    (offsets into the stored text), empty when nothing was found."""

    flagged: bool = False
    spans: tuple[dict[str, Any], ...] = ()

    @property
    def text(self) -> str:
        """The stretches joined; one that would start a spreadsheet formula is quoted with
        ``'`` (the essay's writer chose it, so a spreadsheet must never evaluate it)."""
        joined = SPAN_SEPARATOR.join(str(span["text"]) for span in self.spans)
        return "'" + joined if joined.startswith(("=", "+", "-", "@", "\t", "\r")) else joined

    @property
    def review(self) -> str:
        return REVIEW_NOTE if self.flagged else ""


NOT_ADDRESSED = GraderAddress()


def grader_address(text: str | None, screened: list[str] | None) -> GraderAddress:
    """What ``text`` addresses to the grader: the stretches the judge's copy leaves out
    (:func:`core.injection.addressed_spans`); ``screened`` is what the injection screen kept with
    the essay (its phrases), which flags the essay even if the text no longer shows them."""
    spans = tuple(
        {"start": s.start, "end": s.end, "text": s.text, "kinds": list(s.kinds)}
        for s in addressed_spans(text or "")
    )
    if not spans and screened:
        spans = tuple({"start": None, "end": None, "text": p, "kinds": []} for p in screened)
    return GraderAddress(bool(spans), spans)


RESULT_FILES = ("results.csv", "results.json", "results.xlsx")


@dataclass(frozen=True)
class ResultRow:
    """One essay's result. ``file`` is the essay's source; ``student``/``student_code`` are set
    in class batches; ``grade_probability`` is the probability of the grade's letter (without
    +/-); ``grade_probabilities`` every grade's probability."""

    rank: int
    file: str | None
    student: str | None
    student_code: str | None
    is_anchor: bool
    anchor_grade: str | None
    ability: float
    se: float | None
    grade: str | None
    grade_probability: float | None
    grade_probabilities: dict[str, float] = field(default_factory=dict)
    confidence: str | None = None
    comparisons: int = 0
    infit: float | None = None
    outfit: float | None = None
    misfit: bool = False
    addressed_to_grader: bool = False
    addressed_to_grader_text: str = ""
    addressed_to_grader_spans: tuple[dict[str, Any], ...] = ()
    review: str = ""

    def to_json(self) -> dict[str, Any]:
        """The row as ``results.json`` holds it (keys in the documented order)."""
        return {
            "rank": self.rank,
            "file": self.file,
            "student": self.student,
            "student_code": self.student_code,
            "is_anchor": self.is_anchor,
            "anchor_grade": self.anchor_grade,
            "ability": self.ability,
            "se": self.se,
            "grade": self.grade,
            "grade_probability": self.grade_probability,
            "grade_probabilities": self.grade_probabilities,
            "confidence": self.confidence,
            "comparisons": self.comparisons,
            "infit": self.infit,
            "outfit": self.outfit,
            "misfit": self.misfit,
            "addressed_to_grader": self.addressed_to_grader,
            "addressed_to_grader_text": self.addressed_to_grader_text,
            "addressed_to_grader_spans": [dict(span) for span in self.addressed_to_grader_spans],
            "review": self.review,
        }


NO_ANCHORS_MESSAGE = (
    "No grades: grades need anchors, essays whose grades you already know, of at least two "
    "different grades. Add them with `huleedu import anchors FOLDER --assignment ASSIGNMENT_ID` "
    "(then grade the batch again) or grade a folder with `huleedu grade FOLDER --anchors "
    "ANCHOR_FOLDER`; in the window, on the assignment's anchors."
)
"""What the results say when a run has no grades for want of anchors."""

AnchorState = Literal["agree", "disagree", "fails", "none"]


@dataclass(frozen=True)
class AnchorStatus:
    """What a run's anchors say about its grades (``results.json``: ``run.anchors``).

    ``state``: ``agree`` (the anchors follow the judge's order), ``disagree`` (some anchors
    disagree: grades near theirs are at most "medium"), ``fails`` (the calibration check failed:
    every grade is at most "low"), ``none`` (no grades: fewer than two anchor grades). See
    :mod:`core.grading`, "Anchor trouble". ``message`` is the sentence for a teacher (empty when
    they agree); ``disagreeing`` names the anchors (label, else file).
    """

    state: AnchorState
    message: str = ""
    anchors: int = 0
    disagreeing: tuple[str, ...] = ()
    inversions: int = 0
    kendall_tau: float | None = None
    likelihood_z: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "message": self.message,
            "anchors": self.anchors,
            "disagreeing": list(self.disagreeing),
            "inversions": self.inversions,
            "kendall_tau": self.kendall_tau,
            "likelihood_z": self.likelihood_z,
        }


NO_ANCHORS = AnchorStatus("none", NO_ANCHORS_MESSAGE)
"""The status of a run without grades for want of anchors."""


def anchor_status(anchors: list[AnchorObservation], scale: GradeScale | None) -> AnchorStatus:
    """The :class:`AnchorStatus` of anchors fitted at these abilities (labels name them)."""
    if scale is None or len({a.grade for a in anchors}) < 2:
        return AnchorStatus("none", NO_ANCHORS_MESSAGE, len(anchors))
    try:
        trouble = assess_anchors(anchors, calibrate(anchors, scale))
    except (GradingError, ValueError):
        return AnchorStatus("none", NO_ANCHORS_MESSAGE, len(anchors))
    state: AnchorState = (
        "fails" if trouble.calibration_fails else "disagree" if trouble.disagreeing else "agree"
    )
    return AnchorStatus(
        state,
        trouble.sentence(),
        len(anchors),
        trouble.disagreeing,
        trouble.inversions,
        _finite_or_none(trouble.kendall_tau),
        _finite_or_none(trouble.likelihood_z),
    )


def run_anchor_status(db: Database, run_id: str) -> AnchorStatus:
    """The :class:`AnchorStatus` of a run's stored results (``none`` before it has any)."""
    with translated_errors(), db.read() as s:
        run = s.get(Run, run_id)
        if run is None:
            raise OperationError(FailureKind.INPUT, f"No run with id {run_id!r}.")
        batch = s.get(Batch, run.batch_id)
        try:
            scale = None if batch is None else resolve_scale(s, batch.assignment.grade_scale)
        except (KeyError, ValueError):
            scale = None
        found = s.execute(
            select(Result.ability, Result.se, Anchor.grade, Anchor.label, Essay.source_file)
            .join(Essay, Essay.id == Result.essay_id)
            .join(Anchor, Anchor.id == Essay.anchor_id)
            .where(Result.run_id == run_id, Essay.is_anchor)
            .order_by(Result.rank)
        ).all()
    anchors = [
        AnchorObservation(float(ability), float(se or 0.0), grade, label or source or "")
        for ability, se, grade, label, source in found
    ]
    return anchor_status(anchors, scale)


def _finite_or_none(x: float) -> float | None:
    return round(float(x), 4) if math.isfinite(x) else None


@dataclass(frozen=True)
class ExportResult:
    run_id: str
    folder: Path
    files: tuple[Path, ...]
    """``results.csv``, ``results.json`` and ``results.xlsx`` in ``folder``."""
    rows: int
    anchors: AnchorStatus = NO_ANCHORS
    """What the anchors say about the grades (also in ``results.json``: ``run.anchors``)."""


def result_rows(db: Database, run_id: str) -> list[ResultRow]:
    """One row per essay of the run, best first (empty before the run has results)."""
    student = aliased(Student)
    anchor = aliased(Anchor)
    with translated_errors(), db.read() as s:
        if s.get(Run, run_id) is None:
            raise OperationError(FailureKind.INPUT, f"No run with id {run_id!r}.")
        found = s.execute(
            select(
                Result,
                Essay.source_file,
                Essay.is_anchor,
                student.first_name,
                student.last_name,
                student.code,
                anchor.grade,
                Essay.addressed_to_grader,
                Essay.text,
            )
            .join(Essay, Essay.id == Result.essay_id)
            .outerjoin(student, student.id == Essay.student_id)
            .outerjoin(anchor, anchor.id == Essay.anchor_id)
            .where(Result.run_id == run_id)
            .order_by(Result.rank)
        ).all()
        rows = []
        for r, source, is_anchor, first, last, code, anchor_grade, screened, text in found:
            address = grader_address(text, screened)
            probs = dict(r.grade_probabilities or {})
            bare = (r.grade or "").rstrip("+-") if r.grade not in probs else r.grade
            has_student = first is not None
            rows.append(
                ResultRow(
                    rank=r.rank,
                    file=source,
                    student=f"{first} {last}".strip() if has_student else None,
                    student_code=code if has_student else None,
                    is_anchor=is_anchor,
                    anchor_grade=anchor_grade,
                    ability=round(r.ability, 4),
                    se=None if r.se is None else round(r.se, 4),
                    grade=r.grade,
                    grade_probability=round(probs.get(bare or "", 0.0), 4) if probs else None,
                    grade_probabilities=probs,
                    confidence=review_confidence(r.confidence, address.flagged),
                    comparisons=r.comparisons,
                    infit=r.infit,
                    outfit=r.outfit,
                    misfit=r.misfit,
                    addressed_to_grader=address.flagged,
                    addressed_to_grader_text=address.text,
                    addressed_to_grader_spans=address.spans,
                    review=address.review,
                )
            )
        return rows


def export_results(
    db: Database,
    run_id: str,
    folder: Path,
    *,
    summary: Mapping[str, Any] | None = None,
) -> ExportResult:
    """Write ``results.csv``, ``results.json`` and ``results.xlsx`` of a run into ``folder``
    (created if needed), each atomically. ``summary`` replaces the ``run`` object of the JSON
    (default: :meth:`RunReport.to_json`). ``OperationError``: INPUT for an unknown run or a
    folder that cannot be written, DATABASE when the database cannot be read."""
    rows = result_rows(db, run_id)
    run = dict(summary) if summary is not None else run_report(db, run_id).to_json()
    anchors = run_anchor_status(db, run_id)
    run.setdefault("anchors", anchors.to_json())
    try:
        folder.mkdir(parents=True, exist_ok=True)
        files = write_results(folder, run, rows)
    except OSError as exc:
        raise OperationError(
            FailureKind.INPUT, f"The results cannot be written to {folder}: {exc}", repr(exc)
        ) from exc
    return ExportResult(run_id, folder, files, len(rows), anchors)


def write_results(
    folder: Path, summary: Mapping[str, Any], rows: list[ResultRow]
) -> tuple[Path, ...]:
    """Write the three files into an existing ``folder``; returns their paths.

    All three are written to temporary files first and moved into place only when every one
    is complete; a failure removes the temporary files and leaves the earlier results as they
    were.
    """
    writers: list[tuple[str, Callable[[Path], None]]] = [
        ("results.csv", lambda p: _write_csv(p, rows)),
        ("results.json", lambda p: _write_json(p, summary, rows)),
        ("results.xlsx", lambda p: _write_xlsx(p, rows)),
    ]
    temporary: list[tuple[Path, Path]] = []
    try:
        for name, write in writers:
            tmp = _temporary(folder, name)
            temporary.append((tmp, folder / name))
            write(tmp)
        for tmp, final in temporary:
            os.replace(tmp, final)
    finally:
        for tmp, _ in temporary:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
    return tuple(final for _, final in temporary)


def _temporary(folder: Path, name: str) -> Path:
    """A fresh, empty file next to ``folder/name`` (same file system, so replace is atomic)."""
    stem, _, suffix = name.rpartition(".")
    fd, path = tempfile.mkstemp(prefix=f".{stem}-", suffix=f".{suffix}.tmp", dir=folder)
    os.close(fd)
    return Path(path)


def _synced(path: Path, write: Callable[[IO[str]], object], newline: str | None = "") -> None:
    with path.open("w", encoding="utf-8", newline=newline) as fh:
        write(fh)
        fh.flush()
        os.fsync(fh.fileno())


def _write_csv(path: Path, rows: list[ResultRow]) -> None:
    def write(fh: IO[str]) -> None:
        writer = csv.DictWriter(fh, fieldnames=list(RESULT_COLUMNS), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(r.to_json() for r in rows)

    _synced(path, write)


def _write_json(path: Path, summary: Mapping[str, Any], rows: list[ResultRow]) -> None:
    text = json.dumps(
        {"run": dict(summary), "results": [r.to_json() for r in rows]},
        indent=2,
        ensure_ascii=False,
    )
    _synced(path, lambda fh: fh.write(text), newline=None)  # as Path.write_text writes


def _write_xlsx(path: Path, rows: list[ResultRow]) -> None:
    from openpyxl import Workbook  # noqa: PLC0415  (slow to import; only needed here)

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "Results"
    ws.append(list(RESULT_COLUMNS))
    for row in rows:
        data = row.to_json()
        ws.append([data[c] for c in RESULT_COLUMNS])
    wb.save(path)
    with path.open("rb+") as fh:
        os.fsync(fh.fileno())
