"""The results screen's read model: one run's ranking, its grade boundaries and the runs list.

:func:`batch_results` answers for a batch with the run a teacher wants to see: the given run, or
else the newest run that has something to show: stored results (a finished or cancelled run), or
judged comparisons of a run that is paused or still running. A paused or running run has no
stored results (the finaliser writes them when a run ends), so its standings are *provisional*:
fitted from the verdicts judged so far with the run's own engine (:func:`core.engine.refit`) and
graded from its anchors as the finaliser would, without storing anything.

Grade boundaries. The fitted grading model (the cut points of :mod:`core.grading`) is not stored
with a run; it is recomputed from the anchors' stored abilities, standard errors and known
grades with :func:`core.grading.calibrate`. The fit is deterministic, so this gives the very cut
points the finaliser graded with, in a few milliseconds. A batch without two distinct anchor
grades has no boundaries (``boundary_source == "none"``).

Queries: a fixed number whatever the number of essays or runs (the runs list with one count
query, the report with three, the rows with one, the scale with at most one).

:func:`export_batch_results` writes the chosen files (``results.csv``, ``results.xlsx``,
``results.json``) of what the screen shows, each replacing an earlier file atomically.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from app.db.engine import Database
from app.db.models import Anchor, Batch, Essay, GradeScaleRecord, Result, Run, Student
from app.operations.base import FailureKind, OperationError
from app.operations.export import (
    NO_ANCHORS,
    NOT_ADDRESSED,
    RESULT_FILES,
    AnchorStatus,
    GraderAddress,
    ResultRow,
    anchor_status,
    grader_address,
    write_results,
)
from app.operations.queries import RunReport, RunRow, list_runs, run_report, translated_errors
from core.engine import Refit, refit
from core.grading import AnchorObservation, GradeCalibration, GradingError, calibrate
from core.grading import grade_essays as grade_with_anchors
from core.injection import review_confidence
from core.lifecycle import RunStatus
from core.reliability import misfit as misfit_of
from core.scales import GradeScale, custom_scale, get_scale

Z95 = 1.959963984540054
"""The standard normal quantile of a two-sided 95 % interval."""

BoundarySource = Literal["recomputed", "none"]
ExportFormat = Literal["csv", "xlsx", "json"]
EXPORT_FORMATS: tuple[ExportFormat, ...] = ("csv", "xlsx", "json")

_LIVE_STATUSES = frozenset({RunStatus.PAUSED.value, RunStatus.RUNNING.value})
"""Runs whose standings are fitted from their verdicts so far (no stored results yet)."""


@dataclass(frozen=True)
class ResultLine:
    """One essay's place in the ranking.

    ``name`` is what a teacher knows the essay by: the student's name in a class batch, the
    anchor's label (or file name) for an anchor, the file name in a guest batch. ``low`` and
    ``high`` bound the 95 % interval of the ability (None without a standard error);
    ``grade`` is the grade as stored (with a Swedish +/- variant), ``grade_probability`` the
    probability of its letter. ``addressed_to_grader`` holds the stretches of the essay that
    address an AI grader, as taken out of the judge's copy (empty when none were found);
    ``review`` is then :data:`core.injection.REVIEW_NOTE` and ``confidence`` at most "medium".
    """

    rank: int
    essay_id: str
    name: str
    file: str | None
    student: str | None
    student_code: str | None
    is_anchor: bool
    anchor_grade: str | None
    anchor_label: str | None
    ability: float
    se: float | None
    grade: str | None
    grade_probability: float | None
    grade_probabilities: dict[str, float]
    confidence: str | None
    comparisons: int
    infit: float | None
    outfit: float | None
    misfit: bool
    addressed_to_grader: tuple[str, ...] = ()
    address: GraderAddress = NOT_ADDRESSED

    @property
    def review(self) -> str:
        return self.address.review

    @property
    def low(self) -> float | None:
        return None if self.se is None else self.ability - Z95 * self.se

    @property
    def high(self) -> float | None:
        return None if self.se is None else self.ability + Z95 * self.se

    def export_row(self) -> ResultRow:
        """The row as the result files hold it (``app.operations.export``)."""
        return ResultRow(
            rank=self.rank,
            file=self.file,
            student=self.student,
            student_code=self.student_code,
            is_anchor=self.is_anchor,
            anchor_grade=self.anchor_grade,
            ability=round(self.ability, 4),
            se=None if self.se is None else round(self.se, 4),
            grade=self.grade,
            grade_probability=(
                None if self.grade_probability is None else round(self.grade_probability, 4)
            ),
            grade_probabilities=dict(self.grade_probabilities),
            confidence=self.confidence,
            comparisons=self.comparisons,
            infit=self.infit,
            outfit=self.outfit,
            misfit=self.misfit,
            addressed_to_grader=self.address.flagged,
            addressed_to_grader_text=self.address.text,
            addressed_to_grader_spans=self.address.spans,
            review=self.address.review,
        )


@dataclass(frozen=True)
class GradeBoundary:
    """A cut point on the ability scale: essays above ``ability`` lean to ``upper``."""

    ability: float
    lower: str
    upper: str


@dataclass(frozen=True)
class BatchResults:
    """What the results screen shows for one run of a batch.

    ``provisional`` is True for a paused or running run: ``lines``, ``reliability`` and
    ``fit_converged`` were then fitted from the verdicts so far, and nothing is stored yet.
    ``runs`` lists the batch's runs, newest first, for a run picker; ``runs_with_results``
    names those that have stored results. ``anchors`` says what the anchors say about the
    grades: whether they disagree with the judge (and which), or that there are no grades for
    want of anchors (:class:`app.operations.export.AnchorStatus`).
    """

    batch_id: str
    batch_title: str
    guest: bool
    scale_id: str
    scale_name: str
    grades: tuple[str, ...]
    report: RunReport
    lines: tuple[ResultLine, ...]
    boundaries: tuple[GradeBoundary, ...]
    boundary_source: BoundarySource
    provisional: bool
    reliability: float | None
    fit_converged: bool | None
    comparisons: int
    runs: tuple[RunRow, ...]
    runs_with_results: frozenset[str]
    anchors: AnchorStatus = NO_ANCHORS

    @property
    def run_id(self) -> str:
        return self.report.run_id

    @property
    def status(self) -> str:
        return self.report.status

    @property
    def has_results(self) -> bool:
        return bool(self.lines)

    def export_rows(self) -> list[ResultRow]:
        return [line.export_row() for line in self.lines]

    def summary(self) -> dict[str, Any]:
        """The ``run`` object of ``results.json``: the run as stored, and for provisional
        standings the reliability so far and ``"provisional": true``."""
        data = self.report.to_json()
        if self.provisional:
            data["reliability"] = self.reliability
            data["provisional"] = True
            data["comparisons"] = self.comparisons
        data["anchors"] = self.anchors.to_json()
        return data


@dataclass(frozen=True)
class ExportedResults:
    run_id: str
    folder: Path
    files: tuple[Path, ...]
    rows: int


# ---------------------------------------------------------------------------------- reading


def batch_results(db: Database, batch_id: str, run_id: str | None = None) -> BatchResults | None:
    """The results of ``run_id`` (one of the batch's runs), or of the newest run with stored
    results or with verdicts judged so far; None when no run has anything to show (see the
    module docstring). ``OperationError(INPUT)`` for an unknown batch or a run of another
    batch."""
    runs = list_runs(db, batch_id)  # INPUT error for an unknown batch
    newest_first = tuple(reversed(runs))
    with translated_errors(), db.read() as s:
        stored = _result_counts(s, [r.id for r in runs])
        chosen = _choose(newest_first, stored, run_id)
        if chosen is None:
            return None
        batch = s.get(Batch, batch_id)
        assert batch is not None  # list_runs checked it
        scale = _scale(s, batch.assignment.grade_scale)
        title, guest = batch.title, batch.is_guest
    report = run_report(db, chosen.id)
    current: Refit | None = None
    provisional = chosen.id not in stored and chosen.status in _LIVE_STATUSES
    if provisional:
        lines, calibration, current = _provisional_lines(db, chosen.id, scale, guest)
        reliability = None if current is None else _finite(current.reliability)
        converged = None if current is None else current.converged
    else:
        lines, calibration = _stored_lines(db, chosen.id, scale, guest)
        reliability, converged = report.reliability, report.fit_converged
    boundaries = _boundaries(calibration)
    return BatchResults(
        batch_id=batch_id,
        batch_title=title,
        guest=guest,
        scale_id=scale.id if scale else "",
        scale_name=scale.name if scale else "",
        grades=scale.grades if scale else (),
        report=report,
        lines=tuple(lines),
        boundaries=boundaries,
        boundary_source="recomputed" if boundaries else "none",
        provisional=provisional,
        reliability=reliability,
        fit_converged=converged,
        comparisons=report.comparisons_done,
        runs=newest_first,
        runs_with_results=frozenset(stored),
        anchors=_anchor_status(lines, scale),
    )


def _anchor_status(lines: Sequence[ResultLine], scale: GradeScale | None) -> AnchorStatus:
    anchors = [
        AnchorObservation(line.ability, line.se or 0.0, line.anchor_grade, line.name)
        for line in lines
        if line.is_anchor and line.anchor_grade is not None
    ]
    return anchor_status(anchors, scale)


def _result_counts(s: Session, run_ids: list[str]) -> dict[str, int]:
    if not run_ids:
        return {}
    rows = s.execute(
        select(Result.run_id, func.count())
        .where(Result.run_id.in_(run_ids))
        .group_by(Result.run_id)
    ).all()
    return {rid: int(n) for rid, n in rows if n}


def _choose(
    newest_first: Sequence[RunRow], stored: dict[str, int], run_id: str | None
) -> RunRow | None:
    if run_id is not None:
        for run in newest_first:
            if run.id == run_id:
                return run
        raise OperationError(FailureKind.INPUT, f"The batch has no run with id {run_id!r}.")
    for run in newest_first:
        if run.id in stored or (run.status in _LIVE_STATUSES and run.comparisons > 0):
            return run
    return None


def _scale(s: Session, scale_id: str) -> GradeScale | None:
    """The assignment's scale: built in, or a teacher's own (None if neither is known)."""
    try:
        return get_scale(scale_id)
    except ValueError:
        pass
    record = s.scalars(
        select(GradeScaleRecord).where(GradeScaleRecord.scale_id == scale_id)
    ).first()
    if record is None:
        return None
    try:
        return custom_scale(
            record.scale_id,
            record.name,
            record.grades,
            record.priors,
            below_lowest=record.below_lowest,
        )
    except ValueError:
        return None


def _boundaries(calibration: GradeCalibration | None) -> tuple[GradeBoundary, ...]:
    if calibration is None:
        return ()
    grades = calibration.scale.grades
    return tuple(
        GradeBoundary(float(tau), grades[k], grades[k + 1])
        for k, tau in enumerate(calibration.thresholds)
    )


def _name(file: str | None, student: str | None, anchor_label: str | None, essay_id: str) -> str:
    if student:
        return student
    if anchor_label:
        return anchor_label
    if file:
        return PurePosixPath(file.replace("\\", "/")).name
    return essay_id[:8]


def _essay_query(s: Session, where: Any) -> list[Any]:
    """Essays with their student and anchor (one query)."""
    student = aliased(Student)
    anchor = aliased(Anchor)
    return list(
        s.execute(
            select(
                Essay.id,
                Essay.source_file,
                Essay.is_anchor,
                Essay.addressed_to_grader,
                Essay.text,
                student.first_name,
                student.last_name,
                student.code,
                anchor.grade,
                anchor.label,
            )
            .outerjoin(student, student.id == Essay.student_id)
            .outerjoin(anchor, anchor.id == Essay.anchor_id)
            .where(where)
        ).all()
    )


@dataclass(frozen=True)
class _EssayInfo:
    file: str | None
    is_anchor: bool
    student: str | None
    student_code: str | None
    anchor_grade: str | None
    anchor_label: str | None
    address: GraderAddress = NOT_ADDRESSED


def _essay_infos(rows: list[Any]) -> dict[str, _EssayInfo]:
    found = {}
    for essay_id, source, is_anchor, screened, text, first, last, code, anchor_grade, label in rows:
        has_student = first is not None
        found[essay_id] = _EssayInfo(
            source,
            bool(is_anchor),
            f"{first} {last}".strip() if has_student else None,
            code if has_student else None,
            anchor_grade,
            label or None,
            grader_address(text, screened),
        )
    return found


def _bare_probability(grade: str | None, probs: dict[str, float]) -> float | None:
    """The probability of a stored grade's letter (a Swedish "B-" is a "B")."""
    if not probs or grade is None:
        return None
    bare = grade if grade in probs else grade.rstrip("+-")
    return float(probs.get(bare, 0.0))


def _line(
    rank: int,
    essay_id: str,
    info: _EssayInfo,
    guest: bool,
    *,
    ability: float,
    se: float | None,
    grade: str | None,
    probs: dict[str, float],
    confidence: str | None,
    comparisons: int,
    infit: float | None,
    outfit: float | None,
    misfit: bool,
) -> ResultLine:
    student = None if guest else info.student
    return ResultLine(
        rank=rank,
        essay_id=essay_id,
        name=_name(info.file, student, info.anchor_label if info.is_anchor else None, essay_id),
        file=info.file,
        student=student,
        student_code=None if guest else info.student_code,
        is_anchor=info.is_anchor,
        anchor_grade=info.anchor_grade,
        anchor_label=info.anchor_label,
        ability=float(ability),
        se=None if se is None else float(se),
        grade=grade,
        grade_probability=_bare_probability(grade, probs),
        grade_probabilities=probs,
        confidence=review_confidence(confidence, info.address.flagged),
        comparisons=int(comparisons),
        infit=infit,
        outfit=outfit,
        misfit=bool(misfit),
        addressed_to_grader=tuple(str(span["text"]) for span in info.address.spans),
        address=info.address,
    )


def _stored_lines(
    db: Database, run_id: str, scale: GradeScale | None, guest: bool
) -> tuple[list[ResultLine], GradeCalibration | None]:
    with translated_errors(), db.read() as s:
        results = list(
            s.scalars(select(Result).where(Result.run_id == run_id).order_by(Result.rank))
        )
        infos = _essay_infos(_essay_query(s, Essay.id.in_([r.essay_id for r in results])))
        lines = [
            _line(
                r.rank,
                r.essay_id,
                infos.get(r.essay_id, _EssayInfo(None, False, None, None, None, None)),
                guest,
                ability=r.ability,
                se=r.se,
                grade=r.grade,
                probs=dict(r.grade_probabilities or {}),
                confidence=r.confidence,
                comparisons=r.comparisons,
                infit=r.infit,
                outfit=r.outfit,
                misfit=r.misfit,
            )
            for r in results
        ]
    anchors = [
        AnchorObservation(line.ability, line.se or 0.0, line.anchor_grade, line.anchor_label or "")
        for line in lines
        if line.is_anchor and line.anchor_grade is not None
    ]
    return lines, _calibration(anchors, scale)


def _calibration(
    anchors: list[AnchorObservation], scale: GradeScale | None
) -> GradeCalibration | None:
    if scale is None:
        return None
    try:
        return calibrate(anchors, scale)
    except (GradingError, ValueError):
        return None


def _provisional_lines(
    db: Database, run_id: str, scale: GradeScale | None, guest: bool
) -> tuple[list[ResultLine], GradeCalibration | None, Refit | None]:
    """Standings fitted from the verdicts so far, graded as the finaliser would grade them."""
    from app.runs.settings import RunSettings  # noqa: PLC0415  (the run layer, only here)
    from app.runs.state import load_state  # noqa: PLC0415

    with translated_errors(), db.read() as s:
        run = s.get(Run, run_id)
        assert run is not None
        settings = RunSettings.from_json(dict(run.settings))
        state = load_state(s, run_id)
        infos = _essay_infos(_essay_query(s, Essay.id.in_(state.essay_ids)))
    ids = state.essay_ids
    if not state.verdicts or len(ids) < 2:
        return [], None, None
    current = refit(
        len(ids), state.verdicts, use_confidence=settings.use_confidence, seed=settings.seed
    )
    fit = current.fit
    anchors = [
        AnchorObservation(
            float(fit.abilities[i]), float(fit.se[i]), infos[e].anchor_grade or "", ""
        )
        for i, e in enumerate(ids)
        if infos[e].is_anchor and infos[e].anchor_grade is not None
    ]
    calibration: GradeCalibration | None = None
    grades = None
    if scale is not None:
        try:
            graded = grade_with_anchors(fit.abilities, fit.se, anchors, scale)
        except (GradingError, ValueError):
            graded = None
        if graded is not None:
            calibration, grades = graded.calibration, graded.essays
    fits = misfit_of(fit, current.data.hardened())
    order = np.argsort(-fit.abilities, kind="stable")
    rank = np.empty(len(ids), dtype=int)
    rank[order] = np.arange(1, len(ids) + 1)
    lines = []
    for i in order:
        g = None if grades is None else grades[int(i)]
        lines.append(
            _line(
                int(rank[i]),
                ids[i],
                infos[ids[i]],
                guest,
                ability=float(fit.abilities[i]),
                se=float(fit.se[i]),
                grade=None if g is None else g.display_grade,
                probs={} if g is None else dict(g.probabilities),
                confidence=None if g is None else g.confidence,
                comparisons=int(fit.comparisons_per_item[i]),
                infit=_finite(fits.infit[i]),
                outfit=_finite(fits.outfit[i]),
                misfit=bool(fits.flagged[i]),
            )
        )
    return lines, calibration, current


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


# ---------------------------------------------------------------------------------- export


def export_batch_results(
    results: BatchResults,
    folder: Path,
    formats: Collection[str] = EXPORT_FORMATS,
    **_operation: object,
) -> ExportedResults:
    """Write the chosen result files of ``results`` into ``folder`` (created if needed).

    The files are the ones ``huleedu export`` writes (same columns, same ``run`` object; for
    provisional standings the object says ``"provisional": true``). All are written in a
    temporary folder beside the target first and each is then moved into place, so an earlier
    file is replaced whole or not at all. ``OperationError(INPUT)`` when no format is chosen,
    there is nothing to export, or the folder cannot be written."""
    chosen = [f"results.{f}" for f in EXPORT_FORMATS if f in set(formats)]
    if not chosen:
        raise OperationError(FailureKind.INPUT, "Choose at least one format: CSV, XLSX or JSON.")
    if not results.lines:
        raise OperationError(FailureKind.INPUT, "This run has no results to export yet.")
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=".results-", dir=folder))
        try:
            write_results(scratch, results.summary(), results.export_rows())
            files = []
            for name in RESULT_FILES:
                if name in chosen:
                    os.replace(scratch / name, folder / name)
                    files.append(folder / name)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    except OSError as exc:
        raise OperationError(
            FailureKind.INPUT, f"The results cannot be written to {folder}: {exc}", repr(exc)
        ) from exc
    order = {name: i for i, name in enumerate(chosen)}
    files.sort(key=lambda p: order[p.name])
    return ExportedResults(results.run_id, folder, tuple(files), len(results.lines))
