"""A comparative-judgement run as a loop over durable state.

Each turn of the loop reads the run's comparisons from the database, refits (engine), decides
(engine), and either hands the run to the finaliser or plans a wave, stores it as *planned*,
marks it *sent*, dispatches it, and stores every verdict the moment it arrives. Killing the
process anywhere loses nothing that was answered: on the next start, *planned* pairs are sent,
pairs left *sent* by the crash are re-sent once (then fail), and the loop continues from the
stored verdicts.

The loop itself only awaits: database work runs on one database thread and refits, planning and
grading on a compute thread (:class:`app.runs.workers.Workers`), so an event loop shared with a
window keeps answering. A :class:`~app.operations.base.CancelToken` pauses the run durably: the
pairs in flight go back to *planned* without using an attempt, the status becomes *paused*, and
:meth:`Orchestrator.run` returns ``"paused"``.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from app.db.engine import Database
from app.db.errors import DatabaseError, FaultCause
from app.db.models import (
    BatchStatus,
    Comparison,
    ComparisonStatus,
    Essay,
    Run,
    RunStatus,
)
from app.db.store import NewComparison, add_comparisons, mark_comparisons
from app.llm.batch import run_batch_summary
from app.llm.batch.jobs import BatchJob
from app.llm.dispatcher import Dispatcher, PairOutcome
from app.llm.providers.base import BaseProvider
from app.llm.types import FailureCategory, PairTask
from app.operations.base import CancelToken, OperationCancelledError, until_cancelled
from app.operations.scales import resolve_scale
from app.runs.batch_store import DbJobStore, legacy_batch_dir, saved_waves
from app.runs.finaliser import TERMINAL, finalise
from app.runs.settings import RunSettings
from app.runs.state import RunState, judge_texts, load_state
from app.runs.workers import Workers
from core.engine import Refit, default_wave_size, group_wave_size, refit
from core.grading import AnchorObservation, grade_essays
from core.groups import plan_group_wave
from core.prompt import AssignmentContext
from core.scales import GradeScale
from core.scheduler import AUDIT_SHARE, SchedulerState, audit_share_at, plan_wave
from core.stopping import RunProgress, StopDecision, decide
from core.verdict import confidence_to_probability

__all__ = [
    "DatabaseFaultError",
    "JudgeRefusedError",
    "Orchestrator",
    "ProgressEvent",
    "RunSettings",
]

#: A pair left *sent* by a crash is re-sent once; after that it fails.
MAX_RESENDS_AFTER_CRASH = 1
#: Tries at writing the pause after the database was found locked (each waits the busy
#: timeout): another program's write usually ends within a few.
PAUSE_TRIES_WHEN_LOCKED = 3


class DatabaseFaultError(RuntimeError):
    """The database failed mid-run (locked past the busy timeout, disk full, …): the run
    stopped and, when the database let it, was paused; nothing stored is lost.

    ``fault`` says the cause (its ``str()`` is meant for a teacher); ``paused`` whether the
    pause could be written (if not, the run is still *running* with its pairs in flight, and
    resuming it works the same: they are sent again).
    """

    def __init__(self, fault: DatabaseError, run_id: str, paused: bool) -> None:
        super().__init__(str(fault))
        self.fault = fault
        self.run_id = run_id
        self.paused = paused


class JudgeRefusedError(RuntimeError):
    """Every request of a wave was refused (bad key, unknown model, bad request); the run is
    paused so it can be resumed once the judge settings are fixed."""


def now_utc() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ProgressEvent:
    """What a progress bar shows: after every verdict, every batch poll and every wave.

    ``kind`` is ``"verdict"``, ``"poll"``, ``"wave"``, ``"status"`` or ``"advice"`` (the target
    reliability is out of reach within the budget; ``detail`` says what the budget can reach and
    what the target would need, and the run goes on only if its rule says so); ``status`` is the
    run's status at that moment (``running``, then ``paused`` or a terminal status). A final
    ``"status"`` event carries the stopping rule's sentence in ``detail``.
    """

    run_id: str
    done: int
    budget: int
    failed: int
    cost_usd: float
    reliability: float
    eta_s: float | None
    wave: int
    status: str
    kind: str = "wave"
    detail: str = ""
    reliability_interval: tuple[float, float] = (float("nan"), float("nan"))
    """90 % interval of ``reliability`` (see :attr:`core.engine.Refit.interval`)."""


ProgressCallback = Callable[[ProgressEvent], None]


@dataclass(frozen=True)
class _Setup:
    settings: RunSettings
    context: AssignmentContext
    scale: GradeScale | None
    """None when the assignment's scale is unknown (no grading, no boundary focus)."""
    anchor_grades: dict[str, tuple[str, str]]
    status: str
    """``running``, or why the loop must not run (terminal, awaiting confirmation)."""


@dataclass(frozen=True)
class _Next:
    """What the compute thread decided after a wave."""

    current: Refit | None
    decision: StopDecision
    pairs: list[tuple[int, int]]


class _Counter:
    """Live counts for progress events during a wave."""

    def __init__(self, state: RunState) -> None:
        self.done = len(state.verdicts)
        self.failed = state.failed
        self.cost = state.cost_usd


class Orchestrator:
    """Drives runs of one database with one dispatcher (one provider).

    ``holder`` is the lease holder this process drives the run as (see :mod:`app.runs.lease`);
    the loop then writes a run's status only while the run's lease is still its own.
    ``settings``: the run's frozen settings with this drive's operational ones (concurrency,
    poll interval) applied; by default the stored ones.
    """

    def __init__(
        self,
        db: Database,
        dispatcher: Dispatcher,
        *,
        workers: Workers | None = None,
        holder: str | None = None,
        settings: RunSettings | None = None,
    ) -> None:
        self.db = db
        self.dispatcher = dispatcher
        self.holder = holder
        self.settings = settings
        self._workers = workers
        self._own_workers = workers is None

    def create_run(self, batch_id: str, settings: RunSettings) -> str:
        with self.db.session() as s:
            run = Run(
                batch_id=batch_id, status=RunStatus.CREATED.value, settings=settings.to_json()
            )
            s.add(run)
            s.flush()
            return run.id

    async def run(
        self,
        run_id: str,
        *,
        on_progress: ProgressCallback | None = None,
        stop: asyncio.Event | None = None,
        cancel: CancelToken | None = None,
    ) -> str:
        """Drive the run until it ends (returns its status) or ``cancel`` (or ``stop``) is set
        (returns ``"paused"``; :meth:`run` again resumes it). Terminal runs are returned
        untouched. If the task running this is cancelled, the run is paused the same way
        before the cancellation propagates."""
        workers = self._workers or Workers()
        token = cancel or CancelToken()
        relay = None if stop is None else asyncio.ensure_future(_relay(stop, token))
        try:
            return await self._loop(workers, run_id, on_progress, token)
        finally:
            if relay is not None:
                relay.cancel()
            if self._own_workers:
                await asyncio.get_running_loop().run_in_executor(None, workers.close)

    async def _loop(
        self,
        w: Workers,
        run_id: str,
        on_progress: ProgressCallback | None,
        cancel: CancelToken,
    ) -> str:
        setup = await w.db(self._prepare, run_id)  # a fault here changed nothing
        if setup.status != RunStatus.RUNNING.value:
            return setup.status
        in_flight: list[str] = []
        try:
            return await self._waves(w, run_id, on_progress, cancel, setup, in_flight)
        except DatabaseError as fault:
            # Locked past the busy timeout, a full disk, …: stop, and pause the run if the
            # database lets us (pairs in flight go back to *planned*; every stored verdict
            # stays). Resuming continues from there once the cause is gone.
            paused = await self._pause_after_fault(w, run_id, in_flight, fault)
            raise DatabaseFaultError(fault, run_id, paused) from fault

    async def _pause_after_fault(
        self, w: Workers, run_id: str, in_flight: list[str], fault: DatabaseError
    ) -> bool:
        tries = PAUSE_TRIES_WHEN_LOCKED if fault.cause is FaultCause.LOCKED else 1
        for _ in range(tries):
            try:
                await w.db(self._pause, run_id, in_flight)
            except DatabaseError:
                continue
            return True
        return False

    async def _waves(
        self,
        w: Workers,
        run_id: str,
        on_progress: ProgressCallback | None,
        cancel: CancelToken,
        setup: _Setup,
        in_flight: list[str],
    ) -> str:
        """The loop proper; ``in_flight`` is kept naming the pairs of the wave being sent."""
        settings = setup.settings
        current: Refit | None = None
        previous: Refit | None = None
        texts: list[str] | None = None
        wave = 0
        started = asyncio.get_running_loop().time()
        while True:
            in_flight[:] = []
            if cancel.cancelled:
                return await w.db(self._pause, run_id, [])
            status, state = await w.db(self._snapshot, run_id)
            if status in TERMINAL:
                return status  # ended elsewhere (a cancel, the monitor)
            if texts is None:
                texts = await w.db(self._texts, state.essay_ids, settings.redact_identity)
            todo = list(state.planned)
            if not todo:
                nxt = await w.cpu(
                    _decide_next, state, current, previous, settings, setup, len(state.shown)
                )
                if nxt.current is not current:
                    previous, current = current, nxt.current
                if nxt.decision.outlook is not None:
                    # The target is out of reach: keep the advice with the run (before the
                    # finaliser, so a run that ended says why), and tell the window now.
                    await w.db(self._store_outlook, run_id, nxt.decision)
                if nxt.decision.stop:
                    await w.db(self._store_reliability, run_id, current)
                    final = await w.db(finalise, self.db, run_id, nxt.decision.reason, current)
                    self._emit(
                        on_progress,
                        run_id,
                        settings,
                        current,
                        wave,
                        started,
                        "status",
                        _Counter(state),
                        final,
                        nxt.decision.message,
                    )
                    return final
                if nxt.decision.outlook is not None:
                    self._emit(
                        on_progress,
                        run_id,
                        settings,
                        current,
                        wave,
                        started,
                        "advice",
                        _Counter(state),
                        RunStatus.RUNNING.value,
                        nxt.decision.message,
                    )
                # Wave numbers continue across restarts (provider batches are saved per wave).
                todo = await w.db(self._store_planned, run_id, state, nxt.pairs, state.next_wave)
            in_flight[:] = [cid for cid, _, _ in todo]
            counter = _Counter(state)

            def progress(
                kind: str,
                counter: _Counter = counter,
                current: Refit | None = current,
                wave: int = wave,
            ) -> None:
                self._emit(
                    on_progress,
                    run_id,
                    settings,
                    current,
                    wave,
                    started,
                    kind,
                    counter,
                    RunStatus.RUNNING.value,
                )

            try:
                if settings.mode == "provider_batch":
                    await self._send_batch(
                        w, run_id, texts, todo, setup.context, settings, cancel, counter, progress
                    )
                else:
                    await self._send(
                        w, run_id, texts, todo, setup.context, cancel, counter, progress
                    )
            except OperationCancelledError:
                paused = await w.db(self._pause, run_id, [cid for cid, _, _ in todo])
                self._emit(
                    on_progress, run_id, settings, current, wave, started, "status", counter, paused
                )
                return paused
            except asyncio.CancelledError:
                # The task itself was cancelled (the process is shutting down): pause the run
                # right here, on this thread, since the workers may no longer be awaited.
                self._pause(run_id, [cid for cid, _, _ in todo])
                raise
            wave += 1
            progress("wave", wave=wave)

    # ------------------------------------------------------------------ database thread

    def _prepare(self, run_id: str) -> _Setup:
        with self.db.session() as s:
            run = s.get(Run, run_id)
            if run is None:
                raise KeyError(f"no run with id {run_id}")
            settings = self.settings or RunSettings.from_json(run.settings)
            assignment = run.batch.assignment
            setup = _Setup(
                settings,
                AssignmentContext(
                    assignment.title,
                    assignment.student_prompt,
                    assignment.assessment_criteria,
                    assignment.judge_rubric,
                ),
                _scale_or_none(s, assignment.grade_scale),
                {
                    e.id: (e.anchor.grade, e.anchor.label)
                    for e in run.batch.essays
                    if e.is_anchor and e.anchor is not None and e.deleted_at is None
                },
                run.status,
            )
            if run.status in TERMINAL:
                return setup
            if run.batch.school_class_id is not None:
                unconfirmed = s.scalar(
                    select(func.count())
                    .select_from(Essay)
                    .where(
                        Essay.batch_id == run.batch_id,
                        Essay.deleted_at.is_(None),
                        Essay.is_anchor.is_(False),
                        Essay.match_confirmed.is_(False),
                    )
                )
                if unconfirmed:
                    # A class batch is judged only once a person has confirmed who wrote what.
                    run.status = RunStatus.AWAITING_STUDENT_CONFIRMATION.value
                    run.batch.status = BatchStatus.AWAITING_STUDENT_CONFIRMATION.value
                    return replace(setup, status=run.status)
            run.status = RunStatus.RUNNING.value
            run.started_at = run.started_at or now_utc()
            # Starting (or resuming) is activity: a stall is measured from here, not from the
            # last verdict before an interruption.
            run.last_progress_at = now_utc()
            run.batch.status = BatchStatus.PROCESSING.value
            # Pairs a crash left in flight are sent once more; after that they fail. A provider
            # batch wave without a saved job is sent through the same path, which first looks
            # for a batch the provider created before the crash.
            saved = (
                saved_waves(s, run_id, legacy_batch_dir(self.db))
                if settings.mode == "provider_batch"
                else set()
            )
            for c in s.scalars(
                select(Comparison).where(
                    Comparison.run_id == run_id, Comparison.status == ComparisonStatus.SENT
                )
            ):
                if c.wave in saved:
                    continue  # its provider batch is fetched by id, never submitted again
                if c.attempts > MAX_RESENDS_AFTER_CRASH:
                    c.status = ComparisonStatus.FAILED.value
                    c.error_category = "no_answer"
                    c.error_message = "sent before an interruption and again after it, unanswered"
                else:
                    c.status = ComparisonStatus.PLANNED.value
            return replace(setup, status=RunStatus.RUNNING.value)

    def _snapshot(self, run_id: str) -> tuple[str, RunState]:
        with self.db.read() as s:
            run = s.get(Run, run_id)
            assert run is not None
            return run.status, load_state(s, run_id)

    def _texts(self, essay_ids: list[str], redact: bool) -> list[str]:
        with self.db.read() as s:
            return judge_texts(s, essay_ids, redact)

    def _store_planned(
        self, run_id: str, state: RunState, pairs: list[tuple[int, int]], wave: int
    ) -> list[tuple[str, int, int]]:
        with self.db.session() as s:
            ids = add_comparisons(
                s,
                run_id,
                [
                    NewComparison(state.essay_ids[a], state.essay_ids[b], wave=wave)
                    for a, b in pairs
                ],
            )
            return [(cid, a, b) for cid, (a, b) in zip(ids, pairs, strict=True)]

    def _mark_sent(self, ids: list[str], count_attempt: bool) -> None:
        with self.db.session() as s:
            mark_comparisons(s, ids, ComparisonStatus.SENT.value, count_attempt=count_attempt)

    def _record(self, run_id: str, outcome: PairOutcome) -> None:
        """Store one verdict or failure the moment it arrives."""
        with self.db.session() as s:
            c = s.get(Comparison, outcome.pair_id)
            assert c is not None
            if c.status != ComparisonStatus.SENT.value:
                return  # answered already (a batch fetched twice), or given up on
            c.answered_at = now_utc()
            c.place_in_bundle = outcome.place_in_bundle
            c.bundle_size = outcome.bundle_size
            c.provider_request_id = outcome.request_id
            c.latency_ms = None if outcome.latency_s is None else outcome.latency_s * 1000
            if outcome.verdict is not None:
                v = outcome.verdict
                c.status = ComparisonStatus.DONE.value
                c.first_wins = v.first_wins
                c.confidence = float(v.confidence)
                c.justification = v.justification
                c.probability_first = (
                    outcome.probability_first
                    if outcome.probability_first is not None
                    else confidence_to_probability(v.first_wins, v.confidence)
                )
            else:
                c.status = ComparisonStatus.FAILED.value
                c.error_category = None if outcome.category is None else str(outcome.category)
                c.error_message = outcome.message
            self._touch(s, run_id)

    def _touch(self, s: Any, run_id: str) -> None:
        s.execute(
            update(Run)
            .where(Run.id == run_id)
            .values(last_progress_at=now_utc())
            .execution_options(synchronize_session=False)
        )

    def _touch_run(self, run_id: str) -> None:
        with self.db.session() as s:
            self._touch(s, run_id)

    def _share_cost(self, ids: list[str], total: float, batch_id: str | None = None) -> None:
        share = total / max(1, len(ids))
        with self.db.session() as s:
            values: dict[str, Any] = {"cost_usd": share}
            if batch_id is not None:
                values["provider_batch_id"] = batch_id
            s.execute(
                update(Comparison)
                .where(Comparison.id.in_(ids))
                .values(**values)
                .execution_options(synchronize_session=False)
            )

    def _store_outlook(self, run_id: str, decision: StopDecision) -> None:
        """Keep the out-of-reach advice in the run's settings JSON, ``extra["outlook"]``.

        The dict holds ``reachable`` (the reliability the budget can reach at best),
        ``needed`` (comparisons the target would need, or None), ``budget``, ``target`` and
        ``message`` (the teacher's sentence). No schema change: the settings column is JSON and
        ``RunSettings.extra`` is free-form.
        """
        if decision.outlook is not None:
            self._store_extra(run_id, "outlook", outlook_json(decision))

    def _store_reliability(self, run_id: str, current: Refit | None) -> None:
        """Keep the final reliability's parts in ``extra["reliability"]`` (see
        :func:`reliability_json`); the reported figure itself is ``runs.reliability``."""
        if current is not None:
            self._store_extra(run_id, "reliability", reliability_json(current))

    def _store_extra(self, run_id: str, key: str, value: dict[str, Any]) -> None:
        with self.db.session() as s:
            run = s.get(Run, run_id)
            if run is None or run.status in TERMINAL:
                return
            settings = dict(run.settings)
            extra = dict(settings.get("extra") or {})
            extra[key] = value
            settings["extra"] = extra
            run.settings = settings

    def _pause(self, run_id: str, in_flight: list[str]) -> str:
        """Pause the run: pairs of ``in_flight`` still *sent* go back to *planned* and get
        their attempt back (they were interrupted, not unanswered)."""
        with self.db.session() as s:
            run = s.get(Run, run_id)
            if run is None:
                return RunStatus.PAUSED.value
            if run.status in TERMINAL:
                return run.status
            if in_flight and not self._batch_wave_saved(s, run_id, in_flight):
                s.execute(
                    update(Comparison)
                    .where(
                        Comparison.id.in_(in_flight),
                        Comparison.status == ComparisonStatus.SENT.value,
                    )
                    .values(
                        status=ComparisonStatus.PLANNED.value,
                        attempts=func.max(Comparison.attempts - 1, 0),
                    )
                    .execution_options(synchronize_session=False)
                )
            if self.holder is None or run.lease_holder in (None, self.holder):
                run.status = RunStatus.PAUSED.value
                run.batch.status = BatchStatus.PAUSED.value
            return run.status

    def _set_status(self, run_id: str, status: RunStatus) -> None:
        with self.db.session() as s:
            run = s.get(Run, run_id)
            if run is not None and run.status not in TERMINAL:
                run.status = status.value
                if status is RunStatus.PAUSED:
                    run.batch.status = BatchStatus.PAUSED.value

    # ------------------------------------------------------------------ sending

    async def _send(
        self,
        w: Workers,
        run_id: str,
        texts: list[str],
        todo: list[tuple[str, int, int]],
        context: AssignmentContext,
        cancel: CancelToken,
        counter: _Counter,
        progress: Callable[[str], None],
    ) -> None:
        ids = [cid for cid, _, _ in todo]
        await w.db(self._mark_sent, ids, True)
        tasks = _wave_tasks(todo, texts)
        # A verdict that cannot be stored (database locked, disk full) stops the wave: the
        # dispatch is cancelled (no more calls are paid for), the pair stays *sent* and goes
        # back to *planned* when the run pauses.
        dispatch = CancelToken()
        cancel.on_cancel(lambda: dispatch.cancel(cancel.reason))
        faults: list[DatabaseError] = []

        async def store(outcome: PairOutcome) -> None:
            if faults:
                return
            try:
                await w.db(self._record, run_id, outcome)
            except DatabaseError as fault:
                faults.append(fault)
                dispatch.cancel("the database cannot be written")
                return
            if outcome.verdict is not None:
                counter.done += 1
            else:
                counter.failed += 1
            progress("verdict")

        try:
            summary = await until_cancelled(self.dispatcher.run(context, tasks, store), dispatch)
        except OperationCancelledError:
            if faults:
                raise faults[0] from None
            raise
        if faults:
            raise faults[0]
        refused = [
            o
            for o in summary.outcomes
            if o.category in (FailureCategory.AUTH, FailureCategory.BAD_REQUEST)
        ]
        if refused and summary.verdicts == 0:
            # Every request was refused (key, model, request): pause rather than burn the budget.
            await w.db(self._set_status, run_id, RunStatus.PAUSED)
            raise JudgeRefusedError(f"the judge refused the requests: {refused[0].message}")
        if summary.calls and summary.cost_usd:
            counter.cost += summary.cost_usd
            await w.db(self._share_cost, ids, summary.cost_usd)

    def _batch_wave_saved(self, s: Any, run_id: str, ids: list[str]) -> bool:
        """Whether the pairs ``ids`` belong to a provider batch whose job is saved (such pairs
        stay *sent* when the run pauses: their batch is fetched by id on resume)."""
        waves = set(s.scalars(select(Comparison.wave).where(Comparison.id.in_(ids))))
        run = s.get(Run, run_id)
        settings = RunSettings.from_json(run.settings if run is not None else {})
        return settings.mode == "provider_batch" and bool(
            waves & saved_waves(s, run_id, legacy_batch_dir(self.db))
        )

    @staticmethod
    def _wave_key(run_id: str, wave: int) -> str:
        """The key a wave's provider batch is marked with (stable across restarts)."""
        return hashlib.sha256(f"{run_id}:{wave}".encode()).hexdigest()[:20]

    def _wave_of(self, ids: list[str]) -> int:
        with self.db.read() as s:
            waves = set(s.scalars(select(Comparison.wave).where(Comparison.id.in_(ids))))
        return max(waves) if waves else 0

    async def _send_batch(
        self,
        w: Workers,
        run_id: str,
        texts: list[str],
        todo: list[tuple[str, int, int]],
        context: AssignmentContext,
        settings: RunSettings,
        cancel: CancelToken,
        counter: _Counter,
        progress: Callable[[str], None],
    ) -> None:
        """Send a wave as one provider batch (OpenAI Batch API / Anthropic Message Batches).

        The batch job is saved before anything else happens, so after a crash or a pause the
        same batch is polled and fetched by its id instead of being submitted again. A crash
        between the provider creating the batch and the job being saved leaves the wave's
        intent: the next attempt finds the batch at the provider and adopts it (see
        :func:`app.llm.batch.find_submitted`) rather than paying for the wave twice. Every poll
        counts as progress, so a batch slower than the stall timeout is not taken for a stall.
        """
        ids = [cid for cid, _, _ in todo]
        wave = await w.db(self._wave_of, ids)
        await w.db(self._mark_sent, ids, False)
        tasks = _wave_tasks(todo, texts)
        provider = self.dispatcher.provider
        assert isinstance(provider, BaseProvider), "provider batches need an HTTP provider"

        def polled(_job: BatchJob) -> None:
            # A missed touch is harmless (the next poll touches again); its error is dropped.
            touched = w.db_soon(self._touch_run, run_id)
            touched.add_done_callback(lambda f: f.cancelled() or f.exception())
            progress("poll")

        # The poll loop obeys the token itself: it stops between polls, leaving the batch to
        # run on at the provider, and raises OperationCancelledError.
        summary = await run_batch_summary(
            provider,
            context,
            tasks,
            store=DbJobStore(self.db, run_id, wave),
            poll_interval_s=settings.poll_interval_s,
            pairs_per_request=settings.bundle_size,
            seed=settings.seed,
            wave_key=self._wave_key(run_id, wave),
            on_poll=polled,
            cancel=cancel,
        )
        for outcome in summary.outcomes:
            await w.db(self._record, run_id, outcome)
            if outcome.verdict is not None:
                counter.done += 1
            else:
                counter.failed += 1
        counter.cost += summary.cost_usd
        await w.db(self._share_cost, ids, summary.cost_usd, summary.job.batch_id)

    # ------------------------------------------------------------------ progress

    def _emit(
        self,
        on_progress: ProgressCallback | None,
        run_id: str,
        settings: RunSettings,
        current: Refit | None,
        wave: int,
        started: float,
        kind: str,
        counter: _Counter,
        status: str,
        detail: str = "",
    ) -> None:
        if on_progress is None:
            return
        elapsed = asyncio.get_running_loop().time() - started
        done = counter.done
        eta = elapsed / done * max(0, settings.budget - done) if done else None
        on_progress(
            ProgressEvent(
                run_id,
                done,
                settings.budget,
                counter.failed,
                counter.cost,
                float("nan") if current is None else current.reliability,
                eta,
                wave,
                status,
                kind,
                detail,
                (float("nan"), float("nan")) if current is None else current.interval,
            )
        )


def _wave_tasks(todo: list[tuple[str, int, int]], texts: list[str]) -> list[PairTask]:
    """The wave's pairs as tasks, each tagged with its planned bundle: the connected component
    of the wave's pairs it belongs to (a wave's groups share no essay, :mod:`core.groups`)."""
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for _, a, b in todo:
        parent[find(a)] = find(b)
    return [PairTask(cid, texts[a], texts[b], group=f"g{find(a)}") for cid, a, b in todo]


async def _relay(stop: asyncio.Event, token: CancelToken) -> None:
    await stop.wait()
    token.cancel("paused")


# ---------------------------------------------------------------------- compute thread


def _decide_next(
    state: RunState,
    current: Refit | None,
    previous: Refit | None,
    settings: RunSettings,
    setup: _Setup,
    wave_seed: int,
) -> _Next:
    """Refit when there are new verdicts, apply the stopping rule, and plan the next wave."""
    n = len(state.essay_ids)
    rule = settings.rule()
    if state.verdicts and (current is None or current.data.size != len(state.verdicts)):
        previous, current = (
            current,
            refit(
                n,
                state.verdicts,
                use_confidence=settings.use_confidence,
                previous=None if current is None else current.fit,
                seed=settings.seed,
            ),
        )
    progress = _progress(n, state, current, previous)
    decision = decide(rule, progress)
    if decision.stop:
        return _Next(current, decision, [])
    remaining = rule.budget - len(state.verdicts)
    scheduler_state = SchedulerState(
        n_items=n,
        shown=state.shown,
        abilities=None if current is None else current.fit.abilities,
        se=None if current is None else current.fit.se,
        boundary_uncertainty=_boundary_uncertainty(
            current, state.essay_ids, setup.anchor_grades, setup.scale
        ),
        soft_evidence=current is not None and current.soft_model == "logit",
        min_comparisons=rule.min_comparisons_per_essay,
        audit_share=AUDIT_SHARE,
    )
    if settings.mode != "per_request" and settings.bundle_size > 1:
        # Bundles whose pairs share essays: each essay is rendered once per call.
        size = min(settings.wave_size or group_wave_size(n, settings.bundle_size), remaining)
        groups = plan_group_wave(
            scheduler_state, size, settings.bundle_size, seed=settings.seed, wave=wave_seed
        )
        pairs = [pair for group in groups for pair in group][:remaining]
    else:
        size = min(settings.wave_size or default_wave_size(n), remaining)
        pairs = plan_wave(scheduler_state, size, seed=settings.seed, wave=wave_seed)
    if not pairs:
        decision = decide(rule, replace(progress, pairs_available=False))
    return _Next(current, decision, pairs)


def _scale_or_none(session: Session, scale_id: str) -> GradeScale | None:
    """The assignment's grade scale (built-in or custom), or None when there is none."""
    try:
        return resolve_scale(session, scale_id)
    except ValueError:
        return None


def _boundary_uncertainty(
    current: Refit | None,
    essay_ids: list[str],
    anchor_grades: dict[str, tuple[str, str]],
    scale: GradeScale | None,
) -> NDArray[np.float64] | None:
    """1 − the largest grade probability per essay, when the anchors allow grading; the
    scheduler then spends extra comparisons where grade boundaries are uncertain."""
    if current is None or scale is None or len({g for g, _ in anchor_grades.values()}) < 2:
        return None
    fit = current.fit
    anchors = [
        AnchorObservation(float(fit.abilities[i]), float(fit.se[i]), *anchor_grades[eid])
        for i, eid in enumerate(essay_ids)
        if eid in anchor_grades
    ]
    try:
        grading = grade_essays(fit.abilities, fit.se, anchors, scale)
    except ValueError:
        return None
    return np.array([1.0 - max(g.probabilities.values()) for g in grading.essays])


def _progress(
    n: int, state: RunState, current: Refit | None, previous: Refit | None
) -> RunProgress:
    counts = np.zeros(n, dtype=np.intp)
    for v in state.verdicts:
        counts[v.first] += 1
        counts[v.second] += 1
    return RunProgress(
        n_essays=n,
        results=len(state.verdicts),
        failures=state.failed,
        min_comparisons=int(counts.min()) if n else 0,
        reliability=float("nan") if current is None else current.reliability,
        previous_reliability=float("nan") if previous is None else previous.reliability,
        rms_se=float("nan") if current is None else current.rms_se,
        converged=True if current is None else current.converged,
        reliability_high=float("nan") if current is None else current.interval[1],
        previous_reliability_high=float("nan") if previous is None else previous.interval[1],
        previous_results=0 if previous is None else previous.data.size,
    )


def reliability_json(current: Refit) -> dict[str, Any]:
    """The parts of a refit's reported reliability, as stored on a run that stopped.

    ``low``/``high``: its 90 % interval; ``split_half``: the split-half figure alone;
    ``calibration_slope`` (β) and its ``calibration_slope_se``; ``audit_share`` of the waves
    (as scaled for the batch's size).
    Non-finite values are stored as None.
    """

    def num(x: float) -> float | None:
        return round(float(x), 4) if np.isfinite(x) else None

    low, high = current.interval
    return {
        "low": num(low),
        "high": num(high),
        "split_half": num(current.honest),
        "calibration_slope": num(current.slope.slope),
        "calibration_slope_se": num(current.slope.se),
        "audit_share": round(audit_share_at(AUDIT_SHARE, int(current.fit.abilities.shape[0])), 4),
    }


def outlook_json(decision: StopDecision) -> dict[str, Any]:
    """The out-of-reach advice of a decision as stored on the run (empty without one)."""
    out = decision.outlook
    if out is None:
        return {}
    return {
        "reachable": round(out.reachable, 4),
        "needed": out.needed,
        "budget": out.budget,
        "target": out.target,
        "message": decision.message,
    }
