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

import codecs
import io
import re
import unicodedata
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any
from xml.parsers import expat

from odf.namespaces import TEXTNS
from pypdf import PdfReader
from striprtf.striprtf import rtf_to_text

from app.intake.encodings import decode_text, not_text_reason
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


def extract(name: str, data: bytes, *, max_chars: int | None = None) -> Extracted:
    """Return the normalised text of the file called ``name`` whose content is ``data``.

    The format is chosen by the suffix of ``name`` (case-insensitive). Raises
    :class:`ExtractionError` for an unsupported suffix, a corrupt or encrypted document, bytes
    that are not text, or a PDF without a text layer.

    Documents that expand (``.docx``, ``.odt``, ``.pdf``) are read only until their text passes
    ``max_chars`` characters (:data:`MAX_CHARS_WITHOUT_LIMIT` when not given), and then refused
    as :attr:`Reason.TOO_LONG`, so a small file built to expand costs little time and memory.
    Plain text and RTF are returned whole (their size is the file's), for the length check to
    report their exact length.
    """
    suffix = PurePath(name).suffix.lower()
    reader = _READERS.get(suffix)
    if reader is None:
        supported = ", ".join(sorted(SUPPORTED_SUFFIXES))
        shown = f"'{suffix}' files" if suffix else "files without a suffix"
        raise ExtractionError(
            Reason.UNSUPPORTED_TYPE, f"{shown} are not read; supported types are {supported}"
        )
    text, encoding = reader(data, MAX_CHARS_WITHOUT_LIMIT if max_chars is None else max_chars)
    return Extracted(text=normalise(text), format=suffix[1:], encoding=encoding)


def normalise(text: str) -> str:
    """Unify line endings to ``\\n``, drop NULs, trim surrounding whitespace, compose to NFC."""
    text = text.replace("\x00", "").replace("\r\n", "\n").replace("\r", "\n")
    return unicodedata.normalize("NFC", text.strip())


# -- plain text ---------------------------------------------------------------------------------


def _read_plain(data: bytes, _limit: int) -> tuple[str, str | None]:
    """``.txt`` and ``.md``: decoded by :func:`decode_text` (BOMs, UTF-16, UTF-8, Windows-1252),
    then refused when the result is not text (:func:`not_text_reason`)."""
    try:
        text, encoding = decode_text(data)
    except UnicodeDecodeError as exc:
        marked = any(data.startswith(bom) for bom in _TEXT_BOMS)
        why = "although it is marked as such" if marked else f"({exc.reason})"
        raise ExtractionError(
            Reason.CORRUPT, f"the text is not valid {exc.encoding} {why}"
        ) from exc
    _refuse_if_not_text(text)
    return text, encoding


_TEXT_BOMS = (codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def _refuse_if_not_text(text: str) -> None:
    reason = not_text_reason(text)
    if reason is not None:
        raise ExtractionError(Reason.CORRUPT, reason)


# -- bounded reading of office packages ---------------------------------------------------------

MAX_XML_PART_BYTES = 16 * 1024 * 1024
"""Most bytes one XML part of an office file (``word/document.xml``, ``content.xml``) may inflate
to. A long essay's part is well under 1 MB; a file whose part inflates past this is refused while
it is being decompressed, whatever its header claims."""

MAX_CHARS_WITHOUT_LIMIT = 1_000_000
"""Where reading stops when :func:`extract` is not told the character limit: far above any essay,
low enough that a document built to expand (an "office bomb") costs little memory and time."""

_SMALL_PART_BYTES = 1024 * 1024
"""Most bytes a package's small bookkeeping parts (relationships, manifest) may inflate to."""

_CHUNK = 64 * 1024

W_NAMESPACES = frozenset(
    {
        "http://schemas.openxmlformats.org/wordprocessingml/2006/main",
        "http://purl.oclc.org/ooxml/wordprocessingml/main",  # Strict Open XML
    }
)
_MC_NS = "http://schemas.openxmlformats.org/markup-compatibility/2006"
_OFFICE_NS = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
_REL_OFFICE_DOCUMENT = "/officeDocument"


class _TooLongError(Exception):
    """The text passed the character limit; reading stopped."""


class _PartTooBigError(Exception):
    """An XML part inflated past :data:`MAX_XML_PART_BYTES`."""


class _ForbiddenXmlError(Exception):
    """The XML declares a document type or entities, which office files never do."""


class _TextSink:
    """Collects lines of text and stops reading as soon as the normalised text is longer than
    ``limit`` characters. The check is exact (it normalises what came so far) but runs only when
    the raw count passes the limit, and then at geometrically growing sizes, so it costs
    linear time at most."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.lines: list[str] = []
        self.current: list[str] = []
        self.size = 0
        self.next_check = limit + 1

    def add(self, text: str) -> None:
        self.current.append(text)
        self.size += len(text)
        if self.size >= self.next_check:
            self._check()

    def end_line(self) -> None:
        self.lines.append("".join(self.current))
        self.current = []
        self.size += 1  # the line break
        if self.size >= self.next_check:
            self._check()

    def finish(self) -> str:
        """The whole text, refused when it ended up longer than the limit."""
        text = self.text()
        if self.size > self.limit and len(normalise(text)) > self.limit:
            raise _TooLongError
        return text

    def text(self) -> str:
        return "\n".join([*self.lines, "".join(self.current)] if self.current else self.lines)

    def _check(self) -> None:
        length = len(normalise(self.text()))
        if length > self.limit:
            raise _TooLongError
        self.next_check = max(2 * self.size, self.size + self.limit - length + 1)


def _too_long(limit: int) -> ExtractionError:
    return ExtractionError(
        Reason.TOO_LONG,
        f"content is too long (maximum: {limit:,} characters; reading stopped there)",
    )


def _member_chunks(package: zipfile.ZipFile, name: str, limit: int) -> Iterator[bytes]:
    """The bytes of member ``name`` as they are decompressed, counted: more than ``limit`` raises
    :class:`_PartTooBigError` before the excess is held anywhere."""
    total = 0
    with package.open(name) as member:
        while chunk := member.read(_CHUNK):
            total += len(chunk)
            if total > limit:
                raise _PartTooBigError
            yield chunk


def _read_small_member(package: zipfile.ZipFile, name: str) -> bytes:
    return b"".join(_member_chunks(package, name, _SMALL_PART_BYTES))


def _parse_xml(
    chunks: Iterator[bytes],
    start: Callable[[str, dict[str, str]], None],
    end: Callable[[str], None],
    characters: Callable[[str], None],
) -> None:
    """Feed ``chunks`` to a namespace-aware expat parser (names come as ``"namespace local"``),
    refusing document type declarations and entity declarations: office files have none, and
    refusing them rules out entity expansion ("billion laughs") and external entities."""
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.buffer_text = True
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = characters

    parser.StartDoctypeDeclHandler = _forbid
    parser.EntityDeclHandler = _forbid
    parser.ExternalEntityRefHandler = _forbid_external
    for chunk in chunks:
        parser.Parse(chunk, False)
    parser.Parse(b"", True)


def _forbid(*_: object) -> None:
    raise _ForbiddenXmlError


def _forbid_external(*_: object) -> int:
    raise _ForbiddenXmlError


def _office_package(data: bytes, kind: str) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except Exception as exc:
        raise ExtractionError(
            Reason.CORRUPT, f"not a valid {kind} file (it is not a package of the right kind)"
        ) from exc


def _read_office_part(
    data: bytes,
    kind: str,
    part: Callable[[zipfile.ZipFile], str],
    handler: _DocxText | _OdtText,
    limit: int,
) -> str:
    """Stream the main XML part of an office package through ``handler``; every way it can go
    wrong becomes an :class:`ExtractionError`."""
    corrupt = f"not a valid {kind} file (it does not open as a {_KIND_NAMES[kind]})"
    with _office_package(data, kind) as package:
        try:
            name = part(package)
            _parse_xml(
                _member_chunks(package, name, MAX_XML_PART_BYTES),
                handler.start,
                handler.end,
                handler.characters,
            )
            return handler.sink.finish()
        except _TooLongError:
            raise _too_long(limit) from None
        except _PartTooBigError:
            raise ExtractionError(
                Reason.CORRUPT,
                f"the document's text part expands to more than "
                f"{MAX_XML_PART_BYTES // (1024 * 1024)} MB, which no essay needs (a real one "
                "takes well under 1 MB); it was not read further. Open it, copy the text into a "
                "new document and import that",
            ) from None
        except _ForbiddenXmlError:
            raise ExtractionError(
                Reason.CORRUPT,
                f"{corrupt}: it declares a document type or entities, which word processors "
                "never write; it was not read",
            ) from None
        except Exception as exc:  # zip, inflate, CRC and XML errors as they come
            raise ExtractionError(Reason.CORRUPT, corrupt) from exc


_KIND_NAMES = {".docx": "Word document", ".odt": "OpenDocument text"}


# -- Word ---------------------------------------------------------------------------------------


def _read_docx(data: bytes, limit: int) -> tuple[str, str | None]:
    """``.docx``: body paragraphs and table cells in document order, one line per paragraph.

    ``word/document.xml`` is decompressed and parsed as a stream (see :class:`_DocxText`), never
    held whole: memory stays small and reading stops at the character limit.
    """
    if data.startswith(OLE_MAGIC):
        raise ExtractionError(
            Reason.ENCRYPTED,
            "the document is password-protected, or it is an old-format .doc file renamed to "
            ".docx; remove the password or save it as .docx in Word and import it again",
        )
    return _read_office_part(data, ".docx", _docx_main_part, _DocxText(limit), limit), None


def _docx_main_part(package: zipfile.ZipFile) -> str:
    """The main document part named by the package relationships, else ``word/document.xml``."""
    target: list[str] = []

    def start(name: str, attrs: dict[str, str]) -> None:
        if name.endswith(" Relationship") and attrs.get("Type", "").endswith(_REL_OFFICE_DOCUMENT):
            target.append(attrs.get("Target", ""))

    if "_rels/.rels" in package.NameToInfo:
        _parse_xml(iter([_read_small_member(package, "_rels/.rels")]), start, _ignore, _ignore)
    name = target[0].lstrip("/") if target and target[0] else "word/document.xml"
    if name.startswith("./"):
        name = name[2:]
    return name


def _ignore(*_: object) -> None:
    return None


class _DocxText:
    """Expat handlers that collect the text of ``w:p`` paragraphs as python-docx reads them: the
    ``w:t`` of runs, ``w:tab``/``w:ptab`` as a tab, line breaks (``w:br`` of the text-wrapping
    kind, ``w:cr``) as a newline, ``w:noBreakHyphen`` as ``-``. Runs inside hyperlinks, fields,
    content controls and tracked insertions count; deleted text, text boxes, the fallback copy of
    alternate content and cells continuing a vertical merge (their text belongs to the cell
    above) do not."""

    _SKIPPED = frozenset({"txbxContent", "del", "moveFrom"})

    def __init__(self, limit: int) -> None:
        self.sink = _TextSink(limit)
        self.stack: list[str] = []  # local names of wordprocessingml elements, "" for others
        self.skip = 0  # depth inside an element whose text does not count
        self.merged_cells: list[bool] = []
        self.merged = 0
        self.paragraphs = 0
        self.runs = 0
        self.in_text = False

    def start(self, name: str, attrs: dict[str, str]) -> None:
        ns, _, local = name.rpartition(" ")
        if ns not in W_NAMESPACES:
            self.stack.append("")
            if self.skip or (ns == _MC_NS and local == "Fallback"):
                self.skip += 1
            return
        self.stack.append(local)
        if self.skip or local in self._SKIPPED:
            self.skip += 1
            return
        if local == "tc":
            self.merged_cells.append(False)
        elif local == "vMerge" and self.stack[-2:-1] == ["tcPr"] and self.merged_cells:
            if attrs.get(f"{ns} val", "continue") == "continue" and not self.merged_cells[-1]:
                self.merged_cells[-1] = True
                self.merged += 1
        elif self.merged:
            return
        elif local == "p":
            self.paragraphs += 1
        elif local == "r":
            self.runs += 1
        elif not (self.runs and self.paragraphs):
            return
        elif local == "t":
            self.in_text = True
        elif local in ("tab", "ptab"):
            self.sink.add("\t")
        elif local == "cr" or (
            local == "br" and attrs.get(f"{ns} type", "textWrapping") == "textWrapping"
        ):
            self.sink.add("\n")
        elif local == "noBreakHyphen":
            self.sink.add("-")

    def end(self, name: str) -> None:
        local = self.stack.pop()
        if self.skip:
            self.skip -= 1
            return
        if local == "tc":
            if self.merged_cells.pop():
                self.merged -= 1
        elif self.merged:
            return
        elif local == "t":
            self.in_text = False
        elif local == "r":
            self.runs -= 1
        elif local == "p":
            self.paragraphs -= 1
            if not self.paragraphs:
                self.sink.end_line()

    def characters(self, data: str) -> None:
        if self.in_text and not self.skip and not self.merged:
            self.sink.add(data)


# -- OpenDocument -------------------------------------------------------------------------------


def _read_odt(data: bytes, limit: int) -> tuple[str, str | None]:
    """``.odt``: paragraphs and headings of the text body in document order, lists included.

    ``content.xml`` is decompressed and parsed as a stream (see :class:`_OdtText`).
    """
    if _odf_is_encrypted(data):
        raise ExtractionError(
            Reason.ENCRYPTED,
            "the document is password-protected; remove the password and import it again",
        )
    return _read_office_part(data, ".odt", lambda _: "content.xml", _OdtText(limit), limit), None


def _odf_is_encrypted(data: bytes) -> bool:
    """True when the package manifest says its parts are encrypted (a password-protected file)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as package:
            manifest = _read_small_member(package, "META-INF/manifest.xml")
    except Exception:
        return False  # not a readable package: loading it reports it as corrupt
    return b"encryption-data" in manifest


class _OdtText:
    """Expat handlers that collect, as odfpy's ``teletype.extractText`` does, the text of every
    outermost ``text:p`` and ``text:h`` inside ``office:text``, one line each: character data of
    the paragraph and everything in it, ``text:s`` as its count of spaces (bounded by the
    character limit), ``text:tab`` as a tab, ``text:line-break`` as a newline. Comments
    (``office:annotation``) are left out: their author and date are not the essay."""

    def __init__(self, limit: int) -> None:
        self.sink = _TextSink(limit)
        self.body = 0  # depth inside office:text
        self.paragraph = 0  # depth inside an outermost text:p / text:h
        self.skip = 0

    def start(self, name: str, attrs: dict[str, str]) -> None:
        if self.paragraph:
            self.paragraph += 1
            if self.skip or name == f"{_OFFICE_NS} annotation":
                self.skip += 1
            elif name == f"{TEXTNS} s":
                self.sink.add(" " * self._count(attrs.get(f"{TEXTNS} c")))
            elif name == f"{TEXTNS} tab":
                self.sink.add("\t")
            elif name == f"{TEXTNS} line-break":
                self.sink.add("\n")
        elif self.body:
            self.body += 1
            if name in (f"{TEXTNS} p", f"{TEXTNS} h"):
                self.paragraph = 1
        elif name == f"{_OFFICE_NS} text":
            self.body = 1

    def _count(self, value: str | None) -> int:
        try:
            count = int(value) if value else 1
        except ValueError:
            count = 1
        return max(0, min(count, self.sink.limit + 1))

    def end(self, name: str) -> None:
        if self.paragraph:
            self.paragraph -= 1
            if self.skip:
                self.skip -= 1
            if self.paragraph:
                return
            self.sink.end_line()
        if self.body:
            self.body -= 1

    def characters(self, data: str) -> None:
        if self.paragraph and not self.skip:
            self.sink.add(data)


# -- RTF ----------------------------------------------------------------------------------------


def _read_rtf(data: bytes, _limit: int) -> tuple[str, str | None]:
    """``.rtf``: 7-bit markup with ``\\'xx`` and ``\\uN`` escapes, decoded by striprtf.

    Characters beyond the Basic Multilingual Plane (emoji) are written as two ``\\uN``
    escapes, a UTF-16 surrogate pair; the pairs are joined into the character, and a lone half
    becomes U+FFFD (it cannot be stored)."""
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
    text = _join_surrogates(text)
    _refuse_if_not_text(text)
    codepage = _RTF_CODEPAGE.search(source)
    return text, f"cp{codepage.group(1)}" if codepage else None


_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _join_surrogates(text: str) -> str:
    if not _SURROGATE.search(text):
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


# -- PDF ----------------------------------------------------------------------------------------


def _read_pdf(data: bytes, limit: int) -> tuple[str, str | None]:
    """``.pdf``: the text layer of every page; PDFs protected only against editing are read.
    Pages are read until the text passes ``limit`` characters."""
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
    sink = _TextSink(limit)
    try:
        for page in reader.pages:
            sink.add(page.extract_text())
            sink.end_line()
        text = sink.finish()
    except _TooLongError:
        raise _too_long(limit) from None
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


_READERS: dict[str, Callable[[bytes, int], tuple[str, str | None]]] = {
    ".txt": _read_plain,
    ".md": _read_plain,
    ".docx": _read_docx,
    ".odt": _read_odt,
    ".rtf": _read_rtf,
    ".pdf": _read_pdf,
}
