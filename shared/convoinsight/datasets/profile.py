"""A compact profile of a table, computed once at ingest and stored with the record.

Agents read it to pick datasets and columns, so it stays small for wide
tables: a fixed handful of facts per column and a few sample rows.
"""

from __future__ import annotations

from typing import Any

import polars as pl

TOP_VALUES = 10
SAMPLE_ROWS = 5
_STRING_LIMIT = 80


def dtype_name(dtype: pl.DataType) -> str:
    if dtype.is_integer():
        return "integer"
    if dtype.is_float() or dtype.is_decimal():
        return "float"
    if dtype == pl.Boolean:
        return "boolean"
    if dtype == pl.Date:
        return "date"
    if isinstance(dtype, pl.Datetime):
        return "datetime"
    if dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum):
        return "string"
    return "other"


def jsonable(value: Any, max_len: int | None = None) -> Any:
    """Cell values as JSON-friendly scalars (dates as ISO text; strings cut to ``max_len`` if given)."""
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    text = str(value)
    return text if max_len is None or len(text) <= max_len else text[: max_len - 1] + "…"


def profile_table(frame: pl.DataFrame, labels: dict[str, str] | None = None) -> dict[str, Any]:
    labels = labels or {}
    columns = []
    for name in frame.columns:
        series = frame.get_column(name)
        kind = dtype_name(series.dtype)
        column: dict[str, Any] = {
            "name": name,
            "label": labels.get(name, name),
            "dtype": kind,
            "nulls": series.null_count(),
            "distinct": series.n_unique(),
            "min": None,
            "max": None,
            "mean": None,
            "top_values": [],
        }
        if kind in ("integer", "float", "date", "datetime"):
            column["min"] = jsonable(series.min())
            column["max"] = jsonable(series.max())
        if kind in ("integer", "float"):
            mean = series.mean()
            column["mean"] = round(mean, 4) if isinstance(mean, float) else jsonable(mean)
        if kind in ("string", "boolean"):
            counts = series.drop_nulls().value_counts(sort=True).head(TOP_VALUES)
            column["top_values"] = [
                {"value": jsonable(row[0], _STRING_LIMIT), "count": int(row[1])} for row in counts.iter_rows()
            ]
        columns.append(column)
    return {
        "rows": frame.height,
        "columns": columns,
        "sample_rows": [[jsonable(v, _STRING_LIMIT) for v in row] for row in frame.head(SAMPLE_ROWS).iter_rows()],
    }
