"""A compact profile of a table, computed once at ingest and stored with the record.

Agents read it to pick datasets and columns, so it stays small for wide
tables: a fixed handful of facts per column and a few sample rows.
"""

from __future__ import annotations

import json
from typing import Any

import polars as pl

TOP_VALUES = 10
SAMPLE_ROWS = 5
_STRING_LIMIT = 80
# The profile is stored inside the dataset record (a Firestore document is at most 1 MiB) and read into
# prompts, so wide tables get fewer top values and shorter samples until the whole fits this budget.
PROFILE_BUDGET_BYTES = 256 * 1024


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
    full = _profile(frame, labels or {}, TOP_VALUES, SAMPLE_ROWS, _STRING_LIMIT)
    profile = full
    for top, samples, text in ((5, 3, 40), (3, 2, 24), (1, 1, 16), (0, 0, 16)):
        if len(json.dumps(profile, default=str)) <= PROFILE_BUDGET_BYTES:
            break
        profile = _trim(full, top, samples, text)
    return profile


def _cut(value: Any, limit: int) -> Any:
    return value[: limit - 1] + "…" if isinstance(value, str) and len(value) > limit else value


def _trim(profile: dict[str, Any], top_n: int, sample_rows: int, text_limit: int) -> dict[str, Any]:
    """A smaller copy of a computed profile: fewer top values and samples, shorter text."""
    columns = [
        {**c, "label": _cut(c["label"], max(text_limit, 64)),
         "top_values": [{"value": _cut(t["value"], text_limit), "count": t["count"]} for t in c["top_values"][:top_n]]}
        for c in profile["columns"]
    ]
    samples = [[_cut(v, text_limit) for v in row] for row in profile["sample_rows"][:sample_rows]]
    return {**profile, "columns": columns, "sample_rows": samples}


def _profile(frame: pl.DataFrame, labels: dict[str, str], top_n: int, sample_rows: int,
             text_limit: int) -> dict[str, Any]:
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
            counts = series.drop_nulls().value_counts(sort=True).head(top_n)
            column["top_values"] = [
                {"value": jsonable(row[0], text_limit), "count": int(row[1])} for row in counts.iter_rows()
            ]
        columns.append(column)
    return {
        "rows": frame.height,
        "columns": columns,
        "sample_rows": [[jsonable(v, text_limit) for v in row] for row in frame.head(sample_rows).iter_rows()],
    }
