"""Text encodings: find how an uploaded text file is encoded and hand Polars UTF-8 bytes.

UTF-8 files (the vast majority) are passed through untouched: checking that bytes
are valid UTF-8 is done in chunks so a large upload is never held twice as a
Python ``str``. Only UTF-16 and legacy Windows (cp1252 / Latin-1) files are
transcoded.
"""

from __future__ import annotations

import codecs
import re

from convoinsight.datasets.formats.common import unreadable

SAMPLE_BYTES = 64 * 1024
_CHUNK = 4 * 1024 * 1024
_UTF16 = ((codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))

# cp1252 leaves five bytes undefined; reading those as Latin-1 (as browsers do)
# means any byte sequence decodes, so the fallback never fails.
_CP1252 = "".join(bytes([b]).decode("cp1252", errors="ignore") or chr(b) for b in range(256))

# C0 control characters other than tab, newline, form feed and carriage return
# do not occur in real text files; a noticeable share of them means binary data.
_CONTROL = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f]")


def to_utf8(data: bytes) -> tuple[bytes, str]:
    """The content as UTF-8 bytes without a BOM, and the name of the encoding it was in.

    Raises 422 ``unreadable_file`` when the content is binary rather than text.
    """
    encoding = detect_encoding(data)
    if encoding is None or looks_binary(_decode_sample(data, encoding)):
        raise unreadable("the file does not contain text; it looks like binary data "
                         "(is it a spreadsheet or an archive saved under a text file name?)")
    if encoding == "utf-8":
        return data, encoding
    if encoding == "utf-8-sig":
        return data[len(codecs.BOM_UTF8):], encoding
    if encoding == "cp1252":
        return codecs.charmap_decode(data, "strict", _CP1252)[0].encode("utf-8"), encoding
    try:
        return data[2:].decode(encoding).encode("utf-8"), encoding
    except UnicodeDecodeError:
        raise unreadable("the file starts with a UTF-16 marker but is not valid UTF-16 text; "
                         "it may be damaged or cut short") from None


def detect_encoding(data: bytes) -> str | None:
    """``utf-8-sig``, ``utf-16-le``/``-be`` (by BOM), ``utf-8``, ``cp1252``, or ``None`` for binary."""
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    for bom, encoding in _UTF16:
        if data.startswith(bom):
            return encoding
    if b"\x00" in data[:SAMPLE_BYTES]:
        return None  # NUL bytes: binary (UTF-16 without a BOM is not supported)
    return "utf-8" if is_utf8(data) else "cp1252"


def is_utf8(data: bytes) -> bool:
    if data.isascii():  # no allocation, and the common case for exports
        return True
    view, start = memoryview(data), 0
    try:
        while start < len(data):
            # a chunk may end inside a character: the decoder reports how far it got
            final = start + _CHUNK >= len(data)
            _text, used = codecs.utf_8_decode(view[start:start + _CHUNK], "strict", final)
            if not used:
                return False
            start += used
    except UnicodeDecodeError:
        return False
    return True


def looks_binary(sample: str) -> bool:
    if not sample:
        return False
    return "\x00" in sample or len(_CONTROL.findall(sample)) > max(4, len(sample) // 100)


def looks_like_text(data: bytes) -> bool:
    encoding = detect_encoding(data)
    return encoding is not None and not looks_binary(_decode_sample(data, encoding))


def _decode_sample(data: bytes, encoding: str) -> str:
    head = data[:SAMPLE_BYTES]
    if encoding == "cp1252":
        return codecs.charmap_decode(head, "strict", _CP1252)[0]
    if encoding.startswith("utf-16"):
        head = head[2:]
    # the sample may end inside a multi-byte character: drop that partial character only
    return head.decode(encoding, errors="ignore")
