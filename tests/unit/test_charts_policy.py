"""The rendering policy: a spec the Vega-Lite schema accepts may still ask for unbounded work or run code.

Every refused spec below is valid Vega-Lite (the schema check alone lets it through, which is all the
old check_spec had for them); the policy refuses it with a message that starts with the key path.
"""

from __future__ import annotations

import io
import json
import re

import pytest

from convoinsight.charts import policy, render
from convoinsight.charts.bind import check_spec
from convoinsight.charts.schema import validate_spec
from convoinsight.charts.suggest import suggest_spec
from convoinsight.services import get_services
from convoinsight.sessions import store
from convoinsight.settings import get_settings
from tests.conftest import function_client
from tests.support.data import SALES_CSV
from tests.support.http import assert_error
from tests.unit.test_charts_schema import VALID

COLUMNS = {"name", "total", "day", "units", "region", "product", "order_date", "revenue"}
X = {"field": "name", "type": "nominal"}
Y = {"field": "total", "type": "quantitative"}
BAR = {"mark": "bar", "encoding": {"x": X, "y": Y}}
Q = {"field": "total", "type": "quantitative"}


def bar(**extra) -> dict:
    return {**BAR, **extra}


def enc(**channels) -> dict:
    return {"mark": "bar", "encoding": {"x": X, "y": Y, **channels}}


# (spec, the key path the refusal names)
SIZES = {
    "maxbins_in_encoding": ({"mark": "bar", "encoding": {
        "x": {**Q, "bin": {"maxbins": 100_000_000}}, "y": {"aggregate": "count", "type": "quantitative"}}},
        "encoding/x/bin/maxbins"),
    "maxbins_in_a_bin_transform": (bar(transform=[{"bin": {"maxbins": 1_000_000}, "field": "total", "as": "b"}]),
                                   "transform/0/bin/maxbins"),
    "bin_step_without_extent": ({"mark": "bar", "encoding": {"x": {**Q, "bin": {"step": 1e-9}},
                                                              "y": {"aggregate": "count", "type": "quantitative"}}},
                                "encoding/x/bin/step"),
    "bin_step_too_fine_for_its_extent": ({"mark": "bar", "encoding": {
        "x": {**Q, "bin": {"step": 0.001, "extent": [0, 1000]}}, "y": {"aggregate": "count", "type": "quantitative"}}},
        "encoding/x/bin/step"),
    "bin_steps": ({"mark": "bar", "encoding": {"x": {**Q, "bin": {"steps": [1e-9]}},
                                                "y": {"aggregate": "count", "type": "quantitative"}}},
                  "encoding/x/bin/steps"),
    "continuous_width_in_config_view": (bar(config={"view": {"continuousWidth": 3_000_000}}),
                                        "config/view/continuousWidth"),
    "continuous_height_in_config_view": (bar(config={"view": {"continuousHeight": 50_000}}),
                                         "config/view/continuousHeight"),
    "discrete_width_step_in_config_view": (bar(config={"view": {"discreteWidth": {"step": 100_000}}}),
                                           "config/view/discreteWidth/step"),
    "step_in_config_view": (bar(config={"view": {"step": 100_000}}), "config/view/step"),
    "width_step": (bar(width={"step": 100_000}), "width/step"),
    "tick_count_in_axis_config": (bar(config={"axis": {"tickCount": 2_000_000}}), "config/axis/tickCount"),
    "tick_count_in_an_axis": (enc(y={**Y, "axis": {"tickCount": 2_000_000}}), "encoding/y/axis/tickCount"),
    "tick_count_every_millisecond": ({"mark": "line", "encoding": {
        "x": {"field": "day", "type": "temporal", "axis": {"tickCount": {"interval": "millisecond", "step": 1}}},
        "y": Y}}, "encoding/x/axis/tickCount"),
    "label_limit_in_axis_config": (bar(config={"axisX": {"labelLimit": 1e9}}), "config/axisX/labelLimit"),
    "stroke_width_in_mark_config": (bar(config={"mark": {"strokeWidth": 1e7}}), "config/mark/strokeWidth"),
    "font_size_of_the_title": (bar(title={"text": "T", "fontSize": 1e6}), "title/fontSize"),
    "padding": (bar(padding=1_000_000), "padding"),
    "padding_of_one_side": (bar(padding={"left": 5, "top": 1_000_000}), "padding/top"),
    "point_size": ({"mark": {"type": "point", "size": 1e9}, "encoding": {"x": Y, "y": Y}}, "mark/size"),
    "dash_pattern_of_specks": (bar(mark={"type": "bar", "strokeDash": [0.001, 0.001]}), "mark/strokeDash"),
    "colour_scheme_count": (enc(color={**X, "scale": {"scheme": {"name": "blues", "count": 1_000_000_000}}}),
                            "encoding/color/scale/scheme/count"),
    "format_width": (enc(y={**Y, "axis": {"format": "200000000"}}), "encoding/y/axis/format"),
    "number_format_in_config": (bar(config={"numberFormat": ".1000000f"}), "config/numberFormat"),
    "scale_bins_every_millionth": (enc(color={**Q, "scale": {"type": "threshold", "bins": {"step": 1e-6}}}),
                                   "encoding/color/scale/bins"),
    "a_huge_spec": (bar(usermeta={"k": list(range(5000))}), "usermeta/k"),
}

GENERATORS_AND_TRANSFORMS = {
    "calculate_a_sequence_then_flatten": (bar(transform=[{"calculate": "sequence(0, 2000000)", "as": "s"},
                                                         {"flatten": ["s"]}]), "transform/0/calculate"),
    "flatten": (bar(transform=[{"flatten": ["total"]}]), "transform/0/flatten"),
    "impute_over_a_key_sequence": (bar(transform=[{"impute": "total", "key": "name",
                                                   "keyvals": {"start": 0, "stop": 300_000}}]),
                                   "transform/0/keyvals"),
    "impute_in_a_channel_over_a_key_sequence": (
        {"mark": "line", "encoding": {"x": {"field": "units", "type": "quantitative"},
                                      "y": {**Y, "impute": {"keyvals": {"start": 0, "stop": 300_000}}}}},
        "encoding/y/impute/keyvals"),
    "impute_over_a_long_key_list": (bar(transform=[{"impute": "total", "key": "name",
                                                    "keyvals": list(range(500))}]), "transform/0/keyvals"),
    "pivot": (bar(transform=[{"pivot": "name", "value": "total"}]), "transform/0/pivot"),
    "density_steps": (bar(transform=[{"density": "total", "steps": 10_000_000}]), "transform/0/steps"),
    "regression_order": (bar(transform=[{"regression": "total", "on": "units", "method": "poly", "order": 5000}]),
                         "transform/0/order"),
    "quantile_step": (bar(transform=[{"quantile": "total", "step": 1e-7}]), "transform/0/step"),
    "fold_many_fields": (bar(transform=[{"fold": [f"f{i}" for i in range(200)]}]), "transform/0/fold"),
    "extent_feeding_a_parameter": (bar(transform=[{"extent": "total", "param": "ext"}]), "transform/0/extent"),
}

CODE = {
    "calculate": (bar(transform=[{"calculate": "datum.total * 2", "as": "t2"}]), "transform/0/calculate"),
    "filter_expression": (bar(transform=[{"filter": "datum.total > 1"}]), "transform/0/filter"),
    "filter_expression_inside_and": (bar(transform=[{"filter": {"and": [{"field": "total", "gt": 1},
                                                                        "datum.name != 'x'"]}}]),
                                     "transform/0/filter/and/1"),
    "regexp_test_in_a_filter": (bar(transform=[{"filter": "test(/^(a+)+$/, datum.name)"}]), "transform/0/filter"),
    "regexp_in_a_condition_test": (enc(color={"condition": {"test": "test(/(a|a)*b/, datum.name)", "value": "red"},
                                              "value": "blue"}), "encoding/color/condition/test"),
    "pad_in_a_label_expression": (enc(x={**X, "axis": {"labelExpr": "pad('x', 200000000)"}}),
                                  "encoding/x/axis/labelExpr"),
    "pad_in_an_expr_ref": (bar(mark={"type": "bar", "color": {"expr": "pad('x', 200000000)"}}), "mark/color/expr"),
    "expr_in_config": (bar(config={"view": {"stroke": {"expr": "regexp('(a+)+b')"}}}), "config/view/stroke/expr"),
    "tooltip_expr": (bar(mark={"type": "bar", "tooltip": {"expr": "pad('x', 200000000)"}}), "mark/tooltip/expr"),
    "legend_label_expression": (enc(color={**X, "legend": {"labelExpr": "datum.label"}}),
                                "encoding/color/legend/labelExpr"),
    "param_with_an_expression": (bar(params=[{"name": "p", "expr": "sequence(0, 1e9)"}]), "params"),
    "param_bound_to_an_input": (bar(params=[{"name": "p", "value": 1, "bind": {"input": "range"}}]), "params"),
    "selection_param": (bar(params=[{"name": "s", "select": "point"}]), "params"),
    "param_reference_in_a_condition": (enc(color={"condition": {"param": "s", "value": "red"}, "value": "blue"}),
                                       "encoding/color/condition/param"),
    "custom_format_type": (enc(y={**Y, "axis": {"formatType": "evil"}}), "encoding/y/axis/formatType"),
    "custom_format_types_in_config": (bar(config={"customFormatTypes": True}), "config/customFormatTypes"),
    "line_break_regular_expression": (bar(config={"text": {"lineBreak": "(a+)+$"}}), "config/text/lineBreak"),
    "link_channel": (enc(href={"field": "name", "type": "nominal"}), "encoding/href"),
}

REFUSED = {**SIZES, **GENERATORS_AND_TRANSFORMS, **CODE}


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_the_schema_accepts_these_specs_but_the_policy_refuses_them_naming_the_key(name):
    spec, path = REFUSED[name]
    validate_spec(spec)  # valid Vega-Lite: the schema alone would have let it through
    with pytest.raises(ValueError, match="^" + re.escape(path) + ": "):
        check_spec(spec, COLUMNS)


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_every_refusal_is_a_value_error_the_visualizer_falls_back_on(name):
    with pytest.raises(ValueError):
        policy.check(REFUSED[name][0])


def test_repeat_is_bounded_by_the_views_it_makes():
    inner = {"mark": "bar", "encoding": {"x": X, "y": {"field": {"repeat": "row"}, "type": "quantitative"}}}
    policy.check({"repeat": {"row": ["total", "units"]}, "spec": inner})
    with pytest.raises(ValueError, match=r"^repeat: repeating makes 100 views"):
        policy.check({"repeat": {"row": ["total"] * 10, "column": ["units"] * 10}, "spec": inner})
    with pytest.raises(ValueError, match=r"^hconcat/\d+: the spec has more than 20 views"):
        policy.check({"hconcat": [BAR] * 21})


GENERATED_DATA = {
    "sequence": {"data": {"sequence": {"start": 0, "stop": 2_000_000}}, "mark": "point"},
    "graticule": {"data": {"graticule": {"step": [1e-6, 1e-6]}}, "mark": "geoshape"},
    "signal": {"mark": "bar", "encoding": {"x": {"signal": "x"}}},
}


@pytest.mark.parametrize("name", sorted(GENERATED_DATA))
def test_generated_data_and_signals_are_refused_wherever_they_are(name):
    with pytest.raises(ValueError, match="not allowed"):
        policy.check(GENERATED_DATA[name])


ALLOWED = {
    "bins": {"mark": "bar", "encoding": {"x": {**Q, "bin": {"maxbins": 30}},
                                         "y": {"aggregate": "count", "type": "quantitative"}}},
    "bin_step_with_extent": {"mark": "bar", "encoding": {"x": {**Q, "bin": {"step": 10, "extent": [0, 1000]}},
                                                         "y": {"aggregate": "count", "type": "quantitative"}}},
    "sizes_and_steps": bar(width={"step": 30}, height=400, padding={"left": 10, "top": 5},
                           config={"view": {"continuousWidth": 600, "continuousHeight": 300, "stroke": None},
                                   "axis": {"tickCount": 8, "labelLimit": 200, "labelFontSize": 12},
                                   "mark": {"strokeWidth": 2}, "text": {"lineBreak": "\n"}}),
    "transforms": bar(transform=[
        {"filter": {"and": [{"field": "total", "gt": 0}, {"not": {"field": "name", "equal": "x"}}]}},
        {"aggregate": [{"op": "sum", "field": "total", "as": "total"}], "groupby": ["name"]},
        {"window": [{"op": "lag", "field": "total", "as": "prev", "param": 1}], "sort": [{"field": "name"}]},
        {"joinaggregate": [{"op": "max", "field": "total", "as": "peak"}]},
        {"timeUnit": "yearmonth", "field": "day", "as": "month"},
        {"fold": ["total", "units"]},
        {"impute": "total", "key": "name", "keyvals": ["a", "b"], "value": 0},
        {"sample": 500},
        {"stack": "total", "groupby": ["name"], "as": ["lo", "hi"]},
    ]),
    "statistics": {"layer": [
        {"mark": "point", "encoding": {"x": {"field": "units", "type": "quantitative"}, "y": Y}},
        {"mark": "line", "transform": [{"regression": "total", "on": "units", "method": "poly", "order": 3,
                                        "params": False}],
         "encoding": {"x": {"field": "units", "type": "quantitative"}, "y": Y}},
        {"mark": "line", "transform": [{"loess": "total", "on": "units", "bandwidth": 0.3}],
         "encoding": {"x": {"field": "units", "type": "quantitative"}, "y": Y}}]},
    "density": {"mark": "area", "transform": [{"density": "total", "steps": 100, "extent": [0, 100]}],
                "encoding": {"x": {"field": "value", "type": "quantitative"},
                             "y": {"field": "density", "type": "quantitative"}}},
    "quantiles": {"mark": "point", "transform": [{"quantile": "total", "step": 0.05}],
                  "encoding": {"x": {"field": "prob", "type": "quantitative"},
                               "y": {"field": "value", "type": "quantitative"}}},
    "conditions_and_formats": enc(
        color={"condition": {"test": {"field": "total", "gt": 100}, "value": "red"}, "value": "steelblue"},
        y={**Y, "axis": {"format": "$,.2f", "formatType": "number", "tickCount": 5}},
        tooltip=[{**Y, "format": ".1%"}, {"field": "day", "type": "temporal", "format": "%Y-%m-%d"}]),
    "time_axis_by_month": {"mark": "line", "encoding": {
        "x": {"field": "day", "type": "temporal", "axis": {"tickCount": "month", "format": "%b %Y"}}, "y": Y}},
    "dashes_and_schemes": enc(color={**X, "scale": {"scheme": {"name": "blues", "count": 9}}},
                              strokeDash={"value": [4, 2]}),
    "empty_params": bar(params=[]),
}


@pytest.mark.parametrize("name", sorted(ALLOWED))
def test_ordinary_rich_specs_pass(name):
    clean = check_spec(ALLOWED[name], COLUMNS | {"value", "density", "prob"})
    assert clean["$schema"].endswith("v6.4.1.json")


@pytest.mark.parametrize("name", sorted(VALID))
def test_the_schema_suites_valid_specs_still_pass(name):
    policy.check(VALID[name])


@pytest.mark.parametrize("chart", ["auto", "bar", "line", "area", "scatter", "pie"])
def test_suggested_specs_pass_the_policy(chart):
    columns = [{"name": "order_date", "dtype": "date"}, {"name": "region", "dtype": "string"},
               {"name": "revenue", "dtype": "float"}, {"name": "units", "dtype": "integer"}]
    policy.check(suggest_spec(columns, chart, row_count=10, title="T"))


def test_bound_rows_are_data_not_spec():
    # A result may have columns called "expr", "url" or "width" with any values.
    spec = check_spec(BAR, COLUMNS)
    spec["data"] = {"values": [{"expr": "pad('x', 1e9)", "width": 10**9, "name": "a", "total": 1}]}
    render.check_renderable(spec)
    policy.check(spec)


def _script(stub, visualizer_spec: dict) -> None:
    stub.script("router", json.dumps({"route": "data", "datasets": ["sales"], "chart": "bar", "analysis": True}))
    stub.script("orchestrator", json.dumps({"manipulator_prompt": "compute it", "visualizer_prompt": "chart it",
                                            "analyzer_prompt": "extremes", "compiler_instruction": "be brief"}))
    stub.script("manipulator", json.dumps({
        "sql": 'SELECT "region", SUM("revenue") AS total_revenue FROM sales GROUP BY "region" ORDER BY "region"',
        "explanation": "grouped"}))
    stub.script("visualizer", json.dumps({"spec": visualizer_spec, "title": "Revenue by region"}))
    stub.script("analyzer", json.dumps({"summary": "North leads.", "insights": ["4 regions"]}))
    stub.script("compiler", json.dumps({"answer": "See the chart.", "follow_ups": ["By month?", "By product?"]}))


RX = {"field": "region", "type": "nominal"}
RY = {"field": "total_revenue", "type": "quantitative"}


@pytest.mark.parametrize("hostile", [
    {"mark": "bar", "encoding": {"x": {**RY, "bin": {"maxbins": 100_000_000}},
                                 "y": {"aggregate": "count", "type": "quantitative"}}},
    {"mark": "bar", "encoding": {"x": RX, "y": RY}, "config": {"view": {"continuousWidth": 3_000_000}}},
    {"mark": "bar", "encoding": {"x": RX, "y": RY}, "transform": [{"calculate": "pad('x', 200000000)", "as": "p"}]},
], ids=["maxbins", "continuous_width", "pad_expression"])
def test_the_pipeline_replaces_a_hostile_model_spec_by_the_suggested_one(use_stub_model, datasets_client,
                                                                         queries_client, user_id, hostile):
    resp = datasets_client.post("/shop", headers={"X-User-Id": user_id},
                                data={"file": (io.BytesIO(SALES_CSV.read_bytes()), "sales.csv")})
    assert resp.status_code == 201
    _script(use_stub_model, hostile)
    body = queries_client.post("/", headers={"X-User-Id": user_id},
                               json={"domain": "shop", "prompt": "revenue by region"}).get_json()
    assert body["sql_status"] == "ok", body
    spec = body["chart"]["spec"]
    # Nothing of the hostile spec survives; the config is presentation's own (palette, fonts), not the model's.
    assert "transform" not in spec and "bin" not in json.dumps(spec) and "continuousWidth" not in json.dumps(spec)
    assert "view" not in spec["config"] and spec["config"]["range"]["category"][0] == "#0072B2"
    assert spec["encoding"]["x"]["field"] == "region"


HOSTILE_STORED = {
    "sequence_data": {"mark": "point", "data": {"sequence": {"start": 0, "stop": 2_000_000, "as": "total"}},
                      "encoding": {"x": Q}},
    "calculate_then_flatten": {"mark": "point", "data": {"values": [{"total": 1}]},
                               "transform": [{"calculate": "sequence(0, 2000000)", "as": "s"}, {"flatten": ["s"]}],
                               "encoding": {"x": {"field": "s", "type": "quantitative"}}},
    "continuous_width": {"mark": "point", "data": {"values": [{"total": 1}]}, "encoding": {"x": Q},
                         "config": {"view": {"continuousWidth": 3_000_000}}},
    "catastrophic_regexp": {"mark": "point", "data": {"values": [{"name": "a" * 40}]},
                            "transform": [{"filter": "test(/^(a+)+$/, datum.name + 'b')"}],
                            "encoding": {"x": X}},
}


@pytest.mark.parametrize("name", sorted(HOSTILE_STORED))
def test_a_stored_spec_the_policy_refuses_is_never_rendered(local_env, user_id, name):
    # Charts stored before the policy (or written around check_spec) are checked again before rendering.
    docs = get_services(get_settings()).documents
    docs.put(store.charts(user_id), "legacy2", {"id": "legacy2", "session_id": "s", "title": "", "created_at": "x",
                                                "spec": HOSTILE_STORED[name]})
    before = render.render_counts()
    resp = function_client("charts").get("/legacy2/image?format=svg", headers={"X-User-Id": user_id})
    assert_error(resp, 422, "chart_not_renderable")
    assert render.render_counts() == before
