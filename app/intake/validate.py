"""Checks an extracted text must pass to become an essay: length and uniqueness."""

from __future__ import annotations

from app.intake.outcomes import FileOutcome, IntakeLimits, Outcome, Reason
from core.texts import content_hash, normalised_text

__all__ = ["check_length", "content_hash", "normalised_text"]


def check_length(
    source: str, text: str, limits: IntakeLimits, *, fmt: str | None = None
) -> FileOutcome | None:
    """A FAILED outcome when the trimmed text is empty, too short or too long, else ``None``.

    The message follows the form teachers know: ``File 'x.docx' content is too short (minimum:
    50, actual: 12 characters)``.
    """
    n = len(text.strip())
    if n == 0:
        return FileOutcome(
            source,
            Outcome.FAILED,
            Reason.EMPTY,
            f"File '{source}' contains no text.",
            format=fmt,
            characters=0,
        )
    if n < limits.min_chars:
        return FileOutcome(
            source,
            Outcome.FAILED,
            Reason.TOO_SHORT,
            f"File '{source}' content is too short "
            f"(minimum: {limits.min_chars:,}, actual: {n:,} characters).",
            format=fmt,
            characters=n,
        )
    if n > limits.max_chars:
        return FileOutcome(
            source,
            Outcome.FAILED,
            Reason.TOO_LONG,
            f"File '{source}' content is too long "
            f"(maximum: {limits.max_chars:,}, actual: {n:,} characters).",
            format=fmt,
            characters=n,
        )
    return None
