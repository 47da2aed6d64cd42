"""Engine values as JSON: the types a frontend renders, and the cell and byte limits."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pyarrow as pa
import pytest

from convoinsight.sql.values import ResultEncoder, column_type, encode, iso_duration


@pytest.mark.parametrize(("parts", "text"), [
    ((0, 0, 0), "P0D"), ((14, 2, 3_600_000_000_000), "P1Y2M2DT1H"), ((-14, 0, 0), "P-1Y-2M"),
    ((0, 3, 90_500_000_000), "P3DT1M30.5S"), ((0, -1, -1_500_000_000), "P-1DT-1.5S"),
])
def test_intervals_are_iso_8601_durations(parts, text):
    assert iso_duration(*parts) == text


@pytest.mark.parametrize(("value", "json"), [
    (float("nan"), "NaN"), (float("inf"), "Infinity"), (float("-inf"), "-Infinity"),
    (Decimal("2.30"), 2.3), (Decimal("42"), 42), (Decimal("NaN"), "NaN"),
    (dt.date(2024, 2, 29), "2024-02-29"), (dt.datetime(2024, 2, 29, 13, 5), "2024-02-29T13:05:00"),
    (dt.datetime(2024, 2, 29, 14, 5, tzinfo=dt.timezone(dt.timedelta(hours=1))), "2024-02-29T13:05:00"),
    (dt.time(13, 5), "13:05:00"), (b"\x01\xff", "\\x01ff"), ([1, None, "a"], [1, None, "a"]),
    ({"k": Decimal("1.5")}, {"k": 1.5}), (dt.timedelta(days=1, seconds=2), "P1DT2S"),
])
def test_values_become_json_a_frontend_can_render(value, json):
    assert encode(value, 100) == (json, False)


def test_long_text_is_cut_and_said_to_be():
    assert encode("x" * 50, 10) == ("x" * 9 + "…", True)


@pytest.mark.parametrize(("engine", "name"), [
    ("HUGEINT", "integer"), ("DECIMAL(10,2)", "decimal"), ("DOUBLE", "float"), ("VARCHAR", "string"),
    ("TIMESTAMP WITH TIME ZONE", "datetime"), ("INTERVAL", "interval"), ("INTEGER[]", "list"),
    ("STRUCT(a INTEGER)", "object"), ("BLOB", "binary"), ("TIME", "time"), ("UUID", "string"),
])
def test_no_engine_type_is_other(engine, name):
    assert column_type(engine) == name


def test_the_encoder_keeps_rows_within_rows_and_bytes_and_counts_all():
    batch = pa.record_batch({"t": ["y" * 1000] * 500})
    by_bytes = ResultEncoder(max_rows=1000, max_bytes=20_000, max_chars=2000)
    for _ in range(3):
        by_bytes.add(batch)
    out = by_bytes.result()
    assert out["row_count"] == 1500 and out["truncated"] and out["limits"] == ["bytes"]
    assert 15 <= len(out["rows"]) <= 20
    by_rows = ResultEncoder(max_rows=100, max_bytes=10**9, max_chars=10)
    by_rows.add(batch)
    out = by_rows.result()
    assert len(out["rows"]) == 100 and out["row_count"] == 500 and out["limits"] == ["rows", "cells"]
