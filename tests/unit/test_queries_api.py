"""The queries function in-process: request validation, and nothing stored when a question fails."""

from __future__ import annotations

import io

import pytest

from convoinsight.services import get_services
from convoinsight.sessions import store
from convoinsight.settings import get_settings
from tests.support.data import SALES_CSV


@pytest.fixture
def sales(datasets_client, user_id) -> str:
    resp = datasets_client.post("/shop", headers={"X-User-Id": user_id},
                                data={"file": (io.BytesIO(SALES_CSV.read_bytes()), "sales.csv")})
    assert resp.status_code == 201
    return user_id


def stored_sessions(user: str) -> list:
    return get_services(get_settings()).documents.list(store.sessions(user))


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"domain": "shop"}, 422, "invalid_request"),
    ({"prompt": "x"}, 422, "invalid_request"),
    ({"domain": "shop", "prompt": ""}, 422, "invalid_request"),
    ({"domain": "shop", "prompt": "x" * 4001}, 422, "invalid_request"),
    ({"domain": "shop", "prompt": "x", "colour": "red"}, 422, "invalid_request"),
    ({"domain": "shop", "prompt": "x", "chart": "radar"}, 422, "invalid_request"),
    ({"domain": "shop", "prompt": "x", "mode": "batch"}, 422, "invalid_request"),
    ({"domain": "shop", "prompt": "x", "model": "anthropic/claude"}, 400, "unknown_model"),
    ({"domain": "../etc", "prompt": "x"}, 400, "invalid_domain"),
    ({"domain": "nowhere", "prompt": "x"}, 404, "domain_not_found"),
    ({"domain": "shop", "prompt": "x", "session_id": "feedface"}, 404, "session_not_found"),
    ({"domain": "shop", "prompt": "x", "session_id": "../../x"}, 404, "session_not_found"),
])
def test_bad_questions_are_refused_and_store_nothing(queries_client, sales, body, status, code):
    resp = queries_client.post("/", headers={"X-User-Id": sales}, json=body)
    assert resp.status_code == status, resp.get_json()
    assert resp.get_json()["error"]["code"] == code
    assert stored_sessions(sales) == []


def test_body_must_be_json(queries_client, sales):
    resp = queries_client.post("/", headers={"X-User-Id": sales}, data="domain=shop", content_type="text/plain")
    assert resp.status_code == 415 and resp.get_json()["error"]["code"] == "unsupported_content_type"
    empty = queries_client.post("/", headers={"X-User-Id": sales})
    assert empty.status_code == 400 and empty.get_json()["error"]["code"] == "missing_body"
    listed = queries_client.post("/", headers={"X-User-Id": sales}, json=["x"])
    assert listed.status_code == 400 and listed.get_json()["error"]["code"] == "invalid_json"


def test_a_successful_answer_is_kept_as_a_conversation(queries_client, sales):
    resp = queries_client.post("/", headers={"X-User-Id": sales},
                               json={"domain": "shop", "prompt": "total revenue by region"})
    body = resp.get_json()
    assert resp.status_code == 200 and body["sql_status"] == "ok"
    (session,) = stored_sessions(sales)
    assert session["id"] == body["session_id"] and session["title"] == "total revenue by region"
    docs = get_services(get_settings()).documents
    messages = docs.list(store.messages(sales, body["session_id"]), order_by="seq")
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert messages[1]["id"] == body["message_id"] and messages[1]["payload"]["sql"] == body["sql"]
    chart = docs.get(store.charts(sales), body["chart"]["id"])
    assert chart["spec"] == body["chart"]["spec"]
    # Another tenant cannot continue this session.
    other = queries_client.post("/", headers={"X-User-Id": f"{sales}-x"},
                                json={"domain": "shop", "prompt": "x", "session_id": body["session_id"]})
    assert other.status_code == 404
