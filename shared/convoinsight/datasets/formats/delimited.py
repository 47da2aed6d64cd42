"""CSV and TSV: encoding, delimiter, header labels, types and ragged-row detection.

Polars does the parsing (fast, multi-threaded, straight from bytes). Python only
looks at a small sample up front (delimiter, header, date notation); the whole
file is walked row by row only to name the line of a ragged row, or when a value
spanning lines defeats the vectorised row-length check.
"""

from __future__ import annotations

import csv
import io
import re

import polars as pl

from convoinsight.datasets.formats.common import Limits, parse_iso_temporals, short, unique_labels, unreadable
from convoinsight.datasets.formats.rows import check_row_lengths, find_ragged_rows
from convoinsight.datasets.formats.text import SAMPLE_BYTES, to_utf8
from convoinsight.errors import BadRequest, Unprocessable

_DELIMITERS = (",", ";", "\t", "|")  # preference order when the sample cannot tell them apart
_MAX_SAMPLE_BYTES = 8 * 1024 * 1024  # a sample is extended to a line end, but not forever
_SAMPLE_RECORDS = 500
# How many rows Polars looks at to pick column types. With date parsing on, the cost
# of inference grows steeply with this (1,000 rows ~ +40% on a 1M-row file), and
# the retry below repairs the rare column whose type changes further down.
_INFER_ROWS = 100
_MAX_TYPE_RETRIES = 8
_PARSE_ERROR = re.compile(r"could not parse `(?P<value>.*?)` as dtype `(?P<dtype>[^`]+)` "
                          r"at column '.*?' \(column number (?P<number>\d+)\)", re.S)
# Day and month can each come first in these; only ISO dates are parsed unasked.
_AMBIGUOUS_DATE = re.compile(r"\s*(\d{1,2})[/-](\d{1,2})[/-]\d{2,4}\b")
_COMMA_DECIMAL = re.compile(r"-?\d+,\d+")
_DOT_DECIMAL = re.compile(r"-?\d+\.\d+")


def read_delimited(data: bytes, fmt: str, limits: Limits) -> pl.DataFrame:
    utf8, _encoding = to_utf8(data)
    if not utf8 or utf8.isspace():
        raise BadRequest("the file is empty", code="empty_file")
    if b"\n" not in utf8:  # classic Mac line ends; Polars splits lines at \n only
        utf8 = utf8.replace(b"\r", b"\n")
    utf8 = _without_trailing_blank_lines(utf8)
    sample = _sample(utf8)
    separator, records = ("\t", _parse(sample, "\t")) if fmt == "tsv" else _sniff_delimiter(sample)
    header, rows = (records or [[]])[0], records[1:]
    limits.check_columns(len(header))

    labels = unique_labels(header)
    overrides: dict[str, type[pl.DataType]] = {labels[i]: pl.String for i in _ambiguous_date_columns(rows, header)}
    decimal_comma = separator == ";" and _uses_decimal_comma(rows)
    try:
        frame = _read(utf8, separator, labels, overrides, decimal_comma)
    except pl.exceptions.SchemaError:
        # Polars split the header differently from the sample parser (odd quoting):
        # trust Polars and derive the labels from the names it chose.
        frame = _read(utf8, separator, None, {}, decimal_comma)
        frame.columns = unique_labels([_polars_label(name) for name in frame.columns])
    frame = check_row_lengths(frame, utf8, separator)
    return _retype_sparse_columns(frame)


def _read(utf8: bytes, separator: str, labels: list[str] | None, overrides: dict, decimal_comma: bool) -> pl.DataFrame:
    """Polars read with ISO date parsing; a column whose type changes past the inference window is re-typed."""
    overrides = dict(overrides)
    options = {"separator": separator, "new_columns": labels, "decimal_comma": decimal_comma}
    try:
        for _ in range(_MAX_TYPE_RETRIES):
            try:
                return pl.read_csv(utf8, schema_overrides=overrides or None, try_parse_dates=True,
                                   infer_schema_length=_INFER_ROWS, **options)
            except pl.exceptions.ComputeError as exc:
                match = _PARSE_ERROR.search(str(exc))
                if match is None:
                    raise
                if labels is None:
                    break
                label = labels[int(match["number"]) - 1]
                widen = match["dtype"].startswith(("i", "u")) and _is_number(match["value"], decimal_comma)
                overrides[label] = pl.Float64 if widen and overrides.get(label) is not pl.Float64 else pl.String
        # Many columns change type late in the file: let Polars see every row. Its
        # date inference over a whole large file is very slow, so dates are done after.
        frame = pl.read_csv(utf8, schema_overrides=overrides or None, infer_schema_length=None, **options)
        return parse_iso_temporals(frame)
    except pl.exceptions.ComputeError as exc:
        if "more fields" in str(exc):  # a row longer than the header
            find_ragged_rows(utf8, separator, len(labels) if labels else None)  # raises, naming the line
            raise Unprocessable("a row has more values than the header has columns", code="ragged_rows") from None
        raise unreadable(f"the file could not be read as delimited text: {short(exc)}") from None


def _retype_sparse_columns(frame: pl.DataFrame) -> pl.DataFrame:
    """Columns empty throughout Polars' inference window come back as text; give them their real type."""
    window = min(frame.height, _INFER_ROWS)
    converted, dates = [], []
    for name, dtype in frame.schema.items():
        column = frame[name]
        if dtype != pl.String or column.head(window).null_count() < window or column.null_count() == frame.height:
            continue
        for target in (pl.Int64, pl.Float64):
            cast = column.cast(target, strict=False)
            if cast.null_count() == column.null_count():
                converted.append(cast)
                break
        else:
            dates.append(name)
    frame = frame.with_columns(converted) if converted else frame
    return parse_iso_temporals(frame, dates) if dates else frame


def _sample(utf8: bytes) -> str:
    """The start of the file as text, ending at a line break (so at a record end, barring quoted newlines)."""
    if len(utf8) <= SAMPLE_BYTES:
        return utf8.decode("utf-8")
    end = utf8.find(b"\n", SAMPLE_BYTES, _MAX_SAMPLE_BYTES)
    return utf8[: end if end != -1 else _MAX_SAMPLE_BYTES].decode("utf-8", errors="ignore")


def _parse(sample: str, separator: str) -> list[list[str]]:
    reader = csv.reader(io.StringIO(sample, newline=""), delimiter=separator)
    records = []
    try:
        for record in reader:
            if record:  # blank lines are not records
                records.append(record)
            if len(records) > _SAMPLE_RECORDS:
                break
    except csv.Error:
        pass
    return records


def _sniff_delimiter(sample: str) -> tuple[str, list[list[str]]]:
    """The candidate that splits the header into the most columns that the following rows repeat.

    Returns it with the sample's records as split by it. Without a candidate that
    splits the header, comma stands (a single-column file, or a ragged one).
    """
    best, best_key, best_records = ",", None, None
    for preference, separator in enumerate(_DELIMITERS):
        records = _parse(sample, separator)
        if not records or len(records[0]) < 2:
            continue
        width = len(records[0])
        consistency = sum(len(r) == width for r in records) / len(records)
        key = (consistency, width, -preference)
        if best_key is None or key > best_key:
            best, best_key, best_records = separator, key, records
    return best, best_records if best_records is not None else _parse(sample, best)


def _ambiguous_date_columns(rows: list[list[str]], header: list[str]) -> list[int]:
    """Columns of dd/mm vs mm/dd dates where no value settles which comes first: kept as text."""
    found = []
    for i in range(len(header)):
        values = [row[i] for row in rows if i < len(row) and row[i].strip()]
        matches = [_AMBIGUOUS_DATE.match(v) for v in values]
        if values and all(m and int(m[1]) <= 12 and int(m[2]) <= 12 for m in matches):
            found.append(i)
    return found


def _uses_decimal_comma(rows: list[list[str]]) -> bool:
    values = [v.strip() for row in rows for v in row]
    return any(_COMMA_DECIMAL.fullmatch(v) for v in values) and not any(_DOT_DECIMAL.fullmatch(v) for v in values)


def _is_number(text: str, decimal_comma: bool) -> bool:
    try:
        float(text.replace(",", ".") if decimal_comma else text)
    except ValueError:
        return False
    return True


def _without_trailing_blank_lines(utf8: bytes) -> bytes:
    # Cheap here, and it spares a row-by-row scan for the most common kind of blank line.
    return utf8.rstrip(b"\r\n") + b"\n" if utf8.endswith((b"\n\n", b"\n\r\n")) else utf8


def _polars_label(name: str) -> str:
    return re.sub(r"_duplicated_\d+$", "", name)
