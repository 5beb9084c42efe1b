"""Decoding plain-text files whose encoding nobody wrote down.

The order of attempts, first that fits wins:

1. a byte-order mark: UTF-8 (``utf-8-sig``), UTF-32 LE/BE, UTF-16 LE/BE;
2. UTF-16 without a mark, recognised by NUL bytes in every other position (text written by
   Windows tools such as Notepad's "Unicode"), at any length: an odd final byte that is padding
   or a line break (a tool appended one) is dropped, any other odd final byte is half a character
   and the file is refused as cut off;
3. strict UTF-8 (pure ASCII is reported as ``ascii``);
4. Windows-1252, the superset of Latin-1 that Swedish Windows exports use; its five undefined
   bytes (0x81, 0x8D, 0x8F, 0x90, 0x9D) fall back to Latin-1 so no byte is ever dropped.

Swedish letters survive every one of these: nothing is decoded with ``errors="ignore"``.

Decoding always succeeds for bytes that are not text at all (a picture or program renamed
``.txt`` is valid Windows-1252), so :func:`not_text_reason` looks at the decoded text: NUL
characters and other control characters, which text does not contain, mean it is not text.
"""

from __future__ import annotations

import codecs
import re

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


_UTF16_PADDING = {"utf-16-le": frozenset(b"\x00\n\r \x1a"), "utf-16-be": frozenset(b"\n\r\x1a")}
"""Odd final bytes that are not half a character: a line break, space or DOS end-of-file mark a
byte-oriented tool appended, NUL padding. In big-endian text a final NUL or space is the first
half of a character (Latin letters, or U+20xx punctuation such as an ellipsis) that was cut off,
so only line breaks and the end-of-file mark count there."""


def _utf16_without_bom(data: bytes) -> str | None:
    """``utf-16-le``/``-be`` when NULs sit in every other byte of mostly-Latin text, else None.
    Looks at the first 4 KB, rounded down to whole two-byte units, so any length qualifies."""
    sample = data[: min(len(data), 4096) // 2 * 2]
    if len(sample) < 2:
        return None
    even_nuls = sample[0::2].count(0)
    odd_nuls = sample[1::2].count(0)
    half = len(sample) // 2
    if odd_nuls > 0.3 * half and even_nuls < 0.05 * half:
        return "utf-16-le"
    if even_nuls > 0.3 * half and odd_nuls < 0.05 * half:
        return "utf-16-be"
    return None


def _decode_utf16_without_bom(data: bytes, encoding: str) -> str:
    if len(data) % 2:
        if data[-1] not in _UTF16_PADDING[encoding]:
            raise UnicodeDecodeError(
                encoding,
                data,
                len(data) - 1,
                len(data),
                "it ends in half a character, so the file looks cut off",
            )
        data = data[:-1]
    return data.decode(encoding)


def decode_text(data: bytes) -> tuple[str, str]:
    """Decode ``data`` and return ``(text, encoding name)``; never loses a byte silently.

    Raises :class:`UnicodeDecodeError` only for data that claims a BOM or has the shape of
    UTF-16 and is broken (half a character at the end, say); callers report that as a corrupt
    file.
    """
    for bom, name in _BOMS:
        if data.startswith(bom):
            # utf-32 before utf-16: the UTF-32 LE mark begins with the UTF-16 LE mark.
            return data.decode(name), "utf-8-sig" if name == "utf-8-sig" else _bom_name(bom)
    guessed = _utf16_without_bom(data)
    if guessed is not None:
        return _decode_utf16_without_bom(data, guessed), guessed
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        return text, "ascii" if text.isascii() else "utf-8"
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        # Bytes undefined in Windows-1252: decode byte by byte, Latin-1 for the undefined ones.
        return "".join(_cp1252_or_latin1(b) for b in data), "cp1252"


def _cp1252_or_latin1(byte: int) -> str:
    single = bytes([byte])
    try:
        return single.decode("cp1252")
    except UnicodeDecodeError:
        return single.decode("latin-1")


def _bom_name(bom: bytes) -> str:
    return {
        codecs.BOM_UTF32_LE: "utf-32-le",
        codecs.BOM_UTF32_BE: "utf-32-be",
        codecs.BOM_UTF16_LE: "utf-16-le",
        codecs.BOM_UTF16_BE: "utf-16-be",
    }.get(bom, "utf-8-sig")


_CONTROLS = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")
"""Unicode category Cc (U+0000-U+001F, U+007F-U+009F) except the control characters plain text
does contain: tab, line breaks, vertical tab (a line break in some Word exports) and form feed
(a page break)."""

_PADDING = "\x00\x1a"
"""Trailing NULs (padding) and the DOS end-of-file mark, ignored at the end of a file."""

MAX_CONTROL_SHARE = 0.005
"""Share of control characters above which decoded bytes are not text (a binary file decoded
as Windows-1252 has 10-15 %; a real essay none, or a stray one or two)."""

MAX_NULS = 2
"""NUL characters tolerated inside a text (a stray one is dropped by normalisation)."""


def not_text_reason(text: str) -> str | None:
    """Why the decoded ``text`` is not text, as a sentence for a teacher, or None when it is.

    Counts NUL characters and other control characters (Unicode category Cc except tab, line
    breaks, vertical tab and form feed), ignoring NUL padding and an end-of-file mark at the end.
    More than :data:`MAX_NULS` NULs, or more than two control characters making up over
    :data:`MAX_CONTROL_SHARE` of the text, mean the bytes were a picture, program, archive or
    document in another format, or text in an encoding that was not recognised.
    """
    body = text.rstrip(_PADDING)
    if not body:
        return None
    nuls = body.count("\x00")
    controls = len(body) - len(_CONTROLS.sub("", body))
    if nuls <= MAX_NULS and (controls <= 2 or controls <= MAX_CONTROL_SHARE * len(body)):
        return None
    what = f"{nuls:,} NUL bytes" if nuls > MAX_NULS else f"{controls / len(body):.0%} control codes"
    return (
        f"this is not a text file ({what}, which text never has): it is probably a picture, "
        "a program or a document in another format that was renamed; open the essay in a word "
        "processor, save it as .docx or plain text (UTF-8) and import that"
    )
