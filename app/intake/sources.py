"""Finding the essay files a teacher pointed at: single files, folders and zip archives.

:func:`iter_documents` walks what it is given and yields, for every file it meets, exactly one
item: a :class:`Document` with the extracted text, or a :class:`~app.intake.outcomes.FileOutcome`
saying why the file was skipped or failed. A bad file never stops the others and nothing raises
for one. Whether a text is long enough, too long or a duplicate is decided by the caller.
:func:`iter_entries` is the same walk one step earlier: a :class:`FileEntry` per file, read
only when asked, so an import can count the files first (:func:`count_files`) and stop between
two files.

Sizes are checked before anything is read: files larger than the limit are refused from their
size alone, and zip archives are refused when their declared sizes, member count or compression
ratio look like a zip bomb. Reading is bounded again by counting bytes, because declared sizes can
lie. Member paths that would escape the archive (absolute, drive letter, ``..``) are refused.

Everything here is synchronous and free of side effects; the GUI runs it in a worker thread.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import zipfile
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path, PurePosixPath
from typing import IO

from app.intake.outcomes import FileOutcome, IntakeLimits, Outcome, Reason
from app.intake.readers import SUPPORTED_SUFFIXES, ExtractionError, extract

ARCHIVE_SUFFIX = ".zip"
_CHUNK = 64 * 1024
_RATIO_FLOOR = 1024 * 1024
"""Members up to this size are never judged by compression ratio: short, repetitive text
compresses very well and is harmless."""
_DRIVE = re.compile(r"^[A-Za-z]:")
_MAC_METADATA = "__MACOSX"
DEFAULT_LIMITS = IntakeLimits()


@dataclass(frozen=True)
class Document:
    """A file that was read and whose text was extracted. ``source`` is the path as shown to the
    user (``essays/sub/a.txt``, ``essays/batch.zip/class/a.docx``); ``size_bytes`` the file's
    size (uncompressed, for archive members)."""

    source: str
    text: str
    format: str
    encoding: str | None
    size_bytes: int
    name_note: str | None = None
    """A sentence about the file's name when it is not valid UTF-8 (its raw bytes), else None."""


@dataclass(frozen=True)
class FileEntry:
    """One file found under the given paths, before it is read.

    ``decided`` is its outcome when that is known without reading it (skipped by name, too
    large, an unsafe archive member, ...); otherwise :meth:`read` reads and extracts it. An
    archive member can only be read while the walk that found it is still inside the archive:
    call :meth:`read` before taking the next entry. Entries that are never read cost nothing
    beyond the walk (which is how :func:`count_files` counts).
    """

    source: str
    decided: FileOutcome | None = None
    reader: Callable[[], Document | FileOutcome] | None = None
    name_note: str | None = None
    """See :attr:`Document.name_note`; added to the outcome's message."""

    def read(self) -> Document | FileOutcome:
        """The file's document or outcome. Whatever goes wrong inside a reader ends as a FAILED
        outcome naming the file and the cause: nothing raises for one file."""
        if self.decided is not None:
            return self.decided
        assert self.reader is not None
        try:
            item = self.reader()
        except Exception as exc:  # a reader's fault must not stop the files after this one
            item = internal_failure(self.source, exc, "reading it")
            return noted(item, self.name_note)
        if isinstance(item, Document):
            return replace(item, name_note=self.name_note) if self.name_note else item
        return noted(item, self.name_note)


def internal_failure(source: str, exc: BaseException, doing: str) -> FileOutcome:
    """A FAILED outcome for an exception nobody foresaw while ``doing`` something with a file:
    the file and the cause are named, the other files go on."""
    cause = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return FileOutcome(
        source,
        Outcome.FAILED,
        Reason.INTERNAL,
        f"File '{source}' failed while {doing} ({cause}); the other files were not affected",
        format=_format_of(source),
    )


def noted(outcome: FileOutcome, note: str | None) -> FileOutcome:
    """``outcome`` with ``note`` (about its name) added to its message."""
    if not note:
        return outcome
    return replace(outcome, message=f"{outcome.message} {note}".strip())


def shown_path(raw: str) -> tuple[str, str | None]:
    """A path as it can be shown and stored, and a note keeping its raw bytes when it differs.

    Names that are not valid UTF-8 come from the operating system with their bad bytes as lone
    surrogates (``'\\udce4'``), which no database or terminal takes: they are shown with the
    replacement character instead, and the note names the original bytes for the record.
    """
    try:
        raw.encode("utf-8")
    except UnicodeEncodeError:
        pass
    else:
        return raw, None
    data = raw.encode("utf-8", "surrogateescape") if _only_escapes(raw) else None
    if data is None:
        data = raw.encode("utf-8", "surrogatepass")
    shown = data.decode("utf-8", "replace")
    note = (
        f"Its name is not valid UTF-8, so it is shown with replacement characters (\ufffd); "
        f"the name's bytes are {data!r}."
    )
    return shown, note


def _only_escapes(text: str) -> bool:
    """True when every surrogate in ``text`` is one ``surrogateescape`` made (U+DC80..U+DCFF)."""
    return all(not 0xD800 <= ord(c) <= 0xDFFF or 0xDC80 <= ord(c) <= 0xDCFF for c in text)


def storable_text(text: str) -> str:
    """``text`` as valid Unicode: surrogate pairs some readers leave (RTF's ``\\u`` escapes of
    an emoji) joined into the character they encode, lone surrogates replaced by U+FFFD."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text


def _decided(outcome: FileOutcome) -> FileEntry:
    return FileEntry(outcome.source, decided=outcome)


def iter_documents(
    paths: Sequence[Path], limits: IntakeLimits = DEFAULT_LIMITS
) -> Iterator[Document | FileOutcome]:
    """Yield one :class:`Document` or :class:`FileOutcome` per file found under ``paths``.

    A path may be a file, a folder (walked recursively, entries sorted case-insensitively) or a
    ``.zip`` archive (its members are read, never written to disk). Items come out in the order
    of ``paths``, then of the walk.
    """
    for entry in iter_entries(paths, limits):
        yield entry.read()


def iter_entries(
    paths: Sequence[Path], limits: IntakeLimits = DEFAULT_LIMITS
) -> Generator[FileEntry, None, None]:
    """The files :func:`iter_documents` would read, one :class:`FileEntry` each, in the same
    order, without reading them (archives are opened to list their members)."""
    for path in paths:
        yield from _iter_given(Path(path), limits)


def count_files(paths: Sequence[Path], limits: IntakeLimits = DEFAULT_LIMITS) -> int:
    """How many items :func:`iter_documents` will yield for ``paths``: a walk without reading.

    Exact unless the files change in between, or an archive expands beyond what it declared
    (then it yields fewer).
    """
    return sum(1 for _ in iter_entries(paths, limits))


def _iter_given(path: Path, limits: IntakeLimits) -> Iterator[FileEntry]:
    """One path as given by the user: its name is shown exactly as given (made valid UTF-8)."""
    source, note = shown_path(str(path))
    try:
        is_dir = path.is_dir()
        exists = is_dir or path.exists()
        broken = not exists and path.is_symlink()
    except OSError as exc:
        yield _decided(noted(_unreadable(source, exc), note))
        return
    if broken:
        yield _decided(noted(_broken_link(source, path), note))
    elif not exists:
        message = f"File or folder '{source}' does not exist"
        yield _decided(noted(FileOutcome(source, Outcome.FAILED, Reason.NOT_FOUND, message), note))
    elif is_dir:
        root_name = path.name or path.resolve().name or str(path)
        yield from _iter_folder(path, root_name, limits)
    else:
        for entry in _iter_file(path, source, limits):
            yield _with_note(entry, note)


def _with_note(entry: FileEntry, note: str | None) -> FileEntry:
    if note is None:
        return entry
    decided = noted(entry.decided, note) if entry.decided is not None else None
    return replace(entry, decided=decided, name_note=note)


# -- folders ------------------------------------------------------------------------------------


@dataclass
class _Level:
    """A folder being walked: its path as shown (raw, maybe with surrogates), its real path,
    and its entries still to walk."""

    raw_source: str
    real: Path
    entries: Iterator[os.DirEntry[str]]


def _iter_folder(folder: Path, root_name: str, limits: IntakeLimits) -> Iterator[FileEntry]:
    """Walk ``folder`` depth-first in case-insensitive name order, without recursion (however
    deep the folders go). Hidden sub-folders are one skipped outcome each and are not entered.
    Symbolic links are followed only while they stay inside ``folder``: one leading out of it
    is skipped and listed, one to a folder enclosing it (a loop) too, and a broken one is
    named as a broken link."""
    try:
        root = folder.resolve()
    except (OSError, RuntimeError) as exc:
        shown, note = shown_path(root_name)
        yield _decided(noted(_unreadable(shown, _as_os_error(exc), kind="Folder"), note))
        return
    opened = _open_level(folder, root_name, root)
    if isinstance(opened, FileOutcome):
        yield _decided(opened)
        return
    stack = [opened]
    while stack:
        level = stack[-1]
        entry = next(level.entries, None)
        if entry is None:
            stack.pop()
            continue
        raw_child = f"{level.raw_source}/{entry.name}"
        child, note = shown_path(raw_child)
        is_link = False
        try:
            is_link = entry.is_symlink()
            target = Path(entry.path).resolve() if is_link else level.real / entry.name
            exists = not is_link or target.exists()
            is_dir = exists and entry.is_dir()
        except (OSError, RuntimeError) as exc:  # RuntimeError: a link loop (Python < 3.13)
            if is_link:
                yield _decided(noted(_broken_link(child, Path(entry.path)), note))
            else:
                yield _decided(noted(_unreadable(child, _as_os_error(exc)), note))
            continue
        if is_link and not exists:
            yield _decided(noted(_broken_link(child, Path(entry.path)), note))
        elif is_link and not target.is_relative_to(root):
            yield _decided(noted(_outside_link(child, target, root_name, is_dir), note))
        elif not is_dir:
            for item in _iter_file(Path(entry.path), child, limits):
                yield _with_note(item, note)
        elif entry.name.startswith("."):
            yield _decided(noted(_hidden_folder(child), note))
        elif any(target == above.real for above in stack):
            yield _decided(noted(_link_loop(child, target), note))
        else:
            sub = _open_level(Path(entry.path), raw_child, target)
            if isinstance(sub, FileOutcome):
                yield _decided(sub)
            else:
                stack.append(sub)


def _open_level(folder: Path, raw_source: str, real: Path) -> _Level | FileOutcome:
    """The sorted entries of one folder, or an outcome when it cannot be listed."""
    try:
        with os.scandir(folder) as scan:
            entries = sorted(scan, key=lambda entry: (entry.name.casefold(), entry.name))
    except OSError as exc:
        shown, note = shown_path(raw_source)
        return noted(_unreadable(shown, exc, kind="Folder"), note)
    return _Level(raw_source, real, iter(entries))


def _as_os_error(exc: BaseException) -> OSError:
    return exc if isinstance(exc, OSError) else OSError(str(exc))


def _broken_link(source: str, link: Path) -> FileOutcome:
    try:
        target, _ = shown_path(os.readlink(link))
        to = f" to '{target}'"
    except OSError:
        to = ""
    message = (
        f"'{source}' is a broken symbolic link: it points{to}, which does not exist (or leads "
        "back to itself); nothing was read"
    )
    return FileOutcome(
        source, Outcome.FAILED, Reason.BROKEN_LINK, message, format=_format_of(source)
    )


def _outside_link(source: str, target: Path, root_name: str, is_dir: bool) -> FileOutcome:
    shown, _ = shown_path(str(target))
    kind = "folder" if is_dir else "file"
    message = (
        f"'{source}' is a symbolic link to the {kind} '{shown}', outside the chosen folder "
        f"'{shown_path(root_name)[0]}'; skipped (links are followed only inside the folder; "
        "choose that place itself to import it)"
    )
    fmt = None if is_dir else _format_of(source)
    return FileOutcome(source, Outcome.SKIPPED, Reason.OUTSIDE_FOLDER, message, format=fmt)


def _link_loop(source: str, target: Path) -> FileOutcome:
    shown, _ = shown_path(str(target))
    message = (
        f"Folder '{source}' is a symbolic link to '{shown}', a folder it lies in; skipped (it "
        "would repeat the same files without end)"
    )
    return FileOutcome(source, Outcome.SKIPPED, Reason.LINK_LOOP, message)


# -- single files -------------------------------------------------------------------------------


def _iter_file(path: Path, source: str, limits: IntakeLimits) -> Iterator[FileEntry]:
    """A file on disk: skipped by name, refused by size, an archive, or a file to read."""
    skipped = _skip_by_name(path.name, source, in_archive=False)
    if skipped is not None:
        yield _decided(skipped)
        return
    fmt = _format_of(path.name)
    try:
        info = path.stat()
    except OSError as exc:
        yield _decided(_unreadable(source, exc, fmt=fmt))
        return
    if not stat.S_ISREG(info.st_mode):
        yield _decided(
            FileOutcome(
                source,
                Outcome.FAILED,
                Reason.UNREADABLE,
                f"File '{source}' is not a regular file (a device, pipe or socket); it was not "
                "read",
                format=fmt,
            )
        )
        return
    if path.suffix.lower() == ARCHIVE_SUFFIX:
        yield from _iter_archive(path, source, limits)
        return
    if info.st_size > limits.max_file_bytes:
        yield _decided(_too_large(source, info.st_size, limits, fmt))
        return
    yield FileEntry(source, reader=partial(_read_file, path, source, limits, info.st_size))


def _read_file(path: Path, source: str, limits: IntakeLimits, size: int) -> Document | FileOutcome:
    """Read a file of at most the size limit and extract its text."""
    fmt = _format_of(path.name)
    try:
        with path.open("rb") as stream:
            data = _read_limited(stream, limits.max_file_bytes)
    except OSError as exc:
        return _unreadable(source, exc, fmt=fmt, size=size)
    if data is None:  # it grew past the limit since stat()
        return _too_large(source, limits.max_file_bytes + 1, limits, fmt, while_reading=True)
    return _extract(source, path.name, data, limits.max_chars)


def _read_limited(stream: IO[bytes], limit: int) -> bytes | None:
    """Read ``stream`` in chunks; None as soon as more than ``limit`` bytes have come out."""
    chunks: list[bytes] = []
    total = 0
    while chunk := stream.read(_CHUNK):
        total += len(chunk)
        if total > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _extract(
    source: str, name: str, data: bytes, max_chars: int | None = None
) -> Document | FileOutcome:
    """Extract the text of ``data`` (documents that expand are read only until their text
    passes ``max_chars``); a reader's refusal, or any other exception it raises, becomes a
    FAILED outcome naming the file."""
    try:
        extracted = extract(name, data, max_chars=max_chars)
    except ExtractionError as exc:
        return FileOutcome(
            source,
            Outcome.FAILED,
            exc.reason,
            f"File '{source}': {exc.detail}",
            format=_format_of(name),
            size_bytes=len(data),
        )
    except Exception as exc:  # a reader's own fault: this file fails, the others go on
        return replace(internal_failure(source, exc, "reading it"), size_bytes=len(data))
    return Document(
        source=source,
        text=storable_text(extracted.text),
        format=extracted.format,
        encoding=extracted.encoding,
        size_bytes=len(data),
    )


# -- zip archives -------------------------------------------------------------------------------


def _iter_archive(path: Path, source: str, limits: IntakeLimits) -> Iterator[FileEntry]:
    """The members of the zip archive at ``path``, or one outcome for the whole archive when it
    cannot be opened or is too big as a whole. The archive's own size is not limited by
    ``max_file_bytes``: only what it expands to counts."""
    try:
        stream = path.open("rb")
    except OSError as exc:
        yield _decided(_unreadable(source, exc, fmt="zip"))
        return
    with stream:
        try:
            archive = zipfile.ZipFile(stream)
        except Exception:  # BadZipFile, but also EOFError/ValueError/OSError on mangled headers
            yield _decided(
                FileOutcome(
                    source,
                    Outcome.FAILED,
                    Reason.CORRUPT,
                    f"Archive '{source}' is not a valid zip file (it does not open as an archive)",
                    format="zip",
                )
            )
            return
        with archive:
            yield from _iter_members(archive, source, limits)


@dataclass
class _Expansion:
    """What the members of one archive read so far expanded to."""

    bytes: int = 0
    overflowed: bool = False


def _iter_members(
    archive: zipfile.ZipFile, source: str, limits: IntakeLimits
) -> Iterator[FileEntry]:
    """Check the archive as a whole, then each member in case-insensitive path order."""
    members = [info for info in archive.infolist() if not info.is_dir()]
    refused = _refuse_archive(members, source, limits)
    if refused is not None:
        yield _decided(refused)
        return
    hidden_reported: set[str] = set()
    expansion = _Expansion()
    for info in sorted(members, key=_member_sort_key):
        member = member_name(info)
        member_source = f"{source}/{member}"
        if _is_unsafe_member(member):
            yield _decided(_unsafe_member(member_source, info))
            continue
        parts = PurePosixPath(member).parts
        hidden = _hidden_member_folder(parts)
        if hidden is not None:
            if hidden not in hidden_reported:
                hidden_reported.add(hidden)
                yield _decided(_hidden_folder(f"{source}/{hidden}"))
            continue
        checked = _check_member(info, member_source, parts[-1], limits)
        if checked is not None:
            yield _decided(checked)
            continue
        yield FileEntry(
            member_source,
            reader=partial(
                _read_counted, archive, info, member_source, parts[-1], limits, source, expansion
            ),
        )
        if expansion.overflowed:
            return


def _read_counted(
    archive: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    member_source: str,
    name: str,
    limits: IntakeLimits,
    source: str,
    expansion: _Expansion,
) -> Document | FileOutcome:
    """Read a member, counting what the archive expanded to; past the archive's limit the
    archive's overflow outcome replaces the member (and the walk leaves the archive)."""
    item = _read_member(archive, info, member_source, name, limits)
    if isinstance(item, Document):
        expansion.bytes += item.size_bytes
        if expansion.bytes > limits.max_archive_total_bytes:
            expansion.overflowed = True
            return _archive_overflow(source, expansion.bytes, limits)
    return item


_ZIP_UTF8_FLAG = 0x800


def member_name(info: zipfile.ZipInfo) -> str:
    """The member's path with ``/`` separators, its name decoded as the archiver meant it.

    Names without the zip UTF-8 flag are read by :mod:`zipfile` as code page 437 (right for
    older Windows archives, whose OEM code page puts å, ä, ö where 437 does). Many tools write
    UTF-8 without setting the flag, which 437 turns into ``Ã¥``-like noise: such names are
    decoded again as UTF-8 when they are valid UTF-8.
    """
    name = info.filename
    if not info.flag_bits & _ZIP_UTF8_FLAG and not name.isascii():
        with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
            name = name.encode("cp437").decode("utf-8")
    return name.replace("\\", "/")


def _member_sort_key(info: zipfile.ZipInfo) -> tuple[tuple[str, ...], str]:
    """Case-insensitive path order, the same order a folder walk uses."""
    parts = member_name(info).split("/")
    return tuple(part.casefold() for part in parts), info.filename


def _refuse_archive(
    members: list[zipfile.ZipInfo], source: str, limits: IntakeLimits
) -> FileOutcome | None:
    """One FAILED outcome when the archive has too many members or expands too far, else None."""
    if len(members) > limits.max_archive_members:
        message = (
            f"Archive '{source}' holds {len(members):,} files; the limit is "
            f"{limits.max_archive_members:,} files per archive, so nothing in it was imported"
        )
        return FileOutcome(source, Outcome.FAILED, Reason.UNSAFE_ARCHIVE, message, format="zip")
    declared = sum(info.file_size for info in members)
    if declared > limits.max_archive_total_bytes:
        message = (
            f"Archive '{source}' would expand to {declared:,} bytes; the limit is "
            f"{limits.max_archive_total_bytes:,} bytes, so nothing in it was imported"
        )
        return FileOutcome(source, Outcome.FAILED, Reason.UNSAFE_ARCHIVE, message, format="zip")
    return None


def _is_unsafe_member(member: str) -> bool:
    """True for a member path that is absolute, names a drive, or climbs out with ``..``."""
    return member.startswith("/") or bool(_DRIVE.match(member)) or ".." in member.split("/")


def _hidden_member_folder(parts: tuple[str, ...]) -> str | None:
    """The first hidden folder (dot name or ``__MACOSX``) on a member's path, or None."""
    for index, part in enumerate(parts[:-1]):
        if part.startswith(".") or part == _MAC_METADATA:
            return "/".join(parts[: index + 1])
    return None


def _check_member(
    info: zipfile.ZipInfo, source: str, name: str, limits: IntakeLimits
) -> FileOutcome | None:
    """An outcome for a member that must not be read (by name, encryption, ratio or declared
    size), or None when it may be read."""
    skipped = _skip_by_name(name, source, in_archive=True)
    if skipped is not None:
        return skipped
    fmt = _format_of(name)
    if info.flag_bits & 0x1:
        return FileOutcome(
            source,
            Outcome.FAILED,
            Reason.ENCRYPTED,
            f"File '{source}' is password-protected inside the archive; extract it with the "
            "password and import the file itself",
            format=fmt,
            size_bytes=info.file_size,
        )
    if _looks_like_bomb(info, limits):
        ratio = info.file_size / info.compress_size if info.compress_size else float("inf")
        return FileOutcome(
            source,
            Outcome.FAILED,
            Reason.UNSAFE_ARCHIVE,
            f"File '{source}' expands from {info.compress_size:,} to {info.file_size:,} bytes "
            f"(ratio {ratio:,.0f}:1, the limit is {limits.max_compression_ratio:,.0f}:1); "
            "it looks like a zip bomb and was not opened",
            format=fmt,
            size_bytes=info.file_size,
        )
    if info.file_size > limits.max_file_bytes:
        return _too_large(source, info.file_size, limits, fmt)
    return None


def _looks_like_bomb(info: zipfile.ZipInfo, limits: IntakeLimits) -> bool:
    """A member over 1 MiB that claims to be compressed beyond the allowed ratio (or from
    nothing at all)."""
    if info.file_size <= _RATIO_FLOOR:
        return False
    if info.compress_size <= 0:
        return True
    return info.file_size / info.compress_size > limits.max_compression_ratio


def _read_member(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, source: str, name: str, limits: IntakeLimits
) -> Document | FileOutcome:
    """Inflate one member, stopping as soon as it grows past the size limit, and extract it."""
    fmt = _format_of(name)
    try:
        with archive.open(info) as stream:
            data = _read_limited(stream, limits.max_file_bytes)
    except NotImplementedError:
        detail = "is compressed with a method that cannot be read; re-create the archive"
        return _damaged_member(source, detail, info, fmt)
    except OSError as exc:
        return _unreadable(source, exc, fmt=fmt, size=info.file_size)
    except Exception:  # BadZipFile (bad CRC, bad header), zlib.error, EOFError
        return _damaged_member(source, "is damaged inside the archive", info, fmt)
    if data is None:
        return _too_large(source, limits.max_file_bytes + 1, limits, fmt, while_reading=True)
    return _extract(source, name, data, limits.max_chars)


def _damaged_member(
    source: str, detail: str, info: zipfile.ZipInfo, fmt: str | None
) -> FileOutcome:
    return FileOutcome(
        source,
        Outcome.FAILED,
        Reason.CORRUPT,
        f"File '{source}' {detail}",
        format=fmt,
        size_bytes=info.file_size,
    )


def _unsafe_member(source: str, info: zipfile.ZipInfo) -> FileOutcome:
    return FileOutcome(
        source,
        Outcome.FAILED,
        Reason.UNSAFE_ARCHIVE,
        f"File '{source}' has an unsafe path inside the archive (absolute, with a drive letter "
        "or with '..'); it was not extracted",
        format=_format_of(info.filename),
        size_bytes=info.file_size,
    )


def _archive_overflow(source: str, expanded: int, limits: IntakeLimits) -> FileOutcome:
    return FileOutcome(
        source,
        Outcome.FAILED,
        Reason.UNSAFE_ARCHIVE,
        f"Archive '{source}' expanded to more than {limits.max_archive_total_bytes:,} bytes "
        f"while reading ({expanded:,} bytes so far, more than it declared); the rest of it "
        "was not imported",
        format="zip",
    )


_UNREADABLE_DOCUMENTS = {
    ".doc": "an old-format Word document, which is not read; open it in Word and save it as .docx",
    ".pages": "a Pages document, which is not read; export it as .docx or PDF",
    ".wps": "a Works document, which is not read; save it as .docx",
    ".wpd": "a WordPerfect document, which is not read; save it as .docx",
}
"""Essays in word-processor formats intake cannot read: these fail (with what to do) rather
than being skipped like photos or spreadsheets."""


# -- outcomes shared by files and members -------------------------------------------------------


def _skip_by_name(name: str, source: str, *, in_archive: bool) -> FileOutcome | None:
    """SKIPPED for lock files, hidden files, nested archives and unsupported types."""
    fmt = _format_of(name)
    suffix = Path(name).suffix.lower()
    if name.startswith("~$"):
        message = f"File '{source}' is an Office lock file, not an essay; skipped"
        return FileOutcome(source, Outcome.SKIPPED, Reason.LOCK_FILE, message, format=fmt)
    if name.startswith("."):
        message = f"File '{source}' is hidden (its name starts with a dot); skipped"
        return FileOutcome(source, Outcome.SKIPPED, Reason.HIDDEN, message, format=fmt)
    if suffix == ARCHIVE_SUFFIX and in_archive:
        message = f"File '{source}' is an archive inside an archive; nested archives are not opened"
        return FileOutcome(source, Outcome.SKIPPED, Reason.UNSUPPORTED_TYPE, message, format=fmt)
    if suffix in _UNREADABLE_DOCUMENTS:
        # an essay in a format we cannot read: failed, so nobody overlooks it
        message = f"File '{source}' is {_UNREADABLE_DOCUMENTS[suffix]}"
        return FileOutcome(source, Outcome.FAILED, Reason.UNSUPPORTED_TYPE, message, format=fmt)
    if suffix not in SUPPORTED_SUFFIXES and suffix != ARCHIVE_SUFFIX:
        kind = f"'{suffix}' files are" if suffix else "files without a suffix are"
        supported = ", ".join(sorted(SUPPORTED_SUFFIXES))
        message = (
            f"File '{source}' skipped: {kind} not read; supported types are {supported} "
            f"and {ARCHIVE_SUFFIX} archives"
        )
        return FileOutcome(source, Outcome.SKIPPED, Reason.UNSUPPORTED_TYPE, message, format=fmt)
    return None


def _hidden_folder(source: str) -> FileOutcome:
    if PurePosixPath(source).name == _MAC_METADATA:
        why = "holds macOS metadata, not essays"
    else:
        why = "is hidden (its name starts with a dot)"
    message = f"Folder '{source}' {why}; skipped with everything in it"
    return FileOutcome(source, Outcome.SKIPPED, Reason.HIDDEN, message)


def _too_large(
    source: str, size: int, limits: IntakeLimits, fmt: str | None, *, while_reading: bool = False
) -> FileOutcome:
    if while_reading:
        message = (
            f"File '{source}' is larger than the limit of {limits.max_file_bytes:,} bytes "
            "(found while reading it; reading stopped there)"
        )
    else:
        message = f"File '{source}' is {size:,} bytes; the limit is {limits.max_file_bytes:,} bytes"
    return FileOutcome(
        source, Outcome.FAILED, Reason.TOO_LARGE, message, format=fmt, size_bytes=size
    )


def _unreadable(
    source: str,
    exc: OSError,
    *,
    kind: str = "File",
    fmt: str | None = None,
    size: int | None = None,
) -> FileOutcome:
    if isinstance(exc, FileNotFoundError):
        message = f"{kind} '{source}' does not exist (it disappeared while importing)"
        return FileOutcome(
            source, Outcome.FAILED, Reason.NOT_FOUND, message, format=fmt, size_bytes=size
        )
    why = exc.strerror or str(exc) or type(exc).__name__
    message = f"{kind} '{source}' could not be read: {why}"
    return FileOutcome(
        source, Outcome.FAILED, Reason.UNREADABLE, message, format=fmt, size_bytes=size
    )


def _format_of(name: str) -> str | None:
    """The suffix of ``name`` without the dot, lower case, or None when it has none."""
    suffix = PurePosixPath(name.replace("\\", "/")).suffix.lower()
    return suffix[1:] or None
