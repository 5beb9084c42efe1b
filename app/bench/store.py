"""`huleedu bench store`: the local store against plain ``sqlite3``, as one JSON object.

A batch of ``essays`` synthetic essays (about 600 characters each) and a run of ``comparisons``
seeded random pairs (90 % done with a verdict and a probability, the rest planned) are
written and read back twice, each time into a fresh database file built by our migrations:

* **ours**: :func:`app.db.store.add_essays` and :func:`app.db.store.add_comparisons` in one
  transaction through SQLAlchemy, then :func:`app.db.store.load_run_state` (the run's essays and
  comparisons as the engine's index arrays);
* **plain**: the same rows (same ids, timestamps and values) with ``sqlite3``
  ``executemany`` in one transaction on a connection with the same settings (WAL,
  ``synchronous=NORMAL``, foreign keys on), then the same two ``SELECT`` statements with
  ``fetchall``.

Each side is timed best of ``repeats`` (store) and ``load_repeats`` (load), alternating sides.
``store_ratio_vs_sqlite3`` and ``load_ratio_vs_sqlite3`` are ours over plain (bar: ≤ 3).
"""

from __future__ import annotations

import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy

from app.db import Assignment, Batch, ComparisonStatus, Database, Run, open_database
from app.db.store import (
    ESSAYS,
    NewComparison,
    NewEssay,
    add_comparisons,
    add_essays,
    load_run_state,
    new_ids,
)
from core.texts import content_hash

STORE_BAR = 3.0
LOAD_BAR = 3.0
WORDS_PER_ESSAY = 100
DONE_SHARE = 0.9
VOCABULARY_TEXT = (
    "the a of and to in is that it was for on as with his they be at one have this from "
    "essay school argument however because therefore example evidence student teacher reader "
    "writer important believe society change future people think first second finally "
    "conclusion language history science nature world city family friend time year work"
)

PLAIN_ESSAY_SQL = (
    "INSERT INTO essays (id, created_at, updated_at, batch_id, text, source_file, content_hash, "
    "student_id, match_confidence, match_confirmed, is_anchor, anchor_id) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
PLAIN_COMPARISON_SQL = (
    "INSERT INTO comparisons (id, created_at, updated_at, run_id, first_essay_id, "
    "second_essay_id, wave, status, first_wins, probability_first, attempts) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
PLAIN_RUN_SQL = "SELECT batch_id FROM runs WHERE id = ?"
PLAIN_ESSAYS_SQL = (
    "SELECT id FROM essays WHERE batch_id = ? AND deleted_at IS NULL ORDER BY created_at, id"
)
PLAIN_COMPARISONS_SQL = (
    "SELECT id, first_essay_id, second_essay_id, wave, status, first_wins, probability_first "
    "FROM comparisons WHERE run_id = ? AND deleted_at IS NULL ORDER BY wave, created_at, id"
)


class Workload:
    """The rows both sides store, built once (outside every timing)."""

    def __init__(self, essays: int, comparisons: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.batch_id, self.run_id, self.assignment_id = new_ids(3)
        words = np.array(VOCABULARY_TEXT.split())
        picks = rng.integers(0, len(words), size=(essays, WORDS_PER_ESSAY))
        texts = [f"Essay {i}. " + " ".join(words[row]) for i, row in enumerate(picks)]
        self.essay_ids = new_ids(essays)
        self.essays = [
            NewEssay(text, content_hash(text), source_file=f"essay_{i:05d}.txt", id=essay_id)
            for i, (essay_id, text) in enumerate(zip(self.essay_ids, texts, strict=True))
        ]
        first = rng.integers(0, essays, size=comparisons)
        second = (first + rng.integers(1, essays, size=comparisons)) % essays
        done = rng.random(comparisons) < DONE_SHARE
        wins = rng.random(comparisons) < 0.5
        probability = np.round(rng.random(comparisons), 6)
        wave_size = max(essays // 2, 1)
        self.comparisons = [
            NewComparison(
                self.essay_ids[f],
                self.essay_ids[s],
                wave=i // wave_size,
                status=ComparisonStatus.DONE.value if d else ComparisonStatus.PLANNED.value,
                first_wins=bool(w) if d else None,
                probability_first=float(p) if d else None,
            )
            for i, (f, s, d, w, p) in enumerate(
                zip(
                    first.tolist(),
                    second.tolist(),
                    done.tolist(),
                    wins.tolist(),
                    probability.tolist(),
                    strict=True,
                )
            )
        ]
        self.comparison_ids = new_ids(comparisons)


def _prepare(path: Path, work: Workload) -> Database:
    """A fresh database at ``path`` (our migrations) holding the workload's batch and run."""
    db = open_database(path=path)
    with db.session() as session:
        session.add(Assignment(id=work.assignment_id, title="Bench", grade_scale="bench"))
        session.flush()
        session.add(Batch(id=work.batch_id, title="Bench", assignment_id=work.assignment_id))
        session.flush()
        session.add(Run(id=work.run_id, batch_id=work.batch_id))
    return db


def _plain_connection(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = NORMAL")
    connection.execute("PRAGMA foreign_keys = ON")
    return connection


def _stamp_text(db: Database) -> str:
    processor = ESSAYS.c.created_at.type.bind_processor(db.engine.dialect)
    from app.db import utcnow  # noqa: PLC0415

    value: Any = utcnow()
    return str(processor(value) if processor is not None else value)


def _store_ours(db: Database, work: Workload) -> float:
    start = time.perf_counter()
    with db.engine.begin() as conn:
        add_essays(conn, work.batch_id, work.essays)
        add_comparisons(conn, work.run_id, work.comparisons)
    return time.perf_counter() - start


def _plain_rows(work: Workload, stamp: str) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    essays = [
        (
            e.id, stamp, stamp, work.batch_id, e.text, e.source_file, e.content_hash,
            e.student_id, e.match_confidence, int(e.match_confirmed), int(e.is_anchor),
            e.anchor_id,
        )
        for e in work.essays
    ]  # fmt: skip
    comparisons = [
        (
            cid, stamp, stamp, work.run_id, c.first_essay_id, c.second_essay_id, c.wave,
            c.status, None if c.first_wins is None else int(c.first_wins), c.probability_first,
            0,
        )
        for cid, c in zip(work.comparison_ids, work.comparisons, strict=True)
    ]  # fmt: skip
    return essays, comparisons


def _store_plain(
    path: Path, essays: list[tuple[Any, ...]], comparisons: list[tuple[Any, ...]]
) -> float:
    connection = _plain_connection(path)
    try:
        start = time.perf_counter()
        connection.execute("BEGIN")
        connection.executemany(PLAIN_ESSAY_SQL, essays)
        connection.executemany(PLAIN_COMPARISON_SQL, comparisons)
        connection.execute("COMMIT")
        return time.perf_counter() - start
    finally:
        connection.close()


def _load_ours(db: Database, run_id: str) -> tuple[float, int, int]:
    start = time.perf_counter()
    with db.engine.connect() as conn:
        state = load_run_state(conn, run_id)
    return time.perf_counter() - start, state.n_essays, state.n_comparisons


def _load_plain(path: Path, run_id: str) -> tuple[float, int, int]:
    connection = _plain_connection(path)
    try:
        start = time.perf_counter()
        (batch_id,) = connection.execute(PLAIN_RUN_SQL, (run_id,)).fetchone()
        essays = connection.execute(PLAIN_ESSAYS_SQL, (batch_id,)).fetchall()
        comparisons = connection.execute(PLAIN_COMPARISONS_SQL, (run_id,)).fetchall()
        return time.perf_counter() - start, len(essays), len(comparisons)
    finally:
        connection.close()


def _best(times: list[float]) -> float:
    return min(times)


def run_benchmark(
    essays: int = 10_000,
    comparisons: int = 200_000,
    seed: int = 0,
    repeats: int = 3,
    load_repeats: int = 5,
    workdir: Path | None = None,
) -> dict[str, Any]:
    if essays < 2:
        raise ValueError("at least two essays are needed to form a comparison")
    work = Workload(essays, comparisons, seed)
    store_ours: list[float] = []
    store_plain: list[float] = []
    load_ours: list[float] = []
    load_plain: list[float] = []
    counts: set[tuple[int, int]] = set()
    with tempfile.TemporaryDirectory(prefix="huleedu-bench-store-", dir=workdir) as tmp:
        root = Path(tmp)
        ours_path = plain_path = root / "none"
        for repeat in range(repeats):
            ours_path = root / f"ours-{repeat}.sqlite3"
            plain_path = root / f"plain-{repeat}.sqlite3"
            ours_db = _prepare(ours_path, work)
            _prepare(plain_path, work).close()
            plain_essays, plain_comparisons = _plain_rows(work, _stamp_text(ours_db))
            for ours_first in (True, False) if repeat % 2 == 0 else (False, True):
                if ours_first:
                    store_ours.append(_store_ours(ours_db, work))
                else:
                    store_plain.append(_store_plain(plain_path, plain_essays, plain_comparisons))
            ours_db.close()
        ours_db = open_database(path=ours_path, migrate=False)
        try:
            for repeat in range(load_repeats):
                for ours_first in (True, False) if repeat % 2 == 0 else (False, True):
                    if ours_first:
                        _record(load_ours, counts, _load_ours(ours_db, work.run_id))
                    else:
                        _record(load_plain, counts, _load_plain(plain_path, work.run_id))
        finally:
            ours_db.close()
    if counts != {(essays, comparisons)}:
        raise RuntimeError(f"the two sides read different rows: {sorted(counts)}")
    store_ratio = _best(store_ours) / _best(store_plain)
    load_ratio = _best(load_ours) / _best(load_plain)
    return {
        "essays": essays,
        "comparisons": comparisons,
        "seed": seed,
        "repeats": repeats,
        "load_repeats": load_repeats,
        "store_seconds": round(_best(store_ours), 4),
        "store_seconds_sqlite3": round(_best(store_plain), 4),
        "store_ratio_vs_sqlite3": round(store_ratio, 3),
        "store_ratio_bar": STORE_BAR,
        "store_ok": store_ratio <= STORE_BAR,
        "load_seconds": round(_best(load_ours), 4),
        "load_seconds_sqlite3": round(_best(load_plain), 4),
        "load_ratio_vs_sqlite3": round(load_ratio, 3),
        "load_ratio_bar": LOAD_BAR,
        "load_ok": load_ratio <= LOAD_BAR,
        "store_rows_per_second": round((essays + comparisons) / _best(store_ours)),
        "store_seconds_all": [round(t, 4) for t in store_ours],
        "store_seconds_sqlite3_all": [round(t, 4) for t in store_plain],
        "load_seconds_all": [round(t, 4) for t in load_ours],
        "load_seconds_sqlite3_all": [round(t, 4) for t in load_plain],
        "sqlite_version": sqlite3.sqlite_version,
        "sqlalchemy_version": sqlalchemy.__version__,
        "python_version": sys.version.split()[0],
    }


def _record(
    times: list[float], counts: set[tuple[int, int]], measured: tuple[float, int, int]
) -> None:
    seconds, n_essays, n_comparisons = measured
    times.append(seconds)
    counts.add((n_essays, n_comparisons))


def main(essays: int = 10_000, comparisons: int = 200_000, seed: int = 0) -> int:
    result = run_benchmark(essays=essays, comparisons=comparisons, seed=seed)
    sys.stdout.write(json.dumps(result, indent=2, sort_keys=False) + "\n")
    return 0
