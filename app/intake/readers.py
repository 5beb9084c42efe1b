"""Getting the text out of one essay file, whatever format it came in.

:func:`extract` takes a file's name and bytes and returns its text, or raises
:class:`ExtractionError` with a :class:`~app.intake.outcomes.Reason` and a short sentence a teacher
can act on. It never reads from disk and never guesses at a format the name does not claim: a
``.pdf`` is read as a PDF and nothing else.

The text is returned as the document has it, with only these normalisations: line endings become
``\\n``, NUL characters are removed, surrounding whitespace is trimmed and the result is in Unicode
NFC (so an ``å`` written as ``a`` plus a combining ring compares equal to a precomposed one).
"""

from __future__ import annotations

import io
import re
import unicodedata
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

import docx
from docx.table import Table, _Cell
from odf import opendocument, teletype
from odf.namespaces import TEXTNS
from pypdf import PdfReader
from striprtf.striprtf import rtf_to_text

from app.intake.encodings import decode_text
from app.intake.outcomes import Reason

SUPPORTED_SUFFIXES: frozenset[str] = frozenset({".txt", ".md", ".docx", ".odt", ".rtf", ".pdf"})
"""File name suffixes (lower case, with the dot) that :func:`extract` reads."""

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
"""The first bytes of an OLE compound file: old ``.doc`` files and password-protected Office
documents (Office encrypts a ``.docx`` by wrapping it in an OLE container)."""

_RTF_CODEPAGE = re.compile(r"\\ansicpg(\d+)")


@dataclass(frozen=True)
class Extracted:
    """The text of one file. ``format`` is the suffix without the dot (``"docx"``); ``encoding``
    is the character encoding for plain text (and RTF when it declares its code page), else None.
    """

    text: str
    format: str
    encoding: str | None


class ExtractionError(Exception):
    """A file whose text could not be read. ``detail`` is one sentence without the file's name,
    e.g. ``"the PDF is password-protected; remove the password and import it again"``."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def extract(name: str, data: bytes) -> Extracted:
    """Return the normalised text of the file called ``name`` whose content is ``data``.

    The format is chosen by the suffix of ``name`` (case-insensitive). Raises
    :class:`ExtractionError` for an unsupported suffix, a corrupt or encrypted document, or a PDF
    without a text layer.
    """
    suffix = PurePath(name).suffix.lower()
    reader = _READERS.get(suffix)
    if reader is None:
        supported = ", ".join(sorted(SUPPORTED_SUFFIXES))
        shown = f"'{suffix}' files" if suffix else "files without a suffix"
        raise ExtractionError(
            Reason.UNSUPPORTED_TYPE, f"{shown} are not read; supported types are {supported}"
        )
    text, encoding = reader(data)
    return Extracted(text=normalise(text), format=suffix[1:], encoding=encoding)


def normalise(text: str) -> str:
    """Unify line endings to ``\\n``, drop NULs, trim surrounding whitespace, compose to NFC."""
    text = text.replace("\x00", "").replace("\r\n", "\n").replace("\r", "\n")
    return unicodedata.normalize("NFC", text.strip())


# -- plain text ---------------------------------------------------------------------------------


def _read_plain(data: bytes) -> tuple[str, str | None]:
    """``.txt`` and ``.md``: decoded by :func:`decode_text` (BOMs, UTF-16, UTF-8, Windows-1252)."""
    try:
        return decode_text(data)
    except UnicodeDecodeError as exc:
        raise ExtractionError(
            Reason.CORRUPT, f"the text is not valid {exc.encoding} although it is marked as such"
        ) from exc


# -- Word ---------------------------------------------------------------------------------------


def _read_docx(data: bytes) -> tuple[str, str | None]:
    """``.docx``: body paragraphs and table cells in document order, one line per paragraph."""
    if data.startswith(OLE_MAGIC):
        raise ExtractionError(
            Reason.ENCRYPTED,
            "the document is password-protected, or it is an old-format .doc file renamed to "
            ".docx; remove the password or save it as .docx in Word and import it again",
        )
    try:
        document = docx.Document(io.BytesIO(data))
        lines = list(_docx_lines(document))
    except Exception as exc:  # python-docx lets zip, XML and content-type errors through as is
        raise ExtractionError(
            Reason.CORRUPT, "not a valid .docx file (it does not open as a Word document)"
        ) from exc
    return "\n".join(lines), None


def _docx_lines(container: Any) -> Iterator[str]:
    """Yield the text of each paragraph in ``container`` (document or table cell), descending
    into tables row by row, cell by cell, so the order is the reading order of the document."""
    for block in container.iter_inner_content():
        if not isinstance(block, Table):
            yield block.text
            continue
        for tr in block._tbl.tr_lst:
            for tc in tr.tc_lst:
                # Cells continuing a vertical merge repeat the space of the cell above; their text
                # (normally nothing) belongs to that cell, which was read already.
                if tc.vMerge == "continue":
                    continue
                yield from _docx_lines(_Cell(tc, block))


# -- OpenDocument -------------------------------------------------------------------------------


def _read_odt(data: bytes) -> tuple[str, str | None]:
    """``.odt``: paragraphs and headings of the text body in document order, lists included."""
    if _odf_is_encrypted(data):
        raise ExtractionError(
            Reason.ENCRYPTED,
            "the document is password-protected; remove the password and import it again",
        )
    try:
        document = opendocument.load(io.BytesIO(data))
        lines = list(_odf_lines(document.text))
    except Exception as exc:  # odfpy raises zip, XML (SAX) and key errors as they come
        raise ExtractionError(
            Reason.CORRUPT, "not a valid .odt file (it does not open as an OpenDocument text)"
        ) from exc
    return "\n".join(lines), None


def _odf_is_encrypted(data: bytes) -> bool:
    """True when the package manifest says its parts are encrypted (a password-protected file)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as package:
            manifest = package.read("META-INF/manifest.xml")
    except Exception:
        return False  # not a readable package: loading it reports it as corrupt
    return b"encryption-data" in manifest


def _odf_lines(element: Any) -> Iterator[str]:
    """Yield the text of every ``text:p`` and ``text:h`` below ``element`` in document order."""
    for child in element.childNodes:
        if child.nodeType != child.ELEMENT_NODE:
            continue
        if child.qname in ((TEXTNS, "p"), (TEXTNS, "h")):
            yield teletype.extractText(child)
        else:
            yield from _odf_lines(child)


# -- RTF ----------------------------------------------------------------------------------------


def _read_rtf(data: bytes) -> tuple[str, str | None]:
    """``.rtf``: 7-bit markup with ``\\'xx`` and ``\\uN`` escapes, decoded by striprtf."""
    if not data.lstrip().startswith(b"{\\rtf"):
        raise ExtractionError(
            Reason.CORRUPT, "not a valid .rtf file (it does not start as an RTF document)"
        )
    try:
        source = data.decode("cp1252")
    except UnicodeDecodeError:
        source = data.decode("latin-1")  # stray bytes undefined in cp1252; escapes are ASCII
    try:
        text = rtf_to_text(source, errors="strict")  # type: ignore[no-untyped-call]
    except Exception as exc:
        raise ExtractionError(
            Reason.CORRUPT, "the RTF file is damaged (its text could not be decoded)"
        ) from exc
    codepage = _RTF_CODEPAGE.search(source)
    return text, f"cp{codepage.group(1)}" if codepage else None


# -- PDF ----------------------------------------------------------------------------------------


def _read_pdf(data: bytes) -> tuple[str, str | None]:
    """``.pdf``: the text layer of every page; PDFs protected only against editing are read."""
    try:
        reader = PdfReader(io.BytesIO(data))
        encrypted = reader.is_encrypted
    except Exception as exc:
        raise _corrupt_pdf() from exc
    if encrypted and not _open_without_password(reader):
        raise ExtractionError(
            Reason.ENCRYPTED,
            "the PDF is password-protected; remove the password and import it again",
        )
    try:
        text = "\n".join(page.extract_text() for page in reader.pages)
    except Exception as exc:
        raise _corrupt_pdf() from exc
    if not text.strip():
        raise ExtractionError(
            Reason.NO_TEXT,
            "the PDF has no text layer (a scanned image?); text recognition (OCR) is not supported",
        )
    return text, None


def _open_without_password(reader: Any) -> bool:
    """Try the empty user password, which opens PDFs that only restrict editing or printing."""
    try:
        return bool(reader.decrypt(""))
    except Exception:
        return False


def _corrupt_pdf() -> ExtractionError:
    return ExtractionError(Reason.CORRUPT, "not a valid .pdf file (it does not open as a PDF)")


_READERS: dict[str, Callable[[bytes], tuple[str, str | None]]] = {
    ".txt": _read_plain,
    ".md": _read_plain,
    ".docx": _read_docx,
    ".odt": _read_odt,
    ".rtf": _read_rtf,
    ".pdf": _read_pdf,
}
