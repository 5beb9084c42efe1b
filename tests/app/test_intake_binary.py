"""Text that is not text: binary bytes named ``.txt`` are refused with a reason a teacher can act
on, UTF-16 without a byte-order mark is recognised at any length, and real text with a stray
control character still imports."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from app.intake.encodings import decode_text, not_text_reason
from app.intake.outcomes import FileOutcome, Outcome, Reason
from app.intake.readers import ExtractionError, extract
from app.intake.sources import Document, iter_documents

ESSAY = (
    "Min sommar vid sjön\n\nVarje morgon badade vi i det kalla vattnet och åt gröt på bryggan. "
    "Älgen som gick förbi en kväll glömmer jag aldrig."
)


def _refused(name: str, data: bytes) -> ExtractionError:
    with pytest.raises(ExtractionError) as caught:
        extract(name, data)
    return caught.value


def test_every_byte_value_named_txt_is_refused_as_not_text(tmp_path: Path) -> None:
    (tmp_path / "essay.txt").write_bytes(bytes(range(256)) * 64)
    (items,) = list(iter_documents([tmp_path]))
    assert isinstance(items, FileOutcome)
    assert (items.outcome, items.reason) == (Outcome.FAILED, Reason.CORRUPT)
    assert "essay.txt" in items.message
    assert "not a text file" in items.message
    assert "save it as .docx or plain text" in items.message


@pytest.mark.parametrize("seed", range(5))
def test_random_bytes_without_nuls_are_refused_for_their_control_codes(seed: int) -> None:
    data = bytes(b or 32 for b in random.Random(seed).randbytes(3000))
    error = _refused("noise.md", data)
    assert error.reason is Reason.CORRUPT
    assert "control codes" in error.detail


@pytest.mark.parametrize(
    "data",
    [
        b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4,  # a picture renamed
        b"MZ\x90\x00\x03\x00\x00\x00" + bytes(600),  # a Windows program renamed
        b"PK\x03\x04\x14\x00\x06\x00" + bytes(300) + b"word/document.xml" + bytes(300),
    ],
    ids=["png", "exe", "docx-as-txt"],
)
def test_renamed_binary_files_are_refused(data: bytes) -> None:
    assert _refused("essay.txt", data).reason is Reason.CORRUPT


def test_binary_rtf_escapes_are_refused() -> None:
    data = b"{\\rtf1\\ansi " + b"".join(b"\\'%02x" % b for b in range(32)) * 20 + b"}"
    assert "not a text file" in _refused("a.rtf", data).detail


@pytest.mark.parametrize(
    "text",
    [
        ESSAY.replace("gröt", "gr\x00öt"),  # one stray NUL (dropped by normalisation)
        ESSAY.replace("\n\n", "\n\x0c\n"),  # a form feed (page break)
        ESSAY.replace("\n\n", "\x0b"),  # a vertical tab (a line break in some exports)
        ESSAY + "\x1a",  # the DOS end-of-file mark
        ESSAY + "\x00" * 500,  # NUL padding after the text
        ESSAY.replace("kväll", "kv\x81ll"),  # one byte undefined in Windows-1252
    ],
    ids=["nul", "form-feed", "vertical-tab", "eof-mark", "nul-padding", "c1"],
)
def test_real_text_with_a_stray_control_character_still_imports(text: str) -> None:
    encoded = text.encode("cp1252", errors="ignore") if "\x81" not in text else None
    data = encoded if encoded is not None else text.encode("latin-1")
    assert "Älgen" in extract("a.txt", data).text


def test_not_text_reason_is_none_for_text_and_empty() -> None:
    assert not_text_reason(ESSAY) is None
    assert not_text_reason("") is None
    assert not_text_reason("\x00\x00\x00") is None  # only padding: left to the empty check


# -- UTF-16 without a byte-order mark -----------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "tail"),
    [
        ("utf-16-le", b"\n"),
        ("utf-16-le", b"\r"),
        ("utf-16-le", b"\x00"),
        ("utf-16-le", b" "),
        ("utf-16-be", b"\n"),
        ("utf-16-be", b"\x1a"),
    ],
)
def test_utf16_without_mark_and_an_odd_byte_of_padding_is_decoded(
    encoding: str, tail: bytes
) -> None:
    data = ESSAY.encode(encoding) + tail
    assert len(data) % 2 == 1
    extracted = extract("a.txt", data)
    assert (extracted.text, extracted.encoding) == (ESSAY, encoding)


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_utf16_without_mark_cut_off_mid_character_is_refused_as_cut_off(encoding: str) -> None:
    data = ESSAY.encode(encoding)[:-1]
    error = _refused("a.txt", data)
    assert error.reason is Reason.CORRUPT
    assert "cut off" in error.detail
    assert encoding in error.detail


@pytest.mark.parametrize("length", range(1, 12))
def test_short_utf16_without_mark_is_recognised_at_any_length(length: int) -> None:
    text = "Åsa skriver"[:length]
    assert decode_text(text.encode("utf-16-le"))[0] == text
    assert decode_text(text.encode("utf-16-le") + b"\n")[0] == text


def test_utf16_essay_in_a_folder_imports_with_its_letters(tmp_path: Path) -> None:
    (tmp_path / "essä.txt").write_bytes(ESSAY.encode("utf-16-le") + b"\n")
    (item,) = list(iter_documents([tmp_path]))
    assert isinstance(item, Document)
    assert item.text == ESSAY
