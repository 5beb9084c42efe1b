"""Runs over durable state against the simulated server: complete, pause/resume, crash recovery,
finaliser idempotence and the monitor."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from pydantic import SecretStr
from sqlalchemy import func, select

from app.db.engine import Database, open_database
from app.db.models import Comparison, ComparisonStatus, Essay, Result, Run, RunStatus
from app.demo import load_demo
from app.llm.dispatcher import Dispatcher, DispatchSettings
from app.llm.providers.base import ProviderConfig
from app.llm.providers.factory import make_provider
from app.paths import resources_dir
from app.runs.batch_store import DbJobStore
from app.runs.batches import TextItem, create_batch
from app.runs.finaliser import finalise
from app.runs.monitor import interrupted_runs, recover_stalled
from app.runs.orchestrator import Orchestrator, RunSettings
from app.simserver import running_server
from core.prompt import DEFAULT_BUNDLE_PAIRS
from core.stopping import StopReason

DEMO = load_demo()
DEMO_ESSAYS = sorted((resources_dir() / "demo" / "essays").glob("*.txt"))


def make_db(tmp_path: Path) -> tuple[Database, str]:
    db = open_database(path=tmp_path / "huleedu.sqlite3")
    essays = [TextItem(i.name, i.text) for i in DEMO.items if i.grade is None]
    anchors = [TextItem(i.name, i.text, i.grade, i.label) for i in DEMO.items if i.grade]
    batch = create_batch(db, "Demo", DEMO.context, DEMO.scale_id, essays, anchors)
    return db, batch


async def drive(db: Database, run_id: str, url: str, stop: asyncio.Event | None = None) -> str:
    provider = make_provider(
        ProviderConfig(
            kind="openai_compatible",
            model="sim-generic",
            base_url=url + "/v1",
            api_key=SecretStr("sim"),
        )
    )
    try:
        orchestrator = Orchestrator(db, Dispatcher(provider, DispatchSettings()))
        return await orchestrator.run(run_id, stop=stop)
    finally:
        await provider.aclose()


def count(db: Database, run_id: str, status: ComparisonStatus | None = None) -> int:
    with db.session() as s:
        q = select(func.count()).select_from(Comparison).where(Comparison.run_id == run_id)
        if status is not None:
            q = q.where(Comparison.status == status.value)
        return int(s.scalar(q) or 0)


async def test_a_run_completes_with_results_and_grades(tmp_path: Path) -> None:
    db, batch = make_db(tmp_path)
    settings = RunSettings(budget=150, target_reliability=0.85, min_comparisons_per_essay=5)
    run_id = Orchestrator(db, None).create_run(batch, settings)  # type: ignore[arg-type]
    async with running_server("generic", speed=1000.0, seed=1) as url:
        status = await drive(db, run_id, url)
    assert status == RunStatus.COMPLETE.value
    with db.session() as s:
        run = s.get(Run, run_id)
        assert run is not None and run.completed_at is not None
        assert run.stop_reason in {"stable", "budget_reached"}
        assert run.reliability is not None and run.reliability > 0.5
        results = list(s.scalars(select(Result).where(Result.run_id == run_id)))
        assert len(results) == len(DEMO.items)
        assert sorted(r.rank for r in results) == list(range(1, len(DEMO.items) + 1))
        assert all(r.grade is not None and r.grade_probabilities for r in results)
        assert all(abs(sum((r.grade_probabilities or {}).values()) - 1) < 1e-6 for r in results)
    done = count(db, run_id, ComparisonStatus.DONE)
    assert 0 < done <= 150
    # Finalising again changes nothing.
    assert finalise(db, run_id, StopReason.CANCELLED, None) == RunStatus.COMPLETE.value
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Result)) == len(DEMO.items)


async def test_pause_and_resume_keeps_every_verdict(tmp_path: Path) -> None:
    db, batch = make_db(tmp_path)
    settings = RunSettings(budget=120, target_reliability=None, min_comparisons_per_essay=0)
    run_id = Orchestrator(db, None).create_run(batch, settings)  # type: ignore[arg-type]
    stop = asyncio.Event()
    async with running_server("generic", speed=1000.0, seed=2) as url:
        task = asyncio.create_task(drive(db, run_id, url, stop))
        while count(db, run_id, ComparisonStatus.DONE) < 20:
            await asyncio.sleep(0.01)
        stop.set()
        assert await task == RunStatus.PAUSED.value
        before = count(db, run_id, ComparisonStatus.DONE)
        assert await drive(db, run_id, url) == RunStatus.COMPLETE.value
    assert count(db, run_id, ComparisonStatus.DONE) == 120 >= before
    with db.session() as s:
        run = s.get(Run, run_id)
        assert run is not None and run.stop_reason == "budget_reached"


async def test_pairs_left_in_flight_by_a_crash_are_resent_once(tmp_path: Path) -> None:
    db, batch = make_db(tmp_path)
    settings = RunSettings(budget=60, target_reliability=None, min_comparisons_per_essay=0)
    run_id = Orchestrator(db, None).create_run(batch, settings)  # type: ignore[arg-type]
    with db.session() as s:
        from app.db.models import Essay  # noqa: PLC0415

        essays = list(s.scalars(select(Essay).where(Essay.batch_id == batch)))
        # A crash left two pairs sent (one already re-sent once) and one planned.
        for k, (attempts, status) in enumerate([(1, "sent"), (2, "sent"), (0, "planned")]):
            s.add(
                Comparison(
                    run_id=run_id,
                    first_essay_id=essays[2 * k].id,
                    second_essay_id=essays[2 * k + 1].id,
                    status=status,
                    attempts=attempts,
                )
            )
        run = s.get(Run, run_id)
        assert run is not None
        run.status = RunStatus.RUNNING.value
    assert interrupted_runs(db) == [run_id]
    async with running_server("generic", speed=1000.0, seed=3) as url:
        assert await drive(db, run_id, url) == RunStatus.COMPLETE.value
    with db.session() as s:
        rows = list(s.scalars(select(Comparison).where(Comparison.run_id == run_id)))
    first_three = sorted(rows, key=lambda c: c.created_at)[:3]
    assert [c.status for c in first_three] == ["done", "failed", "done"]
    assert first_three[1].error_category == "no_answer"
    assert count(db, run_id, ComparisonStatus.DONE) == 60


async def test_monitor_recovers_stalled_runs(tmp_path: Path) -> None:
    db, batch = make_db(tmp_path)
    enough = Orchestrator(db, None).create_run(batch, RunSettings(budget=20))  # type: ignore[arg-type]
    short = Orchestrator(db, None).create_run(batch, RunSettings(budget=1000))  # type: ignore[arg-type]
    async with running_server("generic", speed=1000.0, seed=4) as url:
        for run_id in (enough, short):
            stop = asyncio.Event()
            task = asyncio.create_task(drive(db, run_id, url, stop))
            while count(db, run_id, ComparisonStatus.DONE) < 18:
                await asyncio.sleep(0.01)
            stop.set()
            await task
    long_ago = datetime.now(UTC) - timedelta(hours=5)
    with db.session() as s:
        for run_id in (enough, short):
            run = s.get(Run, run_id)
            assert run is not None
            run.status = RunStatus.RUNNING.value
            run.last_progress_at = long_ago
    touched = recover_stalled(db, [enough, short], timedelta(hours=4))
    assert set(touched) == {enough, short}
    with db.session() as s:
        a, b = s.get(Run, enough), s.get(Run, short)
        assert a is not None and b is not None
        assert (a.status, a.stop_reason) == ("complete", "forced_recovery")
        assert (b.status, b.stop_reason) == ("failed", "stalled")
        assert s.scalar(select(func.count()).select_from(Result).where(Result.run_id == enough))


async def test_provider_batch_mode_resumes_the_same_batch_after_a_crash(tmp_path: Path) -> None:
    import httpx  # noqa: PLC0415

    db, batch = make_db(tmp_path)
    settings = RunSettings(
        budget=30,
        target_reliability=None,
        min_comparisons_per_essay=0,
        mode="provider_batch",
        bundle_size=2,
        poll_interval_s=0.02,
    )
    run_id = Orchestrator(db, None).create_run(batch, settings)  # type: ignore[arg-type]
    async with running_server("generic", speed=1000.0, seed=7, batch_delay_s=300.0) as url:
        task = asyncio.create_task(drive(db, run_id, url))
        while not DbJobStore(db, run_id, 0).has_job():  # the wave's batch is saved
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        task.cancel()  # the process dies while the provider works on the batch
        with contextlib.suppress(asyncio.CancelledError):
            await task
        assert count(db, run_id, ComparisonStatus.SENT) > 0
        async with httpx.AsyncClient() as client:
            before = (await client.get(url + "/sim/stats")).json().get("openai_batches", 0)
        assert before == 1
        assert await drive(db, run_id, url) == RunStatus.COMPLETE.value
        async with httpx.AsyncClient() as client:
            stats = (await client.get(url + "/sim/stats")).json()
    assert count(db, run_id, ComparisonStatus.DONE) == 30
    with db.session() as s:
        rows = list(s.scalars(select(Comparison).where(Comparison.run_id == run_id)))
    first_wave = [c for c in rows if c.wave == 0]
    assert len({c.provider_batch_id for c in first_wave}) == 1  # one batch, fetched once
    waves = len({c.wave for c in rows})
    assert stats.get("openai_batches", 0) == waves  # never submitted twice


async def test_a_class_batch_waits_for_student_confirmation(tmp_path: Path) -> None:
    from app.db.models import Batch, Course, Essay, SchoolClass  # noqa: PLC0415

    db, batch = make_db(tmp_path)
    with db.session() as s:
        course = Course(code="ENG6", name="English 6")
        s.add(course)
        s.flush()
        school_class = SchoolClass(name="SA24D", course_id=course.id, school_year="2025/26")
        s.add(school_class)
        s.flush()
        b = s.get(Batch, batch)
        assert b is not None
        b.school_class_id = school_class.id
    run_id = Orchestrator(db, None).create_run(batch, RunSettings(budget=20))  # type: ignore[arg-type]
    async with running_server("generic", speed=1000.0, seed=8) as url:
        assert await drive(db, run_id, url) == "awaiting_student_confirmation"
        assert count(db, run_id) == 0  # nothing was judged
        with db.session() as s:
            b = s.get(Batch, batch)
            assert b is not None and b.status == "awaiting_student_confirmation"
            for e in s.scalars(select(Essay).where(Essay.batch_id == batch)):
                e.match_confirmed = True
        assert await drive(db, run_id, url) == RunStatus.COMPLETE.value
    with db.session() as s:
        b = s.get(Batch, batch)
        assert b is not None and b.status == "completed_successfully"


async def test_the_judge_never_sees_who_wrote_an_essay(tmp_path: Path) -> None:
    from app.intake.essays import import_essays  # noqa: PLC0415
    from app.intake.matching_store import match_overview  # noqa: PLC0415
    from app.intake.roster_store import import_roster  # noqa: PLC0415
    from app.school import create_assignment, create_class  # noqa: PLC0415
    from app.school import create_batch as new_batch  # noqa: PLC0415

    db = open_database(path=tmp_path / "huleedu.sqlite3")
    class_id = create_class(db, "9A", "ENG6", "2026/27")
    roster = tmp_path / "roster.csv"
    roster.write_text(
        "first name,last name,code,email\n"
        + "".join(
            f"{p.stem.split('_')[0].title()},{p.stem.split('_')[1].title()},C{i:04d},"
            f"{p.stem.replace('_', '.')}@skolan.se\n"
            for i, p in enumerate(DEMO_ESSAYS)
        ),
        "utf-8",
    )
    import_roster(db, class_id, roster)
    folder = tmp_path / "essays"
    folder.mkdir()
    for i, p in enumerate(DEMO_ESSAYS):
        first, last = (w.title() for w in p.stem.split("_"))
        text = (
            f"Namn: {first} {last}\nE-post: {p.stem.replace('_', '.')}@skolan.se\n\n"
            f"{next(d.text for d in DEMO.items if d.name == p.stem)}\n\n/{first} {last}, C{i:04d}"
        )
        (folder / f"{p.stem}.txt").write_text(text, "utf-8")
    batch = new_batch(db, "9A", create_assignment(db, "Phones", DEMO.scale_id), class_id)
    import_essays(db, batch, [folder])
    assert match_overview(db, batch).waiting == []
    run_id = Orchestrator(db, None).create_run(batch, RunSettings(budget=24))  # type: ignore[arg-type]

    bodies: list[str] = []

    async def capture(request: httpx.Request) -> None:
        bodies.append(request.content.decode("utf-8"))

    async with running_server("generic", speed=1000.0, seed=9) as url:
        provider = make_provider(
            ProviderConfig(
                kind="openai_compatible",
                model="sim-generic",
                base_url=url + "/v1",
                api_key=SecretStr("sim"),
            )
        )
        provider.client.event_hooks["request"].append(capture)
        try:
            orchestrator = Orchestrator(db, Dispatcher(provider, DispatchSettings(bundle_size=4)))
            assert await orchestrator.run(run_id) == RunStatus.COMPLETE.value
        finally:
            await provider.aclose()
    sent = "\n".join(bodies)
    assert "[name removed]" in sent  # the essays were sent, without their writers
    for p in DEMO_ESSAYS:
        first, last = (w.title() for w in p.stem.split("_"))
        assert f"{first} {last}" not in sent and f"{p.stem.replace('_', '.')}@" not in sent
    assert "C0003" not in sent
    with db.session() as s:  # the stored essays keep every word
        assert all("Namn: " in e.text and "@skolan.se" in e.text for e in s.scalars(select(Essay)))
    db.close()


async def test_bundles_of_a_run_share_essays(tmp_path: Path) -> None:
    """In bundle mode the run loop plans groups: by default a call of 6 pairs asks about every
    pair of 4 essays, so each essay is rendered once per call instead of 12 essays for 6 pairs."""
    db, batch = make_db(tmp_path)
    settings = RunSettings(budget=120, target_reliability=None, min_comparisons_per_essay=0)
    run_id = Orchestrator(db, None).create_run(batch, settings)  # type: ignore[arg-type]
    async with running_server("generic", speed=1000.0, seed=2) as url:
        assert await drive(db, run_id, url) == RunStatus.COMPLETE.value
    calls: dict[str, list[tuple[str, str]]] = {}
    with db.session() as s:
        for c in s.scalars(select(Comparison).where(Comparison.run_id == run_id)):
            assert c.provider_request_id is not None
            calls.setdefault(c.provider_request_id, []).append(
                (c.first_essay_id, c.second_essay_id)
            )
    full = [pairs for pairs in calls.values() if len(pairs) == DEFAULT_BUNDLE_PAIRS]
    assert len(full) >= 0.8 * len(calls)
    shared = [pairs for pairs in full if len({e for p in pairs for e in p}) == 4]
    assert len(shared) >= 0.8 * len(full), (len(shared), len(full))
