"""The shared web layer, through a real function entry point: error shape, request ids, CORS, identity."""

from __future__ import annotations

import os

import pytest

from convoinsight import errors
from convoinsight.settings import get_settings


def test_error_shape_is_one_json_object_with_the_request_id(datasets_client):
    resp = datasets_client.get("/", headers={"X-Request-Id": "req-12345678"})
    assert resp.status_code == 401
    assert resp.get_json() == {"error": {"code": "missing_identity",
                                         "message": "send your identity in the X-User-Id header",
                                         "request_id": "req-12345678"}}
    assert resp.headers["X-Request-Id"] == "req-12345678"


def test_a_request_id_is_generated_when_absent_or_unsafe(datasets_client):
    resp = datasets_client.get("/", headers={"X-Request-Id": "bad id with spaces"})
    generated = resp.get_json()["error"]["request_id"]
    assert len(generated) == 32 and generated == resp.headers["X-Request-Id"]


@pytest.mark.parametrize("user", ["../etc", "a/b", "x" * 200, "tab\tuser"])
def test_unsafe_identities_are_refused(datasets_client, user):
    resp = datasets_client.get("/", headers={"X-User-Id": user})
    assert resp.status_code == 401 and resp.get_json()["error"]["code"] == "invalid_identity"


def test_unknown_route_and_wrong_method(datasets_client):
    nope = datasets_client.get("/a/b/c/d", headers={"X-User-Id": "u1"})
    assert nope.status_code == 404 and nope.get_json()["error"]["code"] == "route_not_found"
    wrong = datasets_client.put("/", headers={"X-User-Id": "u1"})
    assert wrong.status_code == 405 and "GET" in wrong.get_json()["error"]["message"]


def test_cors_allows_only_configured_origins(local_env):
    from tests.conftest import function_client

    os.environ["CORS_ORIGINS"] = "https://app.example.com"
    get_settings.cache_clear()
    client = function_client("health")
    allowed = client.options("/", headers={"Origin": "https://app.example.com",
                                           "Access-Control-Request-Method": "GET"})
    assert allowed.status_code == 204
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    other = client.get("/", headers={"Origin": "https://evil.example.com"})
    assert other.status_code == 200 and "Access-Control-Allow-Origin" not in other.headers


def test_every_error_class_has_a_status_and_code():
    classes = [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, errors.ConvoInsightError)]
    assert len(classes) > 10
    for cls in classes:
        assert 400 <= cls.status < 600 and cls.code
        assert cls.retryable == (cls.status >= 500 and cls.code not in ("internal_error", "config_error"))


def test_health_reports_each_dependency(health_client):
    body = health_client.get("/ready").get_json()
    assert body["status"] == "ready"
    assert set(body["checks"]) == {"documents", "blobs", "redis"}
    assert all(c["status"] == "ok" for c in body["checks"].values())
    assert health_client.get("/live").get_json() == {"status": "alive"}


def test_ready_is_503_with_retry_after_when_a_backend_is_down(local_env):
    from tests.conftest import function_client

    os.environ["REDIS_URL"] = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    get_settings.cache_clear()
    resp = function_client("health").get("/ready")
    assert resp.status_code == 503 and resp.headers["Retry-After"] == "5"
    assert resp.get_json()["checks"]["redis"]["status"] == "unavailable"
    assert resp.get_json()["checks"]["documents"]["status"] == "ok"


def test_unknown_query_parameters_and_oversized_json_are_refused(datasets_client, queries_client):
    h = {"X-User-Id": "u1"}
    unknown = datasets_client.get("/?debug=1", headers=h)
    assert unknown.status_code == 422 and unknown.get_json()["error"]["code"] == "invalid_parameter"
    assert "debug" in unknown.get_json()["error"]["message"]
    big = queries_client.post("/", headers=h, data=b'{"prompt": "' + b"x" * (1024 * 1024 + 10) + b'"}',
                              content_type="application/json")
    assert big.status_code == 413 and big.get_json()["error"]["code"] == "body_too_large"
