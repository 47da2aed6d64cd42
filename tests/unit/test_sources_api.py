"""The `sources` function against a real customer PostgreSQL: connections, tables, writes, custom SQL, security."""

from __future__ import annotations

import io
import json
import logging
import uuid

import pytest

from tests.conftest import function_client
from tests.support.http import assert_error
from tests.unit.conftest import connection_body


@pytest.fixture
def client(sources_env):
    return sources_env


@pytest.fixture
def h(user_id):
    return {"X-User-Id": user_id}


def _connect(client, h, customer_db, **kw):
    resp = client.post("/postgres", headers=h, json=connection_body(customer_db, **kw))
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()


# ---------------------------------------------------------------- connections


def test_a_connection_is_stored_masked_and_can_be_read_patched_and_deleted(client, h, customer_db):
    created = _connect(client, h, customer_db)
    assert created["password"] == "********" and "password_token" not in created
    assert created["schema"] == "crm" and created["allow_writes"] is False and created["version"] == 1
    listed = client.get("/postgres", headers=h).get_json()["connections"]
    assert [c["name"] for c in listed] == ["crm"]
    assert customer_db.reader_password not in json.dumps(listed)
    patched = client.patch("/postgres/crm", headers=h, json={"allow_writes": True, "schema": "public"}).get_json()
    assert patched["allow_writes"] is True and patched["schema"] == "public" and patched["version"] == 2
    assert_error(client.post("/postgres", headers=h, json=connection_body(customer_db)), 409, "connection_exists")
    assert client.delete("/postgres/crm", headers=h).get_json()["deleted"]["connection"] == "crm"
    assert_error(client.get("/postgres/crm", headers=h), 404, "connection_not_found")


@pytest.mark.parametrize("change, field", [
    ({"port": 0}, "port"), ({"sslmode": "allow"}, "sslmode"), ({"name": "Bad Name"}, "name"),
    ({"host": ""}, "host"), ({"password": "a\x00b"}, "password"), ({"extra": 1}, "extra"),
    ({"ssl_root_cert": "not a certificate"}, "ssl_root_cert"),
])
def test_bad_connection_bodies_are_422_naming_the_field(client, h, customer_db, change, field):
    body = {**connection_body(customer_db), **change}
    resp = client.post("/postgres", headers=h, json=body)
    if field == "password":  # NUL never gets past the HTTP edge
        assert_error(resp, 400, "invalid_characters")
        return
    error = assert_error(resp, 422, "invalid_request")
    assert field in error["message"]
    assert client.get("/postgres", headers=h).get_json() == {"connections": []}  # nothing half-written


def test_the_password_is_encrypted_at_rest_and_rotation_keeps_it_readable(client, h, customer_db, monkeypatch):
    from cryptography.fernet import Fernet

    from convoinsight.services import get_services
    from convoinsight.settings import get_settings
    from convoinsight.sources import connections

    _connect(client, h, customer_db)
    stored = get_services(get_settings()).documents.get(connections.collection(h["X-User-Id"]), "crm")
    assert customer_db.reader_password not in json.dumps(stored)
    old_key = get_settings().fernet_keys[0]
    # A new key first, the old one still listed: reads work, and a PATCH re-encrypts under the new key.
    new_key = Fernet.generate_key().decode()
    monkeypatch.setenv("FERNET_KEY", f"{new_key},{old_key}")
    get_settings.cache_clear()
    assert client.post("/postgres/crm/test", headers=h).status_code == 200
    client.patch("/postgres/crm", headers=h, json={"allow_writes": False})
    monkeypatch.setenv("FERNET_KEY", new_key)  # the old key retired
    get_settings.cache_clear()
    assert client.post("/postgres/crm/test", headers=h).get_json()["ok"] is True


def test_test_reports_latency_version_write_ability_and_tls(client, h, customer_db):
    _connect(client, h, customer_db)
    _connect(client, h, customer_db, name="rw", user="writer", allow_writes=True)
    reader = client.post("/postgres/crm/test", headers=h).get_json()
    assert reader["ok"] and reader["server_version"].startswith("15") and reader["latency_ms"] >= 0
    assert reader["can_write"] is False and reader["tls"]["enabled"] is False and reader["user"] == "reader"
    assert any("not encrypted" in w for w in reader["warnings"])
    writer = client.post("/postgres/rw/test", headers=h).get_json()
    assert writer["can_write"] is True and writer["writes_allowed"] is True


def test_verify_full_checks_the_certificate_against_the_host_name(client, h, customer_db, monkeypatch):
    from convoinsight.security import network

    monkeypatch.setattr(network, "resolver", lambda host, port: ["127.0.0.1"])
    _connect(client, h, customer_db, name="tls", host="db.customer.test", sslmode="verify-full",
             ssl_root_cert=customer_db.ca_pem)
    report = client.post("/postgres/tls/test", headers=h).get_json()
    assert report["tls"]["enabled"] and report["tls"]["verified"] and report["tls"]["host_name_checked"]
    assert report["tls"]["version"].startswith("TLS")
    # The same server under a name its certificate does not carry, or without trusting its CA: refused.
    _connect(client, h, customer_db, name="wrongname", host="other.customer.test", sslmode="verify-full",
             ssl_root_cert=customer_db.ca_pem)
    assert_error(client.post("/postgres/wrongname/test", headers=h), 422, "source_tls_failed")
    _connect(client, h, customer_db, name="noca", host="db.customer.test", sslmode="verify-full")
    assert_error(client.post("/postgres/noca/test", headers=h), 422, "source_tls_failed")
    # require encrypts without verifying.
    _connect(client, h, customer_db, name="req", sslmode="require")
    assert client.post("/postgres/req/test", headers=h).get_json()["tls"] == {
        "enabled": True, "version": report["tls"]["version"], "cipher": report["tls"]["cipher"],
        "sslmode": "require", "verified": False, "host_name_checked": False}


def test_wrong_password_is_422_and_never_echoed(client, h, customer_db):
    _connect(client, h, customer_db, password="wrong-password-123")
    error = assert_error(client.post("/postgres/crm/test", headers=h), 422, "source_auth_failed")
    assert "wrong-password-123" not in json.dumps(error)


def test_a_server_that_is_down_is_503_with_retry_after(client, h, customer_db):
    from local_emulator.backing import free_port

    _connect(client, h, customer_db, port=free_port())  # nothing listens there
    resp = client.post("/postgres/crm/test", headers=h)
    assert_error(resp, 503, "source_unavailable")
    assert int(resp.headers["Retry-After"]) > 0
    resp = client.get("/postgres/crm/tables", headers=h)
    assert_error(resp, 503, "source_unavailable")


# ---------------------------------------------------------------- SSRF

REFUSED_ADDRESSES = [
    "10.1.2.3", "172.16.0.1", "192.168.1.1", "127.0.0.1", "::1", "169.254.169.254", "169.254.10.10",
    "100.64.0.1", "0.0.0.0", "::", "224.0.0.251",  # noqa: S104 - refused, never bound
    "240.0.0.1", "255.255.255.255", "::ffff:127.0.0.1",
    "::ffff:10.0.0.1", "::ffff:169.254.169.254", "fc00::1", "fe80::1", "fd00:ec2::254", "2002:0a00:0001::1",
]


@pytest.mark.parametrize("address", REFUSED_ADDRESSES)
def test_every_non_public_address_is_refused_by_name_and_literal_without_a_connect(
        local_env, customer_db, user_id, monkeypatch, address):
    from convoinsight.security import network
    from tests.support import network_guard

    monkeypatch.setenv("FERNET_KEY", "")  # local key file; the private-host setting stays off
    client, h = function_client("sources"), {"X-User-Id": user_id}
    monkeypatch.setattr(network, "resolver", lambda host, port: {"db.example.com": [address]}[host])
    before = len(network_guard.attempts)
    for host in ("db.example.com", f"[{address}]" if ":" in address else address):
        body = {**connection_body(customer_db), "host": host}
        error = assert_error(client.post("/postgres", headers=h, json=body), 422, "source_host_refused")
        assert "public addresses" in error["message"] or "metadata" in error["message"]
    # No connect to the database port at all (other connects are the service's own Redis and PostgreSQL).
    assert [a for a in network_guard.attempts[before:] if a[1] == customer_db.port] == []
    assert client.get("/postgres", headers=h).get_json() == {"connections": []}


def test_metadata_names_are_refused_even_when_private_hosts_are_allowed(client, h, customer_db, monkeypatch):
    from convoinsight.security import network

    monkeypatch.setattr(network, "resolver", lambda host, port: ["169.254.169.254"])
    for host in ("metadata.google.internal", "METADATA.google.internal.", "metadata", "169.254.169.254",
                 "x.example.com"):
        assert_error(client.post("/postgres", headers=h, json={**connection_body(customer_db), "host": host}),
                     422, "source_host_refused")


def test_one_private_address_among_public_ones_is_refused(local_env, customer_db, user_id, monkeypatch):
    from convoinsight.security import network

    client, h = function_client("sources"), {"X-User-Id": user_id}
    monkeypatch.setattr(network, "resolver", lambda host, port: ["93.184.216.34", "10.0.0.7"])
    assert_error(client.post("/postgres", headers=h, json={**connection_body(customer_db), "host": "mixed.example"}),
                 422, "source_host_refused")


def test_rebinding_is_caught_at_connect_and_the_connect_goes_to_the_checked_address(
        local_env, customer_db, user_id, monkeypatch):
    from convoinsight.security import network
    from tests.support import network_guard

    client, h = function_client("sources"), {"X-User-Id": user_id}
    answers = {"db.example.com": ["93.184.216.34"]}
    monkeypatch.setattr(network, "resolver", lambda host, port: answers[host])
    assert client.post("/postgres", headers=h, json={**connection_body(customer_db),
                                                      "host": "db.example.com"}).status_code == 201
    # The name now points inside: the connect re-checks and refuses, before any socket is opened.
    answers["db.example.com"] = ["10.0.0.5"]
    before = len(network_guard.attempts)
    assert_error(client.post("/postgres/crm/test", headers=h), 422, "source_host_refused")
    assert [a for a in network_guard.attempts[before:] if a[1] == customer_db.port] == []
    # A public answer: the one connect attempt goes to exactly that address (the test guard stops it there).
    answers["db.example.com"] = ["93.184.216.34"]
    assert_error(client.post("/postgres/crm/test", headers=h), 503, "source_unavailable")
    assert [a for a in network_guard.attempts[before:] if a[1] == customer_db.port] == [
        ("93.184.216.34", customer_db.port)]


def test_private_hosts_cannot_be_allowed_outside_local_mode():
    from convoinsight.errors import ConfigError
    from convoinsight.settings import load_settings

    with pytest.raises(ConfigError, match="SOURCES_ALLOW_PRIVATE_HOSTS"):
        load_settings({"DEPLOYMENT_MODE": "cloud", "AUTH_MODE": "apikey", "GCP_PROJECT_ID": "p",
                       "SOURCES_ALLOW_PRIVATE_HOSTS": "true"})


# ---------------------------------------------------------------- tables


def test_tables_list_columns_keys_and_estimates_and_are_cached_until_refreshed(client, h, customer_db):
    _connect(client, h, customer_db)
    listed = client.get("/postgres/crm/tables", headers=h).get_json()["tables"]
    by_name = {t["name"]: t for t in listed}
    assert {"customers", "orders", "order_items", "products", "order_totals", "CamelTable"} <= set(by_name)
    orders = by_name["orders"]
    assert orders["primary_key"] == ["id"] and 2500 <= orders["row_estimate"] <= 3500
    assert orders["foreign_keys"][0]["references"] == {"schema": "crm", "table": "customers", "columns": ["id"]}
    assert {c["name"]: c["dtype"] for c in orders["columns"]}["ordered_at"] == "date"
    assert by_name["order_items"]["primary_key"] == ["order_id", "product_id"]
    table = f"t_{uuid.uuid4().hex[:8]}"
    customer_db.admin_run(f"CREATE TABLE crm.{table} (a int); GRANT SELECT ON crm.{table} TO reader")
    try:
        cached = {t["name"] for t in client.get("/postgres/crm/tables", headers=h).get_json()["tables"]}
        assert table not in cached
        fresh = {t["name"] for t in client.get("/postgres/crm/tables?refresh=true", headers=h).get_json()["tables"]}
        assert table in fresh
    finally:
        customer_db.admin_run(f"DROP TABLE crm.{table}")
    public = client.get("/postgres/crm/tables?schema=public", headers=h).get_json()["tables"]
    assert [t["name"] for t in public] == ["countries"]
    assert_error(client.get("/postgres/crm/tables?bogus=1", headers=h), 422, "invalid_parameter")


def test_rows_are_paged_in_key_order_and_bounded(client, h, customer_db):
    _connect(client, h, customer_db)
    first = client.get("/postgres/crm/tables/customers?limit=3", headers=h).get_json()
    assert first["columns"][:2] == ["id", "name"] and [r[0] for r in first["rows"]] == [1, 2, 3]
    second = client.get("/postgres/crm/tables/customers?limit=3&offset=3", headers=h).get_json()
    assert [r[0] for r in second["rows"]] == [4, 5, 6]
    assert_error(client.get("/postgres/crm/tables/customers?limit=1001", headers=h), 422, "invalid_parameter")
    assert_error(client.get("/postgres/crm/tables/nope", headers=h), 404, "table_not_found")
    camel = client.get("/postgres/crm/tables/CamelTable?limit=2", headers=h).get_json()
    assert camel["columns"] == ["id", "MixedCase", "Created At"] and camel["rows"][0][1] == "Value 1"


# ---------------------------------------------------------------- writes


ROWS_BODY = {"name": "targets", "columns": [{"name": "region", "type": "text"},
                                            {"name": "target", "type": "numeric(10,2)"},
                                            {"name": "Quarter \"Q\"", "type": "date"}],
             "rows": [["North", 100.5, "2024-01-01"], ["South", 80, "2024-04-01"]]}


@pytest.fixture
def writable(client, h, customer_db):
    table = f"w_{uuid.uuid4().hex[:8]}"
    _connect(client, h, customer_db, name="rw", user="writer", allow_writes=True)
    yield table
    customer_db.admin_run(f'DROP TABLE IF EXISTS crm."{table}"')


def test_writes_are_refused_without_allow_writes(client, h, customer_db, writable):
    _connect(client, h, customer_db, name="ro", user="writer")  # the role could write; the connection may not
    body = {**ROWS_BODY, "name": writable}
    assert_error(client.post("/postgres/ro/tables", headers=h, json=body), 403, "writes_not_allowed")
    assert_error(client.put("/postgres/ro/tables/orders", headers=h, json={"mode": "append", **body}), 403,
                 "writes_not_allowed")
    assert_error(client.delete("/postgres/ro/tables/orders", headers=h), 403, "writes_not_allowed")
    assert customer_db.admin_run("SELECT count(*) FROM crm.orders")[0][0] == 3000


def test_create_replace_append_and_drop_a_table_from_json_rows(client, h, customer_db, writable):
    created = client.post("/postgres/rw/tables", headers=h, json={**ROWS_BODY, "name": writable})
    assert created.status_code == 201 and created.get_json()["rows_written"] == 2
    assert customer_db.admin_run(f'SELECT region, target, "Quarter ""Q""" FROM crm."{writable}" ORDER BY 1')[0][0] \
        == "North"
    assert_error(client.post("/postgres/rw/tables", headers=h, json={**ROWS_BODY, "name": writable}), 409,
                 "table_exists")
    appended = client.put(f"/postgres/rw/tables/{writable}", headers=h, json={
        "mode": "append", "columns": ROWS_BODY["columns"], "rows": [["East", 1, None]]}).get_json()
    assert appended["rows_written"] == 1
    assert customer_db.admin_run(f'SELECT count(*) FROM crm."{writable}"')[0][0] == 3
    client.put(f"/postgres/rw/tables/{writable}", headers=h, json={
        "mode": "replace", "columns": ROWS_BODY["columns"], "rows": [{"region": "West", "target": 7}]})
    assert customer_db.admin_run(f'SELECT region, target FROM crm."{writable}"') == [["West", 7]] or \
        customer_db.admin_run(f'SELECT region, target::int FROM crm."{writable}"') == [["West", 7]]
    assert client.delete(f"/postgres/rw/tables/{writable}", headers=h).get_json()["deleted"]["table"] == writable
    assert customer_db.admin_run("SELECT to_regclass(:t)", t=f'crm."{writable}"')[0][0] is None
    actions = [a["action"] for a in _audit(h)]
    assert {"source.table.create", "source.table.append", "source.table.replace", "source.table.drop"} <= set(actions)


def _audit(h):
    from convoinsight.observability import audit
    from convoinsight.services import get_services
    from convoinsight.settings import get_settings

    return audit.recent(get_services(get_settings()), h["X-User-Id"])


def test_a_table_from_an_uploaded_dataset(client, h, customer_db, writable):
    csv = b"region,units,day\nNorth,3,2024-01-02\nSouth,5,2024-01-03\n"
    assert function_client("datasets").post("/d", headers=h, data={"file": (io.BytesIO(csv), "units.csv")}) \
        .status_code == 201
    created = client.post("/postgres/rw/tables", headers=h, json={"name": writable,
                                                                   "from": {"domain": "d", "dataset": "units"}})
    assert created.status_code == 201, created.get_json()
    assert customer_db.admin_run(f'SELECT region, units, day::text FROM crm."{writable}" ORDER BY 1') == [
        ["North", 3, "2024-01-02"], ["South", 5, "2024-01-03"]]
    assert_error(client.post("/postgres/rw/tables", headers=h, json={"name": "x", "from": {"domain": "d",
                                                                                         "dataset": "nope"}}),
                 404, "dataset_not_found")


def test_a_failing_write_leaves_nothing_behind(client, h, customer_db, writable):
    rows = [[f"r{i}", i, "2024-01-01"] for i in range(2500)] + [["bad", "not a number", "2024-01-01"]]
    resp = client.post("/postgres/rw/tables", headers=h, json={**ROWS_BODY, "name": writable, "rows": rows})
    assert resp.status_code in (400, 422), resp.get_json()
    assert customer_db.admin_run("SELECT to_regclass(:t)", t=f'crm."{writable}"')[0][0] is None
    client.post("/postgres/rw/tables", headers=h, json={**ROWS_BODY, "name": writable})
    resp = client.put(f"/postgres/rw/tables/{writable}", headers=h, json={
        "mode": "replace", "columns": ROWS_BODY["columns"], "rows": rows})
    assert resp.status_code in (400, 422)
    assert customer_db.admin_run(f'SELECT count(*) FROM crm."{writable}"')[0][0] == 2  # replace rolled back


@pytest.mark.parametrize("column_type", ["integer; DROP TABLE crm.orders", "regclass", "text[]) --",
                                         "pg_catalog.pg_node_tree"])
def test_column_types_outside_the_allow_list_are_refused(client, h, customer_db, writable, column_type):
    body = {"name": writable, "columns": [{"name": "a", "type": column_type}], "rows": []}
    assert client.post("/postgres/rw/tables", headers=h, json=body).status_code == 422
    assert customer_db.admin_run("SELECT count(*) FROM crm.orders")[0][0] == 3000


def test_a_write_past_the_row_limit_is_413_before_anything_is_written(client, h, customer_db, writable,
                                                                      monkeypatch):
    from convoinsight.settings import get_settings

    monkeypatch.setenv("SOURCE_WRITE_MAX_ROWS", "1")
    get_settings.cache_clear()
    assert_error(client.post("/postgres/rw/tables", headers=h, json={**ROWS_BODY, "name": writable}), 413,
                 "too_many_rows")
    assert customer_db.admin_run("SELECT to_regclass(:t)", t=f'crm."{writable}"')[0][0] is None


# ---------------------------------------------------------------- custom SQL


def test_custom_sql_is_guarded_and_answers_in_the_table_shape(client, h, customer_db):
    _connect(client, h, customer_db)
    resp = client.post("/postgres/crm/query", headers=h, json={
        "sql": "SELECT status, count(*) AS n FROM orders GROUP BY status ORDER BY n DESC, status", "limit": 2})
    body = resp.get_json()
    assert resp.status_code == 200, body
    expected = customer_db.admin_run("SELECT status, count(*) FROM crm.orders GROUP BY status "
                                     "ORDER BY 2 DESC, 1")
    table = body["table"]
    assert table["columns"] == ["status", "n"] and table["column_types"] == ["string", "integer"]
    assert table["rows"] == [list(r) for r in expected[:2]]
    assert table["row_count"] == len(expected) and table["truncated"] is True
    for sql in ("DELETE FROM orders", "SELECT pg_sleep(1)", "SELECT * FROM pg_catalog.pg_authid",
                "SELECT 1; DROP TABLE orders", "WITH d AS (DELETE FROM orders RETURNING *) SELECT * FROM d",
                "SELECT * FROM countries"):  # countries lives in another schema than the connection's
        assert_error(client.post("/postgres/crm/query", headers=h, json={"sql": sql}), 422, "sql_refused")
    assert customer_db.admin_run("SELECT count(*) FROM crm.orders")[0][0] == 3000


def test_custom_sql_runs_read_only_and_stops_at_the_statement_timeout(client, h, customer_db, monkeypatch):
    from convoinsight.settings import get_settings

    monkeypatch.setenv("SOURCE_STATEMENT_TIMEOUT_SECONDS", "0.5")
    get_settings.cache_clear()
    _connect(client, h, customer_db)
    resp = client.post("/postgres/crm/query", headers=h, json={
        "sql": "SELECT count(*) FROM order_items a, order_items b, order_items c"})
    error = assert_error(resp, 422, "sql_execution_error")
    assert error["details"]["code"] == "sql_timeout"
    assert client.post("/postgres/crm/query", headers=h, json={"sql": "SELECT 1 AS one"}).get_json()["table"][
        "rows"] == [[1]]  # the worker and its connection survive


def test_the_password_never_reaches_logs_or_responses(client, h, customer_db, caplog):
    caplog.set_level(logging.DEBUG)
    seen = []
    seen.append(client.post("/postgres", headers=h, json=connection_body(customer_db)).get_data(as_text=True))
    for method, path in (("GET", "/postgres"), ("GET", "/postgres/crm"), ("POST", "/postgres/crm/test"),
                         ("GET", "/postgres/crm/tables"), ("GET", "/postgres/crm/tables/orders")):
        seen.append(client.open(path, method=method, headers=h).get_data(as_text=True))
    seen.append(client.post("/postgres/crm/query", headers=h, json={"sql": "SELECT 1"}).get_data(as_text=True))
    client.patch("/postgres/crm", headers=h, json={"password": "wrong-but-secret-42"})
    seen.append(client.post("/postgres/crm/test", headers=h).get_data(as_text=True))
    text = "\n".join(seen) + "\n".join(r.getMessage() + str(r.__dict__) for r in caplog.records)
    for secret in (customer_db.reader_password, "wrong-but-secret-42"):
        assert secret not in text
