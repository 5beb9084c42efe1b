"""Grading runs as operations: prepare, drive (start or resume), pause, cancel, recover.

A run has one owner at a time. :func:`drive_run` takes the run's lease (a second driver gets
:attr:`FailureKind.BUSY` naming the holder), renews it while it drives, watches only its own run
for stalls (a verdict and a provider-batch poll both count as progress), builds the judge from
the settings frozen with the run (a different judge on resume is refused), and turns a cancel
token into a durable pause. Everything blocking runs off the caller's event loop
(:mod:`app.runs.workers`).

Outcomes: :class:`Completed` with a :class:`RunReport` (the run completed: stable, precise,
budget reached, no pairs left, forced recovery), :class:`Paused` (the token was set; resume
continues), :class:`Cancelled` (someone cancelled the run), or :class:`Failed` (the run failed,
the judge refused, another process drives it, the settings or input are wrong, the database
cannot be used).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from app.db.engine import Database
from app.db.errors import DatabaseError, classify, is_database_fault
from app.db.models import Essay, Run, RunStatus, live
from app.intake.anchors import screen_anchor_files
from app.intake.essays import screen_documents
from app.intake.matching_store import match_overview
from app.intake.outcomes import FileOutcome, IntakeLimits, Outcome
from app.operations.base import (
    Cancelled,
    CancelToken,
    Completed,
    Failed,
    FailureKind,
    OperationError,
    Paused,
    Progress,
    ProgressSink,
    ignore_progress,
)
from app.operations.judge import open_judge
from app.operations.queries import RunReport, run_report
from app.operations.scales import resolve_scale
from app.runs import lease
from app.runs.batches import TextItem, create_batch
from app.runs.monitor import cancel_run as _cancel_stored
from app.runs.monitor import end_stalled, interrupted_runs, is_stalled
from app.runs.orchestrator import (
    DatabaseFaultError,
    JudgeRefusedError,
    Orchestrator,
    ProgressEvent,
)
from app.runs.settings import JUDGE_FIELDS, RunSettings, SettingsError
from app.runs.workers import Workers
from app.secrets import MissingKeyError
from core.injection import find_injection
from core.lifecycle import TERMINAL
from core.prompt import AssignmentContext

#: Default budget: comparisons per essay (anchors included).
DEFAULT_COMPARISONS_PER_ESSAY = 8
#: Default stall timeout (4 h), as on the platform this replaces.
DEFAULT_STALL_TIMEOUT_S = 4 * 3600.0

# ---------------------------------------------------------------------- preparing a run


@dataclass(frozen=True)
class FolderRunRequest:
    """Grade files, folders or archives: a guest batch is made of them, then a run."""

    paths: Sequence[Path]
    title: str = "Batch"
    context: AssignmentContext | None = None
    scale: str = "swedish_8_anchor"
    anchors: Path | None = None
    """A folder of anchors: ``anchors.csv`` (file,grade,label) or grades in the file names."""
    limits: IntakeLimits = field(default_factory=IntakeLimits)


@dataclass(frozen=True)
class PreparedRun:
    """A stored run ready to drive, and what intake left out or warned about on the way."""

    run_id: str
    batch_id: str
    essays: int
    left_out: list[FileOutcome] = field(default_factory=list)
    addressed_to_grader: list[str] = field(default_factory=list)
    """Names of essays (and anchors) with text addressed to an AI grader."""


_NULLABLE = {"target_reliability", "target_rms_se", "wave_size", "base_url", "api_key_env"}


def settings_for(n_essays: int, **options: Any) -> RunSettings:
    """Run settings with the defaults of a run over ``n_essays`` (budget: 8 per essay).

    Raises :class:`OperationError` (INPUT) naming every invalid setting, so nothing is stored.
    """
    if options.get("budget") is None:
        options["budget"] = max(1, DEFAULT_COMPARISONS_PER_ESSAY * n_essays)
    if options.get("model") in (None, "") and options.get("provider", "sim") == "sim":
        options["model"] = RunSettings.model
    # None switches a target off; for every other setting it means "the default".
    clean = {k: v for k, v in options.items() if v is not None or k in _NULLABLE}
    try:
        return RunSettings(**clean)
    except SettingsError as exc:
        raise OperationError(FailureKind.INPUT, f"Invalid settings: {exc}.") from exc


def check_settings(**options: Any) -> None:
    """Validate run options before any file is read or anything stored."""
    settings_for(1, **options)


def prepare_folder_run(
    db: Database,
    request: FolderRunRequest,
    options: dict[str, Any],
    progress: ProgressSink = ignore_progress,
) -> PreparedRun:
    """Read the essays (and anchors) through intake, store them as a guest batch and create
    a run. Files that cannot be used are left out and listed; an anchor that cannot be used
    stops the run before it starts (grades rest on anchors). Settings are checked first."""
    check_settings(**options)
    try:
        scale = resolve_scale(db, request.scale)
    except (KeyError, ValueError) as exc:
        raise OperationError(FailureKind.INPUT, str(exc)) from exc
    screened = screen_documents(list(request.paths), request.limits)
    left_out = [o for o, _ in screened if not o.ok]
    essays = [TextItem(d.source, d.text) for _, d in screened if d is not None]
    progress(Progress("file", len(screened), len(screened), "essays read"))
    if not essays:
        raise OperationError(
            FailureKind.INPUT,
            "No essays found (give files or folders of .txt, .md, .docx, .odt, .rtf or .pdf).",
        )
    anchors: list[TextItem] = []
    if request.anchors is not None:
        mapping = request.anchors / "anchors.csv"
        found = screen_anchor_files([request.anchors], scale, mapping if mapping.exists() else None)
        left_out += [a.outcome for a in found if not a.outcome.ok]
        failed = [a.outcome for a in found if a.outcome.outcome is Outcome.FAILED]
        if failed:
            raise OperationError(FailureKind.INPUT, failed[0].message)
        anchors = [
            TextItem(a.document.source, a.document.text, a.outcome.grade, a.label)
            for a in found
            if a.document is not None
        ]
    context = request.context or AssignmentContext(request.title, "", "", "")
    settings = settings_for(len(essays) + len(anchors), **options)
    batch_id = create_batch(db, request.title, context, request.scale, essays, anchors)
    flagged = screen_for_injection(db, batch_id)
    run_id = Orchestrator(db, None).create_run(batch_id, settings)  # type: ignore[arg-type]
    return PreparedRun(run_id, batch_id, len(essays) + len(anchors), left_out, flagged)


def prepare_batch_run(db: Database, batch_id: str, options: dict[str, Any]) -> PreparedRun:
    """Create a run over a stored batch whose students are all settled."""
    check_settings(**options)
    try:
        overview = match_overview(db, batch_id)
    except LookupError as exc:
        raise OperationError(FailureKind.INPUT, str(exc).strip("'\"")) from exc
    if overview.waiting and not overview.guest:
        raise OperationError(
            FailureKind.INPUT,
            f"{len(overview.waiting)} essays of batch {batch_id} wait for a person to confirm "
            f"their student: see `huleedu match {batch_id}`.",
        )
    with db.session() as s:
        count = int(
            s.scalar(
                select(func.count())
                .select_from(Essay)
                .where(live(Essay), Essay.batch_id == batch_id)
            )
            or 0
        )
    settings = settings_for(count, **options)
    flagged = screen_for_injection(db, batch_id)
    run_id = Orchestrator(db, None).create_run(batch_id, settings)  # type: ignore[arg-type]
    return PreparedRun(run_id, batch_id, count, addressed_to_grader=flagged)


def screen_for_injection(db: Database, batch_id: str) -> list[str]:
    """Screen every essay (and anchor) of the batch for text addressed to an AI grader
    (:func:`core.injection.find_injection`), keep what was found with the essay
    (``Essay.addressed_to_grader``: the phrases, ``[]`` for none) and return the names of the
    flagged ones (file name, else the anchor's label, else the essay's id), in stored order.

    Every path that grades prepares its run here, so no run starts on unscreened essays."""
    flagged: list[str] = []
    with db.session() as s:
        essays = s.scalars(
            select(Essay)
            .where(live(Essay), Essay.batch_id == batch_id)
            .order_by(Essay.created_at, Essay.id)
        )
        for essay in essays:
            phrases = [f.phrase for f in find_injection(essay.text)]
            if essay.addressed_to_grader != phrases:
                essay.addressed_to_grader = phrases
            if phrases:
                label = essay.anchor.label if essay.anchor is not None else None
                flagged.append(essay.source_file or label or essay.id)
    return flagged


# ---------------------------------------------------------------------- driving a run


def frozen_settings(db: Database, run_id: str) -> RunSettings:
    with db.read() as s:
        run = s.get(Run, run_id)
        if run is None:
            raise OperationError(FailureKind.INPUT, f"There is no run {run_id} in {db.path}.")
        return RunSettings.from_json(run.settings)


def judge_mismatch(settings: RunSettings, requested: dict[str, Any]) -> list[str]:
    """Frozen settings (the judge, the stopping rule) asked for on resume that differ from the
    run's own; the judge's settings (``JUDGE_FIELDS``) come first."""
    frozen = settings.to_json()
    names = [*JUDGE_FIELDS, *(k for k in requested if k not in JUDGE_FIELDS)]
    return [
        f"{name} {requested[name]!r} (the run uses {frozen.get(name)!r})"
        for name in names
        if name in requested and requested[name] is not None and requested[name] != frozen.get(name)
    ]


async def drive_run(
    db: Database,
    run_id: str,
    *,
    progress: ProgressSink = ignore_progress,
    cancel: CancelToken | None = None,
    stall_timeout_s: float = DEFAULT_STALL_TIMEOUT_S,
    judge: dict[str, Any] | None = None,
    operational: dict[str, Any] | None = None,
    holder: str | None = None,
) -> Completed[RunReport] | Paused | Cancelled | Failed:
    """Drive a run to its end, or until ``cancel`` is set (then it is paused durably).

    ``judge``: judge settings the caller asked for (e.g. options given with ``--resume``);
    any that differ from the run's frozen settings refuse the drive — a different judge is a
    new run. ``operational``: settings that do not change results and may differ per drive
    (``concurrency``, ``poll_interval_s``, ``sim_speed``).
    """
    token = cancel or CancelToken()
    me = holder or lease.new_holder()

    def take() -> RunSettings | RunReport:
        """The settings to drive with, after taking the lease; or the report of an ended run."""
        settings = frozen_settings(db, run_id)
        if judge:
            wrong = judge_mismatch(settings, judge)
            if wrong:
                raise OperationError(
                    FailureKind.INPUT,
                    f"Run {run_id} continues with the judge it started with; asked for "
                    + "; ".join(wrong)
                    + ". To grade with another judge, start a new run.",
                )
        if operational:
            allowed = {k: v for k, v in operational.items() if v is not None}
            try:
                settings = RunSettings(**{**settings.to_json(), **allowed})
            except SettingsError as exc:
                raise OperationError(FailureKind.INPUT, f"Invalid settings: {exc}.") from exc
        report = run_report(db, run_id)
        if report.status in TERMINAL:
            return report
        _acquire(db, run_id, me)
        return settings

    loop = asyncio.get_running_loop()
    try:
        taken = await loop.run_in_executor(None, take)
    except OperationError as exc:
        return exc.failed()
    except lease.RunBusyError as exc:
        return Failed(FailureKind.BUSY, _sentence(str(exc)) + ".")
    except (DatabaseError, OperationalError) as exc:
        return _database_failure(db, exc, run_id, started=False)
    if isinstance(taken, RunReport):
        return _outcome(taken, run_id)
    settings = taken
    _DRIVING.add(me)
    try:
        return await _drive_leased(db, run_id, settings, me, token, progress, stall_timeout_s)
    finally:
        # A lease that cannot be given up now (the database still locked) is taken back by the
        # next drive in this process (:func:`_acquire`) or, from another one, once it is stale.
        _DRIVING.discard(me)
        with contextlib.suppress(Exception):
            await asyncio.get_running_loop().run_in_executor(None, lease.release, db, run_id, me)


#: Lease holders of this process whose drive has not ended.
_DRIVING: set[str] = set()


def _sentence(text: str) -> str:
    """``text`` with its first letter upper-case and the rest as written (names, URLs)."""
    return text[:1].upper() + text[1:]


def _acquire(db: Database, run_id: str, me: str) -> None:
    """Take the run's lease; a lease this process left behind (its drive ended while the
    database could not be written, so it was never given up) is taken over at once."""
    try:
        lease.acquire(db, run_id, me)
    except lease.RunBusyError as exc:
        left = exc.holder.holder
        host, _, rest = left.partition(":")
        if host != socket.gethostname() or rest.partition(":")[0] != str(os.getpid()):
            raise
        if left in _DRIVING:
            raise
        other = exc.other_run if isinstance(exc, lease.BatchBusyError) else run_id
        lease.release(db, other, left)
        lease.acquire(db, run_id, me)


async def _drive_leased(
    db: Database,
    run_id: str,
    settings: RunSettings,
    me: str,
    cancel: CancelToken,
    progress: ProgressSink,
    stall_timeout_s: float,
) -> Completed[RunReport] | Paused | Cancelled | Failed:
    inner = CancelToken()  # set by the caller's token, the stall watchdog, or a lost lease
    why: list[str] = []
    workers = Workers()

    def on_event(e: ProgressEvent) -> None:
        progress(Progress(e.kind, e.done, e.budget, e.status, e))

    async def follow_caller() -> None:
        await cancel.wait()
        why.append("cancel")
        inner.cancel(cancel.reason)

    async def heartbeat() -> None:
        while True:
            await asyncio.sleep(lease.HEARTBEAT_EVERY.total_seconds())
            try:
                renewed = await workers.db(lease.renew, db, run_id, me)
            except DatabaseError:
                continue  # the run loop meets the same fault and pauses; if it passes, renew
            if not renewed:
                why.append("lease")
                inner.cancel("another process took the run over")
                return

    async def watchdog() -> None:
        idle = timedelta(seconds=stall_timeout_s)
        period = max(0.05, min(30.0, stall_timeout_s / 4))
        while True:
            await asyncio.sleep(period)
            try:
                stalled = await workers.db(is_stalled, db, run_id, idle)
            except DatabaseError:
                continue  # a database fault is not a stall; the run loop handles it
            if stalled:
                why.append("stalled")
                inner.cancel("stalled")
                return

    helpers = [
        asyncio.ensure_future(follow_caller()),
        asyncio.ensure_future(heartbeat()),
        asyncio.ensure_future(watchdog()),
    ]
    try:
        async with open_judge(settings) as dispatcher:
            orchestrator = Orchestrator(
                db, dispatcher, workers=workers, holder=me, settings=settings
            )
            status = await orchestrator.run(run_id, on_progress=on_event, cancel=inner)
        if status == RunStatus.PAUSED.value and why and why[0] == "stalled":
            await workers.db(end_stalled, db, run_id)
        elif status == RunStatus.PAUSED.value and why and why[0] == "lease":
            return Failed(
                FailureKind.BUSY,
                f"Run {run_id} was taken over by another process; this one stopped.",
            )
        report = await workers.db(run_report, db, run_id)
        return _outcome(report, run_id)
    except JudgeRefusedError as exc:
        return Failed(
            FailureKind.JUDGE_REFUSED,
            f"{_sentence(str(exc))}. The run is paused; fix the judge settings and resume it.",
            extra={"run_id": run_id},
        )
    except MissingKeyError as exc:
        return Failed(FailureKind.JUDGE_REFUSED, f"{_sentence(str(exc))}.")
    except DatabaseFaultError as exc:
        return _database_failure(db, exc.fault, run_id, started=True, paused=exc.paused)
    except (DatabaseError, OperationalError) as exc:
        return _database_failure(db, exc, run_id, started=True)
    except Exception as exc:  # a bug: say so, keep the run resumable
        if is_database_fault(exc):
            return _database_failure(db, exc, run_id, started=True)
        with contextlib.suppress(Exception):
            await workers.db(_pause_after_error, db, run_id)
        return Failed(
            FailureKind.INTERNAL,
            f"Something went wrong while grading run {run_id}. Nothing judged is lost: the run "
            "is paused and can be resumed. Please report the details.",
            "".join(traceback.format_exception(exc)),
            extra={"run_id": run_id},
        )
    finally:
        for h in helpers:
            h.cancel()
        await asyncio.gather(*helpers, return_exceptions=True)
        await asyncio.get_running_loop().run_in_executor(None, workers.close)


def _pause_after_error(db: Database, run_id: str) -> None:
    with db.session() as s:
        run = s.get(Run, run_id)
        if run is not None and run.status not in TERMINAL:
            run.status = RunStatus.PAUSED.value


def _outcome(report: RunReport, run_id: str) -> Completed[RunReport] | Paused | Cancelled | Failed:
    if report.status == RunStatus.COMPLETE.value:
        return Completed(report)
    if report.status == RunStatus.CANCELLED.value:
        return Cancelled(f"Run {run_id} was cancelled; results so far are kept.")
    if report.status == RunStatus.PAUSED.value:
        return Paused(
            f"Run {run_id} is paused after {report.comparisons_done} comparisons; nothing "
            "judged is lost.",
            f"huleedu grade --resume {run_id}",
        )
    if report.status == RunStatus.AWAITING_STUDENT_CONFIRMATION.value:
        return Failed(
            FailureKind.INPUT,
            f"Run {run_id} waits for a person to confirm which student wrote each essay: see "
            f"`huleedu match {report.batch_id}`.",
        )
    if report.status == RunStatus.FAILED.value:
        return Failed(
            FailureKind.RUN_FAILED,
            f"Run {run_id} failed: {report.stop_text}.",
            extra={"report": report},
        )
    return Failed(FailureKind.INTERNAL, f"Run {run_id} stopped in state {report.status}.")


def _database_failure(
    db: Database, exc: Exception, run_id: str, *, started: bool, paused: bool | None = None
) -> Failed:
    """A database fault as a failure: its cause's sentence and action, then what became of
    the run and how to continue it once the cause is gone (``extra``: ``run_id``, ``cause``,
    ``resume_hint``)."""
    fault = exc if isinstance(exc, DatabaseError) else classify(exc, db.path)
    hint = f"huleedu grade --resume {run_id}"
    if not started:
        then = f"Run {run_id} was not started or changed; continue it later with `{hint}`."
    elif paused is False:
        then = (
            f"Run {run_id} stopped; every verdict stored so far is kept and the pairs that were "
            f"being judged are asked again. Once that is fixed, continue it with `{hint}`."
        )
    else:
        then = (
            f"Run {run_id} is paused; nothing judged is lost. Once that is fixed, continue it "
            f"with `{hint}`."
        )
    return Failed(
        FailureKind.DATABASE,
        f"{fault} {then}",
        "".join(traceback.format_exception(exc)),
        extra={"run_id": run_id, "cause": fault.cause.value, "resume_hint": hint},
    )


# ---------------------------------------------------------------------- other verbs


def cancel_run(db: Database, run_id: str) -> Cancelled | Completed[RunReport] | Failed:
    """End a run as cancelled, writing results from the verdicts so far. A run that had
    already ended is reported as it is."""
    status = _cancel_stored(db, run_id)
    if status is None:
        return Failed(FailureKind.INPUT, f"There is no run {run_id} in {db.path}.")
    report = run_report(db, run_id)
    if status == RunStatus.CANCELLED.value:
        return Cancelled(f"Run {run_id} is cancelled; results so far are kept.")
    outcome = _outcome(report, run_id)
    return outcome if not isinstance(outcome, Paused) else Completed(report)


def find_interrupted(db: Database) -> list[str]:
    """Runs a crash or kill left running (their lease is free or stale), oldest first."""
    return interrupted_runs(db)
