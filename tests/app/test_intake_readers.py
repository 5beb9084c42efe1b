"""Reading essay files: formats, encodings, folders and zip archives, and every way a file can be
bad. The corpus of good and bad files is built once per module by ``tests/app/intake_corpus.py``.
"""

from __future__ import annotations

import io
import struct
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.intake.encodings import decode_text
from app.intake.outcomes import FileOutcome, IntakeLimits, Outcome, Reason
from app.intake.readers import OLE_MAGIC, SUPPORTED_SUFFIXES, ExtractionError, extract
from app.intake.sources import Document, _read_limited, iter_documents
from tests.app.intake_corpus import (
    ESSAYS,
    Expected,
    build_corpus,
    make_docx,
    oversized_file,
    zip_bomb,
)

MiB = 1024 * 1024
DEFAULTS = IntakeLimits()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Expected]]:
    root = tmp_path_factory.mktemp("intake") / "corpus"
    return root, build_corpus(root)


@pytest.fixture(scope="module")
def corpus_items(
    corpus: tuple[Path, dict[str, Expected]],
) -> dict[str, Document | FileOutcome]:
    """Every item ``iter_documents`` yields for the corpus folder, by path relative to it."""
    root, _ = corpus
    items: dict[str, Document | FileOutcome] = {}
    for item in iter_documents([root]):
        key = item.source.removeprefix("corpus/")
        assert key not in items, f"{item.source} came out twice"
        items[key] = item
    return items


def _write_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _items(*paths: Path, limits: IntakeLimits = DEFAULTS) -> list[Document | FileOutcome]:
    return list(iter_documents(list(paths), limits))


def _one(path: Path, limits: IntakeLimits = DEFAULTS) -> Document | FileOutcome:
    items = _items(path, limits=limits)
    assert len(items) == 1, items
    return items[0]


def _outcome(item: Document | FileOutcome) -> tuple[Outcome, Reason | None]:
    assert isinstance(item, FileOutcome), f"expected an outcome, got a document: {item}"
    return item.outcome, item.reason


# -- the corpus ---------------------------------------------------------------------------------


def test_every_corpus_file_yields_exactly_one_item(
    corpus: tuple[Path, dict[str, Expected]], corpus_items: dict[str, Document | FileOutcome]
) -> None:
    _, expected = corpus
    assert sorted(corpus_items) == sorted(expected)


def test_corpus_has_every_kind_of_good_file(corpus: tuple[Path, dict[str, Expected]]) -> None:
    _, expected = corpus
    good = {name for name, e in expected.items() if e.outcome is Outcome.IMPORTED}
    assert {Path(name).suffix for name in good} >= SUPPORTED_SUFFIXES
    for name in good:
        text = expected[name].text
        assert text is not None
        assert 200 <= len(text) <= 600, name
        assert set(text) & set("åäöÅÄÖ"), name


def test_good_files_give_exactly_the_expected_text(
    corpus: tuple[Path, dict[str, Expected]], corpus_items: dict[str, Document | FileOutcome]
) -> None:
    _, expected = corpus
    for name, want in expected.items():
        if not want.extracts:
            continue
        item = corpus_items[name]
        assert isinstance(item, Document), f"{name}: {item}"
        assert item.text == want.text, name
        assert item.format == Path(name).suffix[1:]
        if want.encoding is not None:
            assert item.encoding == want.encoding, name


def test_bad_files_get_their_reason(
    corpus: tuple[Path, dict[str, Expected]], corpus_items: dict[str, Document | FileOutcome]
) -> None:
    _, expected = corpus
    for name, want in expected.items():
        if want.extracts:
            continue
        item = corpus_items[name]
        assert _outcome(item) == (want.outcome, want.reason), f"{name}: {item}"
        assert isinstance(item, FileOutcome)
        assert f"corpus/{name}" in item.message


def test_length_and_duplicate_problems_are_left_to_validation(
    corpus: tuple[Path, dict[str, Expected]], corpus_items: dict[str, Document | FileOutcome]
) -> None:
    _, expected = corpus
    later = [name for name, e in expected.items() if e.outcome is not Outcome.IMPORTED]
    later = [name for name in later if expected[name].extracts]
    assert {expected[name].reason for name in later} == {
        Reason.EMPTY,
        Reason.TOO_SHORT,
        Reason.TOO_LONG,
        Reason.DUPLICATE,
    }
    for name in later:
        assert isinstance(corpus_items[name], Document), name


def test_each_corpus_file_extracts_the_same_text_on_its_own(
    corpus: tuple[Path, dict[str, Expected]],
) -> None:
    root, expected = corpus
    for name, want in expected.items():
        path = root / name
        if not want.extracts or not path.is_file():
            continue
        assert extract(name, path.read_bytes()).text == want.text, name


def test_failure_messages_name_the_file_and_the_problem(
    corpus_items: dict[str, Document | FileOutcome],
) -> None:
    encrypted = corpus_items["encrypted.pdf"]
    assert isinstance(encrypted, FileOutcome)
    assert encrypted.message == (
        "File 'corpus/encrypted.pdf': the PDF is password-protected; "
        "remove the password and import it again"
    )
    scanned = corpus_items["scanned.pdf"]
    assert isinstance(scanned, FileOutcome)
    assert "OCR" in scanned.message
    assert scanned.format == "pdf"
    photo = corpus_items["photo.jpg"]
    assert isinstance(photo, FileOutcome)
    assert "'.jpg'" in photo.message and ".docx" in photo.message


# -- readers ------------------------------------------------------------------------------------


def test_suffix_is_case_insensitive_and_unknown_ones_are_refused() -> None:
    assert extract("ESSAY.TXT", "Hej på dig".encode()).text == "Hej på dig"
    with pytest.raises(ExtractionError) as caught:
        extract("essay.doc", b"whatever")
    assert caught.value.reason is Reason.UNSUPPORTED_TYPE


def test_text_is_normalised_but_otherwise_kept() -> None:
    decomposed = "a\u030a"  # a + combining ring above: å in NFD, as macOS writes it
    data = f"  \r\nRad ett\x00 {decomposed}\r\nRad  två\t\rRad tre \n\n".encode()
    assert extract("a.txt", data).text == "Rad ett å\nRad  två\t\nRad tre"


def test_broken_utf16_is_corrupt() -> None:
    with pytest.raises(ExtractionError) as caught:
        extract("a.txt", b"\xff\xfeA\x00B")  # a UTF-16 mark and an odd number of bytes
    assert caught.value.reason is Reason.CORRUPT


def test_docx_keeps_table_text_in_document_order() -> None:
    data = make_docx(("Inledning om årstider.",), (("Vår", "Höst"), ("Ö", "Ä")), "Slut på essän.")
    text = extract("tabell.docx", data).text
    assert text == "Inledning om årstider.\nVår\nHöst\nÖ\nÄ\nSlut på essän."


def test_ole_file_named_docx_is_encrypted() -> None:
    with pytest.raises(ExtractionError) as caught:
        extract("protected.docx", OLE_MAGIC + bytes(504))
    assert caught.value.reason is Reason.ENCRYPTED
    assert "password-protected" in caught.value.detail and ".doc" in caught.value.detail


def test_zip_without_word_parts_is_a_corrupt_docx() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("hello.txt", "not a document")
    with pytest.raises(ExtractionError) as caught:
        extract("essay.docx", buffer.getvalue())
    assert caught.value.reason is Reason.CORRUPT
    assert caught.value.detail == "not a valid .docx file (it does not open as a Word document)"


@pytest.mark.parametrize("name", ["junk.odt", "junk.rtf"])
def test_junk_odt_and_rtf_are_corrupt(name: str) -> None:
    with pytest.raises(ExtractionError) as caught:
        extract(name, b"\x00\x01\x02 not a document at all")
    assert caught.value.reason is Reason.CORRUPT


def test_rtf_escapes_give_swedish_letters() -> None:
    data = rb"{\rtf1\ansi{\fonttbl{\f0 Arial;}}\f0 \'e5\'e4\'f6\'c5\'c4\'d6 \u233? \u252?\par}"
    extracted = extract("bokstaver.rtf", data)
    assert extracted.text == "åäöÅÄÖ é ü"
    assert extracted.encoding is None  # no \ansicpg: the code page is not known


# -- sources: single files ----------------------------------------------------------------------


def test_a_file_given_directly_keeps_its_name_as_given(tmp_path: Path) -> None:
    path = tmp_path / "uppsats.txt"
    path.write_bytes(ESSAYS["utf8"].encode("cp1252"))
    item = _one(path)
    assert isinstance(item, Document)
    assert item.source == str(path)
    assert (item.text, item.format, item.encoding) == (ESSAYS["utf8"], "txt", "cp1252")
    assert item.size_bytes == path.stat().st_size


def test_missing_path_is_not_found(tmp_path: Path) -> None:
    item = _one(tmp_path / "saknas.docx")
    assert _outcome(item) == (Outcome.FAILED, Reason.NOT_FOUND)


def test_sparse_30_mb_file_is_too_large_without_reading_it(tmp_path: Path) -> None:
    path = tmp_path / "huge.pdf"
    oversized_file(path, 30 * MiB)
    item = _one(path)
    assert _outcome(item) == (Outcome.FAILED, Reason.TOO_LARGE)
    assert isinstance(item, FileOutcome)
    assert item.size_bytes == 30 * MiB
    assert item.message == (f"File '{path}' is 31,457,280 bytes; the limit is 20,971,520 bytes")


def test_reading_stops_as_soon_as_the_limit_is_passed() -> None:
    class Counting(io.BytesIO):
        requested = 0

        def read(self, size: int | None = -1, /) -> bytes:
            chunk = super().read(size)
            Counting.requested += len(chunk)
            return chunk

    stream = Counting(bytes(10 * MiB))
    assert _read_limited(stream, 100_000) is None
    assert Counting.requested < 200_000
    assert _read_limited(io.BytesIO(b"abc"), 3) == b"abc"


def test_unreadable_file_fails_without_stopping_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "essays"
    folder.mkdir()
    (folder / "a.txt").write_text(ESSAYS["utf8"], encoding="utf-8")
    (folder / "b.txt").write_text(ESSAYS["md"], encoding="utf-8")
    (folder / "c.txt").write_text(ESSAYS["latin1"], encoding="utf-8")
    real_open = Path.open

    def refusing_open(self: Path, *args: Any, **kwargs: Any) -> Any:
        if self.name == "b.txt":
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", refusing_open)
    items = _items(folder)
    assert isinstance(items[0], Document) and isinstance(items[2], Document)
    assert _outcome(items[1]) == (Outcome.FAILED, Reason.UNREADABLE)
    assert isinstance(items[1], FileOutcome)
    assert items[1].message == "File 'essays/b.txt' could not be read: Permission denied"


# -- sources: folders ---------------------------------------------------------------------------


def _tree(root: Path) -> Path:
    folder = root / "essays"
    (folder / "sub").mkdir(parents=True)
    (folder / "Sub2").mkdir()
    (folder / ".git" / "objects").mkdir(parents=True)
    (folder / ".git" / "config").write_text("[core]")
    (folder / ".git" / "objects" / "x.txt").write_text(ESSAYS["utf8"])
    (folder / "B.txt").write_text(ESSAYS["utf8"], encoding="utf-8")
    (folder / "a.txt").write_text(ESSAYS["utf8_bom"], encoding="utf-8")
    (folder / "sub" / "c.txt").write_text(ESSAYS["utf16"], encoding="utf-8")
    (folder / "Sub2" / "d.md").write_text(ESSAYS["md"], encoding="utf-8")
    (folder / "Sub2" / "~$d.docx").write_bytes(b"lock")
    (folder / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (folder / "notes.xlsx").write_bytes(b"PK")
    _write_zip(
        folder / "x.zip",
        {
            "klass/e.txt": ESSAYS["latin1"].encode("utf-8"),
            "inner.zip": b"PK\x05\x06" + bytes(18),
            "__MACOSX/klass/._e.txt": b"\x00\x05\x16\x07",
            "__MACOSX/._inner.zip": b"\x00\x05\x16\x07",
            "klass/": b"",
        },
    )
    return folder


def test_folder_is_walked_in_case_insensitive_order_with_relative_names(tmp_path: Path) -> None:
    items = _items(_tree(tmp_path))
    summary = [
        (item.source, "doc" if isinstance(item, Document) else item.reason) for item in items
    ]
    assert summary == [
        ("essays/.DS_Store", Reason.HIDDEN),
        ("essays/.git", Reason.HIDDEN),
        ("essays/a.txt", "doc"),
        ("essays/B.txt", "doc"),
        ("essays/notes.xlsx", Reason.UNSUPPORTED_TYPE),
        ("essays/sub/c.txt", "doc"),
        ("essays/Sub2/d.md", "doc"),
        ("essays/Sub2/~$d.docx", Reason.LOCK_FILE),
        ("essays/x.zip/__MACOSX", Reason.HIDDEN),
        ("essays/x.zip/inner.zip", Reason.UNSUPPORTED_TYPE),
        ("essays/x.zip/klass/e.txt", "doc"),
    ]
    skipped = [item for item in items if isinstance(item, FileOutcome)]
    assert all(item.outcome is Outcome.SKIPPED for item in skipped)
    nested = next(item for item in skipped if item.source.endswith("inner.zip"))
    assert "nested archives are not opened" in nested.message


def test_several_paths_come_out_in_the_order_given(tmp_path: Path) -> None:
    first, second = tmp_path / "z.txt", tmp_path / "a.md"
    first.write_text(ESSAYS["utf8"], encoding="utf-8")
    second.write_text(ESSAYS["md"], encoding="utf-8")
    assert [item.source for item in _items(first, second)] == [str(first), str(second)]


def test_a_bad_file_does_not_stop_the_others(tmp_path: Path) -> None:
    folder = tmp_path / "mix"
    folder.mkdir()
    (folder / "1.pdf").write_bytes(b"%PDF-1.7 broken")
    (folder / "2.docx").write_bytes(b"junk")
    (folder / "3.txt").write_text(ESSAYS["utf8"], encoding="utf-8")
    reasons = [getattr(item, "reason", "doc") for item in _items(folder)]
    assert reasons == [Reason.CORRUPT, Reason.CORRUPT, "doc"]


# -- sources: zip archives ----------------------------------------------------------------------


def test_zip_traversal_members_are_refused_while_the_good_one_imports(
    corpus: tuple[Path, dict[str, Expected]],
) -> None:
    root, _ = corpus
    archive = root / "archive.zip"
    items = {item.source: item for item in _items(archive)}
    good = items[f"{archive}/class/good.txt"]
    assert isinstance(good, Document) and good.text == ESSAYS["zip_member"]
    for member in ("../evil.txt", "/etc/evil.txt"):
        assert _outcome(items[f"{archive}/{member}"]) == (Outcome.FAILED, Reason.UNSAFE_ARCHIVE)


def test_windows_style_unsafe_member_names_are_refused(tmp_path: Path) -> None:
    archive = _write_zip(
        tmp_path / "w.zip",
        {"C:/Windows/evil.txt": b"x", "a\\..\\..\\evil.txt": b"y", "ok.txt": b"z" * 60},
    )
    reasons = sorted(str(getattr(item, "reason", "doc")) for item in _items(archive))
    assert reasons == ["doc", "unsafe_archive", "unsafe_archive"]


def test_zip_bomb_is_refused_quickly_without_inflating(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.zip"
    zip_bomb(bomb)
    assert bomb.stat().st_size < 1 * MiB
    started = time.perf_counter()
    item = _one(bomb)
    assert time.perf_counter() - started < 1.0
    assert _outcome(item) == (Outcome.FAILED, Reason.UNSAFE_ARCHIVE)
    assert isinstance(item, FileOutcome)
    assert item.source == str(bomb)
    assert "314,572,800" in item.message and "209,715,200" in item.message

    # Within the total limit, the member's compression ratio gives it away.
    roomy = IntakeLimits(max_archive_total_bytes=1024 * MiB)
    started = time.perf_counter()
    member = _one(bomb, limits=roomy)
    assert time.perf_counter() - started < 1.0
    assert _outcome(member) == (Outcome.FAILED, Reason.UNSAFE_ARCHIVE)
    assert member.source == f"{bomb}/essay.txt"
    assert "zip bomb" in getattr(member, "message", "")


def test_small_repetitive_text_is_not_a_bomb(tmp_path: Path) -> None:
    text = "Ja. " * 200_000  # 800 kB, compresses over 1000:1, but under the 1 MiB floor
    item = _one(_write_zip(tmp_path / "rep.zip", {"rep.txt": text.encode()}))
    assert isinstance(item, Document)


def test_too_many_members_refuse_the_whole_archive(tmp_path: Path) -> None:
    archive = _write_zip(tmp_path / "many.zip", {f"{i}.txt": b"x" for i in range(6)})
    item = _one(archive, limits=IntakeLimits(max_archive_members=5))
    assert _outcome(item) == (Outcome.FAILED, Reason.UNSAFE_ARCHIVE)
    assert "6 files" in getattr(item, "message", "")


def test_member_over_the_size_limit_is_too_large(tmp_path: Path) -> None:
    archive = _write_zip(tmp_path / "big.zip", {"big.txt": b"abc " * 5000, "ok.txt": b"x" * 80})
    items = _items(archive, limits=IntakeLimits(max_file_bytes=10_000))
    assert _outcome(items[0]) == (Outcome.FAILED, Reason.TOO_LARGE)
    assert isinstance(items[1], Document)


def _shrink_declared_size(data: bytes, size: int) -> bytes:
    """Make every header of a one-member zip claim ``size`` uncompressed bytes."""
    out = bytearray(data)
    local = out.index(b"PK\x03\x04")
    struct.pack_into("<I", out, local + 22, size)
    central = out.index(b"PK\x01\x02")
    struct.pack_into("<I", out, central + 24, size)
    return bytes(out)


def test_member_whose_declared_size_lies_is_not_inflated_past_it(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("liar.txt", b"A" * 50_000)
    path = tmp_path / "liar.zip"
    path.write_bytes(_shrink_declared_size(buffer.getvalue(), 100))
    item = _one(path)
    assert _outcome(item) == (Outcome.FAILED, Reason.CORRUPT)


def test_encrypted_member_is_encrypted(tmp_path: Path) -> None:
    path = _write_zip(tmp_path / "locked.zip", {"secret.txt": b"x" * 60})
    data = bytearray(path.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.index(signature) + offset
        data[at] |= 0x01  # the "encrypted" general-purpose flag
    path.write_bytes(bytes(data))
    assert _outcome(_one(path)) == (Outcome.FAILED, Reason.ENCRYPTED)


def test_corrupt_zip_is_one_corrupt_outcome(tmp_path: Path) -> None:
    path = tmp_path / "broken.zip"
    path.write_bytes(b"PK\x03\x04 this archive ends here")
    item = _one(path)
    assert _outcome(item) == (Outcome.FAILED, Reason.CORRUPT)
    assert item.source == str(path)


# -- plain-text decoding ------------------------------------------------------------------------

_LETTERS = st.one_of(
    st.characters(min_codepoint=0x20, max_codepoint=0x7E), st.sampled_from("åäöÅÄÖéüÜ")
)


@given(text=st.text(_LETTERS, min_size=1))
def test_decode_text_round_trips_every_encoding_it_claims(text: str) -> None:
    for encoding in ("utf-8", "utf-8-sig", "utf-16", "utf-16-le", "cp1252"):
        decoded, _ = decode_text(text.encode(encoding))
        assert decoded == text, encoding


def test_essays_in_unreadable_word_processor_formats_fail_with_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "old.doc").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(500))
    (tmp_path / "photo.png").write_bytes(b"\x89PNG" + bytes(100))
    items = {i.source.rsplit("/", 1)[-1]: i for i in iter_documents([tmp_path])}
    doc, png = items["old.doc"], items["photo.png"]
    assert isinstance(doc, FileOutcome) and isinstance(png, FileOutcome)
    assert (doc.outcome, doc.reason) == (Outcome.FAILED, Reason.UNSUPPORTED_TYPE)
    assert "save it as .docx" in doc.message
    assert (png.outcome, png.reason) == (Outcome.SKIPPED, Reason.UNSUPPORTED_TYPE)


def test_utf8_member_names_without_the_utf8_flag_keep_their_letters(tmp_path: Path) -> None:
    archive = tmp_path / "klass.zip"
    text = "Åsa skrev om älgar och öar i skärgården under hela sommaren, varje dag."
    utf8_name = "Åsa Öberg.txt".encode()
    placeholder = b"X" * len(utf8_name)
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr(placeholder.decode(), text.encode("utf-8"))
        z.writestr("Ärlig.txt", (text + " Igen.").encode("utf-8"))  # flagged UTF-8
    # what a tool writing UTF-8 names without the UTF-8 flag produces (zipfile never does)
    archive.write_bytes(archive.read_bytes().replace(placeholder, utf8_name))
    with zipfile.ZipFile(archive) as z:
        assert z.infolist()[0].filename != "Åsa Öberg.txt"  # read as code page 437
    sources = {i.source for i in iter_documents([archive])}
    assert sources == {f"{archive}/Åsa Öberg.txt", f"{archive}/Ärlig.txt"}
