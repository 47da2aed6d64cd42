"""Engine values as the JSON a frontend can render, typed the way PostgreSQL types them.

| engine type                        | ``column_types`` | JSON value                                   |
|------------------------------------|------------------|----------------------------------------------|
| TINYINT ... BIGINT, HUGEINT        | ``integer``      | number                                       |
| REAL, DOUBLE                       | ``float``        | number (``"NaN"``, ``"Infinity"`` as strings) |
| DECIMAL(p, s) / NUMERIC            | ``decimal``      | number                                       |
| VARCHAR, UUID, ENUM                | ``string``       | string (cut to the cell limit, ending "…")   |
| BOOLEAN                            | ``boolean``      | true / false                                 |
| DATE                               | ``date``         | ``"2024-02-29"``                             |
| TIMESTAMP [WITH TIME ZONE]         | ``datetime``     | ``"2024-02-29T13:05:00"`` (ISO 8601, UTC)     |
| TIME                               | ``time``         | ``"13:05:00"``                               |
| INTERVAL                           | ``interval``     | ISO 8601 duration, ``"P1M2DT3H"``            |
| lists / structs / maps             | ``list`` / ``object`` | arrays / objects of the above           |
| BLOB                               | ``binary``       | ``"\\x..."`` (hex, as PostgreSQL prints bytea) |

Nothing is typed ``other``. Limits hold here too: at most ``max_rows`` rows and about
``max_bytes`` of JSON are kept (``truncated`` says so), and no cell is longer than
``max_cell_chars``; the total ``row_count`` is counted from the stream, not by a second query.
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from typing import Any

_INTEGER = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
            "UBIGINT", "UHUGEINT", "INT")
_FLOAT = ("FLOAT", "DOUBLE", "REAL")


def column_type(engine_type: str) -> str:
    """The ``column_types`` name of a DuckDB type string such as ``DECIMAL(10,2)`` or ``INTEGER[]``."""
    t = engine_type.upper().strip()
    if t.endswith("]"):
        return "list"
    if t.startswith(("STRUCT", "MAP", "UNION")):
        return "object"
    if t in _INTEGER:
        return "integer"
    if t in _FLOAT:
        return "float"
    if t.startswith(("DECIMAL", "NUMERIC")):
        return "decimal"
    if t == "BOOLEAN":
        return "boolean"
    if t == "DATE":
        return "date"
    if t.startswith("TIMESTAMP") or t == "DATETIME":
        return "datetime"
    if t.startswith("TIME"):
        return "time"
    if t == "INTERVAL":
        return "interval"
    if t in ("BLOB", "BYTEA", "BIT"):
        return "binary"
    return "string"  # VARCHAR, UUID, ENUM(...), JSON, the NULL type


def iso_duration(months: int, days: int, nanoseconds: int) -> str:
    """ISO 8601 duration of an interval's three parts: ``P1Y2M3DT4H5M6.5S``; ``P0D`` when empty."""
    sign = -1 if months < 0 else 1
    years, months = (sign * part for part in divmod(abs(months), 12))
    out = "P" + "".join(f"{v}{u}" for v, u in ((years, "Y"), (months, "M"), (days, "D")) if v)
    if nanoseconds:
        sign = "-" if nanoseconds < 0 else ""
        total = abs(nanoseconds)
        hours, rest = divmod(total, 3_600_000_000_000)
        minutes, rest = divmod(rest, 60_000_000_000)
        seconds, nanos = divmod(rest, 1_000_000_000)
        second_text = f"{seconds}.{nanos:09d}".rstrip("0").rstrip(".") if nanos else str(seconds)
        time_parts = [(hours, "H"), (minutes, "M")]
        out += "T" + "".join(f"{sign}{v}{u}" for v, u in time_parts if v)
        if seconds or nanos:
            out += f"{sign}{second_text}S"
    return out if out != "P" else "P0D"


def encode(value: Any, max_chars: int) -> tuple[Any, bool]:
    """(JSON value, whether a text was cut)."""
    if value is None or isinstance(value, bool):
        return value, False
    if isinstance(value, str):
        if len(value) > max_chars:
            return value[: max_chars - 1] + "…", True
        return value, False
    if isinstance(value, int):
        return value, False
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN", False
        if math.isinf(value):
            return ("Infinity" if value > 0 else "-Infinity"), False
        return value, False
    if isinstance(value, Decimal):
        if not value.is_finite():
            return ("NaN" if value.is_nan() else ("Infinity" if value > 0 else "-Infinity")), False
        return (int(value) if value == value.to_integral_value() and value.as_tuple().exponent >= 0
                else float(value)), False
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:  # TIMESTAMP WITH TIME ZONE: the UTC wall clock, like every timestamp
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.isoformat(), False
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat(), False
    if isinstance(value, dt.timedelta):
        return iso_duration(0, value.days, (value.seconds * 1_000_000 + value.microseconds) * 1000), False
    if hasattr(value, "months") and hasattr(value, "nanoseconds"):  # pyarrow MonthDayNano
        return iso_duration(value.months, value.days, value.nanoseconds), False
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _text("\\x" + bytes(value).hex(), max_chars)
    if isinstance(value, (list, tuple)):
        cut = False
        items = []
        for item in value:
            encoded, c = encode(item, max_chars)
            items.append(encoded)
            cut |= c
        return items, cut
    if isinstance(value, dict):
        cut = False
        obj = {}
        for key, item in value.items():
            encoded, c = encode(item, max_chars)
            obj[str(key)] = encoded
            cut |= c
        return obj, cut
    return _text(str(value), max_chars)


def _text(text: str, max_chars: int) -> tuple[str, bool]:
    return (text[: max_chars - 1] + "…", True) if len(text) > max_chars else (text, False)


def _size(value: Any) -> int:
    """A cheap upper-ish estimate of a value's JSON size in bytes."""
    if value is None:
        return 4
    if isinstance(value, str):
        return len(value) + 2
    if isinstance(value, (bool, int, float)):
        return 12
    if isinstance(value, list):
        return 2 + sum(_size(v) + 1 for v in value)
    if isinstance(value, dict):
        return 2 + sum(len(k) + 4 + _size(v) for k, v in value.items())
    return len(str(value)) + 2


class ResultEncoder:
    """Keeps the first rows of a stream of Arrow batches within the limits and counts all of them."""

    def __init__(self, max_rows: int, max_bytes: int, max_chars: int):
        self.max_rows = max_rows
        self.max_bytes = max_bytes
        self.max_chars = max_chars
        self.rows: list[list[Any]] = []
        self.row_count = 0
        self.bytes = 2
        self.full = False  # no more rows are kept (a limit was reached)
        self.limited_by: str | None = None
        self.cells_cut = 0

    def add(self, batch) -> None:
        self.row_count += batch.num_rows
        if self.full:
            return
        room = self.max_rows - len(self.rows)
        part = batch.slice(0, room) if batch.num_rows > room else batch
        columns = [column.to_pylist() for column in part.columns]
        for values in zip(*columns, strict=True):
            row = []
            size = 2
            for value in values:
                encoded, cut = encode(value, self.max_chars)
                self.cells_cut += cut
                row.append(encoded)
                size += _size(encoded) + 1
            if self.rows and self.bytes + size > self.max_bytes:
                self.full, self.limited_by = True, "bytes"
                return
            self.rows.append(row)
            self.bytes += size
        if len(self.rows) >= self.max_rows:
            self.full, self.limited_by = True, "rows"

    def result(self) -> dict[str, Any]:
        truncated = self.row_count > len(self.rows)
        out: dict[str, Any] = {"rows": self.rows, "row_count": self.row_count, "truncated": truncated}
        limits = []
        if truncated:
            limits.append(self.limited_by or "rows")
        if self.cells_cut:
            limits.append("cells")
        out["limits"] = limits  # which limits shaped this table: rows, bytes, cells
        return out
