"""Bounded work per office file: ``.docx`` and ``.odt`` parts are decompressed and parsed as
streams, counted while they inflate, parsed without document types or entities, and read only
until the text passes the character limit; PDFs stop at the limit too."""

from __future__ import annotations

import io
import time
import tracemalloc
import zipfile
from collections.abc import Iterable
from pathlib import Path

import pytest

from app.intake.outcomes import FileOutcome, Outcome, Reason
from app.intake.readers import MAX_XML_PART_BYTES, ExtractionError, extract
from app.intake.sources import iter_documents
from tests.app.intake_corpus import make_pdf

MB = 1024 * 1024
W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
    'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-'
    'officedocument.wordprocessingml.document.main+xml"/></Types>'
)
_RELS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/officeDocument" Target="word/document.xml"/></Relationships>'
)
_PARAGRAPH = (
    "<w:p><w:r><w:t>Skolan ligger vid sjön och eleverna skriver om vintern varje år.</w:t>"
    "</w:r></w:p>"
).encode()


def docx_from_parts(body: Iterable[bytes], *, prolog: bytes = b"") -> bytes:
    """A .docx whose ``word/document.xml`` is ``prolog``, the document element, the chunks of
    ``body`` inside ``w:body``, streamed into the archive (never held whole)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as package:
        package.writestr("[Content_Types].xml", _CONTENT_TYPES)
        package.writestr("_rels/.rels", _RELS)
        with package.open("word/document.xml", "w") as part:
            part.write(b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>' + prolog)
            part.write(f'<w:document xmlns:w="{W}"><w:body>'.encode())
            for chunk in body:
                part.write(chunk)
            part.write(b"</w:body></w:document>")
    return buffer.getvalue()


def docx_bomb(mebibytes: int) -> bytes:
    """A small .docx whose document.xml inflates to ``mebibytes`` MiB of ordinary paragraphs."""
    block = _PARAGRAPH * (MB // len(_PARAGRAPH))
    return docx_from_parts(block for _ in range(mebibytes))


def odt_from_content(body: Iterable[bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as package:
        package.writestr("mimetype", "application/vnd.oasis.opendocument.text", zipfile.ZIP_STORED)
        package.writestr(
            "META-INF/manifest.xml",
            '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest='
            '"urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"/>',
        )
        with package.open("content.xml", "w") as part:
            part.write(
                b'<?xml version="1.0" encoding="UTF-8"?><office:document-content xmlns:office='
                b'"urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:text='
                b'"urn:oasis:names:tc:opendocument:xmlns:text:1.0"><office:body><office:text>'
            )
            for chunk in body:
                part.write(chunk)
            part.write(b"</office:text></office:body></office:document-content>")
    return buffer.getvalue()


def _refused(name: str, data: bytes, **limits: int) -> ExtractionError:
    with pytest.raises(ExtractionError) as caught:
        extract(name, data, **limits)
    return caught.value


def _bounded(name: str, data: bytes, **limits: int) -> tuple[ExtractionError, float, float]:
    """Refuse ``data``; return the error, the seconds and the peak of traced memory in MB."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        error = _refused(name, data, **limits)
        seconds = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1] / MB
    finally:
        tracemalloc.stop()
    return error, seconds, peak


# -- office bombs -------------------------------------------------------------------------------


def test_docx_whose_text_part_inflates_to_200_mb_is_refused_quickly_in_little_memory() -> None:
    data = docx_bomb(200)
    assert len(data) < 2 * MB  # the file itself is small
    error, seconds, peak = _bounded("bomb.docx", data, max_chars=50_000)
    assert error.reason is Reason.TOO_LONG
    assert "maximum: 50,000 characters" in error.detail
    assert seconds < 2.0
    assert peak < 20


def test_docx_bomb_is_bounded_even_without_a_character_limit() -> None:
    error, seconds, peak = _bounded("bomb.docx", docx_bomb(200))
    assert error.reason is Reason.TOO_LONG
    assert seconds < 4.0
    assert peak < 60


def test_docx_bomb_in_a_folder_is_one_too_long_outcome(tmp_path: Path) -> None:
    (tmp_path / "bomb.docx").write_bytes(docx_bomb(50))
    start = time.perf_counter()
    items = list(iter_documents([tmp_path]))
    assert time.perf_counter() - start < 5.0
    assert len(items) == 1 and isinstance(items[0], FileOutcome)
    assert (items[0].outcome, items[0].reason) == (Outcome.FAILED, Reason.TOO_LONG)
    assert "bomb.docx" in items[0].message and "too long" in items[0].message


def test_docx_text_part_without_text_is_refused_once_it_inflates_past_the_part_limit() -> None:
    filler = b"<!--" + b"x" * (MB - 7) + b"-->"  # a part that is all comment: no text ever comes
    mebibytes = MAX_XML_PART_BYTES // MB + 4
    error, seconds, _ = _bounded("padded.docx", docx_from_parts(filler for _ in range(mebibytes)))
    assert error.reason is Reason.CORRUPT
    assert f"more than {MAX_XML_PART_BYTES // MB} MB" in error.detail
    assert seconds < 3.0


def test_odt_whose_content_inflates_to_100_mb_is_refused_quickly_in_little_memory() -> None:
    paragraph = "<text:p>Vi åkte skridskor på sjön hela dagen i januari.</text:p>".encode()
    block = paragraph * (MB // len(paragraph))
    error, seconds, peak = _bounded(
        "bomb.odt", odt_from_content(block for _ in range(100)), max_chars=50_000
    )
    assert error.reason is Reason.TOO_LONG
    assert seconds < 2.0
    assert peak < 20


def test_odt_space_run_of_a_billion_is_not_expanded() -> None:
    data = odt_from_content([b'<text:p>Hej<text:s text:c="1000000000"/>du</text:p>'])
    error, seconds, peak = _bounded("spaces.odt", data, max_chars=50_000)
    assert error.reason is Reason.TOO_LONG
    assert seconds < 1.0 and peak < 5


def test_entity_expansion_is_refused_not_performed() -> None:
    laughs = (
        b'<!DOCTYPE w:document [<!ENTITY a "hahahahahahahahahaha">'
        + b"".join(
            f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">'.encode() for i in range(8)
        )
        + b"]>"
    )
    data = docx_from_parts([b"<w:p><w:r><w:t>&i;</w:t></w:r></w:p>"], prolog=laughs)
    error, seconds, peak = _bounded("laughs.docx", data)
    assert error.reason is Reason.CORRUPT
    assert "document type" in error.detail
    assert seconds < 1.0 and peak < 5


def test_external_entities_are_never_fetched(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("hemligt lösenord", encoding="utf-8")
    prolog = f'<!DOCTYPE w:document [<!ENTITY x SYSTEM "file://{secret}">]>'.encode()
    data = docx_from_parts([b"<w:p><w:r><w:t>&x;</w:t></w:r></w:p>"], prolog=prolog)
    assert _refused("xxe.docx", data).reason is Reason.CORRUPT


def test_damaged_deflate_stream_in_the_text_part_is_corrupt() -> None:
    data = bytearray(docx_bomb(1))
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(64)
    assert _refused("damaged.docx", bytes(data)).reason is Reason.CORRUPT


# -- the character limit ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a.docx", "a.odt"])
def test_reading_stops_exactly_past_the_character_limit(name: str) -> None:
    lines = [f"Rad nummer {i:03d} om hösten." for i in range(40)]  # 25 characters each
    text = "\n".join(lines)
    if name.endswith(".docx"):
        data = docx_from_parts(
            f"<w:p><w:r><w:t>{line}</w:t></w:r></w:p>".encode() for line in lines
        )
    else:
        data = odt_from_content(f"<text:p>{line}</text:p>".encode() for line in lines)
    assert extract(name, data, max_chars=len(text)).text == text
    assert _refused(name, data, max_chars=len(text) - 1).reason is Reason.TOO_LONG


def test_whitespace_does_not_count_towards_the_limit() -> None:
    text = "<w:p><w:r><w:t>Kort essä om sommaren vid havet.</w:t></w:r></w:p>"
    body = [b"<w:p/>" * 5000, text.encode()]
    assert extract("a.docx", docx_from_parts(body), max_chars=100).text.startswith("Kort essä")


def test_pdf_pages_are_read_only_until_the_limit() -> None:
    line = "Sidan handlar om vintern i Norrland och snön som faller tyst."
    data = make_pdf(tuple((line,) * 3 for _ in range(6)))
    assert len(extract("a.pdf", data).text) > 6 * 3 * len(line)
    assert _refused("a.pdf", data, max_chars=4 * len(line)).reason is Reason.TOO_LONG


# -- what a stream reader keeps -----------------------------------------------------------------


def test_docx_stream_reader_keeps_what_word_shows_and_nothing_else() -> None:
    body = [
        # tab stops in paragraph properties are not text; a run's tab and break are
        b'<w:p><w:pPr><w:tabs><w:tab w:val="left" w:pos="720"/></w:tabs></w:pPr>'
        b"<w:r><w:t>Ett</w:t><w:tab/><w:t>tv\xc3\xa5</w:t><w:br/><w:t>tre</w:t>"
        b'<w:br w:type="page"/><w:noBreakHyphen/></w:r></w:p>',
        # hyperlinks and tracked insertions count, tracked deletions do not
        b'<w:p><w:hyperlink r:id="x" xmlns:r="urn:r"><w:r><w:t>l\xc3\xa4nk</w:t></w:r>'
        b'</w:hyperlink><w:ins><w:r><w:t xml:space="preserve"> ny</w:t></w:r></w:ins>'
        b"<w:del><w:r><w:delText>borttagen</w:delText></w:r></w:del></w:p>",
        # alternate content: the choice is read, its fallback copy is not
        b'<w:p><mc:AlternateContent xmlns:mc="http://schemas.openxmlformats.org/'
        b'markup-compatibility/2006"><mc:Choice Requires="x"><w:r><w:t>val</w:t></w:r>'
        b"</mc:Choice><mc:Fallback><w:r><w:t>reserv</w:t></w:r></mc:Fallback>"
        b"</mc:AlternateContent></w:p>",
        # a cell continuing a vertical merge repeats the cell above: left out
        b'<w:tbl><w:tr><w:tc><w:tcPr><w:vMerge w:val="restart"/></w:tcPr><w:p><w:r><w:t>'
        b"A1</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>B1</w:t></w:r></w:p></w:tc></w:tr>"
        b"<w:tr><w:tc><w:tcPr><w:vMerge/></w:tcPr><w:p><w:r><w:t>A2</w:t></w:r></w:p></w:tc>"
        b"<w:tc><w:p><w:r><w:t>B2</w:t></w:r></w:p></w:tc></w:tr></w:tbl>",
        b"<w:p><w:r><w:t>Slut</w:t></w:r></w:p>",
    ]
    text = extract("a.docx", docx_from_parts(body)).text
    assert text == "Ett\ttvå\ntre-\nlänk ny\nval\nA1\nB1\nB2\nSlut"


def test_docx_main_part_is_found_through_the_package_relationships() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as package:
        package.writestr("[Content_Types].xml", _CONTENT_TYPES)
        package.writestr("_rels/.rels", _RELS.replace("word/document.xml", "/word/document2.xml"))
        package.writestr(
            "word/document2.xml",
            f'<w:document xmlns:w="{W}"><w:body><w:p><w:r><w:t>Andra delen</w:t></w:r></w:p>'
            "</w:body></w:document>",
        )
    assert extract("a.docx", buffer.getvalue()).text == "Andra delen"


def test_odt_comments_are_not_part_of_the_essay() -> None:
    data = odt_from_content(
        [
            b'<text:p>Min text<office:annotation xmlns:dc="http://purl.org/dc/elements/1.1/">'
            b"<dc:creator>L\xc3\xa4rare</dc:creator><text:p>kommentar</text:p>"
            b"</office:annotation> forts\xc3\xa4tter<text:tab/>h\xc3\xa4r"
            b'<text:s text:c="3"/>slut</text:p>'
        ]
    )
    assert extract("a.odt", data).text == "Min text fortsätter\thär   slut"


def test_rtf_emoji_written_as_a_surrogate_pair_is_one_character() -> None:
    text = extract("a.rtf", rb"{\rtf1\ansi Jag \u55357?\u56832? skrev en text om sommaren.}").text
    assert text == "Jag \U0001f600 skrev en text om sommaren."
    text.encode("utf-8")  # storable
