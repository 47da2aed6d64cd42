"""CSV and TSV: encoding, delimiter, header labels, types and ragged-row detection, streamed to Parquet.

Polars does the parsing and writes the Parquet file as it reads (``scan_csv(...).sink_parquet``), so
neither the file nor the table is ever held in memory. Python only looks at a small sample up front
(delimiter, header, date notation); the rows are walked one by one only to name the line of a
ragged row, or when a value spanning lines defeats the vectorised row-length check. What the first
pass could not settle (blank lines, columns empty through the inference window) is fixed by one
more streaming pass over the Parquet file, only when there is something to fix.
"""

from __future__ import annotations

import csv
import io
import os
import re
from pathlib import Path

import polars as pl

from convoinsight.datasets.formats.common import (
    Limits,
    iso_temporal_casts,
    short,
    unique_labels,
    unreadable,
)
from convoinsight.datasets.formats.rows import check_row_lengths, find_ragged_rows
from convoinsight.datasets.formats.text import SAMPLE_BYTES, TextFile, utf8_file
from convoinsight.datasets.naming import unique_identifiers
from convoinsight.errors import Unprocessable

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


def convert_delimited(source: Path, fmt: str, out: Path, work: Path, limits: Limits) -> list[str]:
    """Write the file as Parquet at ``out`` (columns named by ``unique_identifiers(labels)``); returns the labels."""
    text = utf8_file(source, work, newlines=True)
    sample = _sample(text)
    separator, records = ("\t", _parse(sample, "\t")) if fmt == "tsv" else _sniff_delimiter(sample)
    header, rows = (records or [[]])[0], records[1:]
    limits.check_columns(len(header))

    labels = unique_labels(header)
    overrides: dict[str, type[pl.DataType]] = {labels[i]: pl.String for i in _ambiguous_date_columns(rows, header)}
    decimal_comma = separator == ";" and _uses_decimal_comma(rows)
    first = work / "first.parquet"
    try:
        labels = _sink(text, separator, labels, overrides, decimal_comma, first)
    except pl.exceptions.SchemaError:
        # Polars split the header differently from the sample parser (odd quoting):
        # trust Polars and derive the labels from the names it chose.
        labels = _sink(text, separator, None, {}, decimal_comma, first)
    names = unique_identifiers(labels)
    blanks = check_row_lengths(first, text, separator, len(names))
    frame = pl.scan_parquet(first)
    if blanks:
        frame = frame.with_row_index("__row").filter(~pl.col("__row").is_in(blanks)).drop("__row")
    casts = _sparse_column_casts(frame)
    if blanks or casts:
        frame.with_columns(casts).sink_parquet(out)
        first.unlink()
    else:
        os.replace(first, out)
    return labels


def _sink(text: TextFile, separator: str, labels: list[str] | None, overrides: dict, decimal_comma: bool,
          out: Path) -> list[str]:
    """Stream the file into Parquet with ISO date parsing; a column whose type changes past the inference
    window is re-typed and the file read again. Returns the labels (Polars' own when ``labels`` is None)."""
    overrides = dict(overrides)
    options = {"separator": separator, "new_columns": labels, "decimal_comma": decimal_comma}

    def sink(**kwargs) -> list[str]:
        scan = pl.scan_csv(text.path, schema_overrides=overrides or None, **options, **kwargs)
        found = labels or unique_labels([_polars_label(name) for name in scan.collect_schema()])
        scan.rename(dict(zip(scan.collect_schema(), unique_identifiers(found), strict=True))).sink_parquet(out)
        return found

    try:
        for _ in range(_MAX_TYPE_RETRIES):
            try:
                return sink(try_parse_dates=True, infer_schema_length=_INFER_ROWS)
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
        found = sink(infer_schema_length=None)
        frame = pl.scan_parquet(out)
        casts = iso_temporal_casts(frame, frame.collect_schema().names())
        if casts:
            retyped = out.with_suffix(".dates.parquet")
            frame.with_columns(casts).sink_parquet(retyped)
            os.replace(retyped, out)
        return found
    except pl.exceptions.ComputeError as exc:
        if "more fields" in str(exc):  # a row longer than the header
            find_ragged_rows(text, separator, len(labels) if labels else None)  # raises, naming the line
            raise Unprocessable("a row has more values than the header has columns", code="ragged_rows") from None
        raise unreadable(f"the file could not be read as delimited text: {short(exc)}") from None


def _sparse_column_casts(frame: pl.LazyFrame) -> list[pl.Expr]:
    """Columns empty throughout Polars' inference window come back as text: the casts to their real type."""
    schema = frame.collect_schema()
    text = [name for name, dtype in schema.items() if dtype == pl.String]
    if not text:
        return []
    head = frame.head(_INFER_ROWS).select(pl.len().alias("\x00rows"),
                                         *(pl.col(n).null_count().alias(n) for n in text)).collect().row(0, named=True)
    window = head["\x00rows"]
    empty_at_top = [n for n in text if window and head[n] == window]
    if not empty_at_top:
        return []
    checks = []
    for name in empty_at_top:
        col = pl.col(name)
        checks += [col.null_count().alias(f"{name}\x00nulls"), pl.len().alias(f"{name}\x00rows"),
                   *(col.cast(target, strict=False).null_count().alias(f"{name}\x00{target}")
                     for target in (pl.Int64, pl.Float64))]
    stats = frame.select(checks).collect().row(0, named=True)
    casts, dates = [], []
    for name in empty_at_top:
        nulls = stats[f"{name}\x00nulls"]
        if nulls == stats[f"{name}\x00rows"]:
            continue  # empty throughout: stays text
        target = next((t for t in (pl.Int64, pl.Float64) if stats[f"{name}\x00{t}"] == nulls), None)
        if target is not None:
            casts.append(pl.col(name).cast(target, strict=False))
        else:
            dates.append(name)
    return casts + (iso_temporal_casts(frame, dates) if dates else [])


def _sample(text: TextFile) -> str:
    """The start of the file as text, ending at a line break (so at a record end, barring quoted newlines)."""
    head = text.head(_MAX_SAMPLE_BYTES if text.has_newline else SAMPLE_BYTES + 1)
    if len(head) <= SAMPLE_BYTES:
        return head.decode("utf-8", errors="ignore")
    end = head.find(b"\n", SAMPLE_BYTES, _MAX_SAMPLE_BYTES)
    return head[: end if end != -1 else _MAX_SAMPLE_BYTES].decode("utf-8", errors="ignore")


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


def _polars_label(name: str) -> str:
    return re.sub(r"_duplicated_\d+$", "", name)
