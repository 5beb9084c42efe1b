"""A provider batch created by a process that died before saving its job is found and adopted,
never paid for twice: against the simulated provider server on 127.0.0.1 (no internet)."""

from __future__ import annotations

import asyncio
import random
import re
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select

from app.db.engine import Database, open_database
from app.db.models import Comparison, ComparisonStatus, ProviderBatch, RunStatus
from app.demo import load_demo
from app.llm.batch import (
    BatchJob,
    FileJobStore,
    anthropic_batches,
    intent_path,
    load_intent,
    load_state,
    openai_batches,
    run_batch_summary,
    save_state,
    submit,
)
from app.llm.batch.jobs import SUBMISSION_METADATA_KEY, WAVE_METADATA_KEY
from app.llm.dispatcher import Dispatcher, DispatchSettings, PairOutcome
from app.llm.providers.base import BaseProvider, ProviderConfig
from app.llm.providers.factory import make_provider
from app.llm.types import FailureCategory, PairTask, ProviderError, ProviderKind
from app.runs.batch_store import DbJobStore
from app.runs.batches import TextItem, create_batch
from app.runs.orchestrator import Orchestrator, RunSettings
from app.simserver import running_server
from core.prompt import AssignmentContext

DEMO = load_demo()
CONTEXT: AssignmentContext = DEMO.context
TEXTS = [item.text for item in DEMO.items]
NONCE = "recoverynonce001"
POLL = 0.02

OPENAI: tuple[ProviderKind, str] = ("openai_compatible", "sim-generic")
ANTHROPIC: tuple[ProviderKind, str] = ("anthropic", "claude-haiku-4-5")
BOTH = pytest.mark.parametrize("kind_model", [OPENAI, ANTHROPIC], ids=["openai", "anthropic"])


class CrashError(RuntimeError):
    """The process dies here."""


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


async def created(url: str) -> tuple[int, int]:
    """(batches created, batch requests received) by the server, both providers together."""
    stats = await sim_get(url, "/sim/stats")
    batches = stats.get("openai_batches", 0) + stats.get("anthropic_batches", 0)
    requests = stats.get("openai_batch_requests", 0) + stats.get("anthropic_batch_requests", 0)
    return batches, requests


async def judged(url: str) -> int:
    """How many pair judgements the server has stated, once every batch it holds has ended."""
    for _ in range(500):
        openai = (await sim_get(url, "/v1/batches?limit=100"))["data"]
        anthropic = (await sim_get(url, "/v1/messages/batches?limit=100"))["data"]
        if all(b["status"] in {"completed", "failed", "expired", "cancelled"} for b in openai) and (
            all(b["processing_status"] == "ended" for b in anthropic)
        ):
            break
        await asyncio.sleep(POLL)
    else:
        raise AssertionError("the server's batches did not end")
    ledger: dict[str, list[str]] = await sim_get(url, "/sim/ledger")
    return sum(len(winners) for winners in ledger.values())


def check_exactly_once(tasks: list[PairTask], outcomes: list[PairOutcome]) -> None:
    assert sorted(o.pair_id for o in outcomes) == sorted(t.pair_id for t in tasks)
    for o in outcomes:
        assert (o.verdict is None) == (o.category is not None)


# ---------------------------------------------------------------------------------------------
# The runner: submitted, then the process dies before the job is saved
# ---------------------------------------------------------------------------------------------


@BOTH
async def test_a_batch_created_before_a_crash_is_adopted_not_submitted_again(
    tmp_path: Path, kind_model: tuple[ProviderKind, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    tasks = pairs(6, seed=3)
    state = tmp_path / "wave.json"
    intent = intent_path(state)
    async with running_server("generic", speed=1000.0, seed=3, batch_delay_s=150.0) as url:
        first = provider_for(url, kind_model)
        try:
            job = await submit(
                first,
                CONTEXT,
                tasks,
                nonce=NONCE,
                pairs_per_request=2,
                wave_key="wave-key-1",
                intent_path=intent,
            )
        finally:
            await first.aclose()  # the app dies before the job is saved
        assert intent.exists() and not state.exists()
        written = load_intent(intent)
        assert written.custom_ids == [r.custom_id for r in job.requests]
        assert await created(url) == (1, 3)

        # Later batches of other sizes, and one list item per page: ours is found on page 3.
        other = provider_for(url, kind_model)
        try:
            for n, seed in ((1, 11), (4, 12)):
                await submit(other, CONTEXT, pairs(n, seed, prefix=f"other{n}"), nonce=NONCE)
        finally:
            await other.aclose()
        monkeypatch.setattr(openai_batches, "_LIST_PAGE", 1)
        monkeypatch.setattr(anthropic_batches, "_LIST_PAGE", 1)

        second = provider_for(url, kind_model)  # ... and starts again
        try:
            summary = await run_batch_summary(
                second,
                CONTEXT,
                tasks,
                state_path=state,
                poll_interval_s=POLL,
                pairs_per_request=2,
                wave_key="wave-key-1",
            )
        finally:
            await second.aclose()
        assert await created(url) == (3, 3 + 1 + 4)  # ours once, plus the two others
        assert await judged(url) == 6 + 1 + 4
        if kind_model == OPENAI:
            listed = await sim_get(url, f"/v1/batches/{job.batch_id}")
            assert listed["metadata"] == {
                WAVE_METADATA_KEY: "wave-key-1",
                SUBMISSION_METADATA_KEY: written.token,
            }
    assert summary.job.batch_id == job.batch_id
    assert summary.job.requests == job.requests and summary.job.nonce == NONCE
    assert not intent.exists()  # the saved job has taken its place
    assert load_state(state).batch_id == job.batch_id
    check_exactly_once(tasks, summary.outcomes)
    assert summary.verdicts == 6


@BOTH
async def test_an_intent_whose_create_never_arrived_is_submitted_once(
    tmp_path: Path, kind_model: tuple[ProviderKind, str]
) -> None:
    tasks = pairs(4, seed=5)
    state = tmp_path / "wave.json"
    dead = provider_for(unreachable_url(), kind_model)
    try:
        with pytest.raises(ProviderError):
            await submit(
                dead, CONTEXT, tasks, nonce=NONCE, wave_key="w", intent_path=intent_path(state)
            )
    finally:
        await dead.aclose()
    assert intent_path(state).exists()
    async with running_server("generic", speed=1000.0, seed=5) as url:
        # A batch of the same size already saved as another wave's job is not taken for ours.
        provider = provider_for(url, kind_model)
        try:
            sibling = await submit(provider, CONTEXT, pairs(4, 6, prefix="sib"), nonce=NONCE)
            save_state(sibling, tmp_path / "other-wave.json")
            summary = await run_batch_summary(
                provider, CONTEXT, tasks, state_path=state, poll_interval_s=POLL, wave_key="w"
            )
        finally:
            await provider.aclose()
        assert await created(url) == (2, 8)
        assert await judged(url) == 4 + 4  # the sibling's pairs and ours, each once
    assert summary.job.batch_id != sibling.batch_id
    assert not intent_path(state).exists()
    check_exactly_once(tasks, summary.outcomes)
    assert summary.verdicts == 4


async def test_an_unsaved_anthropic_batch_is_matched_by_time_and_size_only(
    tmp_path: Path,
) -> None:
    """The residual risk of Anthropic adoption, bounded: another program's batch of the same
    size in the window is taken for ours, but its answers are never read as our verdicts."""
    tasks = pairs(3, seed=8)
    state = tmp_path / "wave.json"
    dead = provider_for(unreachable_url(), ANTHROPIC)
    try:
        with pytest.raises(ProviderError):
            await submit(dead, CONTEXT, tasks, nonce=NONCE, intent_path=intent_path(state))
    finally:
        await dead.aclose()
    async with running_server("generic", speed=1000.0, seed=8) as url:
        provider = provider_for(url, ANTHROPIC)
        try:
            foreign = await submit(provider, CONTEXT, pairs(3, 9, prefix="foreign"), nonce=NONCE)
            summary = await run_batch_summary(
                provider, CONTEXT, tasks, state_path=state, poll_interval_s=POLL
            )
        finally:
            await provider.aclose()
        assert (await created(url))[0] == 1
    assert summary.job.batch_id == foreign.batch_id
    check_exactly_once(tasks, summary.outcomes)
    assert summary.verdicts == 0
    assert {o.category for o in summary.outcomes} == {FailureCategory.PARSE_ERROR}


async def test_a_saved_intent_for_other_pairs_or_another_provider_is_refused(
    tmp_path: Path,
) -> None:
    tasks = pairs(3, seed=2)
    state = tmp_path / "wave.json"
    dead = provider_for(unreachable_url(), OPENAI)
    try:
        with pytest.raises(ProviderError):
            await submit(dead, CONTEXT, tasks, nonce=NONCE, intent_path=intent_path(state))
    finally:
        await dead.aclose()
    async with running_server("generic", speed=1000.0, seed=2) as url:
        for kind_model, todo, match in (
            (OPENAI, pairs(4, seed=2), "other pairs"),
            (ANTHROPIC, tasks, "submitted to"),
        ):
            provider = provider_for(url, kind_model)
            try:
                with pytest.raises(ValueError, match=match):
                    await run_batch_summary(
                        provider, CONTEXT, todo, state_path=state, poll_interval_s=POLL
                    )
            finally:
                await provider.aclose()
        assert await created(url) == (0, 0)
    assert intent_path(state).exists()


# ---------------------------------------------------------------------------------------------
# A run in provider-batch mode
# ---------------------------------------------------------------------------------------------


def make_db(tmp_path: Path) -> tuple[Database, str]:
    db = open_database(path=tmp_path / "huleedu.sqlite3")
    essays = [TextItem(i.name, i.text) for i in DEMO.items if i.grade is None]
    anchors = [TextItem(i.name, i.text, i.grade, i.label) for i in DEMO.items if i.grade]
    batch = create_batch(db, "Demo", DEMO.context, DEMO.scale_id, essays, anchors)
    return db, batch


def saved(db: Database, run_id: str) -> tuple[set[int], dict[int, BatchJob]]:
    """(waves with an intent, saved job per wave) of a run, wherever the run loop keeps them:
    the ``provider_batches`` table or JSON files in ``batches/`` beside the database."""
    intents: set[int] = set()
    jobs: dict[int, BatchJob] = {}
    with db.session() as s:
        for row in s.scalars(select(ProviderBatch).where(ProviderBatch.run_id == run_id)):
            if row.intent is not None:
                intents.add(row.wave)
            if row.job is not None:
                jobs[row.wave] = BatchJob.model_validate(row.job)
    folder = db.path.parent / "batches"
    pattern = re.compile(rf"^{re.escape(run_id)}-wave(\d+)(\.intent)?\.json$")
    for item in sorted(folder.iterdir()) if folder.is_dir() else []:
        match = pattern.match(item.name)
        assert match is not None, f"unexpected file {item.name}"
        if match.group(2):
            intents.add(int(match.group(1)))
        else:
            jobs[int(match.group(1))] = load_state(item)
    return intents, jobs


async def drive(db: Database, run_id: str, url: str, kind_model: tuple[ProviderKind, str]) -> str:
    provider = provider_for(url, kind_model)
    try:
        orchestrator = Orchestrator(db, Dispatcher(provider, DispatchSettings(bundle_size=2)))
        return await orchestrator.run(run_id)
    finally:
        await provider.aclose()


@BOTH
async def test_a_run_that_dies_between_create_and_save_pays_for_each_wave_once(
    tmp_path: Path, kind_model: tuple[ProviderKind, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    db, batch = make_db(tmp_path)
    settings = RunSettings(
        budget=24,
        target_reliability=None,
        min_comparisons_per_essay=0,
        mode="provider_batch",
        bundle_size=2,
        poll_interval_s=POLL,
    )
    run_id = Orchestrator(db, None).create_run(batch, settings)  # type: ignore[arg-type]

    def die(_store: object, _job: BatchJob) -> None:
        raise CrashError("the process dies after the provider created the batch")

    async with running_server("generic", speed=1000.0, seed=4, batch_delay_s=100.0) as url:
        with monkeypatch.context() as patch:
            patch.setattr(FileJobStore, "save_job", die)
            patch.setattr(DbJobStore, "save_job", die)
            with pytest.raises(CrashError):
                await drive(db, run_id, url, kind_model)
        assert saved(db, run_id) == ({0}, {})  # the intent only
        before, _ = await created(url)
        assert before == 1
        path = "/v1/batches" if kind_model == OPENAI else "/v1/messages/batches"
        first_batch = (await sim_get(url, path))["data"][0]
        if kind_model == OPENAI:
            wave_key = Orchestrator._wave_key(run_id, 0)
            assert first_batch["metadata"][WAVE_METADATA_KEY] == wave_key

        assert await drive(db, run_id, url, kind_model) == RunStatus.COMPLETE.value
        batches, requests = await created(url)
        pairs_judged = await judged(url)

    with db.session() as s:
        rows = list(s.scalars(select(Comparison).where(Comparison.run_id == run_id)))
        failed = s.scalar(
            select(func.count())
            .select_from(Comparison)
            .where(Comparison.run_id == run_id, Comparison.status != ComparisonStatus.DONE.value)
        )
    waves = sorted({c.wave for c in rows})
    assert len(rows) == 24 and failed == 0
    assert batches == len(waves)  # one provider batch per wave, the first one adopted
    by_wave = {w: {c.provider_batch_id for c in rows if c.wave == w} for w in waves}
    assert all(len(ids) == 1 for ids in by_wave.values())
    assert by_wave[0] == {first_batch["id"]}
    intents, jobs = saved(db, run_id)
    assert sorted(jobs) == waves and not intents
    assert requests == sum(len(job.requests) for job in jobs.values())  # no request sent twice
    assert pairs_judged == 24  # every pair judged once
