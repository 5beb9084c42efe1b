"""Fast bulk storage of essays and comparisons, and loading a run's state for the engine.

The run orchestrator writes thousands of rows at a time (a batch's essays, a wave of planned
comparisons) and reloads a run's whole state on resume. The ORM's unit of work is far too slow
for that, so this module uses SQLAlchemy Core: one ``INSERT`` compiled once and executed with
the driver's ``executemany``, and one ``SELECT`` per table on load.

Every function takes a :class:`~sqlalchemy.engine.Connection` (or a
:class:`~sqlalchemy.orm.Session`, whose connection is used) and runs inside the caller's
transaction; nothing here commits. Typical use::

    with db.engine.begin() as conn:
        essay_ids = add_essays(conn, batch_id, [NewEssay(text, content_hash(text))])
        add_comparisons(conn, run_id, [NewComparison(essay_ids[0], essay_ids[1], wave=0)])
    with db.engine.connect() as conn:
        state = load_run_state(conn, run_id)
        data = state.comparison_set()

Rows written together share one ``created_at``/``updated_at`` timestamp, computed once and bound
once, so a bulk insert does no per-row date conversion.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import (
    Connection,
    String,
    bindparam,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.orm import Session

from app.db.models import Base, Comparison, ComparisonStatus, Essay, Run, utcnow
from core.comparisons import ComparisonSet

ESSAYS = Base.metadata.tables[Essay.__tablename__]
COMPARISONS = Base.metadata.tables[Comparison.__tablename__]
RUNS = Base.metadata.tables[Run.__tablename__]

#: Ids per ``IN (...)`` list, well under SQLite's limit on bound variables.
ID_CHUNK = 500

#: ``first_wins`` codes in :attr:`RunState.first_wins`.
UNKNOWN, SECOND_WINS, FIRST_WINS = -1, 0, 1


class NewEssay(NamedTuple):
    """An essay to store in a batch. ``id`` is generated when ``None``."""

    text: str
    content_hash: str
    source_file: str | None = None
    student_id: str | None = None
    is_anchor: bool = False
    anchor_id: str | None = None
    match_confidence: float | None = None
    match_confirmed: bool = False
    id: str | None = None


class NewComparison(NamedTuple):
    """A comparison to store in a run, usually *planned*. ``id`` is generated when ``None``."""

    first_essay_id: str
    second_essay_id: str
    wave: int = 0
    status: str = ComparisonStatus.PLANNED.value
    first_wins: bool | None = None
    probability_first: float | None = None
    id: str | None = None


class Verdict(NamedTuple):
    """A judge's answer for one stored comparison (see :func:`record_verdicts`)."""

    comparison_id: str
    first_wins: bool
    probability_first: float | None = None
    confidence: float | None = None
    justification: str | None = None
    input_tokens: int | None = None
    cached_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None
    latency_ms: float | None = None


@dataclass(frozen=True)
class RunState:
    """A run's essays and comparisons as parallel arrays, in a stable order.

    Essays are the live essays of the run's batch, ordered by ``(created_at, id)``; an essay's
    index is its position in :attr:`essay_ids`. Comparisons are the run's live comparisons,
    ordered by ``(wave, created_at, id)``. ``first_wins`` holds 1 (first shown won), 0 (second
    won) or -1 (no verdict yet); ``probability_first`` is NaN where the judge gave none.
    """

    run_id: str
    essay_ids: list[str]
    comparison_ids: list[str]
    first: NDArray[np.intp]
    second: NDArray[np.intp]
    wave: NDArray[np.int64]
    status: list[str]
    first_wins: NDArray[np.int8]
    probability_first: NDArray[np.float64]

    @property
    def n_essays(self) -> int:
        return len(self.essay_ids)

    @property
    def n_comparisons(self) -> int:
        return len(self.comparison_ids)

    def status_mask(self, *statuses: str) -> NDArray[np.bool_]:
        """Which comparisons have one of ``statuses``."""
        wanted = set(statuses)
        return np.fromiter((s in wanted for s in self.status), dtype=bool, count=len(self.status))

    def judged_mask(self) -> NDArray[np.bool_]:
        """Comparisons that are *done* and carry a verdict."""
        done: NDArray[np.bool_] = self.status_mask(ComparisonStatus.DONE.value)
        return done & (self.first_wins >= 0)

    def comparison_set(self, *, use_probability: bool = False) -> ComparisonSet:
        """The judged comparisons for the fitter; outcome = 1/0 verdicts, or the judge's
        probability that the first essay is better where one exists (``use_probability``)."""
        mask = self.judged_mask()
        outcome = self.first_wins[mask].astype(np.float64)
        if use_probability:
            p = self.probability_first[mask]
            outcome = np.where(np.isnan(p), outcome, p)
        return ComparisonSet.from_arrays(
            self.n_essays, self.first[mask], self.second[mask], outcome
        )


# --------------------------------------------------------------------------- helpers


def new_ids(n: int) -> list[str]:
    """``n`` random (version 4) UUID strings, generated in bulk."""
    if n <= 0:
        return []
    raw = np.frombuffer(os.urandom(16 * n), dtype=np.uint8).reshape(n, 16).copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80
    text = raw.tobytes().hex()
    return [
        f"{text[i : i + 8]}-{text[i + 8 : i + 12]}-{text[i + 12 : i + 16]}-"
        f"{text[i + 16 : i + 20]}-{text[i + 20 : i + 32]}"
        for i in range(0, 32 * n, 32)
    ]


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while bulk rows are built.

    Hundreds of thousands of fresh tuples and dicts (none of them in reference cycles) would
    otherwise trigger repeated full collections that cost more than the work itself.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _connection(conn: Connection | Session) -> Connection:
    return conn.connection() if isinstance(conn, Session) else conn


def _stamp(conn: Connection, when: datetime | None) -> Any:
    """``when`` (default: now) as the literal the timestamp columns store, bound once."""
    column_type = ESSAYS.c.created_at.type
    processor = column_type.bind_processor(conn.dialect)
    value: Any = when or utcnow()
    if processor is not None:
        value = processor(value)
    return literal(value, String())


# --------------------------------------------------------------------------- writing


def add_essays(
    conn: Connection | Session,
    batch_id: str,
    rows: Iterable[NewEssay],
    *,
    when: datetime | None = None,
) -> list[str]:
    """Insert essays into a batch in one ``executemany``; returns their ids in order."""
    with _gc_paused():
        return _add_essays(_connection(conn), batch_id, list(rows), when)


def _add_essays(
    connection: Connection, batch_id: str, items: list[NewEssay], when: datetime | None
) -> list[str]:
    if not items:
        return []
    fresh = iter(new_ids(sum(1 for r in items if r.id is None)))
    ids = [r.id if r.id is not None else next(fresh) for r in items]
    params = [
        {
            "id": essay_id,
            "batch_id": batch_id,
            "text": r.text,
            "source_file": r.source_file,
            "content_hash": r.content_hash,
            "student_id": r.student_id,
            "match_confidence": r.match_confidence,
            "match_confirmed": r.match_confirmed,
            "is_anchor": r.is_anchor,
            "anchor_id": r.anchor_id,
        }
        for essay_id, r in zip(ids, items, strict=True)
    ]
    stamp = _stamp(connection, when)
    connection.execute(insert(ESSAYS).values(created_at=stamp, updated_at=stamp), params)
    return ids


def add_comparisons(
    conn: Connection | Session,
    run_id: str,
    rows: Iterable[NewComparison],
    *,
    when: datetime | None = None,
) -> list[str]:
    """Insert comparisons into a run in one ``executemany``; returns their ids in order."""
    with _gc_paused():
        return _add_comparisons(_connection(conn), run_id, list(rows), when)


def _add_comparisons(
    connection: Connection, run_id: str, items: list[NewComparison], when: datetime | None
) -> list[str]:
    if not items:
        return []
    fresh = iter(new_ids(sum(1 for r in items if r.id is None)))
    ids = [r.id if r.id is not None else next(fresh) for r in items]
    params = [
        {
            "id": comparison_id,
            "run_id": run_id,
            "first_essay_id": r.first_essay_id,
            "second_essay_id": r.second_essay_id,
            "wave": r.wave,
            "status": r.status,
            "first_wins": r.first_wins,
            "probability_first": r.probability_first,
        }
        for comparison_id, r in zip(ids, items, strict=True)
    ]
    stamp = _stamp(connection, when)
    statement = insert(COMPARISONS).values(created_at=stamp, updated_at=stamp, attempts=0)
    connection.execute(statement, params)
    return ids


def mark_comparisons(
    conn: Connection | Session,
    ids: Sequence[str],
    status: str,
    *,
    provider_batch_id: str | None = None,
    provider_request_id: str | None = None,
    error_category: str | None = None,
    error_message: str | None = None,
    count_attempt: bool = False,
    when: datetime | None = None,
) -> int:
    """Set the status of the given comparisons; returns how many rows changed.

    Marking *sent* stamps ``sent_at``; the provider ids and error fields are written only when
    given. ``count_attempt`` adds one to ``attempts`` (each send is an attempt).
    """
    connection = _connection(conn)
    moment = when or utcnow()
    values: dict[str, Any] = {"status": str(status), "updated_at": moment}
    if status == ComparisonStatus.SENT.value:
        values["sent_at"] = moment
    if provider_batch_id is not None:
        values["provider_batch_id"] = provider_batch_id
    if provider_request_id is not None:
        values["provider_request_id"] = provider_request_id
    if error_category is not None:
        values["error_category"] = error_category
    if error_message is not None:
        values["error_message"] = error_message
    if count_attempt:
        values["attempts"] = COMPARISONS.c.attempts + 1
    changed = 0
    for start in range(0, len(ids), ID_CHUNK):
        chunk = list(ids[start : start + ID_CHUNK])
        result = connection.execute(
            update(COMPARISONS).where(COMPARISONS.c.id.in_(chunk)).values(**values)
        )
        changed += result.rowcount
    return changed


def record_verdicts(
    conn: Connection | Session,
    verdicts: Iterable[Verdict],
    *,
    when: datetime | None = None,
) -> int:
    """Store judges' answers: each comparison becomes *done* with its verdict and usage."""
    connection = _connection(conn)
    moment = when or utcnow()
    params = [
        {
            "b_id": v.comparison_id,
            "b_first_wins": v.first_wins,
            "b_probability_first": v.probability_first,
            "b_confidence": v.confidence,
            "b_justification": v.justification,
            "b_input_tokens": v.input_tokens,
            "b_cached_tokens": v.cached_tokens,
            "b_output_tokens": v.output_tokens,
            "b_cost_usd": v.cost_usd,
            "b_latency_ms": v.latency_ms,
        }
        for v in verdicts
    ]
    if not params:
        return 0
    columns = [key[2:] for key in params[0] if key != "b_id"]
    statement = (
        update(COMPARISONS)
        .where(COMPARISONS.c.id == bindparam("b_id"))
        .values(
            status=ComparisonStatus.DONE.value,
            updated_at=moment,
            answered_at=moment,
            error_category=None,
            error_message=None,
            **{name: bindparam("b_" + name) for name in columns},
        )
    )
    connection.execute(statement, params)
    return len(params)


# --------------------------------------------------------------------------- reading


def _essays_query(batch_id: str) -> Any:
    """The live essays of a batch, in run order."""
    return (
        select(ESSAYS.c.id)
        .where(ESSAYS.c.batch_id == batch_id, ESSAYS.c.deleted_at.is_(None))
        .order_by(ESSAYS.c.created_at, ESSAYS.c.id)
    )


def _comparisons_query(run_id: str) -> Any:
    """The live comparisons of a run, in stable order."""
    c = COMPARISONS.c
    return (
        select(
            c.id, c.first_essay_id, c.second_essay_id, c.wave, c.status, c.first_wins,
            c.probability_first,
        )
        .where(c.run_id == run_id, c.deleted_at.is_(None))
        .order_by(c.wave, c.created_at, c.id)
    )  # fmt: skip


def load_run_state(conn: Connection | Session, run_id: str) -> RunState:
    """Everything the engine needs to continue a run, read in two queries."""
    with _gc_paused():
        return _load_run_state(_connection(conn), run_id)


def _load_run_state(connection: Connection, run_id: str) -> RunState:
    batch_id = connection.execute(select(RUNS.c.batch_id).where(RUNS.c.id == run_id)).scalar()
    if batch_id is None:
        raise KeyError(f"no run {run_id!r}")
    essay_ids: list[str] = list(connection.execute(_essays_query(batch_id)).scalars())
    rows = connection.execute(_comparisons_query(run_id)).all()
    index = {essay_id: i for i, essay_id in enumerate(essay_ids)}
    m = len(rows)
    if m:
        ids, firsts, seconds, waves, statuses, wins, probs = (
            list(col) for col in zip(*rows, strict=True)
        )
    else:
        ids, firsts, seconds, waves, statuses, wins, probs = [], [], [], [], [], [], []
    try:
        first = np.fromiter(map(index.__getitem__, firsts), dtype=np.intp, count=m)
        second = np.fromiter(map(index.__getitem__, seconds), dtype=np.intp, count=m)
    except KeyError as exc:
        raise ValueError(f"run {run_id!r} refers to an essay not in its batch: {exc}") from None
    # None becomes NaN in a float array.
    wins_float = np.array(wins, dtype=np.float64).reshape(m)
    first_wins = np.where(np.isnan(wins_float), UNKNOWN, wins_float).astype(np.int8)
    probability = np.array(probs, dtype=np.float64).reshape(m)
    return RunState(
        run_id=run_id,
        essay_ids=essay_ids,
        comparison_ids=ids,
        first=first,
        second=second,
        wave=np.fromiter(waves, dtype=np.int64, count=m),
        status=statuses,
        first_wins=first_wins,
        probability_first=probability,
    )
