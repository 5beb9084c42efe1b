"""A comparative-judgement run as a loop over durable state.

Each turn of the loop reads the run's comparisons from the database, refits (engine), decides
(engine), and either hands the run to the finaliser or plans a wave, stores it as *planned*,
marks it *sent*, dispatches it, and stores every verdict the moment it arrives. Killing the
process anywhere loses nothing that was answered: on the next start, *planned* pairs are sent,
pairs left *sent* by the crash are re-sent once (then fail), and the loop continues from the
stored verdicts.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.db.engine import Database
from app.db.models import (
    BatchStatus,
    Comparison,
    ComparisonStatus,
    Essay,
    Run,
    RunStatus,
    Student,
)
from app.db.store import NewComparison, add_comparisons, load_run_state, mark_comparisons
from app.llm.batch import run_batch_summary
from app.llm.dispatcher import Dispatcher, PairOutcome
from app.llm.providers.base import BaseProvider
from app.llm.types import FailureCategory, PairTask
from app.runs.finaliser import TERMINAL, finalise
from core.engine import Refit, Verdict, default_wave_size, refit
from core.grading import AnchorObservation, grade_essays
from core.prompt import AssignmentContext
from core.redact import redact_identity
from core.scales import get_scale
from core.scheduler import SchedulerState, plan_wave
from core.stopping import RunProgress, StoppingRule, decide
from core.verdict import confidence_to_probability

#: A pair left *sent* by a crash is re-sent once; after that it fails.
MAX_RESENDS_AFTER_CRASH = 1


class JudgeRefusedError(RuntimeError):
    """Every request of a wave was refused (bad key, unknown model, bad request); the run is
    paused so it can be resumed once the judge settings are fixed."""


def now_utc() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class RunSettings:
    """The frozen settings of a run (stored as JSON on the run)."""

    budget: int = 120
    target_reliability: float | None = 0.80
    min_comparisons_per_essay: int = 5
    use_confidence: bool = True
    wave_size: int | None = None
    provider: str = "sim"
    model: str = "sim-gpt51-low"
    mode: str = "bundle"
    bundle_size: int = 4
    prompt_version: str = "cj-v1"
    seed: int = 0
    redact_identity: bool = True
    """Keep the writer's name, e-mail and code from the judge (see :mod:`core.redact`)."""
    extra: dict[str, Any] = field(default_factory=dict)

    def rule(self) -> StoppingRule:
        return StoppingRule(
            budget=self.budget,
            target_reliability=self.target_reliability,
            min_comparisons_per_essay=self.min_comparisons_per_essay,
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunSettings:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


@dataclass(frozen=True)
class ProgressEvent:
    """What a progress bar shows after each wave and each verdict."""

    run_id: str
    done: int
    budget: int
    failed: int
    cost_usd: float
    reliability: float
    eta_s: float | None
    wave: int
    status: str


ProgressCallback = Callable[[ProgressEvent], None]


@dataclass
class _State:
    essay_ids: list[str]
    verdicts: list[Verdict]
    shown: list[tuple[int, int]]
    planned: list[tuple[str, int, int]]
    failed: int
    cost_usd: float
    next_wave: int


def _load(session: Session, run: Run) -> _State:
    """The run's state through the bulk store layer (two queries and a sum)."""
    state = load_run_state(session, run.id)
    verdicts: list[Verdict] = []
    shown: list[tuple[int, int]] = []
    planned: list[tuple[str, int, int]] = []
    failed = 0
    for k, status in enumerate(state.status):
        a, b = int(state.first[k]), int(state.second[k])
        if status == ComparisonStatus.DONE and state.first_wins[k] >= 0:
            p = float(state.probability_first[k])
            verdicts.append(
                Verdict(a, b, bool(state.first_wins[k]), p if math.isfinite(p) else None)
            )
            shown.append((a, b))
        elif status in (ComparisonStatus.PLANNED, ComparisonStatus.SENT):
            planned.append((state.comparison_ids[k], a, b))
            shown.append((a, b))
        else:
            failed += 1
    cost = session.scalar(
        select(func.coalesce(func.sum(Comparison.cost_usd), 0.0)).where(Comparison.run_id == run.id)
    )
    next_wave = int(state.wave.max()) + 1 if len(state.wave) else 0
    return _State(state.essay_ids, verdicts, shown, planned, failed, float(cost or 0.0), next_wave)


def _texts(session: Session, essay_ids: list[str], redact: bool = True) -> list[str]:
    """The texts the judge is shown, in ``essay_ids`` order: with ``redact``, the writer's
    identity (name lines, e-mail addresses, the student's full name and code) is replaced
    (:func:`core.redact.redact_identity`); the stored essays are never changed."""
    rows = session.execute(
        select(Essay.id, Essay.text, Student.first_name, Student.last_name, Student.code)
        .outerjoin(Student, Student.id == Essay.student_id)
        .where(Essay.id.in_(essay_ids))
    ).all()
    by_id: dict[str, str] = {}
    for essay_id, stored, first, last, code in rows:
        names = [(first, last)] if first and last else []
        by_id[essay_id] = (
            redact_identity(stored, names, [code] if code else []) if redact else stored
        )
    return [by_id[i] for i in essay_ids]


class Orchestrator:
    """Drives runs of one database with one dispatcher (one provider)."""

    def __init__(self, db: Database, dispatcher: Dispatcher) -> None:
        self.db = db
        self.dispatcher = dispatcher

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
    ) -> str:
        """Drive the run until it ends (returns its status) or ``stop`` is set (returns
        "paused"; :meth:`run` again resumes it). Terminal runs are returned untouched."""
        with self.db.session() as s:
            run = s.get(Run, run_id)
            if run is None:
                raise KeyError(f"no run with id {run_id}")
            if run.status in TERMINAL:
                return run.status
            settings = RunSettings.from_json(run.settings)
            assignment = run.batch.assignment
            scale_id = assignment.grade_scale
            anchor_grades = {
                e.id: (e.anchor.grade, e.anchor.label)
                for e in run.batch.essays
                if e.is_anchor and e.anchor is not None and e.deleted_at is None
            }
            context = AssignmentContext(
                assignment.title,
                assignment.student_prompt,
                assignment.assessment_criteria,
                assignment.judge_rubric,
            )
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
                    return run.status
            run.status = RunStatus.RUNNING.value
            run.started_at = run.started_at or now_utc()
            run.batch.status = BatchStatus.PROCESSING.value
            # Pairs a crash left in flight are sent once more; after that they fail. A provider
            # batch wave without a saved job is sent through the same path, which first looks
            # for a batch the provider created before the crash.
            for c in s.scalars(
                select(Comparison).where(
                    Comparison.run_id == run_id, Comparison.status == ComparisonStatus.SENT
                )
            ):
                if settings.mode == "provider_batch" and self._batch_state(run_id, c.wave).exists():
                    continue  # its provider batch is fetched by id, never submitted again
                if c.attempts > MAX_RESENDS_AFTER_CRASH:
                    c.status = ComparisonStatus.FAILED.value
                    c.error_category = "no_answer"
                    c.error_message = "sent before an interruption and again after it, unanswered"
                else:
                    c.status = ComparisonStatus.PLANNED.value
        rule = settings.rule()
        current: Refit | None = None
        previous: Refit | None = None
        wave = 0
        started = asyncio.get_running_loop().time()
        while True:
            with self.db.session() as s:
                run = s.get(Run, run_id)
                assert run is not None
                if run.status in TERMINAL:
                    return run.status  # ended elsewhere (the monitor, a cancel)
                state = _load(s, run)
                texts = _texts(s, state.essay_ids, settings.redact_identity)
                n = len(state.essay_ids)
                todo = list(state.planned)
            if stop is not None and stop.is_set():
                self._set_status(run_id, RunStatus.PAUSED)
                return RunStatus.PAUSED.value
            if not todo:
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
                if not decision.stop:
                    size = min(
                        settings.wave_size or default_wave_size(n),
                        rule.budget - len(state.verdicts),
                    )
                    pairs = plan_wave(
                        SchedulerState(
                            n_items=n,
                            shown=state.shown,
                            abilities=None if current is None else current.fit.abilities,
                            se=None if current is None else current.fit.se,
                            boundary_uncertainty=_boundary_uncertainty(
                                current, state.essay_ids, anchor_grades, scale_id
                            ),
                            soft_evidence=current is not None and current.soft_model == "logit",
                            min_comparisons=rule.min_comparisons_per_essay,
                        ),
                        size,
                        seed=settings.seed,
                        wave=len(state.shown),
                    )
                    if not pairs:
                        decision = decide(rule, replace(progress, pairs_available=False))
                if decision.stop:
                    return finalise(self.db, run_id, decision, current)
                # Wave numbers continue across restarts (provider batches are saved per wave).
                todo = self._store_planned(run_id, state, pairs, state.next_wave)
            if settings.mode == "provider_batch":
                await self._send_batch(run_id, texts, todo, context, settings)
            else:
                await self._send(run_id, texts, todo, context)
            wave += 1
            if on_progress is not None:
                on_progress(self._event(run_id, settings, current, wave, started))

    def _store_planned(
        self, run_id: str, state: _State, pairs: list[tuple[int, int]], wave: int
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

    async def _send(
        self,
        run_id: str,
        texts: list[str],
        todo: list[tuple[str, int, int]],
        context: AssignmentContext,
    ) -> None:
        with self.db.session() as s:
            mark_comparisons(
                s, [cid for cid, _, _ in todo], ComparisonStatus.SENT.value, count_attempt=True
            )
        tasks = [PairTask(cid, texts[a], texts[b]) for cid, a, b in todo]

        def store(outcome: PairOutcome) -> None:
            # Every verdict is written the moment it arrives.
            with self.db.session() as s:
                self._recorder(s, run_id)(outcome)

        summary = await self.dispatcher.run(context, tasks, store)
        refused = [
            o
            for o in summary.outcomes
            if o.category in (FailureCategory.AUTH, FailureCategory.BAD_REQUEST)
        ]
        if refused and summary.verdicts == 0:
            # Every request was refused (key, model, request): pause rather than burn the budget.
            self._set_status(run_id, RunStatus.PAUSED)
            raise JudgeRefusedError(f"the judge refused the requests: {refused[0].message}")
        if summary.calls and summary.cost_usd:
            share = summary.cost_usd / max(1, len(todo))
            with self.db.session() as s:
                for cid, _, _ in todo:
                    c = s.get(Comparison, cid)
                    if c is not None:
                        c.cost_usd = share

    @staticmethod
    def _recorder(s: Session, run_id: str) -> Callable[[PairOutcome], None]:
        def record(outcome: PairOutcome) -> None:
            c = s.get(Comparison, outcome.pair_id)
            assert c is not None
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
            run = s.get(Run, run_id)
            assert run is not None
            run.last_progress_at = now_utc()

        return record

    def _batch_state(self, run_id: str, wave: int) -> Path:
        """Where the provider batch of one wave is saved (beside the database)."""
        return self.db.path.parent / "batches" / f"{run_id}-wave{wave}.json"

    @staticmethod
    def _wave_key(run_id: str, wave: int) -> str:
        """The key a wave's provider batch is marked with (stable across restarts)."""
        return hashlib.sha256(f"{run_id}:{wave}".encode()).hexdigest()[:20]

    async def _send_batch(
        self,
        run_id: str,
        texts: list[str],
        todo: list[tuple[str, int, int]],
        context: AssignmentContext,
        settings: RunSettings,
    ) -> None:
        """Send a wave as one provider batch (OpenAI Batch API / Anthropic Message Batches).

        The batch job is saved before anything else happens, so after a crash the same batch
        is polled and fetched by its id instead of being submitted again. A crash between the
        provider creating the batch and the job being saved leaves the wave's intent file: the
        next attempt finds the batch at the provider and adopts it (see
        :func:`app.llm.batch.find_submitted`) rather than paying for the wave twice.
        """
        with self.db.session() as s:
            waves = set(
                s.scalars(select(Comparison.wave).where(Comparison.id.in_([c for c, _, _ in todo])))
            )
            mark_comparisons(s, [cid for cid, _, _ in todo], ComparisonStatus.SENT.value)
        wave = max(waves) if waves else 0
        tasks = [PairTask(cid, texts[a], texts[b]) for cid, a, b in todo]
        provider = self.dispatcher.provider
        assert isinstance(provider, BaseProvider), "provider batches need an HTTP provider"
        summary = await run_batch_summary(
            provider,
            context,
            tasks,
            state_path=self._batch_state(run_id, wave),
            poll_interval_s=settings.extra.get("poll_interval_s", 30.0),
            pairs_per_request=settings.bundle_size,
            seed=settings.seed,
            wave_key=self._wave_key(run_id, wave),
        )
        with self.db.session() as s:
            record = self._recorder(s, run_id)
            for outcome in summary.outcomes:
                record(outcome)
            for cid, _, _ in todo:
                c = s.get(Comparison, cid)
                if c is not None:
                    c.provider_batch_id = summary.job.batch_id
                    c.cost_usd = summary.cost_usd / max(1, len(todo))

    def _set_status(self, run_id: str, status: RunStatus) -> None:
        with self.db.session() as s:
            run = s.get(Run, run_id)
            if run is not None and run.status not in TERMINAL:
                run.status = status.value
                if status is RunStatus.PAUSED:
                    run.batch.status = BatchStatus.PAUSED.value

    def _event(
        self,
        run_id: str,
        settings: RunSettings,
        current: Refit | None,
        wave: int,
        started: float,
    ) -> ProgressEvent:
        with self.db.session() as s:
            run = s.get(Run, run_id)
            assert run is not None
            state = _load(s, run)
        done = len(state.verdicts)
        elapsed = asyncio.get_running_loop().time() - started
        eta = elapsed / done * (settings.budget - done) if done else None
        return ProgressEvent(
            run_id,
            done,
            settings.budget,
            state.failed,
            state.cost_usd,
            float("nan") if current is None else current.reliability,
            eta,
            wave,
            RunStatus.RUNNING.value,
        )


def _boundary_uncertainty(
    current: Refit | None,
    essay_ids: list[str],
    anchor_grades: dict[str, tuple[str, str]],
    scale_id: str,
) -> NDArray[np.float64] | None:
    """1 − the largest grade probability per essay, when the anchors allow grading; the
    scheduler then spends extra comparisons where grade boundaries are uncertain."""
    if current is None or len({g for g, _ in anchor_grades.values()}) < 2:
        return None
    fit = current.fit
    anchors = [
        AnchorObservation(float(fit.abilities[i]), float(fit.se[i]), *anchor_grades[eid])
        for i, eid in enumerate(essay_ids)
        if eid in anchor_grades
    ]
    try:
        grading = grade_essays(fit.abilities, fit.se, anchors, get_scale(scale_id))
    except ValueError:
        return None
    return np.array([1.0 - max(g.probabilities.values()) for g in grading.essays])


def cancel_run(db: Database, run_id: str) -> str | None:
    """Cancel a run that has not ended: results from the verdicts so far are written, the
    status becomes *cancelled*. Returns the final status (None for an unknown run)."""
    from app.runs.monitor import refit_stored  # noqa: PLC0415

    with db.session() as s:
        run = s.get(Run, run_id)
        if run is None:
            return None
        if run.status in TERMINAL:
            return run.status
    return finalise(
        db,
        run_id,
        None,
        refit_stored(db, run_id),
        reason="cancelled",
        status=RunStatus.CANCELLED,
    )


def _progress(n: int, state: _State, current: Refit | None, previous: Refit | None) -> RunProgress:
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
    )
