"""Text identity: when two essay texts count as the same essay."""

from __future__ import annotations

import hashlib
import re
import unicodedata

__all__ = ["content_hash", "normalised_text"]

_WHITESPACE = re.compile(r"\s+")


def normalised_text(text: str) -> str:
    """The form two texts are compared in: Unicode NFC, every run of whitespace one space,
    trimmed. Line endings, indentation and trailing blanks therefore never make two copies of one
    essay look different; letters, case and punctuation always do."""
    return _WHITESPACE.sub(" ", unicodedata.normalize("NFC", text)).strip()


def content_hash(text: str) -> str:
    """SHA-256 (hex) of :func:`normalised_text` in UTF-8: the key for duplicate detection and the
    ``content_hash`` column of essays and anchors."""
    return hashlib.sha256(normalised_text(text).encode("utf-8")).hexdigest()
