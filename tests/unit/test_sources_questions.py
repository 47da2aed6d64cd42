"""Questions over linked PostgreSQL tables: pushdown, federated joins with an uploaded file, errors fed back.

The model is the stub OpenAI-compatible server (the real litellm path); the database is the real
customer PostgreSQL. A federated answer is checked against PostgreSQL itself running the same SQL
with the uploaded file loaded as a table.
"""

from __future__ import annotations

import io
import json
import uuid

import pytest

from tests.conftest import function_client
from tests.support.http import assert_error
from tests.support.stub_llm import context_of
from tests.unit.conftest import connection_body

# Customer tiers keyed like crm.customers.id: an uploaded file that only makes sense joined with the database.
TIERS_CSV = "customer_id,tier\n" + "".join(f"{i},{'gold' if i % 5 == 0 else 'silver' if i % 2 else 'bronze'}\n"
                                           for i in range(1, 201))


@pytest.fixture
def world(sources_env, use_stub_model, user_id, customer_db):
    client, h = sources_env, {"X-User-Id": user_id}
    assert client.post("/postgres", headers=h, json=connection_body(customer_db)).status_code == 201
    linked = client.post("/postgres/crm/links", headers=h, json={
        "domain": "sales", "tables": ["orders", "customers", {"table": "order_totals", "name": "totals"}]})
    assert linked.status_code == 201, linked.get_json()
    assert function_client("datasets").post("/sales", headers=h, data={
        "file": (io.BytesIO(TIERS_CSV.encode()), "tiers.csv")}).status_code == 201
    return client, h, use_stub_model


def _script(stub, sql: str, *more_sql: str, datasets=("orders",)) -> None:
    stub.always("router", json.dumps({"route": "data", "datasets": list(datasets), "chart": "table",
                                      "analysis": False}))
    stub.always("orchestrator", json.dumps({"manipulator_prompt": "compute it", "visualizer_prompt": "",
                                            "analyzer_prompt": "", "compiler_instruction": ""}))
    stub.script("manipulator", *(json.dumps({"sql": s, "explanation": "x"}) for s in (sql, *more_sql)))
    stub.always("compiler", json.dumps({"answer": "Here it is.", "follow_ups": ["More?", "Why?"]}))
    stub.always("analyzer", json.dumps({"summary": "ok", "insights": []}))
    stub.always("visualizer", json.dumps({"spec": {"mark": "bar"}, "title": "x"}))


def _ask(h, prompt="question", **extra):
    return function_client("queries").post("/", headers=h, json={"domain": "sales", "prompt": prompt, **extra})


def test_linked_tables_appear_beside_datasets_and_feed_the_prompts(world):
    client, h, stub = world
    listing = function_client("datasets").get("/sales", headers=h).get_json()
    assert [d["name"] for d in listing["datasets"]] == ["tiers"]
    assert [t["name"] for t in listing["linked"]] == ["customers", "orders", "totals"]
    links = client.get("/postgres/crm/links", headers=h).get_json()["links"]
    assert {(x["domain"], x["name"], x["table"]) for x in links} == {
        ("sales", "customers", "customers"), ("sales", "orders", "orders"), ("sales", "totals", "order_totals")}
    _script(stub, "SELECT count(*) AS n FROM orders")
    assert _ask(h).status_code == 200
    context = context_of(stub.calls("manipulator")[-1]["body"])
    orders = next(d for d in context["datasets"] if d["name"] == "orders")
    assert orders["source"] == "postgres" and 2500 <= orders["rows"] <= 3500
    assert {"name": "status", "dtype": "string"}.items() <= next(c for c in orders["columns"]
                                                                 if c["name"] == "status").items()
    assert orders["foreign_keys"] == [{"columns": ["customer_id"], "references": "customers",
                                       "referenced_columns": ["id"]}]
    assert "password" not in json.dumps(context) and "reader" not in json.dumps(context["datasets"])


def test_a_question_over_linked_tables_is_pushed_down(world, customer_db):
    _, h, stub = world
    sql = ("SELECT c.country, count(*) AS orders, to_char(min(o.ordered_at), 'YYYY-MM') AS first_month "
           "FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.status = 'paid' "
           "GROUP BY c.country ORDER BY orders DESC, c.country")
    _script(stub, sql)
    answer = _ask(h).get_json()
    assert answer["sql_status"] == "ok", answer
    expected = customer_db.admin_run(sql.replace("FROM orders", "FROM crm.orders").replace(
        "JOIN customers", "JOIN crm.customers"))
    assert answer["table"]["rows"] == [list(r) for r in expected]
    assert answer["table"]["columns"] == ["country", "orders", "first_month"]
    # It ran on PostgreSQL: a PostgreSQL-only construct works as PostgreSQL defines it.
    _script(stub, "SELECT status, string_agg(DISTINCT id::text, ',' ORDER BY id::text) FILTER (WHERE id < 8) AS ids "
                  "FROM orders GROUP BY status ORDER BY status")
    again = _ask(h, prompt="another").get_json()
    assert again["sql_status"] == "ok", again
    assert again["table"]["rows"][0][0] == "cancelled"


def test_a_file_joined_with_a_live_table_matches_postgres_running_it(world, customer_db):
    _, h, stub = world
    sql = ("SELECT t.tier, c.segment, count(DISTINCT o.id) AS orders, round(avg(o.customer_id), 2) AS avg_customer "
           "FROM orders o JOIN customers c ON c.id = o.customer_id JOIN tiers t ON t.customer_id = c.id "
           "WHERE o.status IN ('paid', 'shipped') AND c.country <> 'JP' "
           "GROUP BY t.tier, c.segment ORDER BY t.tier, c.segment NULLS LAST")
    _script(stub, sql, datasets=("orders", "customers", "tiers"))
    answer = _ask(h).get_json()
    assert answer["sql_status"] == "ok", answer
    table = f"tiers_{uuid.uuid4().hex[:8]}"
    customer_db.admin_run(f"CREATE TABLE public.{table} (customer_id bigint, tier text)")
    try:
        for line in TIERS_CSV.splitlines()[1:]:
            cid, tier = line.split(",")
            customer_db.admin_run(f"INSERT INTO public.{table} VALUES (:c, :t)", c=int(cid), t=tier)
        expected = customer_db.admin_run(sql.replace("FROM orders", "FROM crm.orders").replace(
            "JOIN customers", "JOIN crm.customers").replace("JOIN tiers", f"JOIN public.{table}"))
    finally:
        customer_db.admin_run(f"DROP TABLE public.{table}")
    got = answer["table"]["rows"]
    assert len(got) == len(expected) and len(got) > 3
    for row, want in zip(got, expected, strict=True):
        assert row[:3] == list(want[:3])
        assert abs(float(row[3]) - float(want[3])) < 1e-9


def test_the_join_pulls_only_needed_columns_and_filtered_rows(world, customer_db, monkeypatch):
    from convoinsight.sources import execute

    _, h, stub = world
    pulled = []
    real_pull = execute.pull

    def spy(pool, target, sql, table, cap, path, timeout_s):
        rows = real_pull(pool, target, sql, table, cap, path, timeout_s)
        pulled.append((table, sql, rows))
        return rows

    monkeypatch.setattr(execute, "pull", spy)
    _script(stub, "SELECT t.tier, count(*) AS n FROM orders o JOIN tiers t ON t.customer_id = o.customer_id "
                  "WHERE o.status = 'refunded' GROUP BY t.tier ORDER BY t.tier", datasets=("orders", "tiers"))
    answer = _ask(h).get_json()
    assert answer["sql_status"] == "ok", answer
    (table, sql, rows), = pulled
    assert table == "orders" and "refunded" in sql and "ordered_at" not in sql
    assert rows == customer_db.admin_run("SELECT count(*) FROM crm.orders WHERE status = 'refunded'")[0][0]


def test_a_pull_past_the_row_cap_is_a_clear_error(world, monkeypatch):
    from convoinsight.settings import get_settings

    _, h, stub = world
    monkeypatch.setenv("SOURCE_PULL_MAX_ROWS", "100")
    get_settings.cache_clear()
    _script(stub, "SELECT t.tier, count(*) FROM orders o JOIN tiers t ON t.customer_id = o.customer_id "
                  "GROUP BY t.tier", datasets=("orders", "tiers"))
    answer = _ask(h).get_json()
    assert answer["sql_status"] == "failed"
    assert answer["sql_error"]["code"] == "source_pull_too_large" and "100" in answer["sql_error"]["message"]
    assert len(stub.calls("manipulator")) == 1  # a limit is not retried


def test_postgres_errors_are_fed_back_to_the_manipulator(world):
    _, h, stub = world
    _script(stub, "SELECT no_such_column FROM orders", "SELECT count(*) AS n FROM orders")
    answer = _ask(h).get_json()
    assert answer["sql_status"] == "ok" and answer["table"]["rows"] == [[3000]]
    retry = context_of(stub.calls("manipulator")[-1]["body"])
    assert "no_such_column" in retry["error"]["message"] and "PostgreSQL" in retry["error"]["message"]


def test_a_question_is_never_served_from_the_answer_cache_over_live_data(world, customer_db):
    _, h, stub = world
    _script(stub, "SELECT count(*) AS n FROM customers", "SELECT count(*) AS n FROM customers")
    first = _ask(h).get_json()
    customer_db.admin_run("INSERT INTO crm.customers VALUES (9001, 'New', 'DE', NULL, now())")
    try:
        second = _ask(h).get_json()
    finally:
        customer_db.admin_run("DELETE FROM crm.customers WHERE id = 9001")
    assert second["table"]["rows"][0][0] == first["table"]["rows"][0][0] + 1


def test_an_async_question_over_a_linked_table(world, customer_db):
    import time

    _, h, stub = world
    _script(stub, "SELECT count(*) AS n FROM orders WHERE status = 'paid'")
    job = _ask(h, mode="async").get_json()
    queries = function_client("queries")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status = queries.get(f"/{job['job_id']}", headers=h).get_json()
        if status["status"] in ("succeeded", "failed"):
            break
        time.sleep(0.1)
    assert status["status"] == "succeeded", status
    assert status["result"]["table"]["rows"] == [[customer_db.admin_run(
        "SELECT count(*) FROM crm.orders WHERE status = 'paid'")[0][0]]]


def test_links_are_validated_refreshed_and_removed(world, customer_db):
    client, h, _ = world
    assert_error(client.post("/postgres/crm/links", headers=h, json={"domain": "sales", "tables": ["nope"]}), 404,
                 "table_not_found")
    assert_error(client.post("/postgres/crm/links", headers=h, json={
        "domain": "sales", "tables": [{"table": "products", "name": "tiers"}]}), 409, "link_name_taken")
    assert_error(function_client("datasets").post("/sales", headers=h, data={
        "file": (io.BytesIO(b"a\n1\n"), "orders.csv")}), 409, "dataset_name_taken")
    refreshed = client.post("/postgres/crm/links/refresh", headers=h).get_json()["refreshed"]
    assert {r["name"] for r in refreshed} == {"orders", "customers", "totals"}
    assert all(r["version"] == 2 for r in refreshed)
    assert client.delete("/postgres/crm/links/sales/totals", headers=h).status_code == 200
    assert [t["name"] for t in function_client("datasets").get("/sales", headers=h).get_json()["linked"]] == [
        "customers", "orders"]
    # Deleting the connection removes its links: the domain keeps only the uploaded file.
    assert client.delete("/postgres/crm", headers=h).get_json()["deleted"]["links"] == 2
    assert function_client("datasets").get("/sales", headers=h).get_json()["linked"] == []
