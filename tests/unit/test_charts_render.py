"""Chart images: real PNG and SVG from vl-convert, rendered once per format and then served from the blob store."""

from __future__ import annotations

import struct
import xml.etree.ElementTree as ET

import pytest

from convoinsight.charts import render
from convoinsight.charts.bind import bind, check_spec
from convoinsight.services import get_services
from convoinsight.sessions import store
from convoinsight.settings import get_settings
from tests.conftest import function_client

BAR = {"mark": "bar", "title": "Revenue",
       "encoding": {"x": {"field": "name", "type": "nominal"}, "y": {"field": "total", "type": "quantitative"}}}
SVG_NS = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def charts_client(local_env: dict):
    return function_client("charts")


def save(user: str, spec: dict, rows: list[list]) -> str:
    bound, truncated = bind(check_spec(spec, {"name", "total"}), {
        "columns": ["name", "total"], "rows": rows, "row_count": len(rows), "truncated": False})
    chart = {"spec": bound, "title": "Revenue", **({"truncated": truncated} if truncated else {})}
    return store.save_chart(get_services(get_settings()).documents, user, chart, session_id="s1")


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    return struct.unpack(">II", data[16:24])


def parse(svg: bytes) -> ET.Element:
    return ET.fromstring(svg)  # noqa: S314 - our own renderer's output, parsed in a test


def rect_paths(svg: bytes) -> list[ET.Element]:
    root = parse(svg)
    groups = [g for g in root.iter(f"{SVG_NS}g") if "mark-rect" in (g.get("class") or "")]
    return [p for g in groups for p in g.iter(f"{SVG_NS}path")]


ROWS = [["North", 120.5], ["South", 80.0], ["East", 42.25], ["West", 99.0], ["Central", 10.0]]


def test_png_is_a_real_image_of_plausible_size_and_scales(charts_client, user_id):
    chart_id = save(user_id, BAR, ROWS)
    resp = charts_client.get(f"/{chart_id}/image", headers={"X-User-Id": user_id})
    assert resp.status_code == 200 and resp.mimetype == "image/png"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    width, height = png_size(resp.data)
    assert 100 <= width <= 1000 and 250 <= height <= 800  # 5 bars, default 300-px plot height, axes, title
    double = charts_client.get(f"/{chart_id}/image?format=png&scale=2", headers={"X-User-Id": user_id})
    assert png_size(double.data) == (width * 2, height * 2)


def test_svg_parses_and_draws_one_path_per_bar_with_its_labels(charts_client, user_id):
    chart_id = save(user_id, BAR, ROWS)
    resp = charts_client.get(f"/{chart_id}/image?format=svg", headers={"X-User-Id": user_id})
    assert resp.status_code == 200 and resp.mimetype == "image/svg+xml"
    assert "default-src 'none'" in resp.headers["Content-Security-Policy"]
    assert len(rect_paths(resp.data)) == len(ROWS)
    texts = {t.text for t in parse(resp.data).iter(f"{SVG_NS}text")}
    assert {"North", "South", "East", "West", "Central", "Revenue"} <= texts


def test_each_image_is_rendered_once_then_served_from_the_blob_store(charts_client, user_id):
    chart_id = save(user_id, BAR, ROWS)
    blobs = get_services(get_settings()).blobs
    headers = {"X-User-Id": user_id}
    before = render.render_counts()

    first = charts_client.get(f"/{chart_id}/image?format=png", headers=headers)
    after_first = render.render_counts()
    assert after_first.get("svg", 0) == before.get("svg", 0) + 1
    assert after_first.get("png", 0) == before.get("png", 0) + 1
    assert blobs.get(f"tenants/{user_id}/charts/{chart_id}.png") == first.data
    assert blobs.exists(f"tenants/{user_id}/charts/{chart_id}.svg")

    again = charts_client.get(f"/{chart_id}/image?format=png", headers=headers)
    svg = charts_client.get(f"/{chart_id}/image?format=svg", headers=headers)
    assert again.data == first.data and svg.data.startswith(b"<svg")
    assert render.render_counts() == after_first  # both answered from the store

    # Another scale is rasterised from the stored SVG: no new Vega run.
    charts_client.get(f"/{chart_id}/image?format=png&scale=3", headers=headers)
    now = render.render_counts()
    assert now.get("svg") == after_first.get("svg") and now.get("png") == after_first.get("png", 0) + 1
    assert blobs.exists(f"tenants/{user_id}/charts/{chart_id}@3x.png")


def test_rendering_is_deterministic(charts_client, user_id):
    one, two = save(user_id, BAR, ROWS), save(user_id, BAR, ROWS)
    images = [charts_client.get(f"/{c}/image", headers={"X-User-Id": user_id}).data for c in (one, two)]
    assert images[0] == images[1]


def test_a_png_too_large_to_hold_is_refused_but_its_svg_is_served(charts_client, user_id):
    chart_id = save(user_id, {**BAR, "width": 4000, "height": 4000}, ROWS)
    resp = charts_client.get(f"/{chart_id}/image?scale=4", headers={"X-User-Id": user_id})
    assert resp.status_code == 422 and resp.get_json()["error"]["code"] == "chart_too_large"
    assert charts_client.get(f"/{chart_id}/image?format=svg", headers={"X-User-Id": user_id}).status_code == 200


def test_a_stored_spec_that_loads_remote_data_is_never_rendered(charts_client, user_id):
    docs = get_services(get_settings()).documents
    before = render.render_counts()
    docs.put(store.charts(user_id), "legacy1", {"id": "legacy1", "session_id": "s", "title": "", "created_at": "x",
                                                "spec": {"mark": "point", "data": {"url": "https://example.com/d"}}})
    resp = charts_client.get("/legacy1/image?format=svg", headers={"X-User-Id": user_id})
    assert resp.status_code == 422 and resp.get_json()["error"]["code"] == "chart_not_renderable"
    assert render.render_counts() == before


def test_the_truncation_note_is_drawn_in_the_image(charts_client, user_id):
    rows = [[f"c{i:03d}", float(i)] for i in range(80)]
    untitled = {k: v for k, v in BAR.items() if k != "title"}
    for spec in (BAR, untitled):
        chart_id = save(user_id, spec, rows)
        svg = charts_client.get(f"/{chart_id}/image?format=svg", headers={"X-User-Id": user_id}).data
        texts = [t.text or "" for t in parse(svg).iter(f"{SVG_NS}text")]
        assert any(t.startswith("Top 50 of 80 name by total") for t in texts), texts
        assert len(rect_paths(svg)) == 51


def test_a_result_column_called_url_is_only_data(charts_client, user_id):
    spec = {"mark": "bar", "encoding": {"x": {"field": "url", "type": "nominal"},
                                        "y": {"field": "hits", "type": "quantitative"}}}
    rows = [["https://example.com/a", 3], ["https://example.com/b", 5]]
    bound, _ = bind(check_spec(spec, {"url", "hits"}), {"columns": ["url", "hits"], "rows": rows, "row_count": 2,
                                                        "truncated": False})
    chart_id = store.save_chart(get_services(get_settings()).documents, user_id, {"spec": bound, "title": "Hits"},
                                session_id="s1")
    svg = charts_client.get(f"/{chart_id}/image?format=svg", headers={"X-User-Id": user_id})
    assert svg.status_code == 200 and len(rect_paths(svg.data)) == 2
