"""Chart images: real PNG and SVG from vl-convert, rendered once per format and then served from the blob store."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from convoinsight.charts import render
from convoinsight.charts.bind import bind, check_spec
from convoinsight.errors import ConfigError
from convoinsight.services import get_services
from convoinsight.sessions import store
from convoinsight.settings import get_settings, load_settings
from convoinsight.workers.pool import WorkerCrashed
from tests.conftest import function_client
from tests.support.http import assert_error

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


# --- Rendering untrusted specs: in a worker process, under a time and a memory limit, nothing carried over ---

@pytest.fixture
def render_pools():
    """Render pools made by the test are stopped after it (the next render starts fresh workers)."""
    yield
    render.close_pools()


@pytest.fixture
def no_policy(monkeypatch):
    """Stand-in for a spec the policy does not foresee: only the worker's limits are left to hold it."""
    monkeypatch.setattr(render.policy, "check", lambda spec: None)


def store_raw(user: str, spec: dict) -> str:
    """A chart document written as it is, without check_spec (a chart stored before today's checks)."""
    return store.save_chart(get_services(get_settings()).documents, user, {"spec": spec, "title": "raw"},
                            session_id="s1")


def use_settings(monkeypatch, **values: str):
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    get_services.cache_clear()
    return get_settings()


VALUES = [{"name": n, "total": t} for n, t in ROWS]
WIDE = {"mark": "point", "data": {"values": VALUES}, "encoding": {"x": {"field": "total", "type": "quantitative"}},
        "config": {"view": {"continuousWidth": 3_000_000}}}  # took 205 s in the serving process, 27 MB of SVG
FLATTEN_BOMB = {"mark": "point", "data": {"values": [{"total": i} for i in range(100)]},
                "transform": [{"calculate": "sequence(0, 2000000)", "as": "s"}, {"flatten": ["s"]}],
                "encoding": {"x": {"field": "s", "type": "quantitative"}}}  # V8 out of memory
MAXBINS_BOMB = {"mark": "bar", "data": {"values": VALUES}, "encoding": {
    "x": {"field": "total", "type": "quantitative", "bin": {"maxbins": 100_000_000}},
    "y": {"aggregate": "count", "type": "quantitative"}}}
# Valid Vega-Lite that passes check_spec, but d3-format refuses the format while rendering.
BAD_FORMAT = {**BAR, "encoding": {**BAR["encoding"], "y": {"field": "total", "type": "quantitative",
                                                           "axis": {"format": "zz"}}}}


def test_render_settings_have_safe_defaults_and_bounds():
    s = load_settings({})
    assert (s.chart_render_timeout_seconds, s.chart_render_memory_mb, s.chart_render_workers) == (5.0, 1024, 1)
    for name, value in (("CHART_RENDER_TIMEOUT_SECONDS", "0"), ("CHART_RENDER_MEMORY_MB", "512"),
                        ("CHART_RENDER_WORKERS", "0"), ("CHART_RENDER_TIMEOUT_SECONDS", "soon")):
        with pytest.raises(ConfigError, match=name):
            load_settings({name: value})


def test_a_render_past_the_time_limit_is_stopped_and_the_next_chart_renders(charts_client, user_id, monkeypatch,
                                                                           no_policy, render_pools):
    settings = use_settings(monkeypatch, CHART_RENDER_TIMEOUT_SECONDS="2")
    headers = {"X-User-Id": user_id}
    restarts = render.render_pool(settings).restarts
    started = time.monotonic()
    resp = charts_client.get(f"/{store_raw(user_id, WIDE)}/image?format=svg", headers=headers)
    elapsed = time.monotonic() - started
    error = assert_error(resp, 422, "chart_render_timeout")
    assert "2 s" in error["message"] and elapsed < 2 + 3, elapsed
    assert render.render_pool(settings).restarts == restarts + 1  # the worker was killed and replaced
    ok = charts_client.get(f"/{save(user_id, BAR, ROWS)}/image?format=svg", headers=headers)
    assert ok.status_code == 200 and len(rect_paths(ok.data)) == len(ROWS)


def test_a_render_that_kills_its_worker_ends_only_that_request(local_env, user_id, monkeypatch, no_policy,
                                                               render_pools):
    # A long time limit: under load too, the worker dies of memory (in about a second), not of the clock.
    use_settings(monkeypatch, CHART_RENDER_WORKERS="2", CHART_RENDER_TIMEOUT_SECONDS="20")
    hostile_id, other = store_raw(user_id, FLATTEN_BOMB), f"{user_id}-b"
    outcome = {}
    hostile = threading.Thread(target=lambda: outcome.update(resp=function_client("charts").get(
        f"/{hostile_id}/image?format=svg", headers={"X-User-Id": user_id})))
    hostile.start()
    client = function_client("charts")
    served = [client.get(f"/{save(other, BAR, ROWS)}/image", headers={"X-User-Id": other}) for _ in range(3)]
    hostile.join(timeout=30)
    error = assert_error(outcome["resp"], 422, "chart_render_crashed")
    assert "nothing else was affected" in error["message"]
    assert [r.status_code for r in served] == [200, 200, 200] and all(png_size(r.data) for r in served)
    after = client.get(f"/{save(other, BAR, ROWS)}/image?format=svg", headers={"X-User-Id": other})
    assert after.status_code == 200 and len(rect_paths(after.data)) == len(ROWS)


def test_a_worker_past_its_memory_limit_dies_alone_and_is_replaced(local_env, monkeypatch, render_pools):
    # Straight to the worker pool: nothing in the serving process checks this spec.
    settings = use_settings(monkeypatch, CHART_RENDER_MEMORY_MB="768")
    pool = render.render_pool(settings)
    good = bind(check_spec(BAR, {"name", "total"}), {"columns": ["name", "total"], "rows": ROWS, "row_count": 5,
                                                     "truncated": False})[0]
    task = {"op": "svg", "vl_version": "6.4", "memory_mb": 768}
    assert pool.run({**task, "spec": good}, 20).startswith("<svg")
    (pid,) = pool.pids()
    with pytest.raises(WorkerCrashed):
        pool.run({**task, "spec": MAXBINS_BOMB}, 20)  # V8 runs out of its 768 MB long before 20 s
    assert pool.run({**task, "spec": good}, 20).startswith("<svg")
    assert pid not in pool.pids() and pool.restarts == 1


def test_after_a_failed_render_the_next_tenants_chart_renders_3_of_3(charts_client, user_id, render_pools):
    other = f"{user_id}-next"
    pool = render.render_pool(get_settings())
    for attempt in range(3):
        restarts = pool.restarts
        failed = charts_client.get(f"/{save(user_id, BAD_FORMAT, ROWS)}/image?format=svg",
                                   headers={"X-User-Id": user_id})
        error = assert_error(failed, 422, "chart_render_failed")
        assert "zz" in error["message"], error  # Vega's own reason, not vl-convert's later symptom
        assert pool.restarts == restarts + 1  # the worker that failed is gone, and whatever it carried with it
        ok = charts_client.get(f"/{save(other, BAR, ROWS)}/image?format=svg", headers={"X-User-Id": other})
        assert ok.status_code == 200, (attempt, ok.get_json())
        assert len(rect_paths(ok.data)) == len(ROWS)


def test_the_serving_process_never_imports_vl_convert_nor_starts_a_worker_at_import():
    repo = Path(__file__).resolve().parents[2]
    probe = (
        "import json, sys\n"
        "from convoinsight.charts import render\n"
        "from convoinsight.settings import load_settings\n"
        "from convoinsight.workers.pool import shared_pools\n"
        "pools = len(shared_pools(render.RENDER_ENTRY))\n"
        f"spec = {{**{BAR!r}, 'data': {{'values': {VALUES!r}}}}}\n"
        "svg = render._render_svg(spec, load_settings({}))\n"
        "print(json.dumps({'pools_at_import': pools, 'svg': svg[:4].decode(),\n"
        "                  'vl_convert': 'vl_convert' in sys.modules}))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=repo,
                          env={"PATH": "/usr/bin:/bin", "DEPLOYMENT_MODE": "local"})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == {"pools_at_import": 0, "svg": "<svg", "vl_convert": False}
    package = repo / "shared" / "convoinsight"
    importers = sorted(str(p.relative_to(package)) for p in package.rglob("*.py") if "vl_convert" in p.read_text())
    assert importers == ["charts/render_worker.py"]
