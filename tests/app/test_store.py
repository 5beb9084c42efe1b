"""The bulk store: essays and comparisons in and out, status updates, and `bench store`."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select

from app.bench.store import main as bench_store_main
from app.bench.store import run_benchmark
from app.cli import main as cli_main
from app.db import (
    Assignment,
    Batch,
    Comparison,
    ComparisonStatus,
    Database,
    Essay,
    Run,
    open_database,
)
from app.db.store import (
    NewComparison,
    NewEssay,
    Verdict,
    add_comparisons,
    add_essays,
    load_run_state,
    mark_comparisons,
    new_ids,
    record_verdicts,
)
from core.texts import content_hash

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = open_database(path=tmp_path / "store.sqlite3")
    try:
        yield database
    finally:
        database.close()


@pytest.fixture
def run_id(db: Database) -> str:
    with db.session() as session:
        assignment = Assignment(title="A", grade_scale="swedish_8_anchor")
        session.add(assignment)
        session.flush()
        batch = Batch(title="B", assignment_id=assignment.id)
        session.add(batch)
        session.flush()
        run = Run(batch_id=batch.id)
        session.add(run)
        session.flush()
        return run.id


def _batch_id(db: Database, run_id: str) -> str:
    with db.session() as session:
        run = session.get(Run, run_id)
        assert run is not None
        return run.batch_id


def _essays(texts: list[str]) -> list[NewEssay]:
    return [NewEssay(t, content_hash(t), source_file=f"{i}.txt") for i, t in enumerate(texts)]


def test_new_ids_are_distinct_version_4_uuids() -> None:
    ids = new_ids(1000)
    assert len(set(ids)) == 1000
    for value in ids[:50]:
        parsed = uuid.UUID(value)
        assert parsed.version == 4
        assert str(parsed) == value
    assert new_ids(0) == []


def test_essays_round_trip_through_the_orm(db: Database, run_id: str) -> None:
    batch_id = _batch_id(db, run_id)
    rows = _essays(["one", "two", "three"])
    rows[1] = rows[1]._replace(is_anchor=True, match_confidence=0.75, match_confirmed=True)
    with db.engine.begin() as conn:
        ids = add_essays(conn, batch_id, rows, when=T0)
    assert len(ids) == 3
    with db.session() as session:
        stored = {e.id: e for e in session.scalars(select(Essay))}
    assert set(stored) == set(ids)
    second = stored[ids[1]]
    assert second.text == "two"
    assert second.content_hash == content_hash("two")
    assert second.source_file == "1.txt"
    assert second.is_anchor is True
    assert second.match_confirmed is True
    assert second.match_confidence == 0.75
    assert second.created_at == T0
    assert second.updated_at == T0
    assert second.deleted_at is None
    assert stored[ids[0]].is_anchor is False


def test_add_essays_keeps_given_ids_and_accepts_a_session(db: Database, run_id: str) -> None:
    batch_id = _batch_id(db, run_id)
    given = new_ids(1)[0]
    with db.session() as session:
        ids = add_essays(session, batch_id, [NewEssay("x", content_hash("x"), id=given)])
        assert add_essays(session, batch_id, []) == []
    assert ids == [given]
    with db.session() as session:
        assert session.get(Essay, given) is not None


def test_add_essays_rolls_back_with_the_transaction(db: Database, run_id: str) -> None:
    batch_id = _batch_id(db, run_id)
    with pytest.raises(RuntimeError), db.engine.begin() as conn:
        add_essays(conn, batch_id, _essays(["a", "b"]))
        raise RuntimeError("crash before commit")
    with db.session() as session:
        assert session.scalars(select(Essay)).all() == []


def test_comparisons_round_trip_and_run_state(db: Database, run_id: str) -> None:
    batch_id = _batch_id(db, run_id)
    with db.engine.begin() as conn:
        early = add_essays(conn, batch_id, _essays(["e0", "e1"]), when=T0)
        late = add_essays(conn, batch_id, _essays(["e2", "e3"]), when=T0 + timedelta(1))
        wave1 = add_comparisons(
            conn,
            run_id,
            [
                NewComparison(late[0], early[0], wave=1),
                NewComparison(early[1], late[1], wave=1, status="done", first_wins=False),
            ],
            when=T0,
        )
        wave0 = add_comparisons(
            conn,
            run_id,
            [
                NewComparison(
                    early[0], early[1], status="done", first_wins=True, probability_first=0.8
                )
            ],
            when=T0 + timedelta(2),
        )
    with db.session() as session:
        row = session.get(Comparison, wave0[0])
        assert row is not None
        assert (row.status, row.first_wins, row.probability_first) == ("done", True, 0.8)
        assert (row.attempts, row.wave, row.created_at) == (0, 0, T0 + timedelta(2))
        planned = session.get(Comparison, wave1[0])
        assert planned is not None
        assert (planned.status, planned.first_wins, planned.probability_first) == (
            "planned",
            None,
            None,
        )

    with db.engine.connect() as conn:
        state = load_run_state(conn, run_id)
    # Essays by (created_at, id): the two earlier ones first, then the later two.
    assert state.essay_ids[:2] == sorted(early)
    assert state.essay_ids[2:] == sorted(late)
    assert state.n_essays == 4
    # Comparisons by wave first.
    assert state.comparison_ids[0] == wave0[0]
    assert sorted(state.comparison_ids[1:]) == sorted(wave1)
    index = {e: i for i, e in enumerate(state.essay_ids)}
    expected = {
        wave0[0]: (index[early[0]], index[early[1]], 0, "done", 1, 0.8),
        wave1[0]: (index[late[0]], index[early[0]], 1, "planned", -1, None),
        wave1[1]: (index[early[1]], index[late[1]], 1, "done", 0, None),
    }
    for k, cid in enumerate(state.comparison_ids):
        f, s, wave, status, wins, prob = expected[cid]
        assert (int(state.first[k]), int(state.second[k])) == (f, s)
        assert int(state.wave[k]) == wave
        assert state.status[k] == status
        assert int(state.first_wins[k]) == wins
        if prob is None:
            assert np.isnan(state.probability_first[k])
        else:
            assert state.probability_first[k] == prob
    assert state.first.dtype == np.intp
    assert state.judged_mask().sum() == 2

    hard = state.comparison_set()
    assert hard.size == 2
    assert hard.n_items == 4
    assert sorted(hard.outcome.tolist()) == [0.0, 1.0]
    soft = state.comparison_set(use_probability=True)
    assert sorted(soft.outcome.tolist()) == [0.0, 0.8]


def test_load_run_state_skips_soft_deleted_rows_and_unknown_runs(db: Database, run_id: str) -> None:
    batch_id = _batch_id(db, run_id)
    with db.engine.begin() as conn:
        essays = add_essays(conn, batch_id, _essays(["a", "b", "c"]))
        kept, dropped = add_comparisons(
            conn, run_id, [NewComparison(essays[0], essays[1]), NewComparison(essays[1], essays[2])]
        )
    with db.session() as session:
        comparison = session.get(Comparison, dropped)
        assert comparison is not None
        comparison.soft_delete()
    with db.engine.connect() as conn:
        state = load_run_state(conn, run_id)
        assert state.comparison_ids == [kept]
        with pytest.raises(KeyError):
            load_run_state(conn, "no-such-run")


def test_load_run_state_of_an_empty_run(db: Database, run_id: str) -> None:
    with db.engine.connect() as conn:
        state = load_run_state(conn, run_id)
    assert state.essay_ids == []
    assert state.n_comparisons == 0
    assert state.first.shape == (0,)
    assert state.probability_first.shape == (0,)
    assert state.comparison_set().size == 0


def test_mark_comparisons_and_record_verdicts(db: Database, run_id: str) -> None:
    batch_id = _batch_id(db, run_id)
    with db.engine.begin() as conn:
        essays = add_essays(conn, batch_id, _essays(["a", "b", "c"]))
        ids = add_comparisons(
            conn,
            run_id,
            [NewComparison(essays[i], essays[(i + 1) % 3]) for i in range(3)],
            when=T0,
        )
    sent_at = T0 + timedelta(hours=1)
    with db.engine.begin() as conn:
        changed = mark_comparisons(
            conn,
            ids[:2],
            ComparisonStatus.SENT,
            provider_batch_id="batch-1",
            count_attempt=True,
            when=sent_at,
        )
        assert changed == 2
        failed = mark_comparisons(
            conn, ids[2:], ComparisonStatus.FAILED, error_category="timeout", error_message="slow"
        )
        assert failed == 1
    answered_at = T0 + timedelta(hours=2)
    with db.engine.begin() as conn:
        stored = record_verdicts(
            conn,
            [
                Verdict(ids[0], True, probability_first=0.9, input_tokens=100, cost_usd=0.01),
                Verdict(ids[1], False, justification="B argues better"),
            ],
            when=answered_at,
        )
        assert stored == 2
        assert record_verdicts(conn, []) == 0
    with db.session() as session:
        first = session.get(Comparison, ids[0])
        second = session.get(Comparison, ids[1])
        third = session.get(Comparison, ids[2])
        assert first is not None and second is not None and third is not None
        assert first.status == "done"
        assert (first.first_wins, first.probability_first) == (True, 0.9)
        assert (first.input_tokens, first.cost_usd) == (100, 0.01)
        assert first.provider_batch_id == "batch-1"
        assert first.attempts == 1
        assert first.sent_at == sent_at
        assert first.answered_at == answered_at
        assert first.updated_at == answered_at
        assert (second.first_wins, second.justification) == (False, "B argues better")
        assert (third.status, third.error_category, third.error_message) == (
            "failed",
            "timeout",
            "slow",
        )
        assert third.attempts == 0
        assert third.sent_at is None
    with db.engine.connect() as conn:
        state = load_run_state(conn, run_id)
    assert state.judged_mask().sum() == 2
    assert state.status_mask("failed").sum() == 1


def test_mark_comparisons_works_in_chunks(db: Database, run_id: str) -> None:
    batch_id = _batch_id(db, run_id)
    with db.engine.begin() as conn:
        essays = add_essays(conn, batch_id, _essays(["a", "b"]))
        ids = add_comparisons(conn, run_id, [NewComparison(essays[0], essays[1])] * 1234)
        assert mark_comparisons(conn, ids, ComparisonStatus.SENT) == 1234
    with db.engine.connect() as conn:
        assert load_run_state(conn, run_id).status_mask("sent").all()


EXPECTED_KEYS = {
    "essays",
    "comparisons",
    "store_seconds",
    "store_seconds_sqlite3",
    "store_ratio_vs_sqlite3",
    "load_seconds",
    "load_seconds_sqlite3",
    "load_ratio_vs_sqlite3",
    "sqlite_version",
    "sqlalchemy_version",
}


def test_bench_store_smoke(tmp_path: Path) -> None:
    result = run_benchmark(
        essays=200, comparisons=2000, repeats=1, load_repeats=1, workdir=tmp_path
    )
    assert set(result) >= EXPECTED_KEYS
    assert (result["essays"], result["comparisons"]) == (200, 2000)
    assert result["store_ratio_vs_sqlite3"] > 0
    assert result["load_ratio_vs_sqlite3"] > 0
    assert list(tmp_path.iterdir()) == []  # the temporary databases are gone


def test_bench_store_prints_one_json_object(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_store_main(essays=200, comparisons=2000) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) >= EXPECTED_KEYS


def test_cli_bench_store(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["bench", "store", "--essays", "100", "--comparisons", "500"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["essays"], result["comparisons"]) == (100, 500)
