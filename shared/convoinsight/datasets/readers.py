"""Turn uploaded bytes into a Polars DataFrame, or a clear 4xx saying why not.

The extension picks the reader, but the bytes are checked first: a workbook or
Parquet file renamed to .csv (or text renamed to .xlsx) gets a 415 that says what
the file really is, rather than a confusing parse error. Readers never execute
anything from a file (XLSX formulas are not evaluated: calamine returns the values
Excel cached) and never write to disk.

Column names of the returned frame are the file's own header labels, made unique
(``a``, ``a (2)``) with blank ones named ``column_<n>``; the caller derives SQL
identifiers from them and keeps them as display labels.

Errors (status, code):
  400 empty_file; 413 too_many_rows, too_many_columns, too_many_cells, zip_bomb,
  file_too_large; 415 unsupported_file_type, content_mismatch; 422 unreadable_file,
  no_rows, ragged_rows, sheet_not_found.
"""

from __future__ import annotations

from pathlib import PurePosixPath

import polars as pl

from convoinsight.datasets.formats import excel
from convoinsight.datasets.formats.common import Limits, short, unique_labels, unreadable
from convoinsight.datasets.formats.delimited import read_delimited
from convoinsight.datasets.formats.jsonish import read_json, read_ndjson
from convoinsight.datasets.formats.parquet import read_parquet
from convoinsight.datasets.formats.text import looks_like_text
from convoinsight.errors import BadRequest, ConvoInsightError, Unprocessable, UnsupportedMediaType

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
_TEXT_FORMATS = {"csv", "tsv", "json", "ndjson"}
_NAMED = {"csv": ".csv", "tsv": ".tsv", "json": ".json", "ndjson": ".ndjson/.jsonl", "parquet": ".parquet",
          "xlsx": ".xlsx"}
_NOUN = {"csv": "CSV file", "tsv": "TSV file", "json": "JSON file", "ndjson": "NDJSON file",
         "parquet": "Parquet file", "xlsx": "Excel workbook"}
# Leading bytes of the binary formats people most often upload under a wrong name.
_MAGIC = (
    (b"PAR1", "parquet"),
    (b"PK\x03\x04", "zip"),
    (b"PK\x05\x06", "zip"),  # an empty ZIP
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "ole2"),
    (b"\x1f\x8b", "gzip"),
    (b"%PDF-", "pdf"),
)
_CONTENT = {
    "parquet": "a Parquet file",
    "xlsx": "an Excel workbook",
    "zip": "a ZIP archive",
    "ole2": "an old-style Excel (.xls) workbook or a password-protected Office file",
    "gzip": "a gzip-compressed file",
    "pdf": "a PDF document",
    "text": "text (such as CSV or JSON)",
}
_ADVICE = {
    "parquet": "rename it to .parquet",
    "xlsx": "rename it to .xlsx",
    "text": "rename it to .csv, .tsv or .json to match its content",
    "ole2": "open it in Excel and save it as an .xlsx workbook without a password",
}


def detect_format(filename: str) -> str:
    suffix = PurePosixPath(filename or "").suffix.lower()
    if suffix not in FORMATS:
        supported = ", ".join(sorted(set(FORMATS)))
        raise UnsupportedMediaType(f"files of type {suffix or '(none)'!r} are not supported; use one of {supported}",
                                   code="unsupported_file_type")
    return FORMATS[suffix]


def read_table(data: bytes, fmt: str, *, sheet: str | None = None,
               max_rows: int | None = None, max_columns: int | None = None) -> pl.DataFrame:
    """The uploaded file as a DataFrame. ``sheet`` applies to XLSX only (default: the first visible sheet)."""
    if fmt not in _NAMED:
        raise UnsupportedMediaType(f"the format {fmt!r} is not supported", code="unsupported_file_type")
    if not data or data.isspace():
        raise BadRequest("the file is empty", code="empty_file")
    _check_content(data, fmt)
    limits = Limits(max_rows=max_rows, max_columns=max_columns)
    try:
        frame = _read(data, fmt, sheet, limits)
    except ConvoInsightError:
        raise
    except Exception as exc:  # a parse error a reader did not translate itself
        raise unreadable(f"the {_NOUN[fmt]} could not be read: {short(exc)}") from None
    except BaseException as exc:
        # Polars and calamine are Rust: a panic on a malformed file arrives as a
        # PanicException (a BaseException, one class per extension module).
        if type(exc).__name__ != "PanicException":
            raise
        raise unreadable(f"the {_NOUN[fmt]} could not be read; it may be damaged") from None
    if frame.width == 0 or frame.height == 0:
        raise Unprocessable("the file has a header but no data rows" if frame.width else "the file has no data",
                            code="no_rows")
    limits.check_columns(frame.width)
    limits.check_rows(frame.height)
    frame.columns = unique_labels(frame.columns)  # readers already do this; JSON keys or Parquet names may be blank
    return frame


def _read(data: bytes, fmt: str, sheet: str | None, limits: Limits) -> pl.DataFrame:
    if fmt in ("csv", "tsv"):
        return read_delimited(data, fmt, limits)
    if fmt == "json":
        return read_json(data)
    if fmt == "ndjson":
        return read_ndjson(data)
    if fmt == "xlsx":
        return excel.read_xlsx(data, sheet, limits)
    return read_parquet(data, limits)


def _check_content(data: bytes, fmt: str) -> None:
    """415 ``content_mismatch`` when the bytes are plainly another format than the name says."""
    kind = next((kind for magic, kind in _MAGIC if data.startswith(magic)), None)
    if kind == "zip" and excel.is_workbook(data):
        kind = "xlsx"
    if fmt in _TEXT_FORMATS:
        if kind is None:
            return  # text, or binary the text reader will refuse as unreadable
    elif kind == fmt:
        return
    elif fmt == "xlsx" and kind == "zip":
        # a ZIP that is not a workbook (or a damaged one): the Excel reader says which
        return
    elif kind is None:
        if not looks_like_text(data):
            raise unreadable(f"the file is not a valid {_NOUN[fmt]}; its content is not in that format")
        kind = "text"
    advice = _ADVICE.get(kind, "save it in one of the supported formats")
    raise UnsupportedMediaType(f"the file is named {_NAMED[fmt]} but its content is {_CONTENT[kind]}; "
                               f"{advice} and upload it again",
                               code="content_mismatch", details={"declared": fmt, "found": kind})
