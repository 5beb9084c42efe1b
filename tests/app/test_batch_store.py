"""Provider batch state in the database (:class:`app.runs.batch_store.DbJobStore`), status
polls reported as progress, and a cancel token that stops the waiting but not the batch: against
the simulated provider server on 127.0.0.1 (no internet)."""

from __future__ import annotations

import asyncio
import random
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select

from app.db.engine import Database, open_database
from app.db.models import ProviderBatch, Run
from app.demo import load_demo
from app.llm.batch import (
    BatchIntent,
    BatchJob,
    FileJobStore,
    JobStore,
    intent_path,
    run_batch_summary,
    runner,
    save_state,
    submit,
)
from app.llm.providers.base import BaseProvider, ProviderConfig
from app.llm.providers.factory import make_provider
from app.llm.types import PairTask, ProviderError, ProviderKind
from app.operations.base import CancelToken, OperationCancelledError
from app.runs.batch_store import SUBMITTING, DbJobStore, legacy_batch_dir, saved_waves
from app.runs.batches import TextItem, create_batch
from app.simserver import running_server
from core.prompt import AssignmentContext

DEMO = load_demo()
CONTEXT: AssignmentContext = DEMO.context
TEXTS = [item.text for item in DEMO.items]
NONCE = "storetestnonce01"
POLL = 0.02

OPENAI: tuple[ProviderKind, str] = ("openai_compatible", "sim-generic")
ANTHROPIC: tuple[ProviderKind, str] = ("anthropic", "claude-haiku-4-5")
BOTH = pytest.mark.parametrize("kind_model", [OPENAI, ANTHROPIC], ids=["openai", "anthropic"])


def pairs(n: int, seed: int = 0, prefix: str = "pair") -> list[PairTask]:
    rng = random.Random(seed)
    out = []
    for k in range(n):
        a, b = rng.sample(range(len(TEXTS)), 2)
        out.append(PairTask(f"{prefix}-{k}", TEXTS[a], TEXTS[b]))
    return out


def provider_for(url: str, kind_model: tuple[ProviderKind, str]) -> BaseProvider:
    kind, model = kind_model
    config = ProviderConfig(kind=kind, model=model, base_url=url + "/v1", api_key=SecretStr("sim"))
    return make_provider(config)


def unreachable_url() -> str:
    """A local address nothing listens on: a create call sent there never arrives."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


async def sim_get(url: str, path: str) -> Any:
    async with httpx.AsyncClient() as client:
        response = await client.get(url + path, headers={"x-api-key": "sim"})
        response.raise_for_status()
        return response.json()


async def created(url: str) -> int:
    """How many batches the server has created, both providers together."""
    stats = await sim_get(url, "/sim/stats")
    return int(stats.get("openai_batches", 0) + stats.get("anthropic_batches", 0))


async def provider_status(url: str, kind_model: tuple[ProviderKind, str], batch_id: str) -> str:
    if kind_model == OPENAI:
        return str((await sim_get(url, f"/v1/batches/{batch_id}"))["status"])
    return str((await sim_get(url, f"/v1/messages/batches/{batch_id}"))["processing_status"])


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = open_database(path=tmp_path / "huleedu.sqlite3")
    try:
        yield database
    finally:
        database.close()


def new_run(db: Database) -> str:
    essays = [TextItem(i.name, i.text) for i in DEMO.items if i.grade is None]
    batch_id = create_batch(db, "Demo", DEMO.context, DEMO.scale_id, essays)
    with db.session() as s:
        run = Run(batch_id=batch_id, settings={"mode": "provider_batch"})
        s.add(run)
        s.flush()
        return run.id


async def submitted(kind_model: tuple[ProviderKind, str], tasks: list[PairTask]) -> BatchJob:
    """A job as the provider would return it (submitted to a throwaway server)."""
    async with running_server("generic", speed=1000.0) as url:
        provider = provider_for(url, kind_model)
        try:
            return await submit(provider, CONTEXT, tasks, nonce=NONCE, pairs_per_request=2)
        finally:
            await provider.aclose()


# ---------------------------------------------------------------------------------------------
# The store itself
# ---------------------------------------------------------------------------------------------


async def test_the_database_store_round_trips_a_job_and_an_intent(db: Database) -> None:
    run_id = new_run(db)
    store = DbJobStore(db, run_id, 0)
    assert isinstance(store, JobStore)
    assert store.load_job() is None and store.load_intent() is None and not store.has_job()
    assert store.known_batch_ids() == set()

    job = await submitted(OPENAI, pairs(5, seed=1))
    intent = BatchIntent(
        wave_key="k",
        provider_kind=job.provider_kind,
        provider_name=job.provider_name,
        model=job.model,
        requests=job.requests,
        nonce=job.nonce,
        pairs_per_request=job.pairs_per_request,
        created_at=job.submitted_at,
    )
    store.save_intent(intent)
    assert store.load_intent() == intent
    assert store.load_job() is None and not store.has_job()
    with db.session() as s:
        (row,) = s.scalars(select(ProviderBatch))
        assert (row.run_id, row.wave, row.status, row.batch_id) == (run_id, 0, SUBMITTING, None)

    store.save_job(job)
    store.clear_intent()
    store.clear_intent()  # nothing left to clear: no error
    assert store.load_intent() is None
    assert store.load_job() == job
    assert store.has_job()
    done = job.model_copy(update={"status": "completed", "request_counts": {"completed": 3}})
    store.save_job(done)
    fresh = DbJobStore(db, run_id, 0)  # another process, say
    assert fresh.load_job() == done
    assert fresh.known_batch_ids() == {job.batch_id}
    with db.session() as s:
        (row,) = s.scalars(select(ProviderBatch))
        assert (row.status, row.batch_id, row.intent) == ("completed", job.batch_id, None)
        assert saved_waves(s, run_id) == {0}

    # Waves and runs are kept apart; every saved batch id is known to all of them.
    other = DbJobStore(db, run_id, 1)
    assert other.load_job() is None and other.known_batch_ids() == {job.batch_id}
    second = await submitted(ANTHROPIC, pairs(3, seed=2))
    DbJobStore(db, new_run(db), 0).save_job(second)
    assert other.known_batch_ids() == {job.batch_id, second.batch_id}

    # What is stored must be a job; a deleted run takes its batches with it.
    with db.session() as s:
        (row,) = s.scalars(select(ProviderBatch).where(ProviderBatch.run_id == run_id))
        row.job = {"batch_id": 3}
    with pytest.raises(ValueError, match="no valid batch job"):
        store.load_job()
    with db.session() as s:
        run = s.get(Run, run_id)
        assert run is not None
        s.delete(run)
    with db.session() as s:
        assert run_id not in set(s.scalars(select(ProviderBatch.run_id)))
        assert saved_waves(s, run_id) == set()


async def test_batches_saved_as_files_by_version_0_1_move_into_the_database(
    db: Database,
) -> None:
    run_id = new_run(db)
    folder = legacy_batch_dir(db)
    job = await submitted(ANTHROPIC, pairs(4, seed=3))
    save_state(job, folder / f"{run_id}-wave2.json")
    FileJobStore(folder / f"{run_id}-wave3.json").save_intent(
        BatchIntent(
            provider_kind=job.provider_kind,
            provider_name=job.provider_name,
            model=job.model,
            requests=job.requests,
            nonce=job.nonce,
            created_at=job.submitted_at,
        )
    )
    with db.session() as s:
        assert saved_waves(s, run_id, folder) == {2}
        assert saved_waves(s, run_id) == set()
    assert DbJobStore(db, run_id, 2).has_job()
    assert not DbJobStore(db, run_id, 2, legacy=False).has_job()
    assert DbJobStore(db, run_id, 0).known_batch_ids() == {job.batch_id}

    assert DbJobStore(db, run_id, 2).load_job() == job
    wave3 = DbJobStore(db, run_id, 3)
    intent = wave3.load_intent()
    assert intent is not None and intent.custom_ids == [r.custom_id for r in job.requests]
    with db.session() as s:
        assert saved_waves(s, run_id) == {2}  # now in the database
        assert {r.wave: r.intent is not None for r in s.scalars(select(ProviderBatch))} == {
            2: False,
            3: True,
        }
    wave3.clear_intent()
    assert not intent_path(folder / f"{run_id}-wave3.json").exists()
    assert wave3.load_intent() is None  # the row now answers, not the file


# ---------------------------------------------------------------------------------------------
# Adoption through the database store
# ---------------------------------------------------------------------------------------------


@BOTH
async def test_a_batch_created_before_a_crash_is_adopted_from_the_database(
    db: Database, kind_model: tuple[ProviderKind, str]
) -> None:
    run_id = new_run(db)
    tasks = pairs(6, seed=4)
    store = DbJobStore(db, run_id, 0)
    async with running_server("generic", speed=1000.0, seed=4, batch_delay_s=150.0) as url:
        first = provider_for(url, kind_model)
        try:
            job = await submit(
                first, CONTEXT, tasks, nonce=NONCE, pairs_per_request=2, wave_key="w0", store=store
            )
        finally:
            await first.aclose()  # the app dies before the job is saved
        assert store.load_job() is None and store.load_intent() is not None
        assert await created(url) == 1

        second = provider_for(url, kind_model)  # ... and starts again
        try:
            summary = await run_batch_summary(
                second,
                CONTEXT,
                tasks,
                store=DbJobStore(db, run_id, 0),
                poll_interval_s=POLL,
                pairs_per_request=2,
                wave_key="w0",
            )
        finally:
            await second.aclose()
        assert await created(url) == 1
    assert summary.job.batch_id == job.batch_id
    assert summary.verdicts == 6
    saved = store.load_job()
    assert saved is not None and saved.batch_id == job.batch_id and saved.fetched_at is not None
    assert store.load_intent() is None


async def test_a_batch_saved_for_another_wave_is_never_adopted_from_the_database(
    db: Database,
) -> None:
    """Anthropic batches are matched by time and size: one of the same size already saved as
    another wave's job in the database is left out, and the wave is submitted once."""
    run_id = new_run(db)
    tasks = pairs(4, seed=5)
    store = DbJobStore(db, run_id, 1)
    dead = provider_for(unreachable_url(), ANTHROPIC)
    try:
        with pytest.raises(ProviderError):
            await submit(dead, CONTEXT, tasks, nonce=NONCE, store=store)
    finally:
        await dead.aclose()
    async with running_server("generic", speed=1000.0, seed=5) as url:
        provider = provider_for(url, ANTHROPIC)
        try:
            sibling = await submit(provider, CONTEXT, pairs(4, 6, prefix="sib"), nonce=NONCE)
            DbJobStore(db, run_id, 0).save_job(sibling)
            summary = await run_batch_summary(
                provider, CONTEXT, tasks, store=store, poll_interval_s=POLL
            )
        finally:
            await provider.aclose()
        assert await created(url) == 2
    assert summary.job.batch_id != sibling.batch_id
    assert summary.verdicts == 4
    with db.session() as s:
        assert saved_waves(s, run_id) == {0, 1}


# ---------------------------------------------------------------------------------------------
# Polls reported, and cancelled waiting
# ---------------------------------------------------------------------------------------------


async def test_every_status_poll_is_reported(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    run_id = new_run(db)
    tasks = pairs(4, seed=7)
    polls: list[str] = []
    real_poll = runner.poll

    async def counted(provider: BaseProvider, job: BatchJob) -> BatchJob:
        polls.append(job.status)
        return await real_poll(provider, job)

    monkeypatch.setattr(runner, "poll", counted)
    heard: list[BatchJob] = []
    store = DbJobStore(db, run_id, 0)
    async with running_server("generic", speed=1000.0, seed=7, batch_delay_s=200.0) as url:
        provider = provider_for(url, ANTHROPIC)
        try:
            summary = await run_batch_summary(
                provider, CONTEXT, tasks, store=store, poll_interval_s=POLL, on_poll=heard.append
            )
            assert len(polls) >= 3  # the batch took several polls
            assert len(heard) == len(polls)  # one report per poll
            assert heard[-1].ended and all(not job.ended for job in heard[:-1])
            assert summary.job.batch_id == heard[-1].batch_id
            # Resuming a batch that has ended polls nothing and so reports nothing.
            again = await run_batch_summary(
                provider, CONTEXT, tasks, store=store, poll_interval_s=POLL, on_poll=heard.append
            )
        finally:
            await provider.aclose()
        assert await created(url) == 1
    assert len(heard) == len(polls)
    assert again.job.batch_id == summary.job.batch_id and again.verdicts == 4


@BOTH
async def test_cancel_stops_waiting_at_once_and_leaves_the_batch_to_be_fetched(
    db: Database, kind_model: tuple[ProviderKind, str]
) -> None:
    run_id = new_run(db)
    tasks = pairs(6, seed=8)
    token = CancelToken()
    polled = asyncio.Event()

    def on_poll(_job: BatchJob) -> None:
        polled.set()

    async with running_server("generic", speed=1000.0, seed=8, batch_delay_s=1500.0) as url:
        provider = provider_for(url, kind_model)
        try:
            waiting = asyncio.ensure_future(
                run_batch_summary(
                    provider,
                    CONTEXT,
                    tasks,
                    store=DbJobStore(db, run_id, 0),
                    poll_interval_s=30.0,
                    pairs_per_request=2,
                    on_poll=on_poll,
                    cancel=token,
                )
            )
            await asyncio.wait_for(polled.wait(), 10)  # submitted, saved, polled once
            started = time.monotonic()
            token.cancel("paused")
            with pytest.raises(OperationCancelledError, match="paused"):
                await asyncio.wait_for(waiting, 10)
            assert time.monotonic() - started < 1.0  # not a whole poll interval
            job = DbJobStore(db, run_id, 0).load_job()
            assert job is not None and not job.ended
            assert await provider_status(url, kind_model, job.batch_id) == "in_progress"
            assert await created(url) == 1

            # Resumed: the same batch is fetched by id, nothing is submitted again.
            summary = await run_batch_summary(
                provider,
                CONTEXT,
                tasks,
                store=DbJobStore(db, run_id, 0),
                poll_interval_s=POLL,
                pairs_per_request=2,
                cancel=CancelToken(),
            )
        finally:
            await provider.aclose()
        assert await created(url) == 1
    assert summary.job.batch_id == job.batch_id
    assert summary.job.status == "completed"
    assert summary.verdicts == 6


async def test_a_cancelled_token_submits_nothing(db: Database, tmp_path: Path) -> None:
    token = CancelToken()
    token.cancel()
    async with running_server("generic", speed=1000.0, seed=9) as url:
        provider = provider_for(url, OPENAI)
        try:
            with pytest.raises(OperationCancelledError):
                await run_batch_summary(
                    provider,
                    CONTEXT,
                    pairs(2, seed=9),
                    store=DbJobStore(db, new_run(db), 0),
                    cancel=token,
                )
            with pytest.raises(ValueError, match="not both"):
                await run_batch_summary(
                    provider,
                    CONTEXT,
                    pairs(2, seed=9),
                    store=FileJobStore(tmp_path / "a.json"),
                    state_path=tmp_path / "b.json",
                )
        finally:
            await provider.aclose()
        assert await created(url) == 0
    with db.session() as s:
        assert list(s.scalars(select(ProviderBatch))) == []
