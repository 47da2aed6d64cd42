"""The JSON contract for result cells, and the comparison of a product result table with PostgreSQL's.

PostgreSQL values (as `tests.analyst_sql.postgres.run_gold` returns them, through pg8000) map to JSON as:
    int -> int          Decimal -> number        float -> number      bool -> bool     str -> str    None -> null
    date -> "YYYY-MM-DD"        timestamp -> "YYYY-MM-DDTHH:MM:SS[.ffffff]" (fraction only when non-zero)
    timestamptz -> converted to UTC, then the timestamp form       time -> "HH:MM:SS[.ffffff]"
    interval -> ISO 8601 duration ("P1Y2M3DT4H5M6S", "P0D"), compared as (months, days, microseconds)
    array -> list, element-wise
NaN and ±Infinity have no JSON form: a non-finite PostgreSQL value is always reported, never matched silently.
Numbers compare with math.isclose(rel_tol=1e-9, abs_tol=1e-9); an int equals an equal float.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from decimal import Decimal
from typing import Any, NamedTuple

MAX_DIFFERENCES = 5


class Interval(NamedTuple):
    """A PostgreSQL interval exactly as the server holds it: months, days and microseconds are separate fields."""

    months: int
    days: int
    microseconds: int


# --- intervals -------------------------------------------------------------------------------------------------

_PG_UNITS = {"year": 12, "years": 12, "mon": 1, "mons": 1, "day": 0, "days": 0}
_PG_TIME = re.compile(r"^([+-])?(\d+):(\d\d):(\d\d)(?:\.(\d{1,6}))?$")


def parse_pg_interval(text: str) -> Interval:
    """Parse PostgreSQL's default interval output (IntervalStyle 'postgres'): '1 year -2 mons +3 days -04:05:06.5'."""
    months = days = micros = 0
    tokens = text.split()
    i = 0
    while i < len(tokens):
        clock = _PG_TIME.match(tokens[i])
        if clock:
            sign, hours, minutes, seconds, fraction = clock.groups()
            value = ((int(hours) * 60 + int(minutes)) * 60 + int(seconds)) * 1_000_000
            value += int((fraction or "0").ljust(6, "0"))
            micros += -value if sign == "-" else value
            i += 1
            continue
        number, unit = int(tokens[i]), tokens[i + 1]
        if unit not in _PG_UNITS:
            raise ValueError(f"unexpected interval unit {unit!r} in {text!r}")
        if _PG_UNITS[unit]:
            months += number * _PG_UNITS[unit]
        else:
            days += number
        i += 2
    return Interval(months, days, micros)


_ISO = re.compile(
    r"^(?P<neg>[+-])?P(?:(?P<Y>[+-]?\d+)Y)?(?:(?P<M>[+-]?\d+)M)?(?:(?P<W>[+-]?\d+)W)?(?:(?P<D>[+-]?\d+)D)?"
    r"(?:T(?:(?P<H>[+-]?\d+)H)?(?:(?P<MI>[+-]?\d+)M)?(?:(?P<S>[+-]?\d+(?:[.,]\d{1,9})?)S)?)?$"
)


def parse_iso_duration(text: str) -> tuple[int, int, int]:
    """(months, days, microseconds) of an ISO 8601 duration such as 'P1Y2M3DT4H5M6.5S', 'P-1M', '-P1D', 'PT0S'."""
    match = _ISO.match(text.strip()) if isinstance(text, str) else None
    if not match or text.strip() in ("P", "-P", "+P") or text.strip().endswith("T"):
        raise ValueError(f"not an ISO 8601 duration: {text!r}")
    part = {key: int(value) for key, value in match.groupdict().items() if value and key not in ("neg", "S")}
    months = part.get("Y", 0) * 12 + part.get("M", 0)
    days = part.get("W", 0) * 7 + part.get("D", 0)
    seconds = Decimal(match["S"].replace(",", ".")) if match["S"] else Decimal(0)
    micros = (part.get("H", 0) * 3600 + part.get("MI", 0) * 60) * 1_000_000 + int(seconds * 1_000_000)
    sign = -1 if match["neg"] == "-" else 1
    return sign * months, sign * days, sign * micros


def _signed_parts(value: int, *units: int) -> list[int]:
    """Split value into whole multiples of the units (largest first), each part carrying value's sign."""
    sign, rest, parts = (-1 if value < 0 else 1), abs(value), []
    for unit in units:
        parts.append(sign * (rest // unit))
        rest %= unit
    return [*parts, sign * rest]


def format_iso_duration(months: int, days: int, microseconds: int) -> str:
    """ISO 8601 duration of an interval, each field with its own sign as PostgreSQL's iso_8601 style writes it."""
    years, months = _signed_parts(months, 12)
    hours, minutes, micros = _signed_parts(microseconds, 3_600_000_000, 60_000_000)
    date = "".join(f"{n}{u}" for n, u in ((years, "Y"), (months, "M"), (days, "D")) if n)
    seconds = ""
    if micros:
        whole, fraction = divmod(abs(micros), 1_000_000)
        seconds = ("-" if micros < 0 else "") + str(whole) + (f".{fraction:06d}".rstrip("0") if fraction else "")
    time = "".join(f"{n}{u}" for n, u in ((hours, "H"), (minutes, "M")) if n) + (f"{seconds}S" if seconds else "")
    if not date and not time:
        return "P0D"
    return "P" + date + ("T" + time if time else "")


def interval_of(value: Any) -> Interval | None:
    """The exact interval of a PostgreSQL interval value in any form pg8000 produces, or None for other values.

    pg8000 1.31 gives datetime.timedelta when the interval has no months and its own PGInterval otherwise. A
    timedelta has lost PostgreSQL's day/time split ('1 day' and '24:00:00' are both timedelta(days=1)); run_gold
    avoids that by parsing the server's text itself into an Interval.
    """
    if isinstance(value, Interval):
        return value
    if isinstance(value, dt.timedelta):
        total = (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds
        days, micros = _signed_parts(total, 86_400_000_000)
        return Interval(0, days, micros)
    if type(value).__name__ == "PGInterval":
        field = lambda name: getattr(value, name, None) or 0  # noqa: E731
        years = field("millennia") * 1000 + field("centuries") * 100 + field("decades") * 10 + field("years")
        seconds = Decimal(str(field("seconds")))
        micros = (field("hours") * 3600 + field("minutes") * 60) * 1_000_000 + int(seconds * 1_000_000)
        days = field("weeks") * 7 + field("days")
        return Interval(years * 12 + field("months"), days, micros + field("microseconds"))
    return None


# --- cells -----------------------------------------------------------------------------------------------------


def expected_json(value: Any) -> Any:
    """The JSON value the product promises for one PostgreSQL value. Non-finite numbers come back as float NaN/inf
    (not valid JSON): `compare` reports them."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, Decimal):
        if not value.is_finite():
            return float(value)
        return int(value) if value == value.to_integral_value() and abs(value) < 2**53 else float(value)
    if isinstance(value, float):
        return value
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.replace(tzinfo=None).isoformat()
    interval = interval_of(value)
    if interval is not None:
        return format_iso_duration(*interval)
    if isinstance(value, list | tuple):
        return [expected_json(item) for item in value]
    if isinstance(value, dict):
        return {str(key): expected_json(item) for key, item in value.items()}
    raise TypeError(f"no JSON contract for {type(value).__name__}: {value!r}")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _cell_problem(gold: Any, product: Any) -> str | None:
    """Why the product's JSON cell does not match the PostgreSQL value, or None when it does."""
    interval = interval_of(gold)
    if interval is not None:
        if not isinstance(product, str):
            return "interval expected as an ISO 8601 duration string"
        try:
            return None if parse_iso_duration(product) == tuple(interval) else "different interval"
        except ValueError:
            return "not an ISO 8601 duration"
    expected = expected_json(gold)
    if isinstance(expected, float) and not math.isfinite(expected):
        return f"PostgreSQL value is {gold} (non-finite: no JSON form)"
    if _is_number(expected):
        if not _is_number(product):
            return "number expected"
        if isinstance(product, float) and not math.isfinite(product):
            return "non-finite product number"
        return None if math.isclose(float(expected), float(product), rel_tol=1e-9, abs_tol=1e-9) else "different number"
    if isinstance(expected, list):
        if not isinstance(product, list) or len(product) != len(expected):
            return "list of the same length expected"
        problems = [_cell_problem(g, p) for g, p in zip(gold, product, strict=True)]
        return next((f"element {i}: {p}" for i, p in enumerate(problems) if p), None)
    if type(expected) is not type(product) or expected != product:
        return "different value" if type(expected) is type(product) else f"{type(expected).__name__} expected"
    return None


def _sort_key(cell: Any, interval_column: bool) -> tuple:
    """A canonical, type-tagged key (for gold Python values and product JSON values alike) to sort rows by."""
    if cell is None:
        return (0, "")
    if isinstance(cell, bool):
        return (1, str(cell))
    if interval_column:
        exact = interval_of(cell)
        if exact is None and isinstance(cell, str):
            try:
                exact = Interval(*parse_iso_duration(cell))
            except ValueError:
                exact = None
        if exact is not None:
            return (2, f"{exact.months:+020d}{exact.days:+020d}{exact.microseconds:+030d}")
    if _is_number(cell) or isinstance(cell, Decimal):
        number = float(cell)
        if not math.isfinite(number):
            return (3, str(number))
        return (2, f"{number:+.6e}") if number else (2, f"{0.0:+.6e}")
    if isinstance(cell, list | tuple):
        return (5, repr([_sort_key(item, interval_column) for item in cell]))
    value = expected_json(cell) if not isinstance(cell, str) else cell
    return (4, str(value))


def _row_problems(gold_row: list, product_row: list) -> list[tuple[int, str]]:
    return [(i, problem) for i, (g, p) in enumerate(zip(gold_row, product_row, strict=True))
            if (problem := _cell_problem(g, p))]


def _as_json(value: Any) -> Any:
    try:
        return expected_json(value)
    except TypeError:
        return value


def _show(value: Any) -> str:
    return repr(_as_json(value))


def compare(pg_columns: list[str], pg_rows: list[list], product_table: dict, ordered: bool) -> list[str]:
    """Differences between PostgreSQL's result and the product's table; empty when they agree.

    Column-name differences start with "names:" so that a caller can count them apart from value differences.
    """
    names: list[str] = []
    diffs: list[str] = []
    columns = list(product_table.get("columns") or [])
    rows = [list(row) for row in product_table.get("rows") or []]
    if product_table.get("truncated"):
        diffs.append(f"product table is truncated ({len(rows)} rows shown)")
    if product_table.get("row_count", len(rows)) != len(rows):
        diffs.append(f"product row_count {product_table.get('row_count')} but {len(rows)} rows")
    if len(columns) != len(pg_columns):
        return [f"column count: PostgreSQL {len(pg_columns)} {pg_columns}, product {len(columns)} {columns}"]
    for i, (want, got) in enumerate(zip(pg_columns, columns, strict=True)):
        if want != got:
            names.append(f"names: column {i + 1} is {got!r}, PostgreSQL names it {want!r}")
    bad_width = [i for i, row in enumerate(rows) if len(row) != len(columns)]
    if bad_width:
        return [*names, *diffs, f"product rows {bad_width[:5]} do not have {len(columns)} cells"]
    if len(rows) != len(pg_rows):
        diffs.append(f"row count: PostgreSQL {len(pg_rows)}, product {len(rows)}")

    if ordered:
        for r, (gold_row, product_row) in enumerate(zip(pg_rows, rows, strict=False)):
            for c, problem in _row_problems(gold_row, product_row):
                diffs.append(f"row {r + 1} column {pg_columns[c]!r}: PostgreSQL {_show(gold_row[c])}, "
                             f"product {product_row[c]!r} ({problem})")
    else:
        diffs.extend(_multiset_differences(pg_columns, pg_rows, rows))

    if len(diffs) > MAX_DIFFERENCES:
        diffs = [*diffs[:MAX_DIFFERENCES], f"... and {len(diffs) - MAX_DIFFERENCES} more differences"]
    return names[:MAX_DIFFERENCES] + diffs


def _multiset_differences(pg_columns: list[str], pg_rows: list[list], rows: list[list]) -> list[str]:
    interval_columns = [any(interval_of(row[c]) is not None for row in pg_rows) for c in range(len(pg_columns))]

    def key(row: list) -> tuple:
        return tuple(_sort_key(cell, interval_columns[c]) for c, cell in enumerate(row))

    gold = sorted(pg_rows, key=key)
    product = sorted(rows, key=key)
    unmatched_gold, unmatched_product = [], []
    for gold_row, product_row in zip(gold, product, strict=False):
        if _row_problems(gold_row, product_row):
            unmatched_gold.append(gold_row)
            unmatched_product.append(product_row)
    unmatched_gold += gold[len(product):]
    unmatched_product += product[len(gold):]
    # Rows that sorted apart (numbers within tolerance on either side of a rounding step): match them greedily.
    still_gold = []
    for gold_row in unmatched_gold:
        match = next((i for i, p in enumerate(unmatched_product) if not _row_problems(gold_row, p)), None)
        if match is None:
            still_gold.append(gold_row)
        else:
            unmatched_product.pop(match)
    diffs = [f"row missing from product: {[_as_json(v) for v in row]}" for row in still_gold]
    diffs += [f"row only in product: {row}" for row in unmatched_product]
    return diffs
