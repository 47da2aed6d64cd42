"""Rows whose number of values differs from the header's: Polars refuses longer ones but pads shorter ones.

Short rows and blank lines both surface only as nulls in the last column, so the
check costs nothing for most files; otherwise the lines behind those rows are
counted with Polars in one streaming pass (the file is never held in memory), and
Python's csv module walks the file only to name a ragged row's line or when values
spanning lines defeat the count.
"""

from __future__ import annotations

import csv
from pathlib import Path

import polars as pl

from convoinsight.datasets.formats.text import TextFile
from convoinsight.errors import Unprocessable

_QUOTED = r'"[^"]*"'  # a quoted value; an escaped quote ("") just splits it in two
_TAIL_BYTES = 64 * 1024


def check_row_lengths(parquet: Path, text: TextFile, separator: str, width: int) -> list[int]:
    """Refuse short rows (Polars pads them with nulls); return the blank lines' rows (Polars keeps them as
    null rows) for the caller to drop.

    Both show up only as nulls in the last column of the table Polars wrote to ``parquet``; if it has
    none, the file is clean. Otherwise the lines behind those rows are counted, vectorised; the
    slow row-by-row scan runs only when that is not possible (values spanning lines) or a row
    really is short, to name its line.
    """
    table = pl.scan_parquet(parquet)
    if width < 2:
        # One column: a blank line is an empty value, except at the very end (a file's trailing blank lines).
        height = table.select(pl.len()).collect().item()
        return list(range(max(0, height - _trailing_blank_lines(text)), height))
    last = table.collect_schema().names()[-1]
    if table.select(pl.col(last).null_count()).collect().item() == 0:
        return []
    suspects = _short_or_blank_lines(table, last, text, separator, width)
    if suspects is None:
        blanks = find_ragged_rows(text, separator, width) or []
    elif suspects["blank"].all():
        blanks = suspects["row"].to_list()
    else:
        # The quick count is fooled by a stray quote inside a value; the exact scan decides,
        # and names the line. Only if the scan cannot run does the quick count stand.
        blanks = find_ragged_rows(text, separator, width)
        if blanks is None:
            row = suspects.filter(~pl.col("blank"))["row"][0] + 1
            raise Unprocessable(f"data row {row:,} has fewer values than the header has columns; every row "
                                "must have one value per column", code="ragged_rows")
    return blanks


def _short_or_blank_lines(table: pl.LazyFrame, last: str, text: TextFile, separator: str,
                          width: int) -> pl.DataFrame | None:
    """Rows (index, is blank) whose line holds fewer delimiters than a full row; None if lines are not rows."""
    if text.free_separator is None:
        return None
    # Each physical line as one value (no quote handling): one row per line unless a
    # quoted value spans lines, in which case the counts differ and we give up here.
    lines = (pl.scan_csv(text.path, has_header=False, separator=text.free_separator, quote_char=None,
                         infer_schema=False, new_columns=["line"])
             .slice(1).with_columns(has_line=pl.lit(True)))
    nulls = table.select(null=pl.col(last).is_null(), has_row=pl.lit(True))
    line = pl.col("line")
    raw = line.str.count_matches(separator, literal=True)
    mismatch = pl.col("has_line").is_null() | pl.col("has_row").is_null()
    # Each step on the rows the one before left (columns computed after a filter are computed on what passed it):
    # rows with a null last value, then those a plain count cannot clear (a line without quotes has as many
    # delimiters as it shows), then the exact count with quoted values taken out.
    found = (pl.concat([lines, nulls], how="horizontal_extend").with_row_index("row")
             .filter(mismatch | pl.col("null"))
             .with_columns(raw=raw, quoted=line.str.contains('"', literal=True))
             .filter(mismatch | line.is_null() | (pl.col("raw") < width - 1) | pl.col("quoted"))
             .with_columns(delimiters=line.str.replace_all(_QUOTED, "").str.count_matches(separator, literal=True))
             .filter(mismatch | line.is_null() | (pl.col("delimiters") < width - 1))
             .select("row", mismatch=mismatch, blank=line.is_null() | (line.str.strip_chars() == ""))
             .collect(engine="streaming"))
    if found["mismatch"].any():
        return None
    return found.drop("mismatch")


def _trailing_blank_lines(text: TextFile) -> int:
    """Blank lines at the end of the file (each a null row to Polars): the line breaks after the last value,
    less the one that ends it."""
    breaks, size = 0, text.path.stat().st_size
    with open(text.path, "rb") as handle:
        end = size
        while end > text.skip:
            start = max(text.skip, end - _TAIL_BYTES)
            handle.seek(start)
            chunk = handle.read(end - start)
            kept = chunk.rstrip(b"\r\n")
            breaks += chunk[len(kept):].count(b"\n")
            if kept:
                break
            end = start
    return max(0, breaks - 1)


def find_ragged_rows(text: TextFile, separator: str, width: int | None) -> list[int] | None:
    """Raise 422 ``ragged_rows`` naming the first row whose length differs from the header.

    Otherwise return the indexes of blank rows, or None if the file defeats Python's parser.
    """
    # utf-8-sig: a byte-order mark left in place (text.skip) is not part of the header
    with open(text.path, encoding="utf-8-sig" if text.skip else "utf-8", errors="replace", newline="") as stream:
        return _walk(csv.reader(stream, delimiter=separator), width)


def _walk(reader, width: int | None) -> list[int] | None:
    blanks: list[int] = []
    try:
        header = next(record for record in reader if record)  # Polars skips blank lines before the header
        width = width or len(header)
        for index, record in enumerate(reader):
            if len(record) == width:
                continue
            if not record or (len(record) == 1 and not record[0].strip()):
                blanks.append(index)
                continue
            raise Unprocessable(f"line {reader.line_num:,} has {len(record):,} values but the header has "
                                f"{width:,} columns; every row must have one value per column (quote any "
                                f"value that contains the delimiter)", code="ragged_rows")
    except (csv.Error, StopIteration):  # e.g. a value over the csv module's size limit
        return None
    return blanks
