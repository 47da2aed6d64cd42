"""Pieces every format shares: size limits, header labels, error helpers, ISO date recognition."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from convoinsight.errors import PayloadTooLarge, Unprocessable

# Only ISO-8601 text is turned into dates: it is the one notation that cannot be
# read two ways (01/02/2024 is January in the US and February in Europe).
_ISO_DATE = r"^\d{4}-\d{2}-\d{2}$"
_ISO_DATETIME = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?$"
_PROBE_VALUES = 1_000


@dataclass(frozen=True)
class Limits:
    """The caller's row and column caps; ``None`` means no cap."""

    max_rows: int | None = None
    max_columns: int | None = None

    def check_columns(self, count: int, what: str = "the file", hint: str = "") -> None:
        if self.max_columns is not None and count > self.max_columns:
            raise PayloadTooLarge(f"{what} has {count:,} columns; the limit is {self.max_columns:,}{hint}",
                                  code="too_many_columns")

    def check_rows(self, count: int, what: str = "the file", hint: str = "") -> None:
        if self.max_rows is not None and count > self.max_rows:
            raise PayloadTooLarge(f"{what} has {count:,} rows; the limit is {self.max_rows:,}{hint}",
                                  code="too_many_rows")


def unreadable(message: str) -> Unprocessable:
    return Unprocessable(message, code="unreadable_file")


def short(exc: BaseException) -> str:
    """The first line of a library's error, for the end of a user-facing message."""
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def unique_labels(raw: Sequence[object]) -> list[str]:
    """Header cells as column labels: blanks become ``column_<n>``, repeats get `` (2)``, `` (3)``.

    The caller turns labels into SQL identifiers but keeps the labels for display,
    so they stay as close to the file's own text as possible.
    """
    texts = ["" if value is None else str(value) for value in raw]
    taken = {text for text in texts if text.strip()}  # a suffixed repeat must not steal a real header
    labels: list[str] = []
    used: set[str] = set()
    for position, text in enumerate(texts, start=1):
        base = text if text.strip() else f"column_{position}"
        label, n = base, 2
        while label in used or (label != text and label in taken):
            label, n = f"{base} ({n})", n + 1
        used.add(label)
        labels.append(label)
    return labels


def parse_iso_temporals(frame: pl.DataFrame, names: Sequence[str] | None = None) -> pl.DataFrame:
    """Turn text columns holding only ISO dates (or date-times) into Date (or Datetime) columns."""
    converted = []
    for name in names if names is not None else frame.columns:
        column = frame[name]
        if column.dtype != pl.String:
            continue
        values = column.drop_nulls()
        if values.is_empty():
            continue
        for pattern, parse in ((_ISO_DATE, _to_date), (_ISO_DATETIME, _to_datetime)):
            # a look at the first values rejects ordinary text without scanning the column
            if not values.head(_PROBE_VALUES).str.contains(pattern).all():
                continue
            if not values.str.contains(pattern).all():
                continue
            parsed = parse(column)
            if parsed is not None and parsed.null_count() == column.null_count():
                converted.append(parsed)
            break
    return frame.with_columns(converted) if converted else frame


def iso_temporal_casts(frame: pl.LazyFrame, names: Sequence[str]) -> list[pl.Expr]:
    """``parse_iso_temporals`` for a lazy frame (a scan of a file): the casts to apply, found in two
    aggregate queries (a look at the first rows, then the whole of the columns still in the running)."""
    schema = frame.collect_schema()
    names = [name for name in names if schema.get(name) == pl.String]
    if not names:
        return []
    patterns = (("date", _ISO_DATE), ("datetime", _ISO_DATETIME))

    def matches(name: str, kind: str, pattern: str) -> pl.Expr:
        return pl.col(name).str.contains(pattern).all().alias(f"{name}\x00{kind}")

    # a look at the first rows rejects ordinary text without scanning the columns
    probe = frame.head(_PROBE_VALUES).select(
        [matches(n, k, p) for n in names for k, p in patterns]).collect().row(0, named=True)
    running = [(n, k, p) for n in names for k, p in patterns if probe[f"{n}\x00{k}"]]
    if not running:
        return []
    exprs = [matches(n, k, p) for n, k, p in running]
    for name in dict.fromkeys(n for n, _, _ in running):
        col = pl.col(name)
        exprs += [col.null_count().alias(f"{name}\x00nulls"), pl.len().alias(f"{name}\x00rows"),
                  _date_expr(col).null_count().alias(f"{name}\x00date_nulls")]
    stats = frame.select(exprs).collect().row(0, named=True)
    casts = []
    for name in dict.fromkeys(n for n, _, _ in running):
        nulls = stats[f"{name}\x00nulls"]
        if nulls == stats[f"{name}\x00rows"]:
            continue  # no values at all
        for kind, _pattern in patterns:
            if not probe[f"{name}\x00{kind}"] or not stats.get(f"{name}\x00{kind}"):
                continue
            if kind == "date":
                if stats[f"{name}\x00date_nulls"] == nulls:
                    casts.append(_date_expr(pl.col(name)))
            elif _datetime_nulls(frame, name) == nulls:
                casts.append(_datetime_expr(pl.col(name)))
            break
    return casts


def _date_expr(col: pl.Expr) -> pl.Expr:
    return col.str.to_date("%Y-%m-%d", strict=False)


def _datetime_expr(col: pl.Expr) -> pl.Expr:
    return col.str.to_datetime(time_unit="us", strict=False)


def _datetime_nulls(frame: pl.LazyFrame, name: str) -> int | None:
    try:
        return frame.select(_datetime_expr(pl.col(name)).null_count()).collect().item()
    except pl.exceptions.PolarsError:  # mixed notations Polars cannot settle on one format for
        return None


def _to_date(column: pl.Series) -> pl.Series | None:
    return column.str.to_date("%Y-%m-%d", strict=False)


def _to_datetime(column: pl.Series) -> pl.Series | None:
    try:
        return column.str.to_datetime(time_unit="us", strict=False)
    except pl.exceptions.PolarsError:  # mixed notations Polars cannot settle on one format for
        return None
