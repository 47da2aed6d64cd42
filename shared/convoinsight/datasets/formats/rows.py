"""Rows whose number of values differs from the header's: Polars refuses longer ones but pads shorter ones.

Short rows and blank lines both surface only as nulls in the last column, so the
check costs nothing for most files; otherwise the lines behind those rows are
counted with Polars, and Python's csv module walks the file only to name a
ragged row's line or when values spanning lines defeat the count.
"""

from __future__ import annotations

import csv
import io

import polars as pl

from convoinsight.errors import Unprocessable

_LINE_SEPARATORS = ("\x1f", "\x1e", "\x1d", "\x1c")  # bytes text never holds, to read whole lines
_QUOTED = r'"[^"]*"'  # a quoted value; an escaped quote ("") just splits it in two


def check_row_lengths(frame: pl.DataFrame, utf8: bytes, separator: str) -> pl.DataFrame:
    """Refuse short rows (Polars pads them with nulls) and drop blank lines (Polars keeps them as null rows).

    Both show up only as nulls in the last column; if it has none, the file is
    clean. Otherwise the lines behind those rows are counted, vectorised; the
    slow row-by-row scan runs only when that is not possible (values spanning
    lines) or a row really is short, to name its line.
    """
    if frame.width < 2 or frame.height == 0 or frame[:, -1].null_count() == 0:
        return frame
    suspects = _short_or_blank_lines(frame, utf8, separator)
    if suspects is None:
        blanks = find_ragged_rows(utf8, separator, frame.width) or []
    elif suspects["blank"].all():
        blanks = suspects["row"].to_list()
    else:
        # The quick count is fooled by a stray quote inside a value; the exact scan decides,
        # and names the line. Only if the scan cannot run does the quick count stand.
        blanks = find_ragged_rows(utf8, separator, frame.width)
        if blanks is None:
            row = suspects.filter(~pl.col("blank"))["row"][0] + 1
            raise Unprocessable(f"data row {row:,} has fewer values than the header has columns; every row "
                                "must have one value per column", code="ragged_rows")
    if not blanks:
        return frame
    return frame.with_row_index("__row").filter(~pl.col("__row").is_in(blanks)).drop("__row")


def _short_or_blank_lines(frame: pl.DataFrame, utf8: bytes, separator: str) -> pl.DataFrame | None:
    """Rows (index, is blank) whose line holds fewer delimiters than a full row; None if lines are not rows."""
    free = next((c for c in _LINE_SEPARATORS if c.encode() not in utf8), None)
    if free is None:
        return None
    # Each physical line as one value (no quote handling): one row per line unless a
    # quoted value spans lines, in which case the counts differ and we give up here.
    lines = pl.read_csv(utf8, has_header=False, separator=free, quote_char=None, infer_schema=False,
                        new_columns=["line"])
    if lines.height != frame.height + 1:
        return None
    line = pl.col("line")
    delimiters = line.str.replace_all(_QUOTED, "").str.count_matches(separator, literal=True)
    return (lines.slice(1).with_row_index("row")
            .filter(frame[:, -1].is_null())
            .filter(line.is_null() | (delimiters.fill_null(0) < frame.width - 1))
            .select("row", blank=line.is_null() | (line.str.strip_chars() == "")))


def find_ragged_rows(utf8: bytes, separator: str, width: int | None) -> list[int] | None:
    """Raise 422 ``ragged_rows`` naming the first row whose length differs from the header.

    Otherwise return the indexes of blank rows, or None if the file defeats Python's parser.
    """
    stream = io.TextIOWrapper(io.BytesIO(utf8), encoding="utf-8", newline="")
    reader = csv.reader(stream, delimiter=separator)
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
