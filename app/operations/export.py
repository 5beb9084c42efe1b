"""Exporting a run's results: ``results.csv``, ``results.json`` and ``results.xlsx``.

One row per essay, best first, with the documented columns (:data:`RESULT_COLUMNS`, README
"Results"); ``results.json`` adds every grade's probability and the ``run`` object (status, stop
reason, reliability figures, frozen settings). Each file is written to a temporary file in the
folder and moved into place with :func:`os.replace`, so an interrupted export leaves the earlier
file (or none), never a truncated one; the three are moved in one go once all are written.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from sqlalchemy import select
from sqlalchemy.orm import aliased

from app.db.engine import Database
from app.db.models import Anchor, Essay, Result, Run, Student
from app.operations.base import FailureKind, OperationError
from app.operations.queries import run_report, translated_errors

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
)
"""The columns of ``results.csv`` and ``results.xlsx``, in order (``results.json`` adds
``grade_probabilities`` after ``grade_probability``)."""

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
        }


@dataclass(frozen=True)
class ExportResult:
    run_id: str
    folder: Path
    files: tuple[Path, ...]
    """``results.csv``, ``results.json`` and ``results.xlsx`` in ``folder``."""
    rows: int


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
            )
            .join(Essay, Essay.id == Result.essay_id)
            .outerjoin(student, student.id == Essay.student_id)
            .outerjoin(anchor, anchor.id == Essay.anchor_id)
            .where(Result.run_id == run_id)
            .order_by(Result.rank)
        ).all()
        rows = []
        for r, source, is_anchor, first, last, code, anchor_grade in found:
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
                    confidence=r.confidence,
                    comparisons=r.comparisons,
                    infit=r.infit,
                    outfit=r.outfit,
                    misfit=r.misfit,
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
    try:
        folder.mkdir(parents=True, exist_ok=True)
        files = write_results(folder, run, rows)
    except OSError as exc:
        raise OperationError(
            FailureKind.INPUT, f"The results cannot be written to {folder}: {exc}", repr(exc)
        ) from exc
    return ExportResult(run_id, folder, files, len(rows))


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
