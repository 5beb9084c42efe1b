"""Importing anchor essays: essays with a known grade, from file names or a mapping file.

Where the grade comes from, first that applies:

1. a mapping file (CSV with columns ``file`` and ``grade``, optional ``label``; delimiter and
   encoding sniffed) naming the file (by its name, case-insensitive, or its path as shown);
2. the file name: split into words at spaces, underscores, dots, commas and brackets, a word
   that is a grade of the assignment's scale (``C+ anchor 3.docx``, ``grade_B_2.txt``,
   ``anchor (E).pdf``, ``anchor_Cplus.txt``: "plus"/"minus" after a letter read as +/-).
   A word right after "grade" or "betyg" is the grade (``grade_B_2``, ``betyg 7 ankare 2``);
   otherwise exactly one distinct grade must appear. Another letter case counts only when the
   scale cannot confuse it, and single letters only after a word such as "grade" or "anchor"
   (``grade_b_2``, ``anchor_e``). On a numeric scale only "grade N"/"betyg N" counts: a bare
   number in a file name is as likely the anchor's number as its grade.

The grade must be an anchor grade of the scale (a scale's grade below the lowest anchor, such
as F, cannot be anchored). Each file ends in one outcome like essays do, with its grade.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import itertools
import re
from collections.abc import Generator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.engine import Database
from app.db.errors import is_database_fault
from app.db.models import (
    Anchor,
    Assignment,
    Batch,
    BatchStatus,
    Essay,
    IntakeRecord,
    live,
    new_id,
)
from app.intake.encodings import decode_text
from app.intake.essays import COMMIT_EVERY, ImportStoppedError, count_outcomes, intake_record
from app.intake.outcomes import FileOutcome, IntakeLimits, Outcome, Reason
from app.intake.roster import sniff_delimiter
from app.intake.sources import Document, FileEntry, internal_failure, iter_entries, noted
from app.intake.validate import check_length, content_hash
from app.operations.base import CancelToken, Progress, ProgressSink
from app.operations.scales import resolve_scale
from app.school import find_live, refresh_batch_status, sync_anchor_essays
from core.scales import GradeScale

_WORD_SPLIT = re.compile(r"[\s_.,;()\[\]{}]+")
_PLUS_MINUS = re.compile(r"(?i)(?<=[a-z])(plus|minus)$")
_EXPLICIT_WORDS = frozenset({"grade", "betyg"})
_GRADE_WORDS = frozenset({"grade", "betyg", "anchor", "ankare", "ankartext", "exempel"})


class AnchorMappingError(ValueError):
    """A mapping file that cannot be read as ``file,grade[,label]``."""


@dataclass(frozen=True)
class AnchorFile:
    """A screened anchor file: its outcome (with the grade) and, when good, its document."""

    outcome: FileOutcome
    document: Document | None
    label: str = ""


def _sign(m: re.Match[str]) -> str:
    return "+" if m.group(1).lower() == "plus" else "-"


def grade_from_name(name: str, scale: GradeScale) -> str | tuple[str, ...] | None:
    """The grade a file name carries: one grade, ``None`` for none, or the tuple of rivals."""
    stem = name.rsplit("/", 1)[-1]
    if "." in stem:
        stem = stem.rsplit(".", 1)[0]
    words = [_PLUS_MINUS.sub(_sign, w) for w in _WORD_SPLIT.split(stem) if w]
    folded = {g.casefold(): g for g in scale.grades}
    case_matters = len(folded) < len(scale.grades)  # two grades differ only by letter case

    def grade_of(word: str) -> str | None:
        if case_matters:
            return word if word in scale.grades else None
        return folded.get(word.casefold())

    for before, word in itertools.pairwise(words):
        if before.casefold() in _EXPLICIT_WORDS and grade_of(word) is not None:
            return grade_of(word)  # "grade_B_2", "betyg 7 ankare 2": said outright
    if all(g.isdigit() for g in scale.grades):
        return None  # on a numeric scale a bare number is as likely a count as a grade
    exact = {w for w in words if w in scale.grades}
    if not exact:
        # Another letter case only counts for longer words or after "grade", "anchor" and the
        # like: in "a_good_essay" the "a" is a word, in "anchor_e" the "e" is a grade.
        exact = {
            g
            for i, w in enumerate(words)
            if (g := grade_of(w)) is not None
            and (len(w) > 1 or (i > 0 and words[i - 1].casefold() in _GRADE_WORDS))
        }
    if len(exact) == 1:
        return next(iter(exact))
    if len(exact) > 1:
        return tuple(sorted(exact, key=scale.grades.index))
    return None


def read_mapping(path: Path) -> dict[str, tuple[str, str]]:
    """``{file name (casefolded): (grade, label)}`` from a CSV mapping file."""
    text, _ = decode_text(path.read_bytes())
    reader = csv.DictReader(io.StringIO(text), delimiter=sniff_delimiter(text))
    fields = {(f or "").strip().casefold(): f for f in reader.fieldnames or []}
    file_col = fields.get("file") or fields.get("filename") or fields.get("fil")
    grade_col = fields.get("grade") or fields.get("betyg")
    label_col = fields.get("label") or fields.get("namn") or fields.get("name")
    if file_col is None or grade_col is None:
        raise AnchorMappingError(
            f"'{path.name}' needs the columns 'file' and 'grade' (found: "
            f"{', '.join(repr(f) for f in reader.fieldnames or []) or 'none'})"
        )
    mapping: dict[str, tuple[str, str]] = {}
    for row in reader:
        name = (row.get(file_col) or "").strip()
        if name:
            label = (row.get(label_col) or "").strip() if label_col else ""
            mapping[name.casefold()] = ((row.get(grade_col) or "").strip(), label)
    return mapping


def screen_anchor_files(
    paths: Sequence[Path],
    scale: GradeScale,
    mapping_file: Path | None = None,
    limits: IntakeLimits | None = None,
    known_hashes: dict[str, str] | None = None,
) -> list[AnchorFile]:
    """Read anchor files and decide each one's outcome and grade, without a database."""
    limits = limits or IntakeLimits()
    mapping = read_mapping(mapping_file) if mapping_file is not None else {}
    return list(
        _screened_anchors(paths, scale, mapping_file, mapping, limits, dict(known_hashes or {}))
    )


def _anchor_entries(
    paths: Sequence[Path], limits: IntakeLimits, mapping_file: Path | None
) -> Generator[FileEntry, None, None]:
    """The files offered as anchors, less the mapping file itself when it lies among them."""
    with contextlib.closing(iter_entries(paths, limits)) as entries:
        for entry in entries:
            if (
                mapping_file is not None
                and entry.decided is not None
                and entry.source.endswith(mapping_file.name)
            ):
                continue  # the mapping file itself, found in the folder
            yield entry


def _mapping_key(source: str, mapping: dict[str, tuple[str, str]]) -> str | None:
    """The mapping's name for the file at ``source`` (its path as shown, else its name)."""
    base = source.rsplit("/", 1)[-1]
    return next((k for k in (source.casefold(), base.casefold()) if k in mapping), None)


def _unmatched(
    mapping_file: Path | None, mapping: dict[str, tuple[str, str]], offered: set[str]
) -> list[AnchorFile]:
    """A failed outcome for every name in the mapping file that no offered file has."""
    return [
        AnchorFile(
            FileOutcome(
                f"{mapping_file.name if mapping_file else 'mapping'}: {name}",
                Outcome.FAILED,
                Reason.NOT_FOUND,
                f"The mapping file names '{name}', but no such file was offered.",
            ),
            None,
        )
        for name in sorted(set(mapping) - offered)
    ]


def _planned(
    paths: Sequence[Path],
    limits: IntakeLimits,
    mapping_file: Path | None,
    mapping: dict[str, tuple[str, str]],
) -> int:
    """How many outcomes screening will give: the files found (a walk that reads nothing)
    and the mapping's names without a file."""
    files = 0
    offered: set[str] = set()
    for entry in _anchor_entries(paths, limits, mapping_file):
        files += 1
        key = _mapping_key(entry.source, mapping)
        if key is not None:
            offered.add(key)
    return files + len(_unmatched(mapping_file, mapping, offered))


def _screened_anchors(
    paths: Sequence[Path],
    scale: GradeScale,
    mapping_file: Path | None,
    mapping: dict[str, tuple[str, str]],
    limits: IntakeLimits,
    seen: dict[str, str],
) -> Generator[AnchorFile, None, None]:
    """Each offered file screened as an anchor, in walk order, then the mapping's names that
    no file had (a file offered under a mapped name is never among those, even when it could
    not be read)."""
    offered: set[str] = set()
    for entry in _anchor_entries(paths, limits, mapping_file):
        key = _mapping_key(entry.source, mapping)
        if key is not None:
            offered.add(key)
        item = entry.read()
        if isinstance(item, FileOutcome):
            yield AnchorFile(item, None)
        else:
            screened = _screen_anchor(item, scale, mapping, key, seen, limits)
            yield replace(screened, outcome=noted(screened.outcome, item.name_note))
    yield from _unmatched(mapping_file, mapping, offered)


def _screen_anchor(
    doc: Document,
    scale: GradeScale,
    mapping: dict[str, tuple[str, str]],
    key: str | None,
    seen: dict[str, str],
    limits: IntakeLimits,
) -> AnchorFile:
    base = doc.source.rsplit("/", 1)[-1]
    details: dict[str, Any] = {
        "format": doc.format,
        "encoding": doc.encoding,
        "size_bytes": doc.size_bytes,
        "characters": len(doc.text),
    }
    label = base.rsplit(".", 1)[0]
    if key is not None:
        grade_found: str | tuple[str, ...] | None = mapping[key][0] or None
        label = mapping[key][1] or label
    else:
        grade_found = grade_from_name(base, scale)

    def failed(reason: Reason, message: str, grade: str | None = None) -> AnchorFile:
        return AnchorFile(
            FileOutcome(doc.source, Outcome.FAILED, reason, message, grade=grade, **details), None
        )

    if grade_found is None:
        return failed(
            Reason.NO_GRADE,
            f"Anchor '{doc.source}' has no grade: put one of "
            f"{', '.join(scale.anchorable_grades)} in its name or list it in a mapping file.",
        )
    if isinstance(grade_found, tuple):
        return failed(
            Reason.NO_GRADE,
            f"Anchor '{doc.source}' names several grades ({', '.join(grade_found)}); "
            "rename it or list it in a mapping file.",
        )
    if grade_found not in scale.grades or not scale.is_anchorable(grade_found):
        return failed(
            Reason.BAD_GRADE,
            f"Anchor '{doc.source}': {grade_found!r} is not an anchor grade of {scale.name} "
            f"({', '.join(scale.anchorable_grades)}).",
            grade_found,
        )
    bad = check_length(doc.source, doc.text, limits, fmt=doc.format)
    if bad is not None:
        return AnchorFile(replace(bad, grade=grade_found, size_bytes=doc.size_bytes), None)
    h = content_hash(doc.text)
    if h in seen:
        return AnchorFile(
            FileOutcome(
                doc.source,
                Outcome.SKIPPED,
                Reason.DUPLICATE,
                f"Anchor '{doc.source}' has the same text as '{seen[h]}'.",
                duplicate_of=seen[h],
                grade=grade_found,
                **details,
            ),
            None,
        )
    seen[h] = doc.source
    return AnchorFile(
        FileOutcome(doc.source, Outcome.IMPORTED, grade=grade_found, **details), doc, label
    )


@dataclass(frozen=True)
class AnchorImportReport:
    assignment_id: str
    import_id: str
    outcomes: list[FileOutcome]
    cancelled: bool = False
    """The import was cancelled: ``outcomes`` are the files done (stored and recorded)."""
    found: int | None = None
    """Outcomes planned before reading (None when not counted: no progress sink)."""

    @property
    def counts(self) -> dict[str, int]:
        return count_outcomes(self.outcomes)

    def to_json(self) -> dict[str, Any]:
        return {
            "assignment_id": self.assignment_id,
            "import_id": self.import_id,
            "counts": self.counts,
            "cancelled": self.cancelled,
            "files": [o.to_json() for o in self.outcomes],
        }


def import_anchors(
    db: Database,
    assignment_id: str,
    paths: Sequence[Path],
    mapping_file: Path | None = None,
    limits: IntakeLimits | None = None,
    progress: ProgressSink | None = None,
    cancel: CancelToken | None = None,
) -> AnchorImportReport:
    """Add anchor files to an assignment (and to its batches that are not running).

    Anchors are committed in groups of :data:`~app.intake.essays.COMMIT_EVERY` files with
    their outcome records. ``progress`` gets a ``"file"`` event per outcome; ``cancel`` is
    checked before each file: a cancelled import keeps the anchors it stored (and adds them to
    the batches) and records only the files it reached.
    """
    limits = limits or IntakeLimits()
    import_id = new_id()
    with db.session() as s:
        assignment = find_live(s, Assignment, assignment_id)
        scale = resolve_scale(s, assignment.grade_scale)
        known = {
            a.content_hash: a.source_file or a.label
            for a in s.scalars(
                select(Anchor).where(Anchor.assignment_id == assignment.id, live(Anchor))
            )
        }
    mapping = read_mapping(mapping_file) if mapping_file is not None else {}
    total = _planned(paths, limits, mapping_file, mapping) if progress is not None else None
    outcomes: list[FileOutcome] = []
    pending: list[AnchorFile] = []
    cancelled = False
    try:
        with contextlib.closing(
            _screened_anchors(paths, scale, mapping_file, mapping, limits, known)
        ) as screened:
            while True:
                if cancel is not None and cancel.cancelled:
                    cancelled = True
                    break
                item = next(screened, None)
                if item is None:
                    break
                pending.append(item)
                if progress is not None:
                    done = len(outcomes) + len(pending)
                    source = item.outcome.source
                    progress(Progress("file", done, max(total or 0, done), source, item.outcome))
                if len(pending) >= COMMIT_EVERY:
                    outcomes += _store_anchors(db, assignment_id, import_id, pending)
                    pending = []
        outcomes += _store_anchors(db, assignment_id, import_id, pending)
    except Exception as exc:
        if not is_database_fault(exc):
            raise
        read = len(outcomes) + len(pending)
        not_reached = None if total is None else max(total - read, 0)
        not_stored = [a.outcome.source for a in pending]
        target = f"assignment {assignment_id}"
        raise ImportStoppedError(target, outcomes, not_stored, not_reached, exc) from exc
    with db.session() as s:
        left_out: dict[str, list[str]] = {}
        for batch in s.scalars(
            select(Batch).where(Batch.assignment_id == assignment_id, live(Batch))
        ):
            sync_anchor_essays(s, batch)
            refresh_batch_status(s, batch)
            for source, where in _anchors_not_joined(s, batch, import_id):
                left_out.setdefault(source, []).append(where)
        outcomes = [_not_joined(o, left_out, s, import_id) for o in outcomes]
    return AnchorImportReport(assignment_id, import_id, outcomes, cancelled, total)


def _anchors_not_joined(session: Session, batch: Batch, import_id: str) -> list[tuple[str, str]]:
    """``(anchor source, why)`` for each anchor of this import that is not in ``batch`` because
    a student essay there has its text (a batch with a run in progress is left alone: its
    anchors join when it is imported into next)."""
    if batch.status in (BatchStatus.PROCESSING.value, BatchStatus.PAUSED.value):
        return []
    rows = session.execute(
        select(Anchor.source_file, Anchor.label, Essay.source_file)
        .join(IntakeRecord, IntakeRecord.anchor_id == Anchor.id)
        .join(
            Essay,
            (Essay.content_hash == Anchor.content_hash)
            & (Essay.batch_id == batch.id)
            & Essay.is_anchor.is_(False)
            & Essay.deleted_at.is_(None),
        )
        .where(IntakeRecord.import_id == import_id)
    )
    return [
        (
            anchor_source or label,
            f"batch '{batch.title}' ({batch.id}), where the student essay "
            f"'{essay_source or 'without a file name'}' has the same text",
        )
        for anchor_source, label, essay_source in rows
    ]


def _not_joined(
    outcome: FileOutcome, left_out: dict[str, list[str]], session: Session, import_id: str
) -> FileOutcome:
    """``outcome`` saying which batches its anchor did not join, and its record updated."""
    where = left_out.get(outcome.source)
    if not outcome.ok or not where:
        return outcome
    message = (
        f"Anchor '{outcome.source}' was added to the assignment but not to "
        f"{'; '.join(where)}: a text cannot be both a student's essay and an anchor. If that "
        "essay is the anchor, remove it from the batch and import the anchor again."
    )
    record = session.scalar(
        select(IntakeRecord).where(
            IntakeRecord.import_id == import_id, IntakeRecord.source == outcome.source[:1000]
        )
    )
    if record is not None:
        record.message = message
    return replace(outcome, message=message)


def _store_anchors(
    db: Database, assignment_id: str, import_id: str, screened: list[AnchorFile]
) -> list[FileOutcome]:
    """Store one group of screened anchor files (anchors and records) in one transaction; when
    one file's own data cannot be stored, the files are stored one by one and that file ends
    FAILED with the cause (a database fault raises)."""
    if not screened:
        return []
    try:
        return _store_anchor_group(db, assignment_id, import_id, screened)
    except Exception as exc:
        if is_database_fault(exc):
            raise
    final: list[FileOutcome] = []
    for item in screened:
        try:
            final += _store_anchor_group(db, assignment_id, import_id, [item])
        except Exception as exc:
            if is_database_fault(exc):
                raise
            failed = replace(
                internal_failure(item.outcome.source, exc, "storing it"),
                format=item.outcome.format,
                characters=item.outcome.characters,
                grade=item.outcome.grade,
            )
            final += _store_anchor_group(db, assignment_id, import_id, [AnchorFile(failed, None)])
    return final


def _store_anchor_group(
    db: Database, assignment_id: str, import_id: str, screened: list[AnchorFile]
) -> list[FileOutcome]:
    with db.session() as s:
        for item in screened:
            anchor_id = None
            if item.document is not None and item.outcome.grade is not None:
                anchor = Anchor(
                    assignment_id=assignment_id,
                    text=item.document.text,
                    grade=item.outcome.grade,
                    label=item.label,
                    source_file=item.document.source,
                    content_hash=content_hash(item.document.text),
                )
                s.add(anchor)
                s.flush()
                anchor_id = anchor.id
            s.add(
                intake_record(
                    item.outcome, import_id, assignment_id=assignment_id, anchor_id=anchor_id
                )
            )
    return [item.outcome for item in screened]


async def import_anchors_async(
    db: Database,
    assignment_id: str,
    paths: Sequence[Path],
    mapping_file: Path | None = None,
    limits: IntakeLimits | None = None,
) -> AnchorImportReport:
    """:func:`import_anchors` in a worker thread."""
    return await asyncio.to_thread(import_anchors, db, assignment_id, paths, mapping_file, limits)
