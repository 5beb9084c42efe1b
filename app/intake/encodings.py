"""Decoding plain-text files whose encoding nobody wrote down.

The order of attempts, first that fits wins:

1. a byte-order mark: UTF-8 (``utf-8-sig``), UTF-32 LE/BE, UTF-16 LE/BE;
2. UTF-16 without a mark, recognised by NUL bytes in every other position (text written by
   Windows tools such as Notepad's "Unicode");
3. strict UTF-8 (pure ASCII is reported as ``ascii``);
4. Windows-1252, the superset of Latin-1 that Swedish Windows exports use; its five undefined
   bytes (0x81, 0x8D, 0x8F, 0x90, 0x9D) fall back to Latin-1 so no byte is ever dropped.

Swedish letters survive every one of these: nothing is decoded with ``errors="ignore"``.
"""

from __future__ import annotations

import codecs

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def _utf16_without_bom(data: bytes) -> str | None:
    """``utf-16-le``/``-be`` when NULs sit in every other byte of mostly-Latin text, else None."""
    sample = data[:4096]
    if len(sample) < 2 or len(sample) % 2:
        return None
    even_nuls = sample[0::2].count(0)
    odd_nuls = sample[1::2].count(0)
    half = len(sample) // 2
    if odd_nuls > 0.3 * half and even_nuls < 0.05 * half:
        return "utf-16-le"
    if even_nuls > 0.3 * half and odd_nuls < 0.05 * half:
        return "utf-16-be"
    return None


def decode_text(data: bytes) -> tuple[str, str]:
    """Decode ``data`` and return ``(text, encoding name)``; never loses a byte silently.

    Raises :class:`UnicodeDecodeError` only for data that claims a BOM or UTF-16 and is broken
    (an odd number of bytes, say); callers report that as a corrupt file.
    """
    for bom, name in _BOMS:
        if data.startswith(bom):
            # utf-32 before utf-16: the UTF-32 LE mark begins with the UTF-16 LE mark.
            return data.decode(name), "utf-8-sig" if name == "utf-8-sig" else _bom_name(bom)
    guessed = _utf16_without_bom(data)
    if guessed is not None:
        return data.decode(guessed), guessed
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
