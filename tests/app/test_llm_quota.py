"""Answers that mean "the account cannot pay": read as QUOTA from the providers' documented
bodies, never retried, and stopping a dispatch, a provider batch, `grade` (exit 4, run paused)
and the demo at once."""

from __future__ import annotations

import json
import os
import random
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from app.cli import main
from app.demo import load_demo, run_demo
from app.llm.batch import run_batch_summary
from app.llm.dispatcher import Dispatcher, DispatchSettings
from app.llm.providers.base import ProviderConfig, error_from_response
from app.llm.providers.factory import make_provider
from app.llm.quota import quota_advice
from app.llm.types import FailureCategory, PairTask, ProviderKind, QuotaExhaustedError
from app.operations.base import OperationCancelledError
from app.paths import resources_dir
from app.simserver import running_server, start_in_thread

BATCH = load_demo()
CONTEXT = BATCH.context
TEXTS = [item.text for item in BATCH.items]
DEMO = resources_dir() / "demo"


def pairs(n: int, seed: int = 0) -> list[PairTask]:
    rng = random.Random(seed)
    out = []
    for k in range(n):
        a, b = rng.sample(range(len(TEXTS)), 2)
        out.append(PairTask(f"pair-{k}", TEXTS[a], TEXTS[b]))
    return out


def _response(status: int, body: dict[str, Any]) -> httpx.Response:
    return httpx.Response(status, content=json.dumps(body).encode())


def _gemini(status: int, state: str, message: str, details: list[Any]) -> dict[str, Any]:
    return {"error": {"code": status, "message": message, "status": state, "details": details}}


def _quota_failure(quota_id: str) -> dict[str, Any]:
    return {
        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
        "violations": [{"quotaMetric": "m", "quotaId": quota_id, "quotaValue": "50"}],
    }


QUOTA = "You exceeded your current quota, please check your plan and billing details."

CASES: list[tuple[str, httpx.Response, FailureCategory]] = [
    (
        "openai insufficient_quota",
        _response(
            429,
            {
                "error": {
                    "message": QUOTA,
                    "type": "insufficient_quota",
                    "param": None,
                    "code": "insufficient_quota",
                }
            },
        ),
        FailureCategory.QUOTA,
    ),
    (
        "openai rate limit",
        _response(
            429,
            {
                "error": {
                    "message": "Rate limit reached for requests",
                    "type": "requests",
                    "param": None,
                    "code": "rate_limit_exceeded",
                }
            },
        ),
        FailureCategory.RATE_LIMIT,
    ),
    (
        "anthropic billing_error",
        _response(
            402,
            {"type": "error", "error": {"type": "billing_error", "message": "Billing error"}},
        ),
        FailureCategory.QUOTA,
    ),
    (
        "anthropic tier spend cap",
        _response(
            429,
            {
                "type": "error",
                "error": {
                    "type": "rate_limit_error",
                    "message": "You have reached your monthly spend limit.",
                    "details": {"error_code": "enforced_spend_limit_reached"},
                },
            },
        ),
        FailureCategory.QUOTA,
    ),
    (
        "anthropic credit balance",
        _response(
            400,
            {
                "type": "error",
                "error": {
                    "type": "invalid_request_error",
                    "message": "Your credit balance is too low to access the Anthropic API. "
                    "Please go to Plans & Billing to upgrade or purchase credits.",
                },
            },
        ),
        FailureCategory.QUOTA,
    ),
    (
        "anthropic spend limit set by the organisation",
        _response(
            400,
            {
                "type": "error",
                "error": {
                    "type": "invalid_request_error",
                    "message": "You have reached your specified API usage limits. You will "
                    "regain access on 2026-01-01 at 00:00 UTC.",
                },
            },
        ),
        FailureCategory.QUOTA,
    ),
    (
        "anthropic rate limit",
        _response(
            429,
            {"type": "error", "error": {"type": "rate_limit_error", "message": "Rate limited"}},
        ),
        FailureCategory.RATE_LIMIT,
    ),
    (
        "anthropic overloaded",
        _response(529, {"type": "error", "error": {"type": "overloaded_error", "message": "x"}}),
        FailureCategory.SERVER,
    ),
    (
        "gemini daily quota",
        _response(
            429,
            _gemini(
                429,
                "RESOURCE_EXHAUSTED",
                QUOTA,
                [_quota_failure("GenerateRequestsPerDayPerProjectPerModel-FreeTier")],
            ),
        ),
        FailureCategory.QUOTA,
    ),
    (
        "gemini per-minute quota",
        _response(
            429,
            _gemini(
                429,
                "RESOURCE_EXHAUSTED",
                QUOTA,
                [_quota_failure("GenerateRequestsPerMinutePerProjectPerModel-FreeTier")],
            ),
        ),
        FailureCategory.RATE_LIMIT,
    ),
    (
        "gemini billing disabled",
        _response(
            403,
            _gemini(
                403,
                "PERMISSION_DENIED",
                "This API method requires billing to be enabled.",
                [
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "BILLING_DISABLED",
                        "domain": "googleapis.com",
                    }
                ],
            ),
        ),
        FailureCategory.QUOTA,
    ),
    (
        "gemini free tier unavailable",
        _response(
            400,
            _gemini(
                400,
                "FAILED_PRECONDITION",
                "Gemini API free tier is not available in your country. Please enable billing "
                "on your project in Google AI Studio.",
                [],
            ),
        ),
        FailureCategory.QUOTA,
    ),
    (
        "gemini prepaid credit used up",
        _response(402, _gemini(402, "RESOURCE_EXHAUSTED", "Prepay credits depleted.", [])),
        FailureCategory.QUOTA,
    ),
    (
        "gemini overloaded",
        _response(503, _gemini(503, "UNAVAILABLE", "The model is overloaded.", [])),
        FailureCategory.SERVER,
    ),
]


@pytest.mark.parametrize("response,category", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_documented_error_bodies_are_classified(
    response: httpx.Response, category: FailureCategory
) -> None:
    err = error_from_response(response)
    assert err.category is category
    assert err.category.retryable == (
        category in (FailureCategory.RATE_LIMIT, FailureCategory.SERVER)
    )


def test_the_advice_says_where_to_act() -> None:
    assert "platform.openai.com" in quota_advice("openai")
    assert "Claude Console" in quota_advice("anthropic")
    assert "billing" in quota_advice("gemini")
    assert "resume" in quota_advice("openai_compatible")
    assert issubclass(QuotaExhaustedError, OperationCancelledError)


JUDGES: list[tuple[ProviderKind, str, str]] = [
    ("openai", "gpt-5-mini", "/v1"),
    ("openai_compatible", "sim-generic", "/v1"),
    ("anthropic", "claude-haiku-4-5", ""),
    ("gemini", "gemini-2.5-flash", ""),
]


@pytest.mark.parametrize("kind,model,suffix", JUDGES, ids=[j[0] for j in JUDGES])
@pytest.mark.parametrize(
    "mode,style",
    [
        ("per_request", "credit"),
        ("bundle", "credit"),
        ("bundle", "billing"),
        ("bundle", "spend_limit"),
    ],
)
async def test_a_quota_answer_stops_the_dispatch_at_once(
    kind: ProviderKind, model: str, suffix: str, mode: str, style: str
) -> None:
    tasks = pairs(40, seed=1)
    heard: list[QuotaExhaustedError] = []
    async with running_server("quota", speed=1000.0, quota_after_calls=3, quota_style=style) as url:
        config = ProviderConfig(
            kind=kind, model=model, base_url=url + suffix, api_key=SecretStr("sim")
        )
        provider = make_provider(config)
        reported: list[str] = []
        try:
            dispatcher = Dispatcher(
                provider,
                DispatchSettings(mode=mode, bundle_size=4, concurrency=1),  # type: ignore[arg-type]
                on_stop=heard.append,
            )
            with pytest.raises(QuotaExhaustedError) as info:
                await dispatcher.run(CONTEXT, tasks, lambda o: reported.append(o.pair_id))
        finally:
            await provider.aclose()
        async with httpx.AsyncClient() as http:
            stats = (await http.get(url + "/sim/stats")).json()
    assert info.value.error.category is FailureCategory.QUOTA
    assert heard == [info.value] and dispatcher.stopped is info.value
    assert stats["quota_refusals"] == 1  # the first refusal, and not one call after it
    assert stats.get("requests_after_quota", 0) == 0
    per_call = 1 if mode == "per_request" else 4
    assert len(reported) == 3 * per_call  # answered pairs only; the rest stay unjudged


@pytest.mark.parametrize(
    "kind,model,suffix",
    [("openai_compatible", "sim-generic", "/v1"), ("anthropic", "claude-haiku-4-5", "")],
)
async def test_a_quota_answer_stops_a_provider_batch(
    kind: ProviderKind, model: str, suffix: str
) -> None:
    async with running_server("quota", speed=1000.0, quota_after_calls=0) as url:
        config = ProviderConfig(
            kind=kind, model=model, base_url=url + suffix, api_key=SecretStr("sim")
        )
        provider = make_provider(config)
        try:
            with pytest.raises(QuotaExhaustedError):
                await run_batch_summary(provider, CONTEXT, pairs(4), poll_interval_s=0.02)
        finally:
            await provider.aclose()


def grade_args(tmp_path: Path, *extra: str) -> list[str]:
    return [
        "grade",
        str(DEMO / "essays"),
        "--anchors",
        str(DEMO / "anchors"),
        "--title",
        "Phones",
        "--data-dir",
        str(tmp_path / "data"),
        "--out",
        str(tmp_path / "out"),
        "--quiet",
        *extra,
    ]


def test_grade_pauses_on_a_quota_answer_with_exit_4_and_resumes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    os.environ["QUOTA_TEST_KEY"] = "sk-test"
    url, stop = start_in_thread("quota", speed=1000.0, quota_after_calls=5)
    port = url.rsplit(":", 1)[1]
    judge = [
        "--provider",
        "openai_compatible",
        "--model",
        "sim-generic",
        "--base-url",
        url + "/v1",
        "--api-key-env",
        "QUOTA_TEST_KEY",
    ]
    try:
        code = main(grade_args(tmp_path, *judge))
        async_stats = httpx.get(url + "/sim/stats").json()
    finally:
        stop()
    err = " ".join(capsys.readouterr().err.split())
    assert code == 4, err
    assert "cannot pay for more calls" in err and "--resume" in err and "Traceback" not in err
    assert async_stats["quota_refusals"] == 1
    assert async_stats.get("requests_after_quota", 0) == 0
    db = tmp_path / "data" / "huleedu.sqlite3"
    with sqlite3.connect(db) as con:
        run_id, status = con.execute("SELECT id, status FROM runs").fetchone()
        assert status == "paused"
        failed = con.execute("SELECT count(*) FROM comparisons WHERE status='failed'").fetchone()
        assert failed[0] == 0  # unjudged pairs went back to planned, none was failed
    # The account is topped up: the same address answers again and the run resumes.
    _, stop2 = start_in_thread("generic", speed=1000.0, port=int(port))
    try:
        code = main(grade_args(tmp_path, "--resume", run_id))
    finally:
        stop2()
    assert code == 0, capsys.readouterr().err
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT status FROM runs").fetchone()[0] == "complete"


def test_grade_refuses_provider_batch_for_gemini_before_anything_is_stored(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    os.environ["GEMINI_TEST_KEY"] = "k"
    code = main(
        grade_args(
            tmp_path,
            "--provider",
            "gemini",
            "--model",
            "gemini-2.5-flash",
            "--mode",
            "provider_batch",
            "--api-key-env",
            "GEMINI_TEST_KEY",
        )
    )
    err = " ".join(capsys.readouterr().err.split())
    assert code == 2
    assert "gemini" in err and "provider_batch" in err and "Traceback" not in err
    db = tmp_path / "data" / "huleedu.sqlite3"
    if db.exists():
        with sqlite3.connect(db) as con:
            assert con.execute("SELECT count(*) FROM runs").fetchone()[0] == 0


def test_the_demo_stops_cleanly_on_a_quota_answer(capsys: pytest.CaptureFixture[str]) -> None:
    url, stop = start_in_thread("quota", speed=1000.0, quota_after_calls=4)
    try:
        code = run_demo(
            judge={
                "provider": "openai_compatible",
                "model": "sim-generic",
                "base_url": url + "/v1",
            },
            as_json=True,
        )
        stats = httpx.get(url + "/sim/stats").json()
    finally:
        stop()
    err = capsys.readouterr().err
    assert code == 4
    assert "Traceback" not in err and "run the demo again" in err
    # The demo sends 4 calls at a time: those already in flight when the first refusal came
    # back are refused too, and no call is started after it.
    assert stats["quota_refusals"] <= 4
    assert stats["openai_chat_requests"] <= 4 + 4


def test_batch_mode_is_refused_where_no_batch_api_is_spoken() -> None:
    from app.operations.judge import batch_mode_problem  # noqa: PLC0415

    problem = batch_mode_problem("gemini", "gemini-2.5-flash")
    assert problem is not None and "--mode bundle" in problem
    assert batch_mode_problem("openai", "gpt-5-mini") is None
    assert batch_mode_problem("anthropic", "claude-haiku-4-5") is None
    assert batch_mode_problem("sim", "sim-gpt51-low") is None


async def test_drive_run_reports_a_quota_stop_as_judge_refused(tmp_path: Path) -> None:
    """The window drives runs through ``drive_run``: it gets the advice, and the run is
    paused with no pair failed."""
    from app.db.engine import open_database  # noqa: PLC0415
    from app.operations.base import Failed, FailureKind  # noqa: PLC0415
    from app.operations.runs import FolderRunRequest, drive_run, prepare_folder_run  # noqa: PLC0415

    os.environ["QUOTA_DRIVE_KEY"] = "k"
    async with running_server("quota", speed=1000.0, quota_after_calls=3) as url:
        db = open_database(path=tmp_path / "db.sqlite3")
        try:
            prepared = prepare_folder_run(
                db,
                FolderRunRequest([DEMO / "essays"], title="T", context=CONTEXT),
                {
                    "provider": "openai_compatible",
                    "model": "sim-generic",
                    "base_url": url + "/v1",
                    "api_key_env": "QUOTA_DRIVE_KEY",
                },
            )
            outcome = await drive_run(db, prepared.run_id)
        finally:
            db.close()
    assert isinstance(outcome, Failed) and outcome.kind is FailureKind.JUDGE_REFUSED
    assert "cannot pay for more calls" in outcome.message
    with sqlite3.connect(tmp_path / "db.sqlite3") as con:
        assert con.execute("SELECT status FROM runs").fetchone()[0] == "paused"
        failed = con.execute("SELECT count(*) FROM comparisons WHERE status='failed'")
        assert failed.fetchone()[0] == 0


def test_grade_in_provider_batch_mode_stops_on_a_quota_answer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    os.environ["QUOTA_BATCH_KEY"] = "k"
    url, stop = start_in_thread("quota", speed=1000.0, quota_after_calls=0)
    try:
        code = main(
            grade_args(
                tmp_path,
                "--provider",
                "anthropic",
                "--model",
                "claude-haiku-4-5",
                "--base-url",
                url,
                "--api-key-env",
                "QUOTA_BATCH_KEY",
                "--mode",
                "provider_batch",
                "--poll-interval",
                "0.05",
            )
        )
        stats = httpx.get(url + "/sim/stats").json()
    finally:
        stop()
    err = " ".join(capsys.readouterr().err.split())
    assert code == 4, err
    assert "Claude Console" in err and "Traceback" not in err
    assert stats["quota_refusals"] == 1 and stats.get("anthropic_batches", 0) == 0
    with sqlite3.connect(tmp_path / "data" / "huleedu.sqlite3") as con:
        assert con.execute("SELECT status FROM runs").fetchone()[0] == "paused"
