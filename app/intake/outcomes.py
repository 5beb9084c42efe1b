"""What happened to each file or row that was offered for import.

Every file offered to intake ends in exactly one :class:`FileOutcome`: imported, skipped (with
why) or failed (with why, naming the file and the numbers). Nothing is dropped silently.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any


class Outcome(StrEnum):
    """The three ends of a file's (or roster row's) journey through intake."""

    IMPORTED = "imported"
    SKIPPED = "skipped"
    FAILED = "failed"


class Reason(StrEnum):
    """Why a file was skipped or failed (stable codes for tables, JSON and tests)."""

    # skipped: not an essay, or already there
    LOCK_FILE = "lock_file"
    """An office lock file such as ``~$essay.docx``."""
    HIDDEN = "hidden"
    """A hidden file or folder (name starting with a dot), e.g. ``.DS_Store``."""
    UNSUPPORTED_TYPE = "unsupported_type"
    """A file type intake does not read (e.g. ``.jpg``)."""
    DUPLICATE = "duplicate"
    """Same normalised text as another essay of this import or of the batch."""
    # failed: meant as an essay, but unusable
    NOT_FOUND = "not_found"
    UNREADABLE = "unreadable"
    """The operating system refused to read it (permissions, I/O error)."""
    TOO_LARGE = "too_large"
    """The file is bigger than the size limit; refused without reading it whole."""
    CORRUPT = "corrupt"
    """The file does not parse as the format its name claims (e.g. junk renamed .docx)."""
    ENCRYPTED = "encrypted"
    """A password-protected document."""
    NO_TEXT = "no_text"
    """A document without a text layer (e.g. a scanned, image-only PDF); there is no OCR."""
    EMPTY = "empty"
    """Nothing but whitespace."""
    TOO_SHORT = "too_short"
    TOO_LONG = "too_long"
    UNSAFE_ARCHIVE = "unsafe_archive"
    """A zip member with an unsafe path (``../``, absolute) or a zip bomb."""
    OUTSIDE_FOLDER = "outside_folder"
    """A symbolic link in a chosen folder that points outside it (skipped, not followed)."""
    LINK_LOOP = "link_loop"
    """A symbolic link to a folder that encloses it (skipped: it would never end)."""
    BROKEN_LINK = "broken_link"
    """A symbolic link whose target does not exist."""
    INTERNAL = "internal"
    """Reading or storing the file failed in a way intake did not foresee; the message names
    the cause, and the other files went on."""
    NO_GRADE = "no_grade"
    """An anchor file whose grade is neither in its name nor in the mapping file."""
    BAD_GRADE = "bad_grade"
    """An anchor grade that is not an anchor grade of the assignment's scale."""


@dataclass(frozen=True)
class FileOutcome:
    """One file's end. ``source`` is the path as shown to the user (members of an archive as
    ``archive.zip/inner/path.txt``); ``message`` is one sentence naming the file and any numbers.
    """

    source: str
    outcome: Outcome
    reason: Reason | None = None
    message: str = ""
    format: str | None = None
    encoding: str | None = None
    size_bytes: int | None = None
    characters: int | None = None
    essay_id: str | None = None
    duplicate_of: str | None = None
    grade: str | None = None
    """For anchors: the grade read from the file name or the mapping file."""

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.IMPORTED

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["outcome"] = self.outcome.value
        data["reason"] = self.reason.value if self.reason else None
        return data


@dataclass(frozen=True)
class IntakeLimits:
    """Configurable limits on what counts as an essay file.

    Text length is counted in characters after trimming surrounding whitespace. Files larger than
    ``max_file_bytes`` are refused from their size alone, never read whole. Archives are refused
    when they hold more than ``max_archive_members`` files, would expand beyond
    ``max_archive_total_bytes``, or have a member whose compression ratio exceeds
    ``max_compression_ratio`` (sizes are checked while reading, not only as declared).
    """

    min_chars: int = 50
    max_chars: int = 50_000
    max_file_bytes: int = 20 * 1024 * 1024
    max_archive_members: int = 2_000
    max_archive_total_bytes: int = 200 * 1024 * 1024
    max_compression_ratio: float = 200.0

    def __post_init__(self) -> None:
        if not 0 <= self.min_chars <= self.max_chars:
            raise ValueError(
                f"text limits must satisfy 0 <= min <= max, got {self.min_chars}..{self.max_chars}"
            )
        if self.max_file_bytes <= 0 or self.max_archive_total_bytes <= 0:
            raise ValueError("size limits must be positive")
