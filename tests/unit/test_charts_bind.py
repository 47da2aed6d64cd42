"""Binding more rows than a chart can show: deterministic reduction, exact numbers, and the chart says so."""

from __future__ import annotations

import io
import json
import math
import random

import polars as pl
import pytest

from convoinsight.charts.bind import bind, bind_data, check_spec
from convoinsight.charts.measures import combine_rules
from convoinsight.charts.reduce import MAX_CATEGORIES, MAX_CHART_POINTS
from convoinsight.services import get_services
from convoinsight.sessions import store
from convoinsight.settings import get_settings


def table(columns: list[str], rows: list[list], row_count: int | None = None) -> dict:
    return {"columns": columns, "column_types": ["string"] * len(columns), "rows": rows,
            "row_count": len(rows) if row_count is None else row_count,
            "truncated": row_count is not None and row_count > len(rows)}


def wave(n: int) -> list[list]:
    """A deterministic noisy series with a spike and a dip in the middle."""
    rng = random.Random(7)
    rows = [[i, round(math.sin(i / 40) * 100 + rng.uniform(-5, 5), 3)] for i in range(n)]
    rows[n * 2 // 5][1], rows[n * 2 // 3][1] = 10_000.0, -10_000.0
    return rows


LINE = {"mark": "line", "encoding": {"x": {"field": "t", "type": "quantitative"},
                                     "y": {"field": "v", "type": "quantitative"}}}
BAR = {"mark": "bar", "encoding": {"x": {"field": "name", "type": "nominal", "sort": "-y"},
                                   "y": {"field": "total", "type": "quantitative"}}}


def categories(n: int) -> list[list]:
    rng = random.Random(11)
    return [[f"c{i:03d}", round(rng.uniform(0, 1000), 2)] for i in range(n)]


def test_a_long_line_is_sampled_to_the_cap_keeping_first_last_and_extremes():
    rows = wave(3000)
    bound, truncated = bind(check_spec(LINE, {"t", "v"}), table(["t", "v"], rows))
    values = bound["data"]["values"]
    assert MAX_CHART_POINTS * 0.95 <= len(values) <= MAX_CHART_POINTS < len(rows)
    assert truncated == {"shown": len(values), "of": 3000, "method": "sample", "unit": "points"}
    assert values[0] == {"t": 0, "v": rows[0][1]} and values[-1] == {"t": 2999, "v": rows[-1][1]}
    assert {"t": 1200, "v": 10_000.0} in values and {"t": 2000, "v": -10_000.0} in values
    # Every bound point is a row of the table, unchanged, in the table's order.
    as_rows = [[v["t"], v["v"]] for v in values]
    assert all(r in rows for r in as_rows) and as_rows == sorted(as_rows)
    assert "3,000 points" in bound["title"]["text"]
    # Deterministic: the same table gives the same chart.
    assert bind(check_spec(LINE, {"t", "v"}), table(["t", "v"], rows)) == (bound, truncated)


def test_sampling_keeps_every_series_and_each_series_extremes():
    spec = {**LINE, "encoding": {**LINE["encoding"], "color": {"field": "s", "type": "nominal"}}}
    rows = [[i, v, s] for s in ("a", "b", "c") for i, v in wave(1500)]
    random.Random(3).shuffle(rows)  # the table's order is not x order
    bound, truncated = bind(spec, table(["t", "v", "s"], rows), max_points=600)
    values = bound["data"]["values"]
    assert truncated["shown"] == len(values) <= 600 and truncated["of"] == 4500
    for s in ("a", "b", "c"):
        kept = sorted(v["t"] for v in values if v["s"] == s)
        assert len(kept) >= 150 and kept[0] == 0 and kept[-1] == 1499
        assert {"t": 600, "v": 10_000.0, "s": s} in values and {"t": 1000, "v": -10_000.0, "s": s} in values


def test_two_hundred_bars_become_the_top_fifty_and_an_exact_other():
    rows = categories(200)
    spec = check_spec(BAR, {"name", "total"})
    sql = 'SELECT "name", SUM("x") AS total FROM t GROUP BY "name"'
    bound, truncated = bind(spec, table(["name", "total"], rows), combine=combine_rules(sql))
    values = bound["data"]["values"]
    ranked = sorted(rows, key=lambda r: -r[1])
    assert len(values) == MAX_CATEGORIES + 1
    assert values[:-1] == [{"name": n, "total": t} for n, t in rows if [n, t] in ranked[:MAX_CATEGORIES]]
    assert values[-1] == {"name": "Other", "total": math.fsum(t for _, t in ranked[MAX_CATEGORIES:])}
    assert truncated == {"shown": 50, "of": 200, "method": "other", "unit": "categories"}
    assert bound["title"]["text"] == "Top 50 of 200 name by total; the other 150 combined as \u201cOther\u201d"


def test_integer_counts_sum_exactly_and_a_stacked_bar_gets_one_other_per_colour():
    spec = {"mark": "bar", "encoding": {"y": {"field": "name", "type": "nominal"},
                                       "x": {"field": "n", "type": "quantitative"},
                                       "color": {"field": "kind", "type": "nominal"}}}
    rows = [[f"c{i:03d}", kind, i * 10**15 + k] for i in range(80) for k, kind in enumerate(("a", "b"))]
    bound, truncated = bind(spec, table(["name", "kind", "n"], rows), combine={"n": "sum"})
    others = [v for v in bound["data"]["values"] if v["name"] == "Other"]
    assert others == [{"name": "Other", "kind": kind, "n": sum(r[2] for r in rows if r[1] == kind and r[0] < "c030")}
                      for kind in ("a", "b")]
    assert truncated["shown"] == 50 and truncated["of"] == 80


def test_averages_are_never_summed_into_other():
    rows = categories(120)
    sql = 'SELECT "name", AVG("delay") AS total FROM t GROUP BY "name"'
    bound, truncated = bind(BAR, table(["name", "total"], rows), combine=combine_rules(sql))
    assert len(bound["data"]["values"]) == 50 and all(v["name"] != "Other" for v in bound["data"]["values"])
    assert truncated == {"shown": 50, "of": 120, "method": "top_n", "unit": "categories"}
    assert bound["title"]["text"] == "Top 50 of 120 name by total"


def test_an_aggregating_spec_gets_relabelled_rows_so_vega_lite_computes_other():
    spec = {"mark": "arc", "encoding": {"theta": {"field": "v", "type": "quantitative", "aggregate": "mean"},
                                        "color": {"field": "name", "type": "nominal"}}}
    rows = [[f"c{i:02d}", float(i + j)] for i in range(60) for j in range(3)]
    bound, truncated = bind(spec, table(["name", "v"], rows))
    values = bound["data"]["values"]
    assert len(values) == len(rows)  # every row kept; the rest relabelled
    assert {v["name"] for v in values} == {f"c{i:02d}" for i in range(10, 60)} | {"Other"}
    assert sorted(v["v"] for v in values if v["name"] == "Other") == sorted(r[1] for r in rows if r[0] < "c10")
    assert truncated["method"] == "other"


def test_other_never_collides_with_a_real_category():
    rows = [["Other", 1e9], *categories(60)]
    bound, _ = bind(BAR, table(["name", "total"], rows))
    assert bound["data"]["values"][0] == {"name": "Other", "total": 1e9}
    assert bound["data"]["values"][-1]["name"] == "Other (rest)"


def test_small_tables_are_bound_whole_and_unmarked():
    rows = categories(MAX_CATEGORIES)
    bound, truncated = bind(BAR, table(["name", "total"], rows))
    assert truncated is None and "title" not in bound
    assert bound["data"]["values"] == [{"name": n, "total": t} for n, t in rows]
    assert bind_data(BAR, table(["name", "total"], rows)) == bound


def test_a_truncated_result_is_reported_even_without_reduction():
    rows = categories(30)
    spec = {**BAR, "title": "Sales"}
    bound, truncated = bind(spec, table(["name", "total"], rows, row_count=12_345))
    assert truncated == {"shown": 30, "of": 12_345, "method": "limit", "unit": "rows"}
    assert bound["title"] == {"text": "Sales", "subtitle": "First 30 of 12,345 result rows"}
    bound, truncated = bind(spec, table(["name", "total"], categories(100), row_count=5000))
    assert truncated == {"shown": 50, "of": 100, "method": "other", "unit": "categories",
                         "result": {"shown": 100, "of": 5000}}
    assert bound["title"]["subtitle"].endswith("(from the first 100 of 5,000 result rows)")


def test_aggregating_specs_are_not_sampled():
    spec = {"mark": "line", "encoding": {"x": {"field": "t", "type": "quantitative", "bin": True},
                                         "y": {"field": "v", "type": "quantitative", "aggregate": "mean"}}}
    rows = wave(3000)
    bound, truncated = bind(spec, table(["t", "v"], rows))
    assert len(bound["data"]["values"]) == 3000 and truncated is None


def test_existing_subtitles_are_kept():
    spec = {**LINE, "title": {"text": "Wave", "subtitle": "in metres"}}
    bound, _ = bind(spec, table(["t", "v"], wave(3000)))
    assert bound["title"]["text"] == "Wave" and bound["title"]["subtitle"][0] == "in metres"
    check_spec({k: v for k, v in bound.items() if k != "data"}, {"t", "v"})  # still a valid spec


def test_a_long_result_is_sampled_through_the_pipeline(use_stub_model, datasets_client, queries_client, user_id,
                                                       monkeypatch):
    monkeypatch.setenv("MAX_RESULT_ROWS", "5000")
    get_settings.cache_clear()
    frame = pl.DataFrame({"t": list(range(3000)), "v": [v for _, v in wave(3000)]})
    resp = datasets_client.post("/lab", headers={"X-User-Id": user_id},
                                data={"file": (io.BytesIO(frame.write_csv().encode()), "wave.csv")})
    assert resp.status_code == 201, resp.get_json()
    stub = use_stub_model
    stub.script("router", json.dumps({"route": "data", "datasets": ["wave"], "chart": "line", "analysis": True}))
    stub.script("orchestrator", json.dumps({"manipulator_prompt": "all", "visualizer_prompt": "line",
                                            "analyzer_prompt": "peaks", "compiler_instruction": "brief"}))
    stub.script("manipulator", json.dumps({"sql": 'SELECT "t", "v" FROM wave ORDER BY "t"', "explanation": "all"}))
    stub.script("visualizer", json.dumps({"spec": LINE, "title": "Wave"}))
    stub.script("analyzer", json.dumps({"summary": "A wave.", "insights": []}))
    stub.script("compiler", json.dumps({"answer": "A wave.", "follow_ups": ["Why?", "When?"]}))
    body = queries_client.post("/", headers={"X-User-Id": user_id},
                               json={"domain": "lab", "prompt": "show the wave"}).get_json()
    assert body["table"]["row_count"] == 3000 and body["table"]["truncated"] is False
    stored = get_services(get_settings()).documents.get(store.charts(user_id), body["chart"]["id"])
    values = stored["spec"]["data"]["values"]
    assert stored["truncated"] == {"shown": len(values), "of": 3000, "method": "sample", "unit": "points"}
    assert len(values) <= MAX_CHART_POINTS and values[0]["t"] == 0 and values[-1]["t"] == 2999
    assert {"t": 1200, "v": 10_000.0} in values and {"t": 2000, "v": -10_000.0} in values


@pytest.mark.parametrize(("sql", "expected"), [
    ('SELECT "a", SUM("x") AS s, COUNT(*) AS n FROM t GROUP BY "a"', {"a": "sum", "s": "sum", "n": "sum"}),
    ('SELECT "a", ROUND(AVG("x"), 2) AS m, COUNT(DISTINCT "y") AS d FROM t GROUP BY 1', {"a": "sum", "m": None,
                                                                                       "d": None}),
    ('SELECT "a", MIN("x") AS lo, MAX("x") AS hi, SUM("x") / COUNT(*) AS r FROM t GROUP BY 1',
     {"a": "sum", "lo": "min", "hi": "max", "r": None}),
    ("not sql at all (((", {}),
    (None, {}),
])
def test_combine_rules_come_from_the_sql_projection(sql, expected):
    assert combine_rules(sql) == expected


def test_stacked_bars_are_sampled_by_whole_x_positions():
    spec = {"mark": "area", "encoding": {"x": {"field": "day", "type": "temporal"},
                                         "y": {"field": "v", "type": "quantitative"},
                                         "color": {"field": "s", "type": "nominal"}}}
    days = [f"2020-01-01T00:{m // 60:02d}:{m % 60:02d}" for m in range(1500)]
    rows = [[d, float(i % 97) + (1000.0 if i == 700 else 0.0), s] for i, d in enumerate(days) for s in "abc"]
    for chart in (spec, {**spec, "mark": "bar"}):
        bound, truncated = bind(chart, table(["day", "v", "s"], rows), max_points=600)
        values = bound["data"]["values"]
        kept_days = {v["day"] for v in values}
        assert truncated["method"] == "sample" and truncated["shown"] == len(values) <= 600 + 3
        assert len(values) == 3 * len(kept_days)  # every kept x keeps its whole stack
        assert {days[0], days[-1], days[700]} <= kept_days


def test_pies_are_never_sampled():
    spec = {"mark": "arc", "encoding": {"theta": {"field": "v", "type": "quantitative"},
                                        "color": {"field": "s", "type": "nominal"}}}
    rows = [[f"s{i % 10}", float(i)] for i in range(3000)]
    bound, truncated = bind(spec, table(["s", "v"], rows))
    assert len(bound["data"]["values"]) == 3000 and truncated is None
