"""`POST /api/v1/datasets/{domain}/query`: custom SQL over a domain on the manipulator's path (guard, engine)."""

from __future__ import annotations

import io

import pytest

from tests.support.data import SALES_CSV


@pytest.fixture
def sales(datasets_client, user_id):
    h = {"X-User-Id": user_id}
    resp = datasets_client.post("/shop", headers=h, data={"file": (io.BytesIO(SALES_CSV.read_bytes()), "sales.csv")})
    assert resp.status_code == 201, resp.get_json()
    return datasets_client, h


def query(client, h, body, domain="shop"):
    return client.post(f"/{domain}/query", headers=h, json=body)


def test_a_select_runs_over_the_domains_dataset(sales):
    client, h = sales
    resp = query(client, h, {"sql": "SELECT region, COUNT(*) AS n FROM sales GROUP BY region ORDER BY region"})
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["domain"] == "shop" and body["sql"].startswith("SELECT region")
    assert body["executed_sql"]  # the engine's dialect
    table = body["table"]
    assert table["columns"] == ["region", "n"] and table["column_types"] == ["string", "integer"]
    assert sum(row[1] for row in table["rows"]) == 600 and table["truncated"] is False


def test_limit_lowers_the_row_cap_and_the_row_count_stays_whole(sales):
    client, h = sales
    table = query(client, h, {"sql": "SELECT * FROM sales", "limit": 5}).get_json()["table"]
    assert len(table["rows"]) == 5 and table["row_count"] == 600 and table["truncated"] is True
    assert "rows" in table["limits"]


def test_the_public_path_reaches_the_same_route(sales):
    client, h = sales
    resp = client.post("/api/v1/datasets/shop/query", headers=h, json={"sql": "SELECT COUNT(*) AS n FROM sales"})
    assert resp.status_code == 200 and resp.get_json()["table"]["rows"] == [[600]]


@pytest.mark.parametrize("body, status, code", [
    ({}, 400, "missing_sql"),
    ({"sql": ""}, 400, "missing_sql"),
    ({"sql": "   "}, 400, "missing_sql"),
    ({"sql": 42}, 400, "missing_sql"),
    ({"sql": "SELECT 1", "limit": 0}, 422, "invalid_sql_request"),
    ({"sql": "SELECT 1", "other": True}, 422, "invalid_sql_request"),
])
def test_bad_bodies(sales, body, status, code):
    client, h = sales
    resp = query(client, h, body)
    assert resp.status_code == status, resp.get_json()
    assert resp.get_json()["error"]["code"] == code


def test_no_body_and_not_json(sales):
    client, h = sales
    assert client.post("/shop/query", headers=h).get_json()["error"]["code"] == "missing_body"
    resp = client.post("/shop/query", headers=h, data="sql=SELECT 1", content_type="text/plain")
    assert resp.status_code == 415


@pytest.mark.parametrize("sql, reason", [
    ("DROP TABLE sales", ""),
    ("SELECT 1; SELECT 2", ""),
    ("SELECT pg_read_file('/etc/passwd')", "pg_read_file"),
    ("COPY sales TO '/tmp/x.csv'", ""),
    ("SELECT * FROM read_parquet('/etc/passwd')", "read_parquet"),
    ("WITH d AS (DELETE FROM sales RETURNING *) SELECT * FROM d", ""),
    ("SELECT * FROM other_table", "other_table"),
])
def test_hostile_sql_is_refused_with_the_guards_reason(sales, sql, reason):
    client, h = sales
    resp = query(client, h, {"sql": sql})
    assert resp.status_code == 422, resp.get_json()
    error = resp.get_json()["error"]
    assert error["code"] == "sql_refused"
    assert reason.lower() in error["message"].lower()


def test_too_long_sql_is_refused(sales):
    client, h = sales
    sql = "SELECT " + " + ".join(["1"] * 8000)
    resp = query(client, h, {"sql": sql})
    assert resp.status_code == 422 and resp.get_json()["error"]["code"] == "sql_refused"
    assert "longer than" in resp.get_json()["error"]["message"]


def test_an_engine_error_says_what_went_wrong(sales):
    client, h = sales
    resp = query(client, h, {"sql": "SELECT no_such_column FROM sales"})
    assert resp.status_code == 422
    error = resp.get_json()["error"]
    assert error["code"] in ("sql_refused", "sql_execution_error")


def test_unknown_domain_is_404_and_another_tenant_sees_nothing(sales):
    client, h = sales
    assert query(client, h, {"sql": "SELECT 1"}, domain="nowhere").status_code == 404
    other = {"X-User-Id": h["X-User-Id"] + "-other"}
    resp = query(client, other, {"sql": "SELECT COUNT(*) FROM sales"})
    assert resp.status_code == 404 and resp.get_json()["error"]["code"] == "domain_not_found"


def test_unauthenticated_is_401(sales):
    client, _ = sales
    assert query(client, {}, {"sql": "SELECT 1"}).status_code == 401
