"""Tests for core.verdict: strict parsing, no default winner, exact confidence, bundles."""

from __future__ import annotations

import json
import pickle
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.prompt import JUSTIFICATION_MAX_CHARS
from core.verdict import (
    CONFIDENCE_PROBABILITY,
    ERROR_CATEGORIES,
    ParsedVerdict,
    VerdictParseError,
    confidence_to_probability,
    parse_bundle_verdicts,
    parse_pair_verdict,
)


def _answer(**fields: object) -> dict[str, object]:
    base: dict[str, object] = {"winner": "A", "justification": "Clearer thesis.", "confidence": 3}
    base.update(fields)
    return base


def _category(raw: Any) -> str:
    with pytest.raises(VerdictParseError) as info:
        parse_pair_verdict(raw)
    assert info.value.category in ERROR_CATEGORIES
    assert str(info.value)  # a message saying what was wrong
    return info.value.category


# --------------------------------------------------------------------------------------------
# Valid answers
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("winner", "first_wins"),
    [("A", True), ("B", False), ("Essay A", True), ("Essay B", False), ("  B \n", False)],
)
def test_accepted_winners(winner: str, first_wins: bool) -> None:
    verdict = parse_pair_verdict(_answer(winner=winner))
    assert verdict.first_wins is first_wins


def test_json_string_with_whitespace_and_one_fence() -> None:
    payload = json.dumps(_answer(winner="B", confidence=5, justification="  Better evidence. "))
    expected = ParsedVerdict(
        first_wins=False,
        confidence=5,
        justification="Better evidence.",
        justification_truncated=False,
    )
    assert parse_pair_verdict(payload) == expected
    assert parse_pair_verdict(f"\n  {payload}  \n") == expected
    assert parse_pair_verdict(f"```json\n{payload}\n```") == expected
    assert parse_pair_verdict(f"```\n{payload}\n```") == expected
    assert parse_pair_verdict(f"  ```json {payload} ```  ") == expected


def test_extra_fields_are_ignored() -> None:
    assert parse_pair_verdict(_answer(reasoning="long", pair=1)).confidence == 3


def test_integral_float_confidence_is_accepted() -> None:
    assert parse_pair_verdict(_answer(confidence=4.0)).confidence == 4
    assert (
        parse_pair_verdict('{"winner": "A", "justification": "", "confidence": 2.0}').confidence
        == 2
    )


@given(st.integers(min_value=1, max_value=5), st.sampled_from(["A", "B", "Essay A", "Essay B"]))
def test_confidence_round_trips_exactly(confidence: int, winner: str) -> None:
    for raw in (
        _answer(winner=winner, confidence=confidence),
        json.dumps(_answer(winner=winner, confidence=confidence)),
    ):
        verdict = parse_pair_verdict(raw)
        assert verdict.confidence == confidence
        assert verdict.first_wins is winner.endswith("A")


def test_confidence_one_is_not_rescaled() -> None:
    verdict = parse_pair_verdict(_answer(confidence=1))
    assert verdict.confidence == 1


# --------------------------------------------------------------------------------------------
# Failure categories
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "not json",
        "The winner is A.",
        'Sure! {"winner": "A", "justification": "x", "confidence": 3}',
        '{"winner": "A", "justification": "x", "confidence": 3} thanks',
        '```json\n{"winner": "A", "justification": "x", "confidence": 3}',
        '```json\n```json\n{"winner": "A", "justification": "x", "confidence": 3}\n```\n```',
        "[1, 2]",
        '"A"',
        "null",
        '{"winner": "A", "winner": "B", "justification": "x", "confidence": 3}',
        '{"winner": "A", "justification": "x", "confidence": NaN}',
        json.dumps({"justification": "x", "confidence": 3}),
        json.dumps({"winner": "A", "confidence": 3}),
        json.dumps({"winner": "A", "justification": 12, "confidence": 3}),
        json.dumps({"winner": "A", "justification": None, "confidence": 3}),
    ],
)
def test_parse_errors(raw: str) -> None:
    assert _category(raw) == "parse_error"


def test_non_string_non_mapping_is_a_parse_error() -> None:
    assert _category(42) == "parse_error"
    assert _category(b'{"winner": "A"}') == "parse_error"


@pytest.mark.parametrize(
    "winner",
    [
        "",
        "C",
        "a",
        "b",
        "essay a",
        "Essay  A",
        "Essay C",
        "A or B",
        "AB",
        "tie",
        "Both",
        "first",
        None,
        1,
        0,
        True,
        ["A"],
        {"A": 1},
    ],
)
def test_unknown_winner(winner: object) -> None:
    assert _category(_answer(winner=winner)) == "unknown_winner"


@pytest.mark.parametrize(
    "confidence", [0, 6, -1, 10, 3.5, 0.0, 5.5, "high", "3", None, True, False, [3], float("inf")]
)
def test_bad_confidence(confidence: object) -> None:
    assert _category(_answer(confidence=confidence)) == "bad_confidence"


def test_missing_confidence_is_bad_confidence() -> None:
    raw = _answer()
    del raw["confidence"]
    assert _category(raw) == "bad_confidence"


@given(st.integers().filter(lambda n: not 1 <= n <= 5))
def test_any_other_integer_confidence_fails(confidence: int) -> None:
    assert _category(_answer(confidence=confidence)) == "bad_confidence"


@given(st.floats().filter(lambda x: not (x.is_integer() and 1 <= x <= 5)))
def test_any_other_float_confidence_fails(confidence: float) -> None:
    assert _category(_answer(confidence=confidence)) == "bad_confidence"


@given(st.text(max_size=20).filter(lambda s: s.strip() not in {"A", "B", "Essay A", "Essay B"}))
def test_never_a_silent_a(winner: str) -> None:
    assert _category(_answer(winner=winner)) == "unknown_winner"
    assert _category(json.dumps(_answer(winner=winner))) == "unknown_winner"


def test_missing_winner_never_defaults() -> None:
    raw = _answer()
    del raw["winner"]
    assert _category(raw) == "parse_error"
    assert _category(json.dumps(raw)) == "parse_error"
    assert _category("{}") == "parse_error"


def test_error_is_a_value_error_and_pickles() -> None:
    with pytest.raises(ValueError):
        parse_pair_verdict(_answer(winner="C"))
    error = VerdictParseError("bad_confidence", "confidence 9", pair=2)
    clone = pickle.loads(pickle.dumps(error))
    assert (clone.category, clone.message, clone.pair) == ("bad_confidence", "confidence 9", 2)
    with pytest.raises(ValueError):
        VerdictParseError("no_such_category", "x")  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# Justification
# --------------------------------------------------------------------------------------------


def test_justification_at_the_limit_is_kept() -> None:
    text = "x" * JUSTIFICATION_MAX_CHARS
    verdict = parse_pair_verdict(_answer(justification=text))
    assert verdict.justification == text
    assert verdict.justification_truncated is False


def test_long_justification_is_cut_and_flagged() -> None:
    text = "y" * (JUSTIFICATION_MAX_CHARS + 57)
    verdict = parse_pair_verdict(_answer(justification=text))
    assert verdict.justification == "y" * JUSTIFICATION_MAX_CHARS
    assert verdict.justification_truncated is True


def test_empty_justification_is_allowed() -> None:
    assert parse_pair_verdict(_answer(justification="")).justification == ""


# --------------------------------------------------------------------------------------------
# Bundles
# --------------------------------------------------------------------------------------------


def _item(pair: object, **fields: object) -> dict[str, object]:
    return {"pair": pair, **_answer(**fields)}


def test_good_bundle() -> None:
    payload = {
        "verdicts": [_item(1, winner="B"), _item(2, confidence=5), _item(3, winner="Essay B")]
    }
    results = parse_bundle_verdicts(json.dumps(payload), 3)
    assert all(isinstance(r, ParsedVerdict) for r in results)
    assert [r.first_wins for r in results if isinstance(r, ParsedVerdict)] == [False, True, False]


def test_bundle_order_follows_pair_numbers_not_list_order() -> None:
    payload = {"verdicts": [_item(2, winner="B"), _item(1, winner="A")]}
    first, second = parse_bundle_verdicts(payload, 2)
    assert isinstance(first, ParsedVerdict) and first.first_wins is True
    assert isinstance(second, ParsedVerdict) and second.first_wins is False


def test_bundle_keeps_good_items_among_bad_missing_and_duplicate() -> None:
    long_text = "z" * (JUSTIFICATION_MAX_CHARS + 1)
    payload = {
        "verdicts": [
            _item(1, winner="B", confidence=2),  # good
            _item(2, winner="C"),  # unknown winner
            _item(3, confidence=7),  # bad confidence
            # pair 4 missing
            _item(5, winner="A"),  # duplicate ...
            _item(5, winner="B"),  # ... of pair 5
            _item(6, justification=long_text),  # good, truncated
            _item(7, justification=None),  # wrong type
            _item(99),  # out of range: ignored
            _item(0),  # out of range: ignored
            "not an object",  # unattributable
            {"winner": "A", "justification": "", "confidence": 3},  # no pair number
            _item(8, winner="Essay A", confidence=4.0),  # good
        ]
    }
    results = parse_bundle_verdicts(json.dumps(payload), 8)
    assert len(results) == 8
    good_one, unknown, bad_conf, missing, duplicate, truncated, wrong_type, good_eight = results
    assert good_one == ParsedVerdict(False, 2, "Clearer thesis.", False)
    assert isinstance(truncated, ParsedVerdict)
    assert (
        truncated.justification_truncated
        and len(truncated.justification) == JUSTIFICATION_MAX_CHARS
    )
    assert good_eight == ParsedVerdict(True, 4, "Clearer thesis.", False)
    expected = {
        2: (unknown, "unknown_winner"),
        3: (bad_conf, "bad_confidence"),
        4: (missing, "missing_item"),
        5: (duplicate, "duplicate_item"),
        7: (wrong_type, "parse_error"),
    }
    for pair, (result, category) in expected.items():
        assert isinstance(result, VerdictParseError)
        assert result.category == category
        assert result.pair == pair
        assert f"pair {pair}" in str(result)
    assert isinstance(missing, VerdictParseError) and "no usable pair number" in str(missing)


def test_three_copies_of_a_pair_are_a_duplicate() -> None:
    payload = {"verdicts": [_item(1), _item(1), _item(1), _item(2)]}
    first, second = parse_bundle_verdicts(payload, 2)
    assert isinstance(first, VerdictParseError) and first.category == "duplicate_item"
    assert isinstance(second, ParsedVerdict)


def test_pair_numbers_must_be_whole_numbers() -> None:
    payload = {"verdicts": [_item("1"), _item(True), _item(1.5), _item(2.0)]}
    first, second = parse_bundle_verdicts(payload, 2)
    assert isinstance(first, VerdictParseError) and first.category == "missing_item"
    assert isinstance(second, ParsedVerdict)


def test_empty_verdict_list_is_all_missing() -> None:
    results = parse_bundle_verdicts('{"verdicts": []}', 3)
    assert [r.category for r in results if isinstance(r, VerdictParseError)] == ["missing_item"] * 3


@pytest.mark.parametrize(
    "raw",
    [
        "garbage",
        "",
        "[]",
        '{"verdicts": {"pair": 1}}',
        '{"verdicts": "A"}',
        '{"answers": []}',
        json.dumps([_item(1), _item(2)]),
    ],
)
def test_unparseable_bundle_fails_every_entry_the_same_way(raw: str) -> None:
    results = parse_bundle_verdicts(raw, 4)
    assert len(results) == 4
    first = results[0]
    assert isinstance(first, VerdictParseError) and first.category == "parse_error"
    assert all(r is first for r in results)


def test_fenced_bundle_is_accepted() -> None:
    raw = "```json\n" + json.dumps({"verdicts": [_item(1)]}) + "\n```"
    assert isinstance(parse_bundle_verdicts(raw, 1)[0], ParsedVerdict)


@pytest.mark.parametrize("n_pairs", [0, -1, True])
def test_bundle_needs_a_positive_pair_count(n_pairs: int) -> None:
    with pytest.raises(ValueError):
        parse_bundle_verdicts('{"verdicts": []}', n_pairs)


# --------------------------------------------------------------------------------------------
# Confidence to probability
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("confidence", "p"), [(1, 0.55), (2, 0.65), (3, 0.75), (4, 0.85), (5, 0.95)]
)
def test_confidence_to_probability(confidence: int, p: float) -> None:
    assert confidence_to_probability(True, confidence) == pytest.approx(p)
    assert confidence_to_probability(False, confidence) == pytest.approx(1 - p)
    assert CONFIDENCE_PROBABILITY[confidence] == p


def test_probability_is_monotone_and_never_certain() -> None:
    values = [confidence_to_probability(True, c) for c in range(1, 6)]
    assert values == sorted(values)
    assert all(0.5 < v < 1.0 for v in values)


@pytest.mark.parametrize("confidence", [0, 6, True, 3.0])
def test_confidence_to_probability_rejects_bad_input(confidence: Any) -> None:
    with pytest.raises(ValueError):
        confidence_to_probability(True, confidence)
