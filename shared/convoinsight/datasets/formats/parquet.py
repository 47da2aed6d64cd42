"""Parquet: any valid file; the footer is read first so an oversized file is refused unread."""

from __future__ import annotations

from io import BytesIO

import polars as pl

from convoinsight.datasets.formats.common import Limits, short, unreadable


def read_parquet(data: bytes, limits: Limits) -> pl.DataFrame:
    try:
        # The row count and schema live in the footer: checking them costs no data reading.
        limits.check_columns(len(pl.read_parquet_schema(BytesIO(data))))
        limits.check_rows(pl.scan_parquet(BytesIO(data)).select(pl.len()).collect().item())
        return pl.read_parquet(BytesIO(data))
    except pl.exceptions.PolarsError as exc:
        raise unreadable(f"the Parquet file is damaged or incomplete: {short(exc)}") from None
    except OSError as exc:
        raise unreadable(f"the Parquet file could not be read: {short(exc)}") from None
