"""Turn uploaded bytes into a Polars DataFrame, or a clear 4xx saying why not.

Readers never execute anything from the file: XLSX is read through calamine
(cached cell values, formulas never evaluated).
"""

from __future__ import annotations

import io
import json
from pathlib import PurePosixPath

import polars as pl

from convoinsight.errors import BadRequest, Unprocessable, UnsupportedMediaType

FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".xlsx": "xlsx",
    ".json": "json",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
}
_MAGIC = {"parquet": b"PAR1", "xlsx": b"PK\x03\x04"}


def detect_format(filename: str) -> str:
    suffix = PurePosixPath(filename or "").suffix.lower()
    if suffix not in FORMATS:
        supported = ", ".join(sorted(set(FORMATS)))
        raise UnsupportedMediaType(f"files of type {suffix or '(none)'!r} are not supported; use one of {supported}",
                                   code="unsupported_file_type")
    return FORMATS[suffix]


def read_table(data: bytes, fmt: str) -> pl.DataFrame:
    if not data or not data.strip():
        raise BadRequest("the file is empty", code="empty_file")
    magic = _MAGIC.get(fmt)
    if magic and not data.startswith(magic):
        raise Unprocessable(f"the file is not a valid {fmt} file", code="unreadable_file")
    try:
        frame = _READERS[fmt](data)
    except (BadRequest, Unprocessable):
        raise
    except Exception as exc:  # each reader raises its own family of parse errors
        raise Unprocessable(f"the {fmt} file could not be read: {_short(exc)}", code="unreadable_file") from None
    if frame.width == 0 or frame.height == 0:
        raise Unprocessable("the file has no data rows", code="no_rows")
    return frame


def _text(data: bytes) -> str:
    if b"\x00" in data[:8192] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise Unprocessable("the file is binary, not delimited text", code="unreadable_file")
    for encoding in ("utf-8-sig", "utf-16"):
        try:
            if encoding == "utf-16" and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
                continue
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("cp1252", errors="replace")


def _delimited(separator: str):
    def read(data: bytes) -> pl.DataFrame:
        text = _text(data)
        return pl.read_csv(io.StringIO(text), separator=separator, try_parse_dates=True,
                           infer_schema_length=10_000)
    return read


def _json(data: bytes) -> pl.DataFrame:
    value = json.loads(_text(data))
    if not isinstance(value, list) or not value or not all(isinstance(r, dict) for r in value):
        raise Unprocessable("a JSON dataset must be an array of objects", code="unreadable_file")
    return pl.DataFrame(value, infer_schema_length=None)


def _ndjson(data: bytes) -> pl.DataFrame:
    return pl.read_ndjson(io.StringIO(_text(data)))


def _xlsx(data: bytes) -> pl.DataFrame:
    return pl.read_excel(io.BytesIO(data), engine="calamine")


def _parquet(data: bytes) -> pl.DataFrame:
    return pl.read_parquet(io.BytesIO(data))


_READERS = {
    "csv": _delimited(","),
    "tsv": _delimited("\t"),
    "json": _json,
    "ndjson": _ndjson,
    "xlsx": _xlsx,
    "parquet": _parquet,
}


def _short(exc: Exception) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
