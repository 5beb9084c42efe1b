"""Cost and time estimates before a run."""

from __future__ import annotations

import pytest

from app.llm.catalogue import load_catalogue
from app.llm.estimate import estimate_run
from core.prompt import AssignmentContext

CONTEXT = AssignmentContext("Phones", "Should schools ban phones? " * 10, "Argument. " * 20)
ESSAYS = [("Phones distract students in class. " * (30 + i)) for i in range(12)]


def test_bundles_cost_less_per_verdict_than_single_calls() -> None:
    cat = load_catalogue()
    single = estimate_run(cat, "gpt-5-mini", CONTEXT, ESSAYS, 120, pairs_per_call=1)
    bundle = estimate_run(cat, "gpt-5-mini", CONTEXT, ESSAYS, 120, pairs_per_call=4)
    assert single.calls == 120 and bundle.calls == 30
    assert bundle.usage.input_tokens < single.usage.input_tokens
    assert bundle.cost_usd < single.cost_usd


def test_batch_api_halves_the_price_and_takes_the_window() -> None:
    cat = load_catalogue()
    live = estimate_run(cat, "gpt-5-mini", CONTEXT, ESSAYS, 120, pairs_per_call=1)
    batch = estimate_run(
        cat, "gpt-5-mini", CONTEXT, ESSAYS, 120, pairs_per_call=1, provider_batch=True
    )
    # No cache discount in batch mode, then half price.
    no_cache_live = cat.cost_usd(
        "gpt-5-mini",
        type(live.usage)(live.usage.input_tokens, 0, live.usage.output_tokens),
    )
    assert batch.cost_usd == pytest.approx(no_cache_live / 2, rel=1e-6)
    assert batch.seconds == 24 * 3600


def test_time_is_rounds_of_calls() -> None:
    cat = load_catalogue()
    est = estimate_run(
        cat,
        "gpt-5-mini",
        CONTEXT,
        ESSAYS,
        100,
        pairs_per_call=1,
        concurrency=10,
        mean_latency_s=1.5,
    )
    assert est.seconds == pytest.approx(10 * 1.5)


def test_per_pair_cost_is_in_the_brief_range_for_a_haiku_batch() -> None:
    # BRIEF.md: a 120-comparison batch costs roughly $0.21 on Haiku (~1,450 prompt tokens/pair).
    cat = load_catalogue()
    essays = ["word " * 450 for _ in range(10)]
    est = estimate_run(cat, "claude-haiku-4-5", CONTEXT, essays, 120, pairs_per_call=1)
    assert 0.05 < est.cost_usd < 0.4


def test_nothing_to_do() -> None:
    cat = load_catalogue()
    assert estimate_run(cat, "gpt-5-mini", CONTEXT, [], 10).calls == 0
    assert estimate_run(cat, "gpt-5-mini", CONTEXT, ESSAYS, 0).cost_usd == 0.0
