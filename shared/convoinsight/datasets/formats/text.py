"""Text encodings: find how an uploaded text file is encoded and hand Polars a UTF-8 file.

UTF-8 files (the vast majority) are passed through untouched: checking that they
are valid UTF-8 is done in chunks, streaming, so a large upload is never held in
memory. Only UTF-16 and legacy Windows (cp1252 / Latin-1) files are transcoded,
chunk by chunk, into a copy in the work folder.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from pathlib import Path

from convoinsight.datasets.formats.common import unreadable
from convoinsight.errors import BadRequest

SAMPLE_BYTES = 64 * 1024
_CHUNK = 4 * 1024 * 1024
_UTF16 = ((codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))

# cp1252 leaves five bytes undefined; reading those as Latin-1 (as browsers do)
# means any byte sequence decodes, so the fallback never fails.
_CP1252 = "".join(bytes([b]).decode("cp1252", errors="ignore") or chr(b) for b in range(256))

# C0 control characters other than tab, newline, form feed and carriage return
# do not occur in real text files; a noticeable share of them means binary data.
_CONTROL = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f]")
# Bytes text never holds: one the file lacks lets Polars read each physical line as one value.
LINE_SEPARATORS = ("\x1f", "\x1e", "\x1d", "\x1c")


@dataclass(frozen=True)
class TextFile:
    """An upload's text as UTF-8 on disk: the upload itself or a transcoded copy."""

    path: Path
    encoding: str  # what the upload was encoded in
    skip: int  # leading bytes that are not text (a UTF-8 byte-order mark left in place)
    has_newline: bool
    free_separator: str | None  # one of LINE_SEPARATORS the text never holds, if any

    def head(self, size: int) -> bytes:
        with open(self.path, "rb") as handle:
            handle.seek(self.skip)
            return handle.read(size)


def utf8_file(source: Path, work: Path, *, bom_ok: bool = True, newlines: bool = False) -> TextFile:
    """The upload as a UTF-8 file; 400 ``empty_file`` for no text, 422 ``unreadable_file`` for binary.

    ``bom_ok``: the reader skips a UTF-8 byte-order mark itself (Polars' CSV and JSON readers do), so
    such a file needs no copy. ``newlines``: a file whose lines end in ``\\r`` alone (classic Mac) is
    copied with ``\\n`` line ends, the only ones Polars splits at.
    """
    with open(source, "rb") as handle:
        head = handle.read(SAMPLE_BYTES)
    encoding, seen = _encoding_of_file(source, head)
    if encoding is None or looks_binary(_decode_sample(head, encoding)):
        raise unreadable("the file does not contain text; it looks like binary data "
                         "(is it a spreadsheet or an archive saved under a text file name?)")
    mac = newlines and b"\n" not in seen and b"\r" in seen
    in_place = encoding == "utf-8" or (encoding == "utf-8-sig" and bom_ok)
    if in_place and not mac:
        skip = len(codecs.BOM_UTF8) if encoding == "utf-8-sig" else 0
        return _not_blank(TextFile(source, encoding, skip, b"\n" in seen, _free(seen)))
    target = work / "text.utf8"
    seen = _transcode(source, target, encoding, newlines)
    return _not_blank(TextFile(target, encoding, 0, b"\n" in seen, _free(seen)))


_WATCHED = (b"\n", b"\r", *(c.encode() for c in LINE_SEPARATORS))


def _watch(seen: set[bytes], chunk: bytes) -> None:
    """Note which line ends and candidate line separators the text holds."""
    if len(seen) < len(_WATCHED):
        seen.update(b for b in _WATCHED if b not in seen and b in chunk)


def _encoding_of_file(path: Path, head: bytes) -> tuple[str | None, set[bytes]]:
    """The encoding (as ``detect_encoding``), validating UTF-8 over the whole file in one streaming pass."""
    seen: set[bytes] = set()
    if head.startswith(codecs.BOM_UTF8):
        encoding = "utf-8-sig"
    elif any(head.startswith(bom) for bom, _ in _UTF16):
        return next(encoding for bom, encoding in _UTF16 if head.startswith(bom)), seen
    elif b"\x00" in head:
        return None, seen
    else:
        encoding = "utf-8"
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(_CHUNK):
                _watch(seen, chunk)
                if not chunk.isascii():  # no allocation, and the common case for exports
                    decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        if encoding == "utf-8":
            return "cp1252", seen  # transcoded: the copy's bytes are watched then
        # marked UTF-8 but not: left as it is for the reader to refuse, with every watched byte noted
        with open(path, "rb") as handle:
            while chunk := handle.read(_CHUNK):
                _watch(seen, chunk)
    return encoding, seen


def _free(seen: set[bytes]) -> str | None:
    return next((c for c in LINE_SEPARATORS if c.encode() not in seen), None)


def _transcode(source: Path, target: Path, encoding: str, newlines: bool) -> set[bytes]:
    """Copy ``source`` as UTF-8 without a byte-order mark; returns the watched bytes it holds."""
    skip = {"utf-8-sig": len(codecs.BOM_UTF8), "utf-16-le": 2, "utf-16-be": 2}.get(encoding, 0)
    decoder = codecs.getincrementaldecoder(encoding)("strict") if encoding.startswith("utf-16") else None
    seen: set[bytes] = set()
    with open(source, "rb") as src, open(target, "wb") as out:
        src.seek(skip)
        while True:
            chunk = src.read(_CHUNK)
            try:
                if decoder is not None:
                    piece = decoder.decode(chunk, final=not chunk).encode("utf-8")
                elif encoding == "cp1252":
                    piece = codecs.charmap_decode(chunk, "strict", _CP1252)[0].encode("utf-8")
                else:
                    piece = chunk
            except UnicodeDecodeError:
                # a BOM-less file that is not UTF-8 is read as cp1252, which never fails: this is UTF-16
                raise unreadable("the file starts with a UTF-16 marker but is not valid UTF-16 text; "
                                 "it may be damaged or cut short") from None
            _watch(seen, piece)
            out.write(piece)
            if not chunk:
                break
    if newlines and b"\n" not in seen and b"\r" in seen:
        _replace_in_place(target, b"\r", b"\n")
        seen = (seen - {b"\r"}) | {b"\n"}
    return seen


def _replace_in_place(path: Path, old: bytes, new: bytes) -> None:
    """Same-length byte replacement, chunk by chunk."""
    with open(path, "r+b") as handle:
        offset = 0
        while chunk := handle.read(_CHUNK):
            handle.seek(offset)
            handle.write(chunk.replace(old, new))
            offset += len(chunk)
            handle.seek(offset)


def _not_blank(text: TextFile) -> TextFile:
    with open(text.path, "rb") as handle:
        handle.seek(text.skip)
        while chunk := handle.read(_CHUNK):
            if not chunk.isspace():
                return text
    raise BadRequest("the file is empty", code="empty_file")


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
