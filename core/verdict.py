"""Strict parsing of judge answers into verdicts.

The judge answers in the JSON shapes of :func:`core.prompt.pair_schema` and
:func:`core.prompt.bundle_schema`. Parsing here is strict on purpose:

* A winner is accepted only as exactly ``"A"``, ``"B"``, ``"Essay A"`` or ``"Essay B"`` (after
  trimming surrounding whitespace). Anything else is an error; there is no default winner.
* A confidence is accepted only as a whole number from 1 to 5 (``4.0`` counts as 4) and is kept
  exactly as stated: no rescaling, no clamping.
* A justification must be a string; one longer than
  :data:`core.prompt.JUSTIFICATION_MAX_CHARS` is cut to that length and flagged.

Every failure is a :class:`VerdictParseError` whose ``category`` says what kind of failure it
was. All functions are pure.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Literal, NoReturn

from core.prompt import CONFIDENCE_MAX, CONFIDENCE_MIN, JUSTIFICATION_MAX_CHARS

__all__ = [
    "CONFIDENCE_PROBABILITY",
    "ERROR_CATEGORIES",
    "ErrorCategory",
    "ParsedVerdict",
    "VerdictParseError",
    "confidence_to_probability",
    "parse_bundle_verdicts",
    "parse_pair_verdict",
]

ErrorCategory = Literal[
    "parse_error", "unknown_winner", "bad_confidence", "missing_item", "duplicate_item"
]

ERROR_CATEGORIES: Final[frozenset[str]] = frozenset(
    {"parse_error", "unknown_winner", "bad_confidence", "missing_item", "duplicate_item"}
)
"""Every value :attr:`VerdictParseError.category` can take."""

_FIRST_LABELS: Final = frozenset({"A", "Essay A"})
_SECOND_LABELS: Final = frozenset({"B", "Essay B"})

_FENCE_RE = re.compile(r"\A```(?:json|JSON)?[ \t]*\n?(?P<payload>.*?)\n?[ \t]*```\Z", re.DOTALL)

CONFIDENCE_PROBABILITY: Final[Mapping[int, float]] = MappingProxyType(
    {1: 0.55, 2: 0.65, 3: 0.75, 4: 0.85, 5: 0.95}
)
"""Default probability that the *stated winner* is better, per stated confidence 1..5."""


@dataclass(frozen=True)
class ParsedVerdict:
    """One valid verdict.

    Attributes:
        first_wins: True if the first-shown essay ("Essay A") won, False if the second did.
        confidence: the stated confidence, exactly as given (1..5).
        justification: the stated justification, trimmed, at most
            :data:`~core.prompt.JUSTIFICATION_MAX_CHARS` characters.
        justification_truncated: True if the stated justification was longer and was cut.
    """

    first_wins: bool
    confidence: int
    justification: str
    justification_truncated: bool


class VerdictParseError(ValueError):
    """A judge answer (or one item of a bundled answer) that cannot be used.

    Attributes:
        category: one of :data:`ERROR_CATEGORIES`:
            ``"parse_error"`` (not JSON, wrong shape, missing field, wrong type),
            ``"unknown_winner"`` (winner present but not A/B),
            ``"bad_confidence"`` (confidence missing, not a whole number, or outside 1..5),
            ``"missing_item"`` (a bundle has no verdict for a pair),
            ``"duplicate_item"`` (a bundle has several verdicts for one pair).
        message: what was wrong, in words.
        pair: the bundle pair number the error concerns, or None.
    """

    def __init__(self, category: ErrorCategory, message: str, *, pair: int | None = None) -> None:
        if category not in ERROR_CATEGORIES:
            raise ValueError(f"unknown verdict error category {category!r}")
        super().__init__(message)
        self.category: ErrorCategory = category
        self.message: str = message
        self.pair: int | None = pair

    def __reduce__(self) -> tuple[object, ...]:
        return (_rebuild_error, (self.category, self.message, self.pair))

    def __repr__(self) -> str:
        return f"VerdictParseError({self.category!r}, {self.message!r}, pair={self.pair!r})"


def _rebuild_error(category: ErrorCategory, message: str, pair: int | None) -> VerdictParseError:
    return VerdictParseError(category, message, pair=pair)


def _fail(category: ErrorCategory, message: str) -> NoReturn:
    raise VerdictParseError(category, message)


# ---------------------------------------------------------------------------------------------
# Decoding
# ---------------------------------------------------------------------------------------------


def _reject_constant(name: str) -> NoReturn:
    _fail("parse_error", f"answer contains the non-JSON number {name}")


def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    result: dict[str, object] = {}
    for key, value in pairs:
        if key in result:
            _fail("parse_error", f"answer repeats the key {key!r}")
        result[key] = value
    return result


def _snippet(text: str, limit: int = 60) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "…")


def _decode(raw: str | Mapping[str, object]) -> Mapping[str, object]:
    """Turn ``raw`` into a mapping: a JSON object, optionally inside one ```json fence."""
    if isinstance(raw, Mapping):
        return raw
    if not isinstance(raw, str):
        _fail("parse_error", f"answer must be a JSON string or a mapping, not {type(raw).__name__}")
    text = raw.strip()
    if not text:
        _fail("parse_error", "answer is empty")
    if text.startswith("```"):
        fenced = _FENCE_RE.match(text)
        if fenced is None:
            _fail("parse_error", "answer has an unclosed or malformed code fence")
        text = fenced.group("payload").strip()
    try:
        decoded: object = json.loads(
            text, object_pairs_hook=_unique_keys, parse_constant=_reject_constant
        )
    except json.JSONDecodeError as exc:
        _fail(
            "parse_error",
            f"answer is not valid JSON ({exc.msg} at char {exc.pos}): {_snippet(text)}",
        )
    except RecursionError:
        _fail("parse_error", "answer is nested too deeply")
    if not isinstance(decoded, dict):
        _fail("parse_error", f"answer must be a JSON object, not {type(decoded).__name__}")
    return decoded


# ---------------------------------------------------------------------------------------------
# Fields
# ---------------------------------------------------------------------------------------------


def _winner(item: Mapping[str, object]) -> bool:
    if "winner" not in item:
        _fail("parse_error", "answer has no 'winner' field")
    value = item["winner"]
    if isinstance(value, str):
        label = value.strip()
        if label in _FIRST_LABELS:
            return True
        if label in _SECOND_LABELS:
            return False
        _fail("unknown_winner", f"winner must be 'A' or 'B', got {_snippet(value)}")
    _fail("unknown_winner", f"winner must be the string 'A' or 'B', got {value!r}")


def _whole_number(value: object) -> int | None:
    """``value`` as an int if it is an int (not bool) or an integral finite float, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return None


def _confidence(item: Mapping[str, object]) -> int:
    if "confidence" not in item:
        _fail("bad_confidence", "answer has no 'confidence' field")
    value = item["confidence"]
    number = _whole_number(value)
    if number is None:
        _fail("bad_confidence", f"confidence must be a whole number 1 to 5, got {value!r}")
    if not CONFIDENCE_MIN <= number <= CONFIDENCE_MAX:
        _fail(
            "bad_confidence",
            f"confidence must be from {CONFIDENCE_MIN} to {CONFIDENCE_MAX}, got {number}",
        )
    return number


def _justification(item: Mapping[str, object]) -> tuple[str, bool]:
    if "justification" not in item:
        _fail("parse_error", "answer has no 'justification' field")
    value = item["justification"]
    if not isinstance(value, str):
        _fail("parse_error", f"justification must be a string, got {type(value).__name__}")
    text = value.strip()
    if len(text) > JUSTIFICATION_MAX_CHARS:
        return text[:JUSTIFICATION_MAX_CHARS], True
    return text, False


def _verdict(item: Mapping[str, object]) -> ParsedVerdict:
    first_wins = _winner(item)
    confidence = _confidence(item)
    justification, truncated = _justification(item)
    return ParsedVerdict(
        first_wins=first_wins,
        confidence=confidence,
        justification=justification,
        justification_truncated=truncated,
    )


# ---------------------------------------------------------------------------------------------
# Public parsers
# ---------------------------------------------------------------------------------------------


def parse_pair_verdict(raw: str | Mapping[str, object]) -> ParsedVerdict:
    """Parse a single-pair answer.

    ``raw`` is the judge's text (a JSON object, with optional surrounding whitespace and at most
    one enclosing ```json … ``` fence; nothing else is tolerated) or an already decoded mapping.
    Required fields: ``winner``, ``confidence``, ``justification``; other fields are ignored.
    Checks run in that order and the first failure is raised.

    Raises:
        VerdictParseError: ``parse_error`` (not JSON, not an object, repeated key, NaN/Infinity,
            winner or justification missing, justification not a string), ``unknown_winner``
            (winner not exactly A / B / Essay A / Essay B), ``bad_confidence`` (confidence
            missing, not a whole number, a bool, or outside 1..5).
    """
    return _verdict(_decode(raw))


def parse_bundle_verdicts(
    raw: str | Mapping[str, object], n_pairs: int
) -> list[ParsedVerdict | VerdictParseError]:
    """Parse a bundled answer into one result per pair.

    Returns a list of length ``n_pairs`` whose entry ``i`` is the verdict for pair ``i + 1`` or
    the error that prevented it. Items are validated one by one, so good items are kept when
    others are bad:

    * the whole payload unreadable (see :func:`parse_pair_verdict`; or no ``verdicts`` list)
      → every entry is that same ``parse_error``;
    * an item that is not an object or has no whole-number ``pair`` cannot be attributed and is
      skipped; an item whose pair number is outside ``1..n_pairs`` is ignored;
    * no item for a pair → ``missing_item``;
    * two or more items for one pair → that pair's entry is ``duplicate_item`` (none of them is
      trusted);
    * otherwise the item's own errors (``parse_error``, ``unknown_winner``, ``bad_confidence``).

    Errors about one pair carry its number in :attr:`VerdictParseError.pair` and their message.

    Raises:
        ValueError: if ``n_pairs`` is not a positive int.
    """
    if isinstance(n_pairs, bool) or not isinstance(n_pairs, int) or n_pairs < 1:
        raise ValueError(f"n_pairs must be a positive int, got {n_pairs!r}")
    try:
        payload = _decode(raw)
        if "verdicts" not in payload:
            _fail("parse_error", "answer has no 'verdicts' field")
        items = payload["verdicts"]
        if not isinstance(items, Sequence) or isinstance(items, str | bytes):
            _fail("parse_error", f"'verdicts' must be a list, not {type(items).__name__}")
    except VerdictParseError as exc:
        return [exc] * n_pairs

    by_pair: dict[int, list[Mapping[str, object]]] = {}
    unattributed = 0
    for item in items:
        if not isinstance(item, Mapping):
            unattributed += 1
            continue
        number = _whole_number(item.get("pair"))
        if number is None:
            unattributed += 1
            continue
        if 1 <= number <= n_pairs:
            by_pair.setdefault(number, []).append(item)

    results: list[ParsedVerdict | VerdictParseError] = []
    for number in range(1, n_pairs + 1):
        found = by_pair.get(number, [])
        if not found:
            note = f" ({unattributed} item(s) had no usable pair number)" if unattributed else ""
            results.append(
                VerdictParseError("missing_item", f"pair {number}: no verdict{note}", pair=number)
            )
        elif len(found) > 1:
            results.append(
                VerdictParseError(
                    "duplicate_item", f"pair {number}: {len(found)} verdicts given", pair=number
                )
            )
        else:
            try:
                results.append(_verdict(found[0]))
            except VerdictParseError as exc:
                results.append(
                    VerdictParseError(exc.category, f"pair {number}: {exc.message}", pair=number)
                )
    return results


def confidence_to_probability(first_wins: bool, confidence: int) -> float:
    """Default mapping from a stated verdict to P(first-shown essay is better).

    The stated winner gets probability 0.55, 0.65, 0.75, 0.85, 0.95 for confidence 1, 2, 3, 4,
    5 (:data:`CONFIDENCE_PROBABILITY`); the result is that value if ``first_wins`` and one minus
    it otherwise. Even "certain" stays below 1 so one verdict cannot dominate a fit. This is an
    uncalibrated default; a calibrated mapping may replace it.

    Raises:
        ValueError: if ``confidence`` is not an int from 1 to 5.
    """
    if isinstance(confidence, bool) or not isinstance(confidence, int):
        raise ValueError(f"confidence must be an int from 1 to 5, got {confidence!r}")
    if confidence not in CONFIDENCE_PROBABILITY:
        raise ValueError(f"confidence must be from 1 to 5, got {confidence}")
    p = CONFIDENCE_PROBABILITY[confidence]
    return p if first_wins else round(1.0 - p, 12)
