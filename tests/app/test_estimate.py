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


LONG_RUBRIC = "Judge the argument before the language, and the language before the length. " * 80


def test_explicit_caching_needs_the_models_minimum_and_pays_for_writes() -> None:
    cat = load_catalogue()
    long_context = AssignmentContext(
        CONTEXT.title, CONTEXT.student_prompt, "Argument.", LONG_RUBRIC
    )
    sonnet = estimate_run(
        cat, "claude-sonnet-4-5", long_context, ESSAYS, 120, pairs_per_call=4, concurrency=8
    )
    # 30 calls: the 8 of the first round write the prefix, the 22 after read it.
    assert sonnet.usage.cache_write_tokens > 0
    assert sonnet.usage.cached_input_tokens == pytest.approx(
        sonnet.usage.cache_write_tokens * 22 / 8, rel=0.01
    )
    # The same prefix is below Haiku 4.5's 4,096-token minimum: nothing cached or written.
    haiku = estimate_run(
        cat, "claude-haiku-4-5", long_context, ESSAYS, 120, pairs_per_call=4, concurrency=8
    )
    assert haiku.usage.cached_input_tokens == haiku.usage.cache_write_tokens == 0
    assert cat.get("claude-haiku-4-5").cache_minimum == 4096
    # A short assignment stays below Sonnet's 1,024 too.
    short = estimate_run(cat, "claude-sonnet-4-5", CONTEXT, ESSAYS, 120, pairs_per_call=4)
    assert short.usage.cached_input_tokens == short.usage.cache_write_tokens == 0
    # Writes cost more than plain input: with caching the first round costs more than without.
    one_round = estimate_run(
        cat, "claude-sonnet-4-5", long_context, ESSAYS, 32, pairs_per_call=4, concurrency=8
    )
    plain = cat.cost_usd(
        "claude-sonnet-4-5",
        type(one_round.usage)(one_round.usage.input_tokens, 0, one_round.usage.output_tokens),
    )
    assert one_round.cost_usd > plain


def test_bundles_are_estimated_in_the_shape_the_scheduler_plans() -> None:
    cat = load_catalogue()
    four = estimate_run(cat, "gpt-5-mini", CONTEXT, ESSAYS, 120, pairs_per_call=4)
    six = estimate_run(cat, "gpt-5-mini", CONTEXT, ESSAYS, 120, pairs_per_call=6)
    # 4 and 6 pairs both show 4 essays: the bundle of 6 costs little more per call.
    per_call_4 = four.usage.input_tokens / four.calls
    per_call_6 = six.usage.input_tokens / six.calls
    assert per_call_6 < 1.1 * per_call_4
    assert six.usage.input_tokens < four.usage.input_tokens


def test_a_model_without_a_listed_cache_minimum_is_estimated_without_caching() -> None:
    cat = load_catalogue()
    long_context = AssignmentContext(
        CONTEXT.title, CONTEXT.student_prompt, "Argument.", LONG_RUBRIC
    )
    listed = estimate_run(cat, "gpt-5-mini", long_context, ESSAYS, 120, concurrency=4)
    assert listed.usage.cached_input_tokens > 0
    unlisted = cat.get("gpt-5-mini").model_copy(update={"cache_min_tokens": None})
    other = cat.model_copy(update={"models": {**cat.models, "my-model": unlisted}})
    plain = estimate_run(other, "my-model", long_context, ESSAYS, 120, concurrency=4)
    assert plain.usage.cached_input_tokens == plain.usage.cache_write_tokens == 0
    assert plain.usage.input_tokens == listed.usage.input_tokens
    assert plain.cost_usd > listed.cost_usd
