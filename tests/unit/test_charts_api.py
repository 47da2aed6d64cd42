"""The charts function in-process: list, read, image, URL, delete; tenants isolated; bad parameters refused."""

from __future__ import annotations

import io

import pytest

from convoinsight.charts import render
from convoinsight.services import get_services
from convoinsight.sessions import store
from convoinsight.settings import get_settings
from tests.conftest import function_client
from tests.support.data import SALES_CSV
from tests.support.http import assert_error
from tests.unit.test_charts_render import BAR, ROWS, save


@pytest.fixture
def charts_client(local_env: dict):
    return function_client("charts")


def h(user: str) -> dict[str, str]:
    return {"X-User-Id": user}




def restamp(user: str, chart_id: str, created_at: str) -> None:
    docs = get_services(get_settings()).documents
    doc = docs.get(store.charts(user), chart_id)
    docs.put(store.charts(user), chart_id, {**doc, "created_at": created_at})


def test_list_is_newest_first_without_data_values(charts_client, user_id):
    ids = [save(user_id, BAR, ROWS[:n]) for n in (2, 3, 5)]
    for i, chart_id in enumerate(ids):
        restamp(user_id, chart_id, f"2025-01-0{i + 1}T00:00:00Z")
    resp = charts_client.get("/", headers=h(user_id))
    assert resp.status_code == 200
    charts = resp.get_json()["charts"]
    assert [c["id"] for c in charts] == ids[::-1]
    assert charts[0] == {"id": ids[2], "title": "Revenue", "session_id": "s1", "created_at": "2025-01-03T00:00:00Z",
                         "mark": "bar", "points": 5}
    assert "spec" not in resp.get_data(as_text=True) and "North" not in resp.get_data(as_text=True)
    assert [c["id"] for c in charts_client.get("/?limit=1", headers=h(user_id)).get_json()["charts"]] == [ids[2]]
    assert charts_client.get("/", headers=h(f"{user_id}-other")).get_json() == {"charts": []}


def test_a_chart_answered_by_ask_is_listed_and_readable(charts_client, datasets_client, queries_client, user_id):
    datasets_client.post("/shop", headers=h(user_id), data={"file": (io.BytesIO(SALES_CSV.read_bytes()), "sales.csv")})
    answer = queries_client.post("/", headers=h(user_id), json={"domain": "shop", "prompt": "total revenue by region",
                                                                 "model": "offline"}).get_json()
    (listed,) = charts_client.get("/", headers=h(user_id)).get_json()["charts"]
    assert listed["id"] == answer["chart"]["id"] and listed["session_id"] == answer["session_id"]
    assert listed["points"] == answer["table"]["row_count"]
    chart = charts_client.get(f"/{listed['id']}", headers=h(user_id)).get_json()
    assert chart["spec"] == answer["chart"]["spec"] and chart["mark"] == listed["mark"]


def test_get_returns_the_spec_with_its_data_and_the_truncation(charts_client, user_id):
    rows = [[f"c{i:03d}", float(i)] for i in range(80)]
    chart_id = save(user_id, BAR, rows)
    chart = charts_client.get(f"/{chart_id}", headers=h(user_id)).get_json()
    assert chart["truncated"] == {"shown": 50, "of": 80, "method": "other", "unit": "categories"}
    assert len(chart["spec"]["data"]["values"]) == 51 and chart["points"] == 51
    assert "Top 50 of 80" in chart["spec"]["title"]["subtitle"]


def test_url_is_a_signed_link_to_the_image_that_needs_no_headers(charts_client, user_id):
    chart_id = save(user_id, BAR, ROWS)
    body = charts_client.get(f"/{chart_id}/url", headers=h(user_id)).get_json()
    path, _, query = body["url"].partition("?")
    assert path == f"/api/v1/charts/{chart_id}/image" and query.startswith("format=png&token=v1.")
    assert body["expires_at"].endswith("Z")
    image = charts_client.get(body["url"])  # no identity header: the token is the credential
    assert image.status_code == 200 and image.data.startswith(b"\x89PNG")
    scaled = charts_client.get(f"/{chart_id}/url?format=png&scale=2", headers=h(user_id)).get_json()["url"]
    assert "format=png&scale=2&token=" in scaled and charts_client.get(scaled).mimetype == "image/png"
    svg = charts_client.get(f"/{chart_id}/url?format=svg", headers=h(user_id)).get_json()["url"]
    assert charts_client.get(svg).mimetype == "image/svg+xml"


@pytest.mark.parametrize("query", ["format=gif", "format=PNG", "format=", "scale=0", "scale=5", "scale=1.5",
                                   "scale=big", "format=svg&scale=9"])
def test_bad_image_parameters_are_422(charts_client, user_id, query):
    chart_id = save(user_id, BAR, ROWS)
    before = render.render_counts()
    assert_error(charts_client.get(f"/{chart_id}/image?{query}", headers=h(user_id)), 422, "invalid_parameter")
    assert_error(charts_client.get(f"/{chart_id}/url?{query}", headers=h(user_id)), 422, "invalid_parameter")
    assert render.render_counts() == before


@pytest.mark.parametrize("query", ["limit=0", "limit=201", "limit=x"])
def test_bad_list_parameters_are_422(charts_client, user_id, query):
    assert_error(charts_client.get(f"/?{query}", headers=h(user_id)), 422, "invalid_parameter")


def test_another_tenants_chart_is_not_found_and_untouched(charts_client, user_id):
    chart_id = save(user_id, BAR, ROWS)
    other = h(f"{user_id}-other")
    for resp in (charts_client.get(f"/{chart_id}", headers=other),
                 charts_client.get(f"/{chart_id}/image", headers=other),
                 charts_client.get(f"/{chart_id}/url", headers=other),
                 charts_client.delete(f"/{chart_id}", headers=other)):
        assert_error(resp, 404, "chart_not_found")
    assert charts_client.get(f"/{chart_id}", headers=h(user_id)).status_code == 200


@pytest.mark.parametrize("chart_id", ["nope", "..", "a.b", "x" * 65])
def test_unknown_or_malformed_ids_are_404(charts_client, user_id, chart_id):
    assert_error(charts_client.get(f"/{chart_id}", headers=h(user_id)), 404, "chart_not_found")
    assert_error(charts_client.get(f"/{chart_id}/image", headers=h(user_id)), 404, "chart_not_found")


def test_delete_removes_the_document_and_its_images(charts_client, user_id):
    chart_id = save(user_id, BAR, ROWS)
    blobs = get_services(get_settings()).blobs
    charts_client.get(f"/{chart_id}/image", headers=h(user_id))
    charts_client.get(f"/{chart_id}/image?scale=2", headers=h(user_id))
    paths = [f"tenants/{user_id}/charts/{chart_id}{s}" for s in (".svg", ".png", "@2x.png")]
    assert all(blobs.exists(p) for p in paths)
    kept = save(user_id, BAR, ROWS)

    resp = charts_client.delete(f"/{chart_id}", headers=h(user_id))
    assert resp.status_code == 200 and resp.get_json() == {"deleted": True, "id": chart_id, "images": 3}
    assert not any(blobs.exists(p) for p in paths)
    for after in (charts_client.get(f"/{chart_id}", headers=h(user_id)),
                  charts_client.get(f"/{chart_id}/image", headers=h(user_id)),
                  charts_client.delete(f"/{chart_id}", headers=h(user_id))):
        assert_error(after, 404, "chart_not_found")
    assert [c["id"] for c in charts_client.get("/", headers=h(user_id)).get_json()["charts"]] == [kept]


def test_identity_and_methods(charts_client, user_id):
    assert_error(charts_client.get("/"), 401, "missing_identity")
    assert_error(charts_client.post("/", headers=h(user_id), json={}), 405, "method_not_allowed")
    assert_error(charts_client.get("/a/b/c", headers=h(user_id)), 404, "route_not_found")


def test_the_emulator_serves_the_function_and_its_image_url_resolves(local_env, user_id):
    from werkzeug.test import Client

    from local_emulator.server import build_app

    client = Client(build_app())
    chart_id = save(user_id, BAR, ROWS)
    listed = client.get("/api/v1/charts/", headers=h(user_id))
    assert listed.status_code == 200 and [c["id"] for c in listed.get_json()["charts"]] == [chart_id]
    url = client.get(f"/api/v1/charts/{chart_id}/url", headers=h(user_id)).get_json()["url"]
    image = client.get(url, headers=h(user_id))
    assert image.status_code == 200 and image.mimetype == "image/png" and image.data.startswith(b"\x89PNG")
