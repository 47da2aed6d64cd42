"""The corpus's data model, and helpers the schema modules build their tables with.

Value types held in the frames, and why:
- money is `numeric(10,2)` in PostgreSQL and `polars.Decimal(10, 2)` in the frame, holding `decimal.Decimal` values
  quantized to cents. Decimals round-trip exactly: into PostgreSQL as their text, into Parquet as decimal128(10,2),
  into CSV as fixed two-decimal text ("12.50"). Floats would not: 2.15 is 2.14999… as a double, so `round(x, 1)`
  on a float column differs from PostgreSQL's numeric rounding (half away from zero).
- other non-integral measures (weights, scores) are numeric(p,s) Decimals too; there are no float8 columns.
- integers are Int64 (PostgreSQL integer/bigint), text is String, dates are Date, timestamps are naive
  Datetime("us") (PostgreSQL `timestamp`, no time zone), booleans are Boolean.
- timestamps carry whole seconds, except a few that carry milliseconds on purpose (logistics.shipment_events).
- text values are ASCII. A few cells hold the empty string '' (distinct from NULL in PostgreSQL and Parquet;
  in CSV "" versus an empty cell) and a few hold whitespace-only or padded text.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import polars as pl

MONEY = pl.Decimal(10, 2)
INT = pl.Int64
TEXT = pl.String
DATE = pl.Date
TS = pl.Datetime("us")
BOOL = pl.Boolean
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Table:
    ddl: str
    frame: pl.DataFrame


@dataclass(frozen=True)
class Query:
    id: str
    question: str
    sql: str
    ordered: bool


def frame(columns: list[tuple[str, pl.DataType]], rows: list[tuple]) -> pl.DataFrame:
    """A frame with exactly these column names and dtypes."""
    return pl.DataFrame(rows, schema=columns, orient="row")


def money(value: float | int | str | Decimal, places: str = "0.01") -> Decimal:
    return Decimal(str(value)).quantize(Decimal(places), rounding=ROUND_HALF_UP)


def rand_money(rng: random.Random, low: float, high: float) -> Decimal:
    return money(rng.uniform(low, high))


def rand_date(rng: random.Random, start: dt.date, end: dt.date) -> dt.date:
    return start + dt.timedelta(days=rng.randint(0, (end - start).days))


def rand_time(rng: random.Random, day: dt.date, first_hour: int = 0, last_hour: int = 23) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, rng.randint(first_hour, last_hour), rng.randint(0, 59),
                       rng.randint(0, 59))


def maybe(rng: random.Random, probability: float, value):
    """`value` with the given probability, else None."""
    return value if rng.random() < probability else None
