"""The visualizer's spec is checked against the official Vega-Lite schema; an invalid one is replaced."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
from importlib import resources

import pytest

from convoinsight.charts import schema
from convoinsight.charts.bind import check_spec
from convoinsight.charts.suggest import suggest_spec
from convoinsight.services import get_services
from convoinsight.sessions import store
from convoinsight.settings import get_settings
from tests.support.data import SALES_CSV

COLUMNS = {"region", "product", "order_date", "units", "revenue"}
X_NOMINAL = {"field": "region", "type": "nominal"}
Y_SUM = {"field": "revenue", "type": "quantitative"}

VALID = {
    "bar": {"mark": "bar", "encoding": {"x": X_NOMINAL, "y": Y_SUM}},
    "bar_object_mark": {"mark": {"type": "bar", "tooltip": True}, "title": "Revenue",
                        "encoding": {"x": {**X_NOMINAL, "sort": "-y"}, "y": Y_SUM}},
    "line": {"mark": "line", "encoding": {"x": {"field": "order_date", "type": "temporal"}, "y": Y_SUM,
                                          "color": {"field": "product", "type": "nominal"}}},
    "area": {"mark": "area", "encoding": {"x": {"field": "order_date", "type": "temporal", "timeUnit": "yearmonth"},
                                          "y": {**Y_SUM, "aggregate": "sum"}}},
    "point": {"mark": "point", "encoding": {"x": {"field": "units", "type": "quantitative"}, "y": Y_SUM}},
    "arc": {"mark": {"type": "arc", "innerRadius": 40}, "encoding": {"theta": Y_SUM, "color": X_NOMINAL}},
    "layered": {"encoding": {"x": X_NOMINAL, "y": Y_SUM},
                "layer": [{"mark": "bar"}, {"mark": {"type": "text", "dy": -5}, "encoding": {"text": Y_SUM}}]},
    "model_claims_v5": {"$schema": "https://vega.github.io/schema/vega-lite/v5.json", "mark": "bar",
                        "encoding": {"x": X_NOMINAL, "y": Y_SUM}, "width": 400, "height": 300},
}

INVALID = {
    "unknown_mark": ({"mark": "barz", "encoding": {"x": X_NOMINAL}}, "unsupported mark"),
    "unknown_mark_in_a_layer": ({"layer": [{"mark": "bar"}, {"mark": "sparkle"}]}, "layer/1/mark"),
    "wrong_encoding_type": ({"mark": "bar", "encoding": {"x": {"field": "region", "type": "categorical"}}},
                            "encoding/x/type"),
    "typo_in_a_channel_property": ({"mark": "bar", "encoding": {"x": {"feild": "region", "type": "nominal"}}},
                                   "encoding/x"),
    "typo_in_a_field_name": ({"mark": "bar", "encoding": {"x": {"field": "regoin", "type": "nominal"}}},
                             "not a column"),
    "unknown_top_level_property": ({"mark": "bar", "encoding": {"x": X_NOMINAL}, "colour": "red"}, "Vega-Lite"),
    "unknown_channel": ({"mark": "bar", "encoding": {"xx": X_NOMINAL}}, "Vega-Lite"),
    "url_in_data": ({"mark": "bar", "data": {"url": "https://example.com/d.json"}}, "remote"),
    "url_in_an_image_mark": ({"mark": "image", "encoding": {"url": {"field": "region"}}}, "remote"),
    "url_in_a_lookup": ({"mark": "bar", "transform": [{"lookup": "region", "from": {
        "data": {"url": "https://example.com/x.csv"}, "key": "region"}}]}, "remote"),
    "values_in_a_layer": ({"layer": [{"mark": "bar", "encoding": {"x": X_NOMINAL}},
                                     {"mark": "rule", "data": {"values": [{"region": "Mars"}]}}]}, "server binds"),
    "huge_width": ({"mark": "bar", "encoding": {"x": X_NOMINAL}, "width": 1_000_000}, "larger than"),
    "not_an_object": (["bar"], "must be an object"),
}


@pytest.mark.parametrize("name", sorted(VALID))
def test_valid_specs_pass_and_are_stamped_with_the_checked_version(name):
    clean = check_spec(VALID[name], COLUMNS)
    assert clean["$schema"] == schema.SCHEMA_URL
    assert "data" not in clean


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_specs_are_refused_with_a_reason(name):
    spec, reason = INVALID[name]
    with pytest.raises(ValueError, match=reason):
        check_spec(spec, COLUMNS)


def test_the_schema_is_the_official_file_of_the_version_we_render_with():
    import vl_convert

    raw = gzip.decompress(resources.files("convoinsight.charts").joinpath(schema.SCHEMA_FILE).read_bytes())
    assert hashlib.sha256(raw).hexdigest() == "4f11cd379b7cac0ddee17eefea84c028bd41619ace28778acf843c009e43abd2"
    assert json.loads(raw)["$ref"] == "#/definitions/TopLevelSpec"
    assert schema.VEGA_LITE_VERSION in vl_convert.get_vegalite_versions()
    assert schema.SCHEMA_VERSION.lstrip("v").startswith(schema.VEGA_LITE_VERSION + ".")
    assert schema.validator() is schema.validator()  # built once per process


@pytest.mark.parametrize("chart", ["auto", "bar", "line", "area", "scatter", "pie"])
def test_suggested_specs_are_valid(chart):
    columns = [{"name": "order_date", "dtype": "date"}, {"name": "region", "dtype": "string"},
               {"name": "units", "dtype": "integer"}, {"name": "revenue", "dtype": "float"}]
    for subset in (columns, columns[1:], [columns[1], columns[3]]):
        spec = suggest_spec(subset, chart, row_count=10, title="T")
        assert spec is not None
        check_spec(spec, COLUMNS)


def _script(stub, visualizer_spec: dict, sql: str, chart: str = "bar") -> None:
    stub.script("router", json.dumps({"route": "data", "datasets": ["sales"], "chart": chart, "analysis": True}))
    stub.script("orchestrator", json.dumps({"manipulator_prompt": "compute it", "visualizer_prompt": "chart it",
                                            "analyzer_prompt": "extremes", "compiler_instruction": "be brief"}))
    stub.script("manipulator", json.dumps({"sql": sql, "explanation": "grouped"}))
    stub.script("visualizer", json.dumps({"spec": visualizer_spec, "title": "Revenue by region"}))
    stub.script("analyzer", json.dumps({"summary": "North leads.", "insights": ["4 regions"]}))
    stub.script("compiler", json.dumps({"answer": "See the chart.", "follow_ups": ["By month?", "By product?"]}))


BY_REGION = 'SELECT "region", SUM("revenue") AS total_revenue FROM sales GROUP BY "region" ORDER BY "region"'


@pytest.mark.parametrize("bad_spec", [
    {"mark": "bar", "encoding": {"x": {"field": "region", "type": "categorical"},
                                 "y": {"field": "total_revenue", "type": "quantitative"}}},
    {"mark": "bar", "encoding": {"x": {"field": "region", "type": "nominal"},
                                 "y": {"field": "total_revenue", "type": "quantitative"}}, "colour": "red"},
    {"mark": "bar", "data": {"url": "https://example.com/x.json"},
     "encoding": {"x": {"field": "region", "type": "nominal"}}},
], ids=["wrong_type", "unknown_property", "remote_url"])
def test_the_pipeline_replaces_an_invalid_model_spec_by_the_suggested_one(use_stub_model, datasets_client,
                                                                          queries_client, user_id, bad_spec):
    resp = datasets_client.post("/shop", headers={"X-User-Id": user_id},
                                data={"file": (io.BytesIO(SALES_CSV.read_bytes()), "sales.csv")})
    assert resp.status_code == 201
    _script(use_stub_model, bad_spec, BY_REGION)
    resp = queries_client.post("/", headers={"X-User-Id": user_id},
                               json={"domain": "shop", "prompt": "revenue by region"})
    body = resp.get_json()
    assert resp.status_code == 200 and body["sql_status"] == "ok", body
    assert [c["agent"] for c in use_stub_model.calls("visualizer")] == ["visualizer"]

    table = body["table"]
    columns = [{"name": n, "dtype": t} for n, t in zip(table["columns"], table["column_types"], strict=True)]
    expected = check_spec(suggest_spec(columns, "bar", table["row_count"], "Revenue by region"), set(table["columns"]))
    stored = get_services(get_settings()).documents.get(store.charts(user_id), body["chart"]["id"])
    spec = dict(stored["spec"])
    values = spec.pop("data")["values"]
    # The suggested chart, presented (presentation.py): same mark and fields, human titles from the labels.
    assert spec["mark"] == expected["mark"] and spec["title"] == expected["title"]
    assert {c: (e["field"], e["type"]) for c, e in spec["encoding"].items() if c != "tooltip"} == {
        c: (e["field"], e["type"]) for c, e in expected["encoding"].items()}
    assert spec["encoding"]["y"]["title"] == "Total revenue" and spec["encoding"]["x"]["title"] == "Region"
    assert values == [dict(zip(table["columns"], row, strict=True)) for row in table["rows"]]


def test_the_pipeline_keeps_a_valid_model_spec(use_stub_model, datasets_client, queries_client, user_id):
    datasets_client.post("/shop", headers={"X-User-Id": user_id},
                         data={"file": (io.BytesIO(SALES_CSV.read_bytes()), "sales.csv")})
    good = {"mark": "point", "encoding": {"y": {"field": "region", "type": "nominal"},
                                          "x": {"field": "total_revenue", "type": "quantitative"}}}
    _script(use_stub_model, good, BY_REGION)
    body = queries_client.post("/", headers={"X-User-Id": user_id},
                               json={"domain": "shop", "prompt": "revenue by region"}).get_json()
    spec = body["chart"]["spec"]
    # Kept as written; presentation only adds what it left unsaid (titles, formats, tooltips, size, palette).
    assert spec["mark"] == "point"
    assert {c: {k: e[k] for k in ("field", "type")} for c, e in spec["encoding"].items() if c != "tooltip"} == \
        good["encoding"]
    assert spec["encoding"]["x"]["title"] == "Total revenue" and spec["encoding"]["y"]["title"] == "Region"
    assert spec["$schema"] == schema.SCHEMA_URL
