"""Matching essays to the students of a class roster.

Every imported essay must end up belonging to one student of the class. This module looks at the
essay's file name and the beginning of its text, proposes up to three students with a score and
the evidence behind each, and accepts one automatically only when there is no reasonable doubt.
Everything else goes to the teacher, who confirms or picks a student in the import view.

Pure functions: no database, no network. :func:`match_essay` matches one essay,
:func:`match_batch` a whole import (and refuses to give one student two essays),
:func:`unmatched_students` lists who is still missing.

Where the evidence comes from
-----------------------------

Each essay yields *candidates*, pieces of text that might identify a student, each with a
``source`` that is shown to the teacher together with the piece itself (the ``evidence``):

``code``
    A token of the file name (outside any parenthesised part), of an e-mail address's local part
    or of a header line (below) that equals a roster student code, ignoring case and punctuation:
    score 1.0. Exam exports are named ``ABCDWXYZ 50 (SA24D ENG 5 WRITING 2025).txt``: the code,
    the points, then class and test in parentheses. A token within one edit (Levenshtein
    distance 1) of a code scores 0.80 - a suggestion, never an acceptance - when both are at
    least 6 characters long and the token is not a known name or a non-name word. Roster codes
    shorter than 3 characters are never matched (they collide with points and numbers).
``email``
    An e-mail address in the file name or in the first 2,000 characters of the text. An address
    equal to a roster e-mail (ignoring case) scores 1.0; the local part (``anna.andersson``) is
    also read as a name, scored by the name rules below.
``file_name``
    The file name without its extension, split into words at ``_ - . ,``, spaces and
    lower-to-upper case changes (``AnnaAndersson``). A parenthesised part (``(1)``, ``(SA24D ENG
    5 ...)``) is dropped unless the name is only found there; digits and one-letter words are
    dropped, and so are the words of :data:`NON_NAME_WORDS` (``essay``, ``uppsats``,
    ``final``, ...). Word order is ignored, so ``Anna Andersson``, ``andersson_anna_essay`` and
    ``Andersson, Anna - uppsats`` all read the same.
``header``
    A line among the first 15 non-empty lines of the text of the form ``Name: ...``, ``Namn:
    ...``, ``Elev: ...``, ``Författare: ...``, ``Student: ...``, ``Author: ...``, ``Skribent:
    ...`` (also ``Student name``, ``Elevens namn``; any case; ``:``, ``-`` or ``–``).
``first_line``
    The first non-empty line, if it looks like a name: 2-4 words of letters (hyphens and
    apostrophes inside words allowed, one comma after the first word), each starting with a
    capital, at most 60 characters. Titles look like this too, so its score is multiplied by
    ``FIRST_LINE_WEIGHT`` = 0.9: a first line alone never reaches automatic acceptance, and a
    first line naming only a surname is never even suggested.

How a name is scored
--------------------

Names are compared word by word, in a *loose* form (:func:`normalise_name`: case folded,
diacritics removed, ``å ä → a``, ``ö ø → o``, ``æ → ae``, ``ß → ss``) with rapidfuzz's
``fuzz.ratio`` (Indel similarity), and in a *strict* form that keeps the diacritics.

* Each part of the student's name - first name and last name - gets the similarity of its best
  matching word of the candidate; the two parts must be found in different words. A part of
  several words (``Anna-Karin``, ``Berg Lindqvist``, ``van der Berg``) matches as a whole
  (``annakarin``), word by word (the mean), or - at ``PART_OF_DOUBLE_NAME`` = 0.85 - by one of
  its words alone (``Anna`` for ``Anna-Karin``), which is a suggestion but not an acceptance.
* First and last name found: score = first-name similarity × last-name similarity. An exact
  full name scores 1.0; one typo in a long surname (``Anderson`` for ``Andersson``) about 0.94.
* Only one part found: score = ``ONE_PART_WEIGHT`` (0.65) × its similarity. ``andersson.txt``
  therefore suggests every Andersson of the class at 0.65 and accepts none of them.
* Diacritics. A match that holds only after removing diacritics scores less than an exact one:
  ×0.95 (``DIACRITICS_DROPPED``) when the candidate simply lacks them (``asa_oberg.docx`` for
  Åsa Öberg - common, since many systems strip them from file names), ×0.88
  (``DIACRITICS_DIFFERENT``) when the candidate has diacritics the student's name does not
  (``Åsa`` for ``Asa``). So with both Åsa Berg and Asa Berg in the class, ``asa_berg.txt``
  suggests Asa (1.0) and Åsa (0.95) and accepts neither (margin 0.05), while ``Åsa Berg.docx``
  accepts Åsa (1.0 against 0.88): a file that spells the Å means the student with the Å.
* Words of the candidate that the match leaves unused do not count against it - file names are
  full of course codes and version words - except words that are *another* student's name:
  each costs a factor of ``OTHER_NAME_IN_CANDIDATE`` = 0.9. ``Anna Karin Svensson`` thus
  prefers Anna-Karin Svensson over Karin Svensson, and a file named after two students of the
  class (``Anna Andersson och Erik Berg``) goes to the teacher.

Combining evidence and deciding
-------------------------------

A student's score is the best score any candidate gives them; when two different sources each
give the student at least ``SUGGEST_MIN_SCORE`` (say the file name and a ``Namn:`` line), the
score gets ``AGREEMENT_BONUS`` = 0.03 (capped at 1.0).

* ``suggestions``: up to ``MAX_SUGGESTIONS`` = 3 distinct students scoring at least
  ``SUGGEST_MIN_SCORE`` = 0.60, best first (ties in roster order).
* ``accepted``: the top student, when their score is at least ``AUTO_ACCEPT_SCORE`` = 0.92
  *and* at least ``AUTO_ACCEPT_MARGIN`` = 0.10 above the best other student. Only three kinds of
  evidence get there: an exact student code or e-mail that no other student shares; a full name
  (first and last) that is near-exact - exact, diacritics stripped, or one small typo in a long
  name - and clearly ahead of every other student; or a name-like first line confirmed by a
  second source. A code one edit away (0.80), a surname alone (0.65), a part of a double name
  (0.85) or a first line alone (at most 0.90) never are. Conflicting exact evidence (the code
  says one student, the ``Namn:`` line another) leaves both at 1.0: no margin, no acceptance.
* :func:`match_batch` withdraws every acceptance of a student accepted for more than one essay
  of the import: one student wrote one essay, and which one is the teacher's call.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from rapidfuzz import fuzz, process
from rapidfuzz.distance import Levenshtein

AUTO_ACCEPT_SCORE = 0.92
"""A suggestion this good (and far enough ahead) is accepted without asking the teacher."""
AUTO_ACCEPT_MARGIN = 0.10
"""How far the best student must lead the best *other* student to be accepted automatically."""
SUGGEST_MIN_SCORE = 0.60
"""Students scoring below this are not suggested."""
MAX_SUGGESTIONS = 3

ONE_PART_WEIGHT = 0.65
"""Factor for a match of only the first name or only the last name."""
PART_OF_DOUBLE_NAME = 0.85
"""Factor for matching one word of a several-word name part (``Anna`` for ``Anna-Karin``)."""
DIACRITICS_DROPPED = 0.95
"""Factor when the candidate lacks the student's diacritics (``Asa`` for ``Åsa``)."""
DIACRITICS_DIFFERENT = 0.88
"""Factor when the candidate has diacritics the student's name lacks (``Åsa`` for ``Asa``)."""
OTHER_NAME_IN_CANDIDATE = 0.90
"""Factor per unused word of the candidate that is another student's name."""
FIRST_LINE_WEIGHT = 0.90
"""Factor for a name read from the essay's first line (it may be a title)."""
NEAR_CODE_SCORE = 0.80
"""Score of a token within one edit of a student code."""
AGREEMENT_BONUS = 0.03
"""Added when two different sources point to the same student."""

NON_NAME_WORDS: frozenset[str] = frozenset(
    {
        "essay",
        "uppsats",
        "text",
        "final",
        "draft",
        "engelska",
        "english",
        "svenska",
        "inlamning",
        "assignment",
        "uppgift",
        "version",
        "kopia",
        "copy",
    }
)
"""Words dropped from file names before they are read as names or codes (loose form)."""

SOURCES = ("code", "email", "header", "file_name", "first_line")
"""Every ``Suggestion.source``; in this order when two sources give the same score."""

TEXT_SCAN_CHARS = 2_000
HEADER_SCAN_LINES = 15
MIN_CODE_LENGTH = 3
MIN_NEAR_CODE_LENGTH = 6

_DOCUMENT_SUFFIXES = frozenset(
    {".txt", ".md", ".docx", ".doc", ".odt", ".rtf", ".pdf", ".html", ".htm", ".pages"}
)
_SOURCE_RANK = {source: rank for rank, source in enumerate(SOURCES)}
_LETTER_FOLD = str.maketrans({"å": "a", "ä": "a", "ö": "o", "ø": "o", "æ": "ae", "ß": "ss"})
_SWEDISH_ORDER = str.maketrans({"å": "{", "ä": "|", "æ": "|", "ö": "}", "ø": "}"})
_APOSTROPHES = re.compile(r"['’`´ʼ]")
_NOT_WORD = re.compile(r"[\W_]+")
_NAME_TOKEN = re.compile(r"(?:[^\W\d_][\u0300-\u036f]*)+")
_NAME_WORD = re.compile(r"[^\W\d_]+(?:[-'’][^\W\d_]+)*")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PARENTHESISED = re.compile(r"\([^()]*\)|\[[^\[\]]*\]")
_HEADER = re.compile(
    r"^\s*(?:student\s*name|elevens\s+namn|name|namn|elev|f[öo]rfattare|student|author|skribent)"
    r"\s*[:\-–—]\s*(.+?)\s*$",
    re.IGNORECASE,
)
_PARTICLES = frozenset(
    {"af", "av", "da", "de", "del", "der", "den", "di", "la", "le", "van", "von"}
)


@dataclass(frozen=True)
class RosterEntry:
    """One student of the class as matching sees them."""

    student_id: str
    first_name: str
    last_name: str
    code: str | None = None
    email: str | None = None


@dataclass(frozen=True)
class Suggestion:
    """A student proposed for an essay: ``score`` in [0, 1], ``source`` one of :data:`SOURCES`,
    ``evidence`` the piece of the file name or text that matched, as it appears there."""

    student_id: str
    score: float
    source: str
    evidence: str


@dataclass(frozen=True)
class MatchResult:
    """Up to three distinct students, best first, each scoring at least
    :data:`SUGGEST_MIN_SCORE`; ``accepted`` is the first one's id when automatic acceptance
    applies (see the module documentation), else None."""

    suggestions: tuple[Suggestion, ...]
    accepted: str | None


# --- normalisation -------------------------------------------------------------------------------


def normalise_name(s: str, *, keep_diacritics: bool = False) -> str:
    """The comparable form of a name: case folded, apostrophes removed, punctuation and
    underscores turned into single spaces, surrounding whitespace gone.

    By default (the *loose* form) diacritics go too: ``å ä → a``, ``ö ø → o``, ``æ → ae``,
    ``ß → ss``, and any other accent is removed (``é → e``), so ``"Åsa  Öberg-Ek"`` becomes
    ``"asa oberg ek"``. With ``keep_diacritics=True`` (the *strict* form) the letters stay as
    written (``"åsa öberg ek"``), which tells ``Åsa`` from ``Asa``. Both forms are
    Unicode-normalised, so a name typed on macOS (decomposed) equals the same name typed on
    Windows.
    """
    text = unicodedata.normalize("NFC", unicodedata.normalize("NFC", s).casefold())
    if not keep_diacritics:
        text = _fold(text)
    text = _APOSTROPHES.sub("", text)
    return " ".join(_NOT_WORD.sub(" ", text).split())


def _fold(text: str) -> str:
    """Diacritics off an already case-folded, NFC string."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_LETTER_FOLD))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _name_tokens(s: str) -> tuple[list[str], list[str]]:
    """Letter-only words of ``s`` in loose and strict form, aligned; one-letter words dropped."""
    strict_text = unicodedata.normalize("NFC", unicodedata.normalize("NFC", s).casefold())
    strict_text = _APOSTROPHES.sub("", strict_text)
    loose: list[str] = []
    strict: list[str] = []
    for word in _NAME_TOKEN.findall(strict_text):
        folded = _fold(word)
        if len(folded) >= 2:
            loose.append(folded)
            strict.append(word)
    return loose, strict


def _normalise_code(code: str) -> str:
    return _NOT_WORD.sub("", code).casefold()


def _split_camel_case(text: str) -> str:
    """``AnnaAndersson`` → ``AnnaAndersson Anna Andersson`` (the whole word is kept too)."""

    def split(match: re.Match[str]) -> str:
        word = match.group(0)
        parts: list[str] = []
        start = 0
        for i in range(1, len(word)):
            if word[i - 1].islower() and word[i].isupper():
                parts.append(word[start:i])
                start = i
        if not parts:
            return word
        parts.append(word[start:])
        return f"{word} {' '.join(parts)}"

    return re.sub(r"[^\W\d_]+", split, text)


# --- the prepared roster -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Part:
    """A first or last name: its words (loose, strict), their vocabulary columns, and the
    column of all words joined (``annakarin``) when there are several."""

    loose: tuple[str, ...]
    strict: tuple[str, ...]
    columns: tuple[int, ...]
    joined_column: int
    alone: tuple[int, ...]
    """Indices of the words that may match on their own (not particles such as ``van``)."""


@dataclass(frozen=True)
class _Student:
    index: int
    entry: RosterEntry
    first: _Part
    last: _Part
    own_words: frozenset[str]


class _Roster:
    """A roster normalised once: name vocabulary, codes and e-mails by normalised value."""

    def __init__(self, roster: Sequence[RosterEntry]) -> None:
        self.entries = tuple(roster)
        self.vocabulary: list[str] = []
        self._column: dict[str, int] = {}
        students: list[_Student] = []
        for index, entry in enumerate(self.entries):
            first = self._part(entry.first_name)
            last = self._part(entry.last_name)
            students.append(
                _Student(index, entry, first, last, frozenset(first.loose + last.loose))
            )
        self.students = tuple(students)
        self.name_words = frozenset(w for s in students for w in s.own_words)
        membership = np.zeros((max(len(self.vocabulary), 1), len(students)), dtype=bool)
        for student in students:
            for part in (student.first, student.last):
                for column in (*part.columns, part.joined_column):
                    if column >= 0:
                        membership[column, student.index] = True
        self.membership = membership
        self.codes: dict[str, list[int]] = {}
        self.near_codes: list[tuple[str, int]] = []
        self.emails: dict[str, list[int]] = {}
        for student in students:
            code = _normalise_code(student.entry.code or "")
            if len(code) >= MIN_CODE_LENGTH:
                self.codes.setdefault(code, []).append(student.index)
                if len(code) >= MIN_NEAR_CODE_LENGTH:
                    self.near_codes.append((code, student.index))
            email = (student.entry.email or "").strip().casefold()
            if email:
                self.emails.setdefault(email, []).append(student.index)

    def _part(self, name: str) -> _Part:
        loose, strict = _name_tokens(name)
        columns = tuple(self._vocabulary_column(word) for word in loose)
        joined = self._vocabulary_column("".join(loose)) if len(loose) > 1 else -1
        alone = tuple(i for i, word in enumerate(loose) if word not in _PARTICLES)
        return _Part(tuple(loose), tuple(strict), columns, joined, alone)

    def _vocabulary_column(self, word: str) -> int:
        column = self._column.get(word)
        if column is None:
            column = self._column[word] = len(self.vocabulary)
            self.vocabulary.append(word)
        return column


# --- candidates ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Candidate:
    source: str
    evidence: str
    loose: tuple[str, ...]
    strict: tuple[str, ...]
    weight: float = 1.0


def _name_candidate(
    source: str, evidence: str, text: str, weight: float = 1.0, *, drop_non_names: bool = False
) -> _Candidate | None:
    loose, strict = _name_tokens(text)
    if drop_non_names:
        kept = [i for i, word in enumerate(loose) if word not in NON_NAME_WORDS]
        loose, strict = [loose[i] for i in kept], [strict[i] for i in kept]
    if not loose:
        return None
    return _Candidate(source, evidence, tuple(loose), tuple(strict), weight)


def _file_stem(file_name: str) -> str:
    """The last path component without a document extension (``.txt``, ``.docx``, ...); other
    suffixes stay, so ``anna.andersson@skolan.se`` keeps its domain."""
    name = re.split(r"[\\/]", file_name)[-1].strip()
    dot = name.rfind(".")
    if dot > 0 and name[dot:].lower() in _DOCUMENT_SUFFIXES:
        name = name[:dot]
    return unicodedata.normalize("NFC", name)


def _code_tokens(text: str) -> list[str]:
    """Normalised code-like pieces of ``text``: its alphanumeric words and its space-separated
    chunks with punctuation removed (so a roster code ``AB-1234`` is found as well as ``AB``)."""
    tokens: dict[str, None] = {}
    for chunk in re.split(r"[\s_,;()\[\]]+", text):
        for piece in (chunk, *_NOT_WORD.split(chunk)):
            normalised = _normalise_code(piece)
            if normalised:
                tokens.setdefault(normalised)
    return list(tokens)


def _looks_like_name(line: str) -> bool:
    if len(line) > 60:
        return False
    words = re.sub(r"^(\S+),", r"\1 ", line).split()
    return 2 <= len(words) <= 4 and all(
        _NAME_WORD.fullmatch(word) and word[0].isupper() for word in words
    )


# --- scoring -------------------------------------------------------------------------------------

_Pair = tuple[int, str, str]
"""A candidate word index matched with a student word, as (index, loose, strict)."""
_Option = tuple[float, frozenset[int], tuple[_Pair, ...]]
"""One way a name part can be found: similarity, candidate words used, pairs for diacritics."""

_MAX_OPTIONS = 4


def _part_options(part: _Part, sims: np.ndarray) -> list[_Option]:
    """The best ways ``part`` is found among the candidate's words (rows of ``sims``)."""
    if not part.loose:
        return []
    rows = range(sims.shape[0])
    options: list[_Option] = []
    if len(part.loose) == 1:
        column = sims[:, part.columns[0]]
        options = [
            (float(column[j]), frozenset((j,)), ((j, part.loose[0], part.strict[0]),)) for j in rows
        ]
    else:
        joined = ("".join(part.loose), "".join(part.strict))
        column = sims[:, part.joined_column]
        options = [(float(column[j]), frozenset((j,)), ((j, *joined),)) for j in rows]
        if sims.shape[0] >= len(part.loose):
            sub = sims[:, list(part.columns)]
            used: set[int] = set()
            pairs: list[_Pair] = []
            total = 0.0
            for i in sorted(range(len(part.loose)), key=lambda i: -float(sub[:, i].max())):
                best = max((j for j in rows if j not in used), key=lambda j: float(sub[j, i]))
                used.add(best)
                total += float(sub[best, i])
                pairs.append((best, part.loose[i], part.strict[i]))
            options.append((total / len(part.loose), frozenset(used), tuple(pairs)))
        for i in part.alone:
            column = sims[:, part.columns[i]]
            options.extend(
                (
                    PART_OF_DOUBLE_NAME * float(column[j]),
                    frozenset((j,)),
                    ((j, part.loose[i], part.strict[i]),),
                )
                for j in rows
            )
    options = [option for option in options if option[0] >= SUGGEST_MIN_SCORE]
    options.sort(key=lambda option: -option[0])
    return options[:_MAX_OPTIONS]


def _diacritics_factor(candidate: _Candidate, pairs: Iterable[_Pair]) -> float:
    factor = 1.0
    for j, loose, strict in pairs:
        if candidate.loose[j] != loose or candidate.strict[j] == strict:
            continue
        if candidate.strict[j] == candidate.loose[j]:
            factor = min(factor, DIACRITICS_DROPPED)
        else:
            factor = min(factor, DIACRITICS_DIFFERENT)
    return factor


def _other_names_factor(
    candidate: _Candidate, used: frozenset[int], student: _Student, roster: _Roster
) -> float:
    factor = 1.0
    for j, word in enumerate(candidate.loose):
        if j not in used and word in roster.name_words and word not in student.own_words:
            factor *= OTHER_NAME_IN_CANDIDATE
    return factor


def _name_score(
    candidate: _Candidate, sims: np.ndarray, student: _Student, roster: _Roster
) -> float:
    """How well ``candidate`` names ``student`` (before the candidate's weight)."""
    first = _part_options(student.first, sims)
    last = _part_options(student.last, sims)
    best = 0.0
    for f_score, f_used, f_pairs in first:
        for l_score, l_used, l_pairs in last:
            if f_used & l_used or f_score * l_score <= best:
                continue
            used = f_used | l_used
            score = (
                f_score
                * l_score
                * _diacritics_factor(candidate, f_pairs + l_pairs)
                * _other_names_factor(candidate, used, student, roster)
            )
            best = max(best, score)
    for score, used, pairs in (*first, *last):
        if ONE_PART_WEIGHT * score <= best:
            continue
        best = max(
            best,
            ONE_PART_WEIGHT
            * score
            * _diacritics_factor(candidate, pairs)
            * _other_names_factor(candidate, used, student, roster),
        )
    return best


class _Evidence:
    """The best score each source gives each student."""

    def __init__(self) -> None:
        self.by_student: dict[int, dict[str, tuple[float, str]]] = {}

    def add(self, student: int, source: str, score: float, evidence: str) -> None:
        sources = self.by_student.setdefault(student, {})
        if score > sources.get(source, (-1.0, ""))[0]:
            sources[source] = (score, evidence)

    def scored(self, roster: _Roster) -> list[Suggestion]:
        """Every student with evidence, combined and sorted best first (ties in roster order)."""
        ranked: list[tuple[float, int, Suggestion]] = []
        for index, sources in self.by_student.items():
            source, (score, evidence) = min(
                sources.items(), key=lambda item: (-item[1][0], _SOURCE_RANK[item[0]])
            )
            agreeing = sum(1 for s, _ in sources.values() if s >= SUGGEST_MIN_SCORE)
            if agreeing >= 2:
                score = min(1.0, score + AGREEMENT_BONUS)
            score = round(min(1.0, max(0.0, score)), 4)
            student_id = roster.entries[index].student_id
            ranked.append((score, index, Suggestion(student_id, score, source, evidence)))
        ranked.sort(key=lambda item: (-item[0], item[1]))
        return [suggestion for _, _, suggestion in ranked]


def _match(file_name: str, text: str, roster: _Roster) -> MatchResult:
    if not roster.students:
        return MatchResult((), None)
    evidence = _Evidence()
    candidates: list[_Candidate] = []
    code_texts: list[tuple[str, str]] = []  # (text to search for codes, evidence)

    stem = _file_stem(file_name)
    head = text[:TEXT_SCAN_CHARS].lstrip("\ufeff")
    addresses: dict[str, str] = {}
    for address in [*_EMAIL.findall(stem), *_EMAIL.findall(head)]:
        addresses.setdefault(address.casefold(), address)
    for folded, address in addresses.items():
        for index in roster.emails.get(folded, ()):
            evidence.add(index, "email", 1.0, address)
        local = address.split("@", 1)[0]
        code_texts.append((local, address))
        candidate = _name_candidate("email", address, local)
        if candidate:
            candidates.append(candidate)

    name_part = _EMAIL.sub(" ", stem)
    outside = _PARENTHESISED.sub(" ", name_part)
    code_texts.append((outside, ""))
    candidate = _name_candidate(
        "file_name", stem, _split_camel_case(outside), drop_non_names=True
    ) or _name_candidate("file_name", stem, _split_camel_case(name_part), drop_non_names=True)
    if candidate:
        candidates.append(candidate)

    lines = [line.strip() for line in head.splitlines() if line.strip()][:HEADER_SCAN_LINES]
    for line in lines:
        header = _HEADER.match(line)
        if header:
            value = _EMAIL.sub(" ", header.group(1))
            code_texts.append((value, line))
            candidate = _name_candidate("header", line, value)
            if candidate:
                candidates.append(candidate)
    if lines and not _HEADER.match(lines[0]) and _looks_like_name(lines[0]):
        candidate = _name_candidate("first_line", lines[0], lines[0], FIRST_LINE_WEIGHT)
        if candidate:
            candidates.append(candidate)

    _match_codes(code_texts, roster, evidence)
    _match_names(candidates, roster, evidence)

    ranked = evidence.scored(roster)
    suggestions = tuple(s for s in ranked if s.score >= SUGGEST_MIN_SCORE)[:MAX_SUGGESTIONS]
    accepted = None
    if suggestions and suggestions[0].score >= AUTO_ACCEPT_SCORE:
        runner_up = ranked[1].score if len(ranked) > 1 else 0.0
        if round(suggestions[0].score - runner_up, 4) >= AUTO_ACCEPT_MARGIN:
            accepted = suggestions[0].student_id
    return MatchResult(suggestions, accepted)


def _match_codes(texts: list[tuple[str, str]], roster: _Roster, evidence: _Evidence) -> None:
    if not roster.codes:
        return
    for text, shown in texts:
        for token in _code_tokens(text):
            label = shown or _original_piece(text, token)
            exact = roster.codes.get(token)
            if exact:
                for index in exact:
                    evidence.add(index, "code", 1.0, label)
                continue
            if (
                len(token) < MIN_NEAR_CODE_LENGTH
                or token in NON_NAME_WORDS
                or _fold(token) in roster.name_words
            ):
                continue
            for code, index in roster.near_codes:
                if Levenshtein.distance(token, code, score_cutoff=1) <= 1:
                    evidence.add(index, "code", NEAR_CODE_SCORE, label)


def _original_piece(text: str, token: str) -> str:
    """The piece of ``text`` that normalised to ``token``, as written there."""
    for chunk in re.split(r"[\s_,;()\[\]]+", text):
        if _normalise_code(chunk) == token:
            return chunk
        for word in _NOT_WORD.split(chunk):
            if _normalise_code(word) == token:
                return word
    return token


def _match_names(candidates: list[_Candidate], roster: _Roster, evidence: _Evidence) -> None:
    if not candidates or not roster.vocabulary:
        return
    words = [word for candidate in candidates for word in candidate.loose]
    sims = process.cdist(words, roster.vocabulary, scorer=fuzz.ratio, dtype=np.float32) / 100.0
    start = 0
    for candidate in candidates:
        rows = sims[start : start + len(candidate.loose)]
        start += len(candidate.loose)
        reachable = rows.max(axis=0) >= SUGGEST_MIN_SCORE
        relevant = np.flatnonzero(reachable @ roster.membership)
        for index in relevant:
            student = roster.students[int(index)]
            score = _name_score(candidate, rows, student, roster) * candidate.weight
            if score > 0:
                evidence.add(student.index, candidate.source, score, candidate.evidence)


# --- public API ----------------------------------------------------------------------------------


def match_essay(file_name: str, text: str, roster: Sequence[RosterEntry]) -> MatchResult:
    """Suggest the students who may have written the essay ``text`` stored as ``file_name``.

    ``file_name`` may include folders (``archive.zip/inner/anna.docx``); only its last component
    counts. Only the first 2,000 characters of ``text`` are read. An empty roster gives no
    suggestions. See the module documentation for how scores and acceptance are decided.
    """
    return _match(file_name, text, _Roster(roster))


def match_batch(
    essays: Sequence[tuple[str, str, str]], roster: Sequence[RosterEntry]
) -> dict[str, MatchResult]:
    """Match every ``(essay_key, file_name, text)`` of an import, keyed by ``essay_key``.

    Each essay is matched as by :func:`match_essay`, except that a student who would be
    accepted for two or more essays is accepted for none of them: those essays keep their
    suggestions and wait for the teacher. Raises :class:`ValueError` on a repeated key.
    """
    prepared = _Roster(roster)
    results: dict[str, MatchResult] = {}
    for key, file_name, text in essays:
        if key in results:
            raise ValueError(f"essay key {key!r} occurs more than once")
        results[key] = _match(file_name, text, prepared)
    claims: dict[str, int] = {}
    for result in results.values():
        if result.accepted is not None:
            claims[result.accepted] = claims.get(result.accepted, 0) + 1
    contested = {student for student, count in claims.items() if count > 1}
    if contested:
        results = {
            key: MatchResult(result.suggestions, None) if result.accepted in contested else result
            for key, result in results.items()
        }
    return results


def unmatched_students(
    accepted_or_confirmed: Iterable[str], roster: Sequence[RosterEntry]
) -> list[RosterEntry]:
    """The roster's students without an essay, sorted by last name, then first name, in Swedish
    alphabetical order (case ignored; å, ä, ö after z; other accents ignored)."""
    taken = set(accepted_or_confirmed)
    missing = [entry for entry in roster if entry.student_id not in taken]
    return sorted(
        missing,
        key=lambda e: (_sort_key(e.last_name), _sort_key(e.first_name), e.student_id),
    )


def _sort_key(name: str) -> tuple[str, str]:
    folded = unicodedata.normalize("NFC", name.strip()).casefold()
    swedish = _fold(folded.translate(_SWEDISH_ORDER))
    return swedish, folded
