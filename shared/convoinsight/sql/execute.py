"""Run checked SQL in Polars over exactly the tables the query references."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from convoinsight.datasets.profile import dtype_name, jsonable
from convoinsight.errors import SqlExecutionError


@dataclass(frozen=True)
class ResultTable:
    columns: list[str]
    column_types: list[str]
    rows: list[list[Any]]
    row_count: int
    truncated: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "columns": self.columns,
            "column_types": self.column_types,
            "rows": self.rows,
            "row_count": self.row_count,
            "truncated": self.truncated,
        }


def run_select(sql: str, frames: dict[str, pl.LazyFrame], max_rows: int) -> ResultTable:
    """Execute ``sql`` (already passed by the guard) with only ``frames`` registered.

    The SQL context sees nothing but the tenant's referenced datasets, so even
    a guard bug could not reach another tenant's data or the file system by name.
    """
    try:
        with pl.SQLContext(frames=frames) as ctx:
            lazy = ctx.execute(sql, eager=False)
            head = lazy.head(max_rows + 1).collect()
            truncated = head.height > max_rows
            row_count = lazy.select(pl.len()).collect().item() if truncated else head.height
    except Exception as exc:  # Polars raises SQLSyntaxError, ColumnNotFoundError, ComputeError, ...
        message = str(exc).strip().splitlines()[0][:500] if str(exc).strip() else type(exc).__name__
        raise SqlExecutionError(f"{type(exc).__name__}: {message}") from None
    frame = head.head(max_rows)
    return ResultTable(
        columns=frame.columns,
        column_types=[dtype_name(t) for t in frame.dtypes],
        rows=[[jsonable(v) for v in row] for row in frame.iter_rows()],
        row_count=row_count,
        truncated=truncated,
    )
