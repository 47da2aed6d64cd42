"""Profiles are computed at ingest, exact on the facts they give, and compact for wide tables."""

from __future__ import annotations

import json
from datetime import date

import polars as pl

from convoinsight.datasets.profile import PROFILE_BUDGET_BYTES, profile_table


def test_profile_facts_per_column():
    frame = pl.DataFrame({
        "region": ["North", "South", "North", None],
        "revenue": [10.0, 30.0, 20.0, None],
        "day": [date(2024, 1, 2), date(2024, 1, 1), None, date(2024, 3, 1)],
        "flag": [True, False, True, True],
    })
    profile = profile_table(frame, {"revenue": "Revenue ($)"})
    by_name = {c["name"]: c for c in profile["columns"]}
    assert profile["rows"] == 4
    assert by_name["region"]["dtype"] == "string" and by_name["region"]["nulls"] == 1
    assert by_name["region"]["top_values"][0] == {"value": "North", "count": 2}
    assert by_name["revenue"]["label"] == "Revenue ($)"
    assert (by_name["revenue"]["min"], by_name["revenue"]["max"], by_name["revenue"]["mean"]) == (10.0, 30.0, 20.0)
    assert (by_name["day"]["dtype"], by_name["day"]["min"], by_name["day"]["max"]) == ("date", "2024-01-01",
                                                                                       "2024-03-01")
    assert by_name["flag"]["distinct"] == 2
    assert profile["sample_rows"][0] == ["North", 10.0, "2024-01-02", True]


def test_a_wide_table_profile_fits_its_budget_and_keeps_every_column():
    frame = pl.DataFrame({f"col_{i}": [f"a fairly long text value {j} " * 4 for j in range(300)] for i in range(600)})
    profile = profile_table(frame)
    assert len(json.dumps(profile)) <= PROFILE_BUDGET_BYTES
    assert len(profile["columns"]) == 600
    assert all(c["distinct"] == 300 for c in profile["columns"])


def test_prompts_see_the_columns_a_question_is_about_in_a_wide_table():
    from convoinsight.pipeline.context import MAX_COLUMNS, dataset_view

    data = {f"metric_{i:03d}": [float(i)] * 3 for i in range(300)}
    data["customer_segment"] = ["Retail", "Wholesale", "Retail"]
    data["net_revenue"] = [1.0, 2.0, 3.0]
    profile = {"name": "wide", **profile_table(pl.DataFrame(data))}
    view = dataset_view(profile, "What is the net revenue per customer segment for Wholesale?")
    names = [c["name"] for c in view["columns"]]
    assert len(names) == MAX_COLUMNS and view["columns_omitted"] == 302 - MAX_COLUMNS
    assert "net_revenue" in names and "customer_segment" in names
    assert len(json.dumps(view)) < 40_000
    # Sample rows follow the kept columns.
    assert all(len(row) == MAX_COLUMNS for row in view["sample_rows"])
    assert dataset_view(profile_table_small := {"name": "s", **profile_table(pl.DataFrame({"a": [1]}))})["columns"]
    assert "columns_omitted" not in dataset_view(profile_table_small)
