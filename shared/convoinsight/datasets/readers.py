"""Turn an uploaded file into the dataset's canonical Parquet file, or a clear 4xx saying why not.

The extension picks the reader, but the bytes are checked first: a workbook or
Parquet file renamed to .csv (or text renamed to .xlsx) gets a 415 that says what
the file really is, rather than a confusing parse error. Readers never execute
anything from a file (XLSX formulas are not evaluated: calamine returns the values
Excel cached). They stream from the uploaded file into the Parquet file where the
format allows (CSV, TSV, NDJSON, Parquet), so neither is ever held in memory, and
they refuse values nested deeper than ``max_depth`` before any parser sees them.

``convert_file`` is what ingest runs, inside its worker process (``ingest_worker``);
``read_table`` is the same on bytes, returning a DataFrame (for tests and tools).

Column names of the Parquet file are SQL identifiers (``naming.unique_identifiers``)
derived from the labels returned beside it: the file's own header labels, made
unique (``a``, ``a (2)``) with blank ones named ``column_<n>``.

Errors (status, code):
  400 empty_file; 413 too_many_rows, too_many_columns, too_many_cells, zip_bomb,
  file_too_large; 415 unsupported_file_type, content_mismatch; 422 unreadable_file,
  no_rows, ragged_rows, sheet_not_found, too_deep.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import polars as pl

from convoinsight.datasets.formats import excel
from convoinsight.datasets.formats.common import Limits, short, unique_labels, unreadable
from convoinsight.datasets.formats.delimited import convert_delimited
from convoinsight.datasets.formats.jsonish import convert_json, convert_ndjson
from convoinsight.datasets.formats.parquet import convert_parquet
from convoinsight.datasets.formats.text import SAMPLE_BYTES, looks_like_text
from convoinsight.datasets.naming import unique_identifiers
from convoinsight.datasets.nesting import check_parquet_depth
from convoinsight.errors import BadRequest, ConvoInsightError, Unprocessable, UnsupportedMediaType

DEFAULT_MAX_DEPTH = 32  # MAX_NESTING_DEPTH's default
_BLANK_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Converted:
    labels: list[str]  # display labels, one per column of the Parquet file (named unique_identifiers(labels))
    rows: int
    copied: bool = False  # the upload was canonical Parquet already and was copied unchanged


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


def convert_file(source: Path, fmt: str, out: Path, work: Path, *, sheet: str | None = None,
                 max_rows: int | None = None, max_columns: int | None = None,
                 max_depth: int = DEFAULT_MAX_DEPTH) -> Converted:
    """Write ``source`` as canonical Parquet at ``out``, using ``work`` (an empty folder) for scratch files.

    ``sheet`` applies to XLSX only (default: the first visible sheet)."""
    if fmt not in _NAMED:
        raise UnsupportedMediaType(f"the format {fmt!r} is not supported", code="unsupported_file_type")
    if _is_blank(source):
        raise BadRequest("the file is empty", code="empty_file")
    with open(source, "rb") as handle:
        head = handle.read(SAMPLE_BYTES)
    _check_content(head, source, fmt)
    limits = Limits(max_rows=max_rows, max_columns=max_columns)
    copied = False
    try:
        if fmt in ("csv", "tsv"):
            labels = convert_delimited(source, fmt, out, work, limits)
        elif fmt == "json":
            labels = convert_json(source, out, work, max_depth)
        elif fmt == "ndjson":
            labels = convert_ndjson(source, out, work, max_depth)
        elif fmt == "xlsx":
            labels = _write_frame(excel.read_xlsx(source, sheet, limits), out)
        else:
            labels, copied = convert_parquet(source, out, limits, max_depth)
    except ConvoInsightError:
        raise
    except MemoryError:
        raise  # the worker's memory limit: the caller says so, and the worker is replaced
    except Exception as exc:  # a parse error a reader did not translate itself
        if out_of_memory(exc):
            raise MemoryError(short(exc)) from None
        raise unreadable(f"the {_NOUN[fmt]} could not be read: {short(exc)}") from None
    except BaseException as exc:
        # Polars and calamine are Rust: a panic on a malformed file arrives as a
        # PanicException (a BaseException, one class per extension module).
        if type(exc).__name__ != "PanicException":
            raise
        raise unreadable(f"the {_NOUN[fmt]} could not be read; it may be damaged") from None
    width, height = _shape(out, max_depth)
    if width == 0 or height == 0:
        raise Unprocessable("the file has a header but no data rows" if width else "the file has no data",
                            code="no_rows")
    limits.check_columns(width)
    limits.check_rows(height)
    return Converted(labels, height, copied)


def read_table(data: bytes, fmt: str, *, sheet: str | None = None, max_rows: int | None = None,
               max_columns: int | None = None, max_depth: int = DEFAULT_MAX_DEPTH) -> pl.DataFrame:
    """``convert_file`` on bytes, in this process: the table as a DataFrame whose columns are the labels."""
    with tempfile.TemporaryDirectory(prefix="convoinsight-read-") as folder:
        work = Path(folder)
        source, out = work / f"upload.{fmt}", work / "data.parquet"
        source.write_bytes(data)
        scratch = work / "scratch"
        scratch.mkdir()
        converted = convert_file(source, fmt, out, scratch, sheet=sheet, max_rows=max_rows, max_columns=max_columns,
                                 max_depth=max_depth)
        frame = pl.read_parquet(out)
    frame.columns = converted.labels
    return frame


def out_of_memory(exc: BaseException) -> bool:
    """A library's way of saying an allocation failed (Polars and pyarrow report ENOMEM as an error)."""
    text = str(exc)
    return isinstance(exc, MemoryError) or "os error 12" in text or "Cannot allocate memory" in text \
        or "out of memory" in text.lower()


def _write_frame(frame: pl.DataFrame, out: Path) -> list[str]:
    labels = unique_labels(frame.columns)
    frame.columns = unique_identifiers(labels)
    frame.write_parquet(out)
    return labels


def _shape(path: Path, max_depth: int) -> tuple[int, int]:
    """(columns, rows) of the written file, from its footer; 422 ``too_deep`` if its schema is past the bound
    (or past what Parquet readers read back), whatever the upload's format."""
    import pyarrow.parquet as pq

    schema = check_parquet_depth(path, max_depth)
    return len(schema), pq.read_metadata(path).num_rows


def _is_blank(path: Path) -> bool:
    with open(path, "rb") as handle:
        while chunk := handle.read(_BLANK_CHUNK):
            if not chunk.isspace():
                return False
    return True


def _check_content(head: bytes, source: Path, fmt: str) -> None:
    """415 ``content_mismatch`` when the file is plainly another format than the name says."""
    kind = next((kind for magic, kind in _MAGIC if head.startswith(magic)), None)
    if kind == "zip" and excel.is_workbook(source):
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
        if not looks_like_text(head):
            raise unreadable(f"the file is not a valid {_NOUN[fmt]}; its content is not in that format")
        kind = "text"
    advice = _ADVICE.get(kind, "save it in one of the supported formats")
    raise UnsupportedMediaType(f"the file is named {_NAMED[fmt]} but its content is {_CONTENT[kind]}; "
                               f"{advice} and upload it again",
                               code="content_mismatch", details={"declared": fmt, "found": kind})
