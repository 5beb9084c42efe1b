"""What the judge must not see: who wrote the essay, and text addressed to the grader.

Essays often open with ``Namn: Åsa Öberg`` or an e-mail address, and the student's name may
appear in a signature. None of it helps judge the writing, it can bias a judge, and it is
personal data sent to a model provider. :func:`redact_identity` replaces it in the text the
judge is shown; the stored essay is never changed.

What is replaced:

* a *label line* among the first :data:`HEADER_LINES` non-empty lines: a line starting with a
  name label (``Name``, ``Namn``, ``Elev``, ``Författare``, ``Student``, ``Author``,
  ``Skribent``, ``Elevens namn``, ``Student name``, ``E-post``, ``E-mail``, ``Email``) followed
  by ``:``, ``-`` or ``–`` and a value that looks like a name rather than a sentence (see
  :func:`_looks_like_identity`) keeps its label, and the value becomes :data:`NAME_MARK`;
* every e-mail address becomes :data:`EMAIL_MARK`;
* every whole-word occurrence of a given full name (``First Last`` or ``Last, First``, any
  case, any run of spaces between the words) becomes :data:`NAME_MARK`;
* every whole-word occurrence of a given student code of 4 or more characters becomes
  :data:`CODE_MARK`.

First names or surnames on their own are left alone: many are ordinary words ("Saga", "Ek",
"Holm"), and removing them would damage the essay more than it protects anyone.

:func:`redact_addressed` takes out what an essay says *to the grader* rather than as writing
("Note to the evaluator: …", "Ignore previous instructions …", a hidden HTML comment, a forged
``<system>`` block): every stretch :func:`core.injection.addressed_spans` finds becomes
:data:`ADDRESSED_MARK`, so the judge sees that something was taken out but cannot obey it.
:mod:`core.prompt` applies it to every essay it renders, whatever the provider or mode.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

from core.injection import addressed_spans, find_injection

__all__ = [
    "ADDRESSED_MARK",
    "CODE_MARK",
    "EMAIL_MARK",
    "HEADER_LINES",
    "NAME_MARK",
    "redact_addressed",
    "redact_identity",
]

NAME_MARK = "[name removed]"
EMAIL_MARK = "[e-mail removed]"
CODE_MARK = "[code removed]"
ADDRESSED_MARK = "[text addressed to the grader removed]"
"""What the judge sees where an essay addressed the grader (never itself a finding)."""
_ADDRESSED_ROUNDS = 4
HEADER_LINES = 15
MIN_CODE_LENGTH = 4

_LABELS = (
    "elevens namn",
    "student name",
    "name",
    "namn",
    "elev",
    "författare",
    "forfattare",
    "student",
    "author",
    "skribent",
    "e-post",
    "epost",
    "e-mail",
    "email",
)
_LABEL_LINE = re.compile(
    r"^(?P<label>\s*(?:"
    + "|".join(re.escape(x) for x in _LABELS)
    + r")\s*[:\-–]\s*)(?P<rest>\S.*)$",
    re.IGNORECASE,
)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)


def _word_pattern(words: list[str], separator: str) -> str:
    return separator.join(re.escape(w) for w in words)


def _name_patterns(full_names: Iterable[tuple[str, str]]) -> re.Pattern[str] | None:
    """One pattern matching ``First Last`` or ``Last, First`` of any given name, whole words."""
    alternatives: list[str] = []
    for first, last in full_names:
        first_words, last_words = first.split(), last.split()
        if not first_words or not last_words:
            continue
        alternatives.append(_word_pattern([*first_words, *last_words], r"\s+"))
        alternatives.append(
            _word_pattern(last_words, r"\s+") + r"\s*,\s*" + _word_pattern(first_words, r"\s+")
        )
    if not alternatives:
        return None
    # longest first, so "Anna Karin Berg" wins over "Karin Berg"
    alternatives.sort(key=len, reverse=True)
    return re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)", re.IGNORECASE)


def _looks_like_identity(rest: str) -> bool:
    """A label's value that is a name (or names, a class, an address), not the essay talking:
    at most 8 words, at most 3 of them lower-case, and not a sentence ending in ``.``, ``!`` or
    ``?`` after a lower-case word. "Student - that is what I am." stays; "J. K. Rowling" goes."""
    words = rest.split()
    lower = sum(1 for w in words if w[:1].islower())
    sentence_end = len(words) > 1 and words[-1][-1:] in ".!?" and words[-1][:1].islower()
    return len(words) <= 8 and lower <= 3 and not sentence_end


def _redact_header(text: str) -> str:
    lines = text.split("\n")
    seen = 0
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        seen += 1
        if seen > HEADER_LINES:
            break
        match = _LABEL_LINE.match(line)
        if match and _looks_like_identity(match.group("rest")):
            lines[i] = match.group("label") + NAME_MARK
    return "\n".join(lines)


def redact_identity(
    text: str,
    full_names: Iterable[tuple[str, str]] = (),
    codes: Iterable[str] = (),
) -> str:
    """``text`` with the writer's identity replaced (see the module docstring).

    ``full_names`` are ``(first name, last name)`` pairs, ``codes`` student codes. The result
    has no e-mail address, no label line with a value and no whole-word occurrence of a given
    full name or code; text without any of these is returned unchanged.
    """
    text = _redact_header(text)
    text = _EMAIL.sub(EMAIL_MARK, text)
    names = _name_patterns(full_names)
    if names is not None:
        text = names.sub(NAME_MARK, text)
    long_codes = sorted({c.strip() for c in codes if len(c.strip()) >= MIN_CODE_LENGTH}, key=len)
    if long_codes:
        pattern = "|".join(re.escape(c) for c in reversed(long_codes))
        text = re.sub(r"(?<!\w)(?:" + pattern + r")(?!\w)", CODE_MARK, text, flags=re.IGNORECASE)
    return text


@functools.lru_cache(maxsize=4096)
def redact_addressed(text: str) -> str:
    """``text`` with every stretch addressed to an AI grader replaced by :data:`ADDRESSED_MARK`.

    Cached (a pure function of the text): a run renders the same essays into many prompts, on
    the event loop's thread, and screening one takes about a millisecond.

    The stretches are those of :func:`core.injection.addressed_spans`. Taking one out can join
    words into a new phrase, so the text is screened again (at most a few rounds; whatever is
    still found then is replaced as found). The result has no finding of
    :func:`core.injection.find_injection`; text without any is returned unchanged, and the
    function is idempotent.
    """
    for _ in range(_ADDRESSED_ROUNDS):
        spans = addressed_spans(text)
        if not spans:
            return text
        text = _replaced(text, [(span.start, span.end) for span in spans])
    for _ in range(_ADDRESSED_ROUNDS):
        found = find_injection(text)
        if not found:
            break
        text = _replaced(text, _merged([(f.start, f.end) for f in found]))
    return text


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def _replaced(text: str, spans: list[tuple[int, int]]) -> str:
    """``text`` with each of the ordered, disjoint ``spans`` replaced by the mark."""
    parts: list[str] = []
    last = 0
    for start, end in spans:
        parts.append(text[last:start])
        parts.append(ADDRESSED_MARK)
        last = end
    parts.append(text[last:])
    return "".join(parts)
