"""Reading a class list (roster) from CSV, tab-separated text or an Excel workbook.

:func:`read_roster` returns one :class:`RowOutcome` per row below the header row, so the teacher
sees what happened to every line: imported, skipped (blank, duplicate) or failed (no name, a bad
e-mail address), each with the row number as a spreadsheet program shows it (the header row of
an ordinary file is row 1). A file that cannot be a roster at all raises :class:`RosterError`.

Formats
    ``.csv``, ``.txt``, ``.tsv``: the bytes are decoded by
    :func:`app.intake.encodings.decode_text` (UTF-8 with or without BOM, UTF-16, Windows-1252),
    the delimiter (``,`` ``;`` tab ``|``) is sniffed, falling back to counting. A file whose
    header row has a single column is read as one column, so ``Andersson, Anna`` stays whole.
    ``.xlsx`` (and ``.xlsm``): the first sheet; whole numbers are read without ``.0``.
Header row
    The first row, among the first 10 non-blank ones, that names the name columns; rows above it
    are reported as skipped. Headers are recognised in English and Swedish, ignoring case,
    diacritics, spaces and punctuation (see :data:`HEADERS`): first name + last name, or a full
    name column (``Last, First`` when the value holds a comma, else ``First Last``: the last
    word, with any lower-case particles such as ``van der`` before it, is the last name; write a
    double last name as ``Berg Lindqvist, Anna``). With both, the full name fills in a row whose
    first or last name is empty. Other columns - ``personnummer`` among them - are ignored. A
    file without such a header is refused, even when its columns look like names: guessing
    which column is which would mix up first and last names.
Rows
    Values are stripped of surrounding whitespace; capitalisation and diacritics are kept
    exactly. In order: an empty row between students is skipped as ``blank`` (empty rows after
    the last student are not rows of the list and are not reported); a row without a first or a last
    name fails as ``missing_name``; an e-mail that is not ``local@domain.tld`` fails as
    ``bad_email``; a row with the same first name, last name and code as an earlier imported
    row (case-insensitive, diacritics significant: Åsa Berg and Asa Berg are two students) is
    skipped as ``duplicate``. A code that is a Swedish personal identity number (date shape and
    check digit) is not stored: the row is still imported, and its message says so.
"""

from __future__ import annotations

import csv
import datetime
import io
import re
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from app.intake.encodings import decode_text
from app.intake.matching import normalise_name
from app.intake.outcomes import Outcome

TEXT_SUFFIXES = frozenset({".csv", ".txt", ".tsv"})
EXCEL_SUFFIXES = frozenset({".xlsx", ".xlsm"})
HEADER_SEARCH_ROWS = 10
DELIMITERS = ",;\t|"

HEADERS: dict[str, tuple[str, ...]] = {
    "first_name": ("first name", "firstname", "given name", "förnamn", "fornamn"),
    "last_name": ("last name", "lastname", "surname", "family name", "efternamn"),
    "full_name": (
        "name",
        "namn",
        "full name",
        "student",
        "student name",
        "elev",
        "elevnamn",
        "elevens namn",
    ),
    "code": ("code", "student code", "id", "student id", "elevkod", "elev id", "kod"),
    "email": ("email", "e-mail", "email address", "e-post", "epost", "e-postadress", "mail"),
}
"""Understood header texts per column kind; compared ignoring case, diacritics, spaces and
punctuation (``E-Mail``, ``FirstName`` and ``first_name`` are recognised)."""


class RosterReason(StrEnum):
    """Why a roster row was skipped or failed."""

    ABOVE_HEADER = "above_header"
    BLANK = "blank"
    DUPLICATE = "duplicate"
    MISSING_NAME = "missing_name"
    BAD_EMAIL = "bad_email"


class RosterError(ValueError):
    """The file cannot be read as a roster at all; the message names the file and the reason."""


@dataclass(frozen=True)
class RosterRow:
    """One student as written in the file (stripped, otherwise unchanged)."""

    first_name: str
    last_name: str
    code: str | None
    email: str | None


@dataclass(frozen=True)
class RowOutcome:
    """What happened to one row: ``row`` is 1-based as in a spreadsheet (the header of an
    ordinary file is row 1), ``reason`` a :class:`RosterReason` value or None when imported,
    ``message`` one sentence naming the row, ``student`` the row read when imported."""

    row: int
    outcome: Outcome
    reason: str | None
    message: str
    student: RosterRow | None


_ONE_COLUMN = "\x1f"
"""Reads every line as a single cell (a control character that no class list contains)."""
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+")
_PERSONAL_NUMBER = re.compile(
    r"(?:19|20)?(\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01]|6[1-9]|[78]\d|9[01]))[-+]?(\d{4})"
)
"""YYMMDD (or YYYYMMDD, day + 60 for a coordination number), optional ``-``/``+``, four
digits."""


def _looks_like_personal_number(code: str) -> bool:
    """A Swedish personal identity (or coordination) number: the date shape and the check digit
    (Luhn) of the last ten digits."""
    match = _PERSONAL_NUMBER.fullmatch(code.replace(" ", ""))
    if not match:
        return False
    digits = [int(d) for d in match.group(1) + match.group(2)]
    total = 0
    for position, digit in enumerate(digits):
        product = digit * (2 if position % 2 == 0 else 1)
        total += product - 9 if product > 9 else product
    return total % 10 == 0


def _header_key(text: str) -> str:
    return normalise_name(text).replace(" ", "")


_HEADER_KINDS: dict[str, str] = {
    _header_key(text): kind for kind, texts in HEADERS.items() for text in texts
}


def read_roster(path: Path) -> list[RowOutcome]:
    """Read the class list at ``path``: one outcome per row below the header row (and per row
    above it), in file order. Raises :class:`RosterError` for a file that is unreadable, not
    CSV/text/XLSX, empty, or has no header row naming the name columns."""
    suffix = path.suffix.lower()
    if suffix in TEXT_SUFFIXES:
        return _read_text_roster(path)
    if suffix in EXCEL_SUFFIXES:
        return _read_rows(path, _xlsx_rows(path))
    if suffix in {".xls", ".ods", ".numbers"}:
        raise RosterError(
            f"{path.name}: {suffix} files are not read; save the class list as .xlsx or .csv"
        )
    raise RosterError(f"{path.name}: not a class list (expected .csv, .txt, .tsv or .xlsx)")


# --- reading cells -------------------------------------------------------------------------------


def _read_text_roster(path: Path) -> list[RowOutcome]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RosterError(f"{path.name}: cannot be read ({exc.strerror or exc})") from exc
    try:
        text, _encoding = decode_text(data)
    except UnicodeDecodeError as exc:
        raise RosterError(f"{path.name}: the text encoding is broken ({exc.reason})") from exc
    if "\x00" in text:
        raise RosterError(f"{path.name}: binary data, not a text class list")
    try:
        delimiter = sniff_delimiter(text)
        rows = _csv_rows(text, delimiter)
        header = _find_header(rows)
        if header is None:
            for other in [*DELIMITERS, _ONE_COLUMN]:
                candidate = _csv_rows(text, other)
                if other != delimiter and _find_header(candidate) is not None:
                    rows = candidate
                    break
        elif delimiter != _ONE_COLUMN and delimiter not in _LINE_BREAK.split(text)[header[0] - 1]:
            # A one-column header: the commas in the rows below belong to "Last, First".
            rows = _csv_rows(text, _ONE_COLUMN)
    except csv.Error as exc:
        raise RosterError(f"{path.name}: not readable as CSV ({exc})") from exc
    return _read_rows(path, rows)


def sniff_delimiter(text: str) -> str:
    """The delimiter of a small CSV-like text (``,`` ``;`` tab ``|``): :class:`csv.Sniffer` over
    the first 20 non-blank lines, else the one splitting most lines into equal columns; a
    character that never occurs when the text has a single column."""
    lines = [line for line in _LINE_BREAK.split(text) if line.strip()][:20]
    if not lines:
        return _ONE_COLUMN
    sample = "\n".join(lines)
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        pass
    best: tuple[int, int, str] | None = None
    for delimiter in DELIMITERS:
        counts = [line.count(delimiter) for line in lines]
        used = [count for count in counts if count]
        if not used:
            continue
        # Prefer the delimiter that splits most lines into the same number of columns.
        commonest = max(set(used), key=used.count)
        key = (used.count(commonest), commonest, delimiter)
        if best is None or key[:2] > best[:2]:
            best = key
    return best[2] if best else _ONE_COLUMN


def _csv_rows(text: str, delimiter: str) -> list[tuple[int, list[str]]]:
    """``(line number of the row's first line, cells)`` per row."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows: list[tuple[int, list[str]]] = []
    start = 1
    for cells in reader:
        rows.append((start, cells))
        start = reader.line_num + 1
    return rows


def _xlsx_rows(path: Path) -> list[tuple[int, list[str]]]:
    from openpyxl import load_workbook  # noqa: PLC0415 - only needed for workbooks
    from openpyxl.utils.exceptions import InvalidFileException  # noqa: PLC0415

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (OSError, zipfile.BadZipFile, InvalidFileException, KeyError, ValueError) as exc:
        raise RosterError(f"{path.name}: not a readable Excel workbook ({exc})") from exc
    try:
        if not workbook.worksheets:
            raise RosterError(f"{path.name}: the workbook has no sheets")
        sheet = workbook.worksheets[0]
        # The stored sheet size is sometimes wrong (files written by other tools); read it all.
        sheet.reset_dimensions()
        rows: list[tuple[int, list[str]]] = []
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            rows.append((number, [_cell_text(value) for value in values]))
        return rows
    finally:
        workbook.close()


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    return str(value)


# --- interpreting rows ---------------------------------------------------------------------------


def _header_kinds(cells: Sequence[str]) -> dict[str, int]:
    """Column index per recognised kind (the first column of a kind wins)."""
    kinds: dict[str, int] = {}
    for index, cell in enumerate(cells):
        kind = _HEADER_KINDS.get(_header_key(cell))
        if kind and kind not in kinds:
            kinds[kind] = index
    return kinds


def _names_columns(kinds: dict[str, int]) -> bool:
    return ("first_name" in kinds and "last_name" in kinds) or "full_name" in kinds


def _find_header(rows: Sequence[tuple[int, list[str]]]) -> tuple[int, dict[str, int]] | None:
    seen = 0
    for number, cells in rows:
        if not any(cell.strip() for cell in cells):
            continue
        kinds = _header_kinds(cells)
        if _names_columns(kinds):
            return number, kinds
        seen += 1
        if seen >= HEADER_SEARCH_ROWS:
            break
    return None


def _understood() -> str:
    return "; ".join(
        f"{kind.replace('_', ' ')}: {', '.join(texts)}" for kind, texts in HEADERS.items()
    )


def _read_rows(path: Path, rows: list[tuple[int, list[str]]]) -> list[RowOutcome]:
    filled = [(number, cells) for number, cells in rows if any(cell.strip() for cell in cells)]
    if not filled:
        raise RosterError(f"{path.name}: the file is empty")
    header = _find_header(rows)
    if header is None:
        first = [cell.strip() for cell in filled[0][1]]
        columns = [cell for cell in first if cell]
        if 2 <= len(columns) <= 4:
            raise RosterError(
                f"{path.name}: no header row; the first row is {', '.join(map(repr, columns))}. "
                f"Add a header row naming the columns; understood headers are {_understood()}"
            )
        raise RosterError(
            f"{path.name}: no column with student names; found columns "
            f"{', '.join(map(repr, columns)) or '(none)'}. Understood headers are {_understood()}"
        )
    header_row, kinds = header
    last_filled = filled[-1][0]
    outcomes: list[RowOutcome] = []
    seen: dict[tuple[str, str, str], int] = {}
    for number, cells in rows:
        if number < header_row:
            outcomes.append(_above_header(number, cells, header_row))
        elif header_row < number <= last_filled:
            outcome = _read_row(number, cells, kinds, seen)
            outcomes.append(outcome)
    return outcomes


def _above_header(number: int, cells: Sequence[str], header_row: int) -> RowOutcome:
    if not any(cell.strip() for cell in cells):
        return RowOutcome(
            number, Outcome.SKIPPED, RosterReason.BLANK, f"Row {number} is blank.", None
        )
    return RowOutcome(
        number,
        Outcome.SKIPPED,
        RosterReason.ABOVE_HEADER,
        f"Row {number} is above the header row (row {header_row}) and is not a student.",
        None,
    )


def _cell(cells: Sequence[str], kinds: dict[str, int], kind: str) -> str:
    index = kinds.get(kind)
    if index is None or index >= len(cells):
        return ""
    return cells[index].strip()


def split_full_name(value: str) -> tuple[str, str]:
    """``(first, last)`` from ``"Last, First"`` (a comma present) or ``"First Last"``.

    Without a comma the last word is the last name, together with lower-case particles before
    it (``Anna van der Berg`` → ``("Anna", "van der Berg")``); a single word is a last name
    without a first name (``("", "Andersson")``).
    """
    value = " ".join(value.split())
    if "," in value:
        last, _, first = value.partition(",")
        return first.strip(), last.strip()
    words = value.split(" ")
    if len(words) < 2:
        return "", value
    cut = len(words) - 1
    while cut > 1 and words[cut - 1][:1].islower():
        cut -= 1
    return " ".join(words[:cut]), " ".join(words[cut:])


def _read_row(
    number: int,
    cells: Sequence[str],
    kinds: dict[str, int],
    seen: dict[tuple[str, str, str], int],
) -> RowOutcome:
    if not any(cell.strip() for cell in cells):
        return RowOutcome(
            number, Outcome.SKIPPED, RosterReason.BLANK, f"Row {number} is blank.", None
        )
    first = _cell(cells, kinds, "first_name")
    last = _cell(cells, kinds, "last_name")
    full = _cell(cells, kinds, "full_name")
    if (not first or not last) and full:
        full_first, full_last = split_full_name(full)
        first, last = first or full_first, last or full_last
    code = _cell(cells, kinds, "code") or None
    email = _cell(cells, kinds, "email") or None

    if not first or not last:
        missing = "first name" if not first and last else "last name" if first else "name"
        present = ", ".join(
            f"{kind.replace('_', ' ')} {_cell(cells, kinds, kind)!r}"
            for kind in HEADERS
            if _cell(cells, kinds, kind)
        )
        return RowOutcome(
            number,
            Outcome.FAILED,
            RosterReason.MISSING_NAME,
            f"Row {number} has no {missing} ({present or 'only unrecognised columns'}).",
            None,
        )
    if email is not None and not _EMAIL.fullmatch(email):
        return RowOutcome(
            number,
            Outcome.FAILED,
            RosterReason.BAD_EMAIL,
            f"Row {number} ({first} {last}): {email!r} is not an e-mail address.",
            None,
        )
    note = ""
    if code is not None and _looks_like_personal_number(code):
        code = None
        note = " Its code looks like a personal identity number and was not stored."
    key = (
        normalise_name(first, keep_diacritics=True),
        normalise_name(last, keep_diacritics=True),
        (code or "").casefold(),
    )
    earlier = seen.get(key)
    if earlier is not None:
        return RowOutcome(
            number,
            Outcome.SKIPPED,
            RosterReason.DUPLICATE,
            f"Row {number} ({first} {last}) repeats row {earlier}; "
            "give the two students codes if they are different people.",
            None,
        )
    seen[key] = number
    student = RosterRow(first, last, code, email)
    return RowOutcome(
        number, Outcome.IMPORTED, None, f"Row {number}: {first} {last} imported.{note}", student
    )


def imported_students(outcomes: Iterable[RowOutcome]) -> list[RosterRow]:
    """The students of the rows that were imported, in file order."""
    return [o.student for o in outcomes if o.outcome is Outcome.IMPORTED and o.student]
