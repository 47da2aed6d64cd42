"""The original API's routes over HTTP through the local emulator: its root paths (``/upload-datasets``,
``/list-domains``, ``/domain/{d}/datasets``) and ``/api/v1/storage/charts`` reach the function that serves them
(gateway.EXTRA_ROUTES), and each answers as its successor does, with Deprecation, Sunset and Link."""

from __future__ import annotations

import uuid

import pytest
import requests

from convoinsight.web.app import LEGACY_DEPRECATED, LEGACY_SUNSET

pytestmark = pytest.mark.slow

CSV = b"region,revenue\nNorth,120.5\nSouth,80.25\nEast,42\n"


def h(user: str) -> dict[str, str]:
    return {"X-User-Id": user}


def root(emulator) -> str:
    return emulator.base[: -len("/api/v1")]


def assert_deprecated(resp, successor: str) -> None:
    assert resp.headers["Deprecation"] == LEGACY_DEPRECATED and resp.headers["Sunset"] == LEGACY_SUNSET
    assert resp.headers["Link"] == f'<{successor}>; rel="successor-version"'


def same(legacy, current) -> None:
    assert legacy.status_code == current.status_code
    if legacy.status_code >= 400:
        assert {**legacy.json()["error"], "request_id": ""} == {**current.json()["error"], "request_id": ""}
    else:
        assert legacy.json() == current.json()
    assert "Deprecation" not in current.headers


@pytest.fixture
def user(emulator) -> str:
    return f"compat-{uuid.uuid4().hex[:10]}"


def test_the_original_datasets_routes_over_http(emulator, user):
    base, victim = root(emulator), f"{user}-victim"
    resp = requests.post(f"{base}/upload-datasets", headers=h(user), timeout=30,
                         data={"domain": "shop", "userId": victim}, files={"file": ("sales.csv", CSV)})
    assert resp.status_code == 201, resp.text
    assert resp.json()["name"] == "sales" and resp.json()["rows"] == 3
    assert_deprecated(resp, "/api/v1/datasets/{domain}")
    # the same route under the function's prefix
    again = requests.post(emulator.url("datasets", "/upload-datasets"), headers=h(user), timeout=30,
                          data={"domain": "shop", "name": "orders"}, files={"file": ("sales.csv", CSV)})
    assert again.status_code == 201 and again.json()["name"] == "orders"
    # userId named nobody: the data is the caller's
    assert requests.get(emulator.url("datasets", "/"), headers=h(victim), timeout=10).json() == {"domains": []}

    listed = requests.get(f"{base}/list-domains", headers=h(user), timeout=10)
    same(listed, requests.get(emulator.url("datasets", "/"), headers=h(user), timeout=10))
    assert [(d["name"], d["dataset_count"]) for d in listed.json()["domains"]] == [("shop", 2)]
    assert_deprecated(listed, "/api/v1/datasets/")

    for domain in ("shop", "nowhere"):
        current = requests.get(emulator.url("datasets", f"/{domain}"), headers=h(user), timeout=10)
        legacy = requests.get(f"{base}/domain/{domain}/datasets", headers=h(user), timeout=10)
        same(legacy, current)
        assert_deprecated(legacy, f"/api/v1/datasets/{domain}")
        query = requests.get(f"{emulator.base}/datasets", params={"domain": domain}, headers=h(user), timeout=10)
        same(query, current)
        assert_deprecated(query, f"/api/v1/datasets/{domain}")
    assert [d["name"] for d in requests.get(f"{base}/domain/shop/datasets", headers=h(user), timeout=10)
            .json()["datasets"]] == ["orders", "sales"]

    reserved = requests.post(emulator.url("datasets", "/list-domains"), headers=h(user), timeout=30,
                             files={"file": ("sales.csv", CSV)})
    assert reserved.status_code == 400 and reserved.json()["error"]["code"] == "reserved_domain"


def test_the_original_charts_and_cancel_routes_over_http(emulator, user):
    assert requests.post(emulator.url("datasets", "/shop"), headers=h(user), files={"file": ("sales.csv", CSV)},
                         timeout=30).status_code == 201
    answer = requests.post(emulator.url("queries", "/"), headers=h(user), timeout=60, json={
        "domain": "shop", "prompt": "total revenue by region", "model": "offline", "userId": f"{user}-victim"})
    assert answer.status_code == 200, answer.text
    chart_id, session_id = answer.json()["chart"]["id"], answer.json()["session_id"]

    listed = requests.get(f"{emulator.base}/storage/charts", headers=h(user), timeout=10)
    same(listed, requests.get(emulator.url("charts", "/"), headers=h(user), timeout=10))
    assert [c["id"] for c in listed.json()["charts"]] == [chart_id]
    assert_deprecated(listed, "/api/v1/charts/")
    one = requests.get(f"{emulator.base}/storage/charts/{chart_id}", headers=h(user), timeout=10)
    same(one, requests.get(emulator.url("charts", f"/{chart_id}"), headers=h(user), timeout=10))
    assert_deprecated(one, f"/api/v1/charts/{chart_id}")

    # the session's question was answered: nothing is running, nothing is cancelled
    cancel = requests.post(emulator.url("queries", f"/{session_id}/cancel"), headers=h(user), timeout=10)
    assert cancel.status_code == 200 and cancel.json() == {"session_id": session_id, "cancelled": []}
    assert_deprecated(cancel, "/api/v1/queries/{job_id}")
    unknown = requests.post(emulator.url("queries", f"/{session_id}/cancel"), headers=h(f"{user}-other"), timeout=10)
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "session_not_found"
    assert_deprecated(unknown, "/api/v1/queries/{job_id}")
