"""The mcp function through the official MCP SDK's own client, over Streamable HTTP, against the local stack.

The client is ``mcp.Client`` over ``streamable_http_client`` with the caller's API key in its HTTP client's
headers, as Claude Desktop or Cursor would send it. Both ways the SDK's client connects are exercised: the
initialize handshake (``mode="legacy"``) and the 2026 protocol's discovery (``mode="auto"``). Questions are
answered by the offline planner (``"model": "offline"``): the numbers are checked against the CSV itself.

The session's emulator runs ``AUTH_MODE=dev``: the keys are verified as API keys all the same (web/auth.py).
One more emulator, ``AUTH_MODE=apikey`` with a small ``query`` limit, shows the limit applies over MCP.
"""

from __future__ import annotations

import json
import uuid
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import httpx2
import polars as pl
import pytest
import requests
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from tests.support.data import SALES_CSV
from tests.support.emulator import Emulator

pytestmark = pytest.mark.slow

TOOLS = ["list_domains", "list_datasets", "describe_dataset", "ask", "run_sql", "list_sessions", "get_session"]
MODES = ["legacy", "auto"]
MAX_ROWS = 50  # MCP_MAX_ROWS' default
HOSTILE = {  # name: (SQL, what the guard's reason names)
    "ddl": ("DROP TABLE sales", "DROP"),
    "pg_read_file": ("SELECT pg_read_file('/etc/passwd')", "pg_read_file"),
    "two_statements": ("SELECT 1; SELECT 2", "one statement"),
    "copy": ("COPY sales TO '/tmp/stolen.csv'", "COPY"),
    "cross_tenant_path": ("SELECT * FROM read_parquet('/tmp/convoinsight/tenants/someone-else/data.parquet')",
                          "read_parquet"),
    "dml_in_cte": ("WITH d AS (DELETE FROM sales RETURNING *) SELECT * FROM d", "DELETE"),
    "another_tenants_table": ("SELECT * FROM tenants", "tenants"),
}


def totals_by_region() -> dict[str, float]:
    sales = pl.read_csv(SALES_CSV)
    return {region: round(total, 2) for region, total in sales.group_by("Region").agg(pl.col("Revenue").sum())
            .iter_rows()}


def issue_key(emulator: Emulator, user: str) -> str:
    resp = requests.post(emulator.url("auth", "/keys"), headers={"X-User-Id": user}, json={"name": "mcp test"},
                         timeout=30)
    assert resp.status_code == 201, resp.text
    return resp.json()["key"]


def mcp_url(emulator: Emulator) -> str:
    return emulator.url("mcp", "/")


@asynccontextmanager
async def connect(emulator: Emulator, key: str, mode: str = "legacy"):
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=120)
    async with http, Client(streamable_http_client(mcp_url(emulator), http_client=http), mode=mode) as client:
        yield client


def run(fn, *args):
    """Run one async scenario to its end (the tests are plain functions; the SDK's client is async)."""
    return anyio.run(fn, *args)


def payload(result) -> dict:
    """A tool result's JSON: the structured content, and the same as the text content a model reads."""
    text = json.loads(result.content[0].text)
    assert result.structured_content == text
    return text


def error_of(result) -> dict:
    assert result.is_error, result
    return payload(result)["error"]


@pytest.fixture
def tenant(emulator) -> tuple[str, str]:
    """(user, API key) with the sample sales (600 rows) uploaded into domain 'shop'."""
    user = f"mcp-{uuid.uuid4().hex[:10]}"
    resp = requests.post(emulator.url("datasets", "/shop"), headers={"X-User-Id": user},
                         files={"file": ("sales.csv", SALES_CSV.read_bytes())}, timeout=60)
    assert resp.status_code == 201, resp.text
    return user, issue_key(emulator, user)


@pytest.mark.parametrize("mode", MODES)
def test_the_client_lists_the_tools_and_their_schemas(emulator, tenant, mode):
    async def scenario():
        async with connect(emulator, tenant[1], mode) as client:
            return (await client.list_tools()).tools

    tools = run(scenario)
    assert [tool.name for tool in tools] == TOOLS
    by_name = {tool.name: tool for tool in tools}
    for tool in tools:
        assert tool.description and len(tool.description) > 60, tool.name
        assert tool.input_schema["type"] == "object" and tool.input_schema.get("additionalProperties") is False
    assert by_name["ask"].input_schema["required"] == ["question", "domain"]
    assert set(by_name["ask"].input_schema["properties"]) == {"question", "domain", "session_id", "chart", "model"}
    assert by_name["run_sql"].input_schema["required"] == ["sql"]
    assert by_name["describe_dataset"].input_schema["required"] == ["domain", "name"]
    assert by_name["run_sql"].annotations.read_only_hint is True and by_name["ask"].annotations.read_only_hint is False


@pytest.mark.parametrize("mode", MODES)
def test_every_tool_answers_with_what_users_rely_on(emulator, tenant, mode):
    expected = totals_by_region()

    async def scenario():
        async with connect(emulator, tenant[1], mode) as client:
            out = {}
            out["domains"] = payload(await client.call_tool("list_domains", {}))
            out["datasets"] = payload(await client.call_tool("list_datasets", {"domain": "shop"}))
            out["described"] = payload(await client.call_tool("describe_dataset", {"domain": "shop", "name": "sales",
                                                                                   "sample_rows": 3}))
            out["answer"] = payload(await client.call_tool("ask", {
                "question": "What is the total revenue by region?", "domain": "shop", "model": "offline"}))
            out["follow_up"] = payload(await client.call_tool("ask", {
                "question": "What is the total units by region?", "domain": "shop", "model": "offline",
                "session_id": out["answer"]["session_id"]}))
            out["count"] = payload(await client.call_tool("run_sql", {
                "domain": "shop", "sql": "SELECT region, SUM(revenue) AS total FROM sales GROUP BY region "
                                         "ORDER BY region"}))
            out["all_rows"] = payload(await client.call_tool("run_sql", {"domain": "shop",
                                                                         "sql": "SELECT * FROM sales"}))
            out["sessions"] = payload(await client.call_tool("list_sessions", {}))
            out["session"] = payload(await client.call_tool("get_session",
                                                            {"session_id": out["answer"]["session_id"]}))
            return out

    out = run(scenario)
    assert [(d["name"], d["dataset_count"]) for d in out["domains"]["domains"]] == [("shop", 1)]
    [dataset] = out["datasets"]["datasets"]
    assert dataset["name"] == "sales" and dataset["rows"] == 600
    assert [c["name"] for c in dataset["columns"]] == ["order_date", "region", "product", "units", "revenue"]

    described = out["described"]
    assert described["rows"] == 600 and described["profile"]["columns"][1]["name"] == "region"
    assert len(described["sample"]["rows"]) == 3 and described["sample"]["total_rows"] == 600
    assert "download_urls" not in described  # signed browser links are not handed to a model

    answer = out["answer"]
    assert answer["sql_status"] == "ok" and answer["answer"] and answer["session_id"]
    table = answer["table"]
    assert table["row_count"] == 4 and table["truncated"] is False
    got = {row[0]: round(row[1], 2) for row in table["rows"]}
    assert got == expected
    assert answer["chart"]["spec"]["mark"] and answer["chart"]["spec"]["data"]["values"]
    assert isinstance(answer["follow_ups"], list) and isinstance(answer["insights"], list)
    assert out["follow_up"]["session_id"] == answer["session_id"]

    counted = out["count"]
    assert counted["table"]["columns"] == ["region", "total"] and counted["executed_sql"]
    assert {row[0]: round(row[1], 2) for row in counted["table"]["rows"]} == expected
    bounded = out["all_rows"]["table"]
    assert len(bounded["rows"]) == MAX_ROWS and bounded["row_count"] == 600 and bounded["truncated"] is True

    assert [s["id"] for s in out["sessions"]["sessions"]] == [answer["session_id"]]
    turns = out["session"]["turns"]
    assert [t["question"] for t in turns] == ["What is the total revenue by region?",
                                              "What is the total units by region?"]
    assert {row[0]: round(row[1], 2) for row in turns[0]["table"]["rows"]} == expected


def test_dataset_schemas_are_resources(emulator, tenant):
    async def scenario():
        async with connect(emulator, tenant[1]) as client:
            listed = (await client.list_resources()).resources
            templates = (await client.list_resource_templates()).resource_templates
            read = await client.read_resource(listed[0].uri)
            return listed, templates, read

    listed, templates, read = run(scenario)
    assert [str(r.uri) for r in listed] == ["convoinsight://datasets/shop/sales/schema"]
    assert listed[0].mime_type == "application/json"
    assert [t.uri_template for t in templates] == ["convoinsight://datasets/{domain}/{name}/schema"]
    schema = json.loads(read.contents[0].text)
    assert schema["rows"] == 600 and schema["domain"] == "shop" and schema["name"] == "sales"
    assert [(c["name"], c["type"]) for c in schema["columns"]] == [
        ("order_date", "date"), ("region", "string"), ("product", "string"), ("units", "integer"),
        ("revenue", "float")]


def test_another_tenant_sees_nothing_of_the_first(emulator, tenant):
    owner_key = tenant[1]
    intruder_key = issue_key(emulator, f"mcp-intruder-{uuid.uuid4().hex[:8]}")

    async def owners_session():
        async with connect(emulator, owner_key) as client:
            return payload(await client.call_tool("ask", {"question": "What is the total revenue by region?",
                                                          "domain": "shop", "model": "offline"}))["session_id"]

    session_id = run(owners_session)

    async def intruder():
        async with connect(emulator, intruder_key) as client:
            out = {"domains": payload(await client.call_tool("list_domains", {})),
                   "sessions": payload(await client.call_tool("list_sessions", {})),
                   "resources": (await client.list_resources()).resources}
            for name, args in {
                "list_datasets": {"domain": "shop"},
                "describe_dataset": {"domain": "shop", "name": "sales"},
                "run_sql": {"domain": "shop", "sql": "SELECT COUNT(*) FROM sales"},
                "get_session": {"session_id": session_id},
                "ask": {"question": "What is the total revenue by region?", "domain": "shop", "model": "offline"},
            }.items():
                out[name] = error_of(await client.call_tool(name, args))
            with pytest.raises(MCPError) as refused:
                await client.read_resource("convoinsight://datasets/shop/sales/schema")
            out["read"] = refused.value
            return out

    out = run(intruder)
    assert out["domains"] == {"domains": []}
    assert out["sessions"]["sessions"] == [] and out["resources"] == []
    for name in ("list_datasets", "describe_dataset", "run_sql", "get_session", "ask"):
        assert out[name]["status"] == 404, (name, out[name])
    assert out["list_datasets"]["code"] == out["run_sql"]["code"] == out["ask"]["code"] == "domain_not_found"
    assert out["describe_dataset"]["code"] in ("dataset_not_found", "domain_not_found")
    assert out["get_session"]["code"] == "session_not_found"
    assert out["read"].data["status"] == 404 and "not_found" in out["read"].data["code"]


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_sql_is_refused_by_the_guard(emulator, tenant, name):
    async def scenario():
        async with connect(emulator, tenant[1]) as client:
            return error_of(await client.call_tool("run_sql", {"domain": "shop", "sql": HOSTILE[name][0]}))

    error = run(scenario)
    assert error["status"] == 422 and error["code"] == "sql_refused", error
    assert HOSTILE[name][1] in error["message"], error
    # Nothing was changed: the dataset is whole.
    listed = requests.get(emulator.url("datasets", "/shop"), headers={"X-User-Id": tenant[0]}, timeout=30).json()
    assert listed["datasets"][0]["rows"] == 600


def test_bad_arguments_are_a_tool_error_not_a_crash(emulator, tenant):
    async def scenario():
        async with connect(emulator, tenant[1]) as client:
            return [error_of(await client.call_tool("run_sql", {"sql": "SELECT 1"})),  # neither domain nor connection
                    error_of(await client.call_tool("describe_dataset", {"domain": "shop"})),
                    error_of(await client.call_tool("no_such_tool", {}))]

    both, missing, unknown = run(scenario)
    assert both["code"] == missing["code"] == "invalid_arguments" and unknown["code"] == "unknown_tool"


def _post(emulator, headers: dict[str, str]) -> requests.Response:
    return requests.post(mcp_url(emulator), headers={"Content-Type": "application/json",
                                                     "Accept": "application/json, text/event-stream", **headers},
                         json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, timeout=30)


def test_a_missing_invalid_or_revoked_key_is_a_401_before_any_mcp_work(emulator, tenant):
    user, key = tenant
    for headers, code in (({}, "missing_credentials"),
                          ({"X-User-Id": user}, "missing_credentials"),  # dev mode's header opens nothing here
                          ({"Authorization": "Basic abc"}, "malformed_authorization"),
                          ({"Authorization": "Bearer eyJhbGciOiJSUzI1NiJ9.e30.sig"}, "api_key_required"),
                          ({"Authorization": "Bearer ci_short"}, "malformed_api_key"),
                          ({"Authorization": "Bearer ci_0123456789abcdef_" + "A" * 43}, "invalid_api_key")):
        resp = _post(emulator, headers)
        assert resp.status_code == 401, (headers, resp.text)
        body = resp.json()
        assert set(body) == {"error"} and body["error"]["code"] == code, body
        assert body["error"]["request_id"] == resp.headers["X-Request-Id"]
    assert _post(emulator, {"Authorization": f"Bearer {key}"}).status_code == 200
    key_id = key.split("_")[1]
    revoked = requests.delete(emulator.url("auth", f"/keys/{key_id}"), headers={"X-User-Id": user}, timeout=30)
    assert revoked.status_code == 200, revoked.text
    resp = _post(emulator, {"Authorization": f"Bearer {key}"})
    assert resp.status_code == 401 and resp.json()["error"]["code"] == "revoked_key"

    async def scenario():  # the SDK's client meets the same 401
        async with connect(emulator, key) as client:
            await client.list_tools()

    with pytest.raises(BaseException) as failed:
        run(scenario)
    # The SDK's client (without OAuth) reports the refused POST as an MCPError, inside its task groups.
    assert any(isinstance(e, MCPError) and "error response" in e.message for e in _leaves(failed.value)), \
        repr(failed.value)


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


def test_get_and_delete_are_405_once_the_key_is_checked(emulator, tenant):
    h = {"Authorization": f"Bearer {tenant[1]}", "Accept": "text/event-stream"}
    for method in ("GET", "DELETE"):
        resp = requests.request(method, mcp_url(emulator), headers=h, timeout=30)
        assert resp.status_code == 405 and resp.headers["Allow"] == "POST", resp.text
        assert resp.json()["error"]["code"] == "method_not_allowed"
    assert requests.get(mcp_url(emulator), timeout=30).status_code == 401


@pytest.fixture(scope="module")
def limited(postgres, redis_server, state_root: Path):
    """The stack with AUTH_MODE=apikey and a query limit of 3 a minute (every other class generous)."""
    from tests.conftest import GENEROUS_LIMITS

    limits = ",".join(item if not item.startswith("query=") else "query=3/minute"
                      for item in GENEROUS_LIMITS.split(","))
    env = {"DEPLOYMENT_MODE": "local", "POSTGRES_URL": postgres.url, "REDIS_URL": redis_server.url,
           "AUTH_MODE": "apikey", "RATE_LIMITS": limits, "LOG_LEVEL": "WARNING"}
    emu = Emulator(env, state_root / f"emulator-mcp-limited-{uuid.uuid4().hex[:6]}").start()
    yield emu
    emu.stop()


def test_the_apis_rate_limit_applies_over_mcp(limited):
    """In AUTH_MODE=apikey: the key is the only way in, and the 4th query of the minute is the API's 429."""
    import subprocess
    import sys

    user = f"mcp-limited-{uuid.uuid4().hex[:8]}"
    done = subprocess.run([sys.executable, "-m", "convoinsight.auth.issue", "--user", user], env=limited.env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    key = done.stdout.strip()
    resp = requests.post(limited.url("datasets", "/shop"), headers={"Authorization": f"Bearer {key}"},
                         files={"file": ("sales.csv", SALES_CSV.read_bytes())}, timeout=60)
    assert resp.status_code == 201, resp.text

    async def scenario():
        async with connect(limited, key) as client:
            return [await client.call_tool("run_sql", {"domain": "shop", "sql": "SELECT COUNT(*) AS n FROM sales"})
                    for _ in range(4)]

    results = run(scenario)
    assert [payload(r)["table"]["rows"] for r in results[:3]] == [[[600]]] * 3
    error = error_of(results[3])
    assert error["status"] == 429 and error["code"] == "rate_limited" and int(error["retry_after"]) >= 1


def test_concurrent_clients_each_get_their_own_tenants_answers(emulator):
    """Requests of several tenants at once on the emulator's threads: what one request's handlers use (its key)
    never reaches another's (server.CURRENT is per request, the SDK's server is shared)."""
    tenants = []
    for i in range(4):
        user = f"mcp-many-{i}-{uuid.uuid4().hex[:6]}"
        domain = f"d{i}"
        resp = requests.post(emulator.url("datasets", f"/{domain}"), headers={"X-User-Id": user},
                             files={"file": ("sales.csv", SALES_CSV.read_bytes())}, timeout=60)
        assert resp.status_code == 201, resp.text
        tenants.append((domain, issue_key(emulator, user)))

    async def one(domain: str, key: str, seen: dict) -> None:
        async with connect(emulator, key) as client:
            for _ in range(5):
                domains = payload(await client.call_tool("list_domains", {}))["domains"]
                counted = payload(await client.call_tool("run_sql", {"domain": domain,
                                                                     "sql": "SELECT COUNT(*) AS n FROM sales"}))
                seen.setdefault(domain, []).append(([d["name"] for d in domains], counted["table"]["rows"]))

    async def scenario() -> dict:
        seen: dict = {}
        async with anyio.create_task_group() as group:
            for domain, key in tenants:
                group.start_soon(one, domain, key, seen)
        return seen

    seen = run(scenario)
    for domain, _ in tenants:
        assert seen[domain] == [([domain], [[600]])] * 5, (domain, seen[domain])


def test_run_sql_over_linked_tables_and_a_connection(emulator, tenant, customer_db):
    """run_sql over a domain with a linked PostgreSQL table (pushed down), and over a connection itself; a write
    through the connection is refused like any other."""
    from tests.unit.conftest import connection_body

    user, key = tenant
    h = {"X-User-Id": user}
    created = requests.post(emulator.url("sources", "/postgres"), headers=h, json=connection_body(customer_db),
                            timeout=60)
    assert created.status_code == 201, created.text
    linked = requests.post(emulator.url("sources", "/postgres/crm/links"), headers=h,
                           json={"domain": "shop", "tables": ["customers"]}, timeout=60)
    assert linked.status_code == 201, linked.text

    async def scenario():
        async with connect(emulator, key) as client:
            return [payload(await client.call_tool("run_sql", {
                        "domain": "shop", "sql": "SELECT COUNT(*) AS n FROM customers"})),
                    payload(await client.call_tool("run_sql", {
                        "domain": "shop", "sql": "SELECT c.segment, COUNT(*) AS n FROM customers c "
                                                 "JOIN sales s ON s.region = c.segment GROUP BY c.segment"})),
                    payload(await client.call_tool("run_sql", {
                        "connection": "crm", "sql": "SELECT country, COUNT(*) AS n FROM customers "
                                                    "GROUP BY country ORDER BY country"})),
                    error_of(await client.call_tool("run_sql", {
                        "connection": "crm", "sql": "DELETE FROM customers"}))]

    pushed, federated, direct, refused = run(scenario)
    assert pushed["table"]["rows"] == [[200]]
    assert '"crm"."customers"' in pushed["executed_sql"] or "crm.customers" in pushed["executed_sql"]
    assert federated["table"]["columns"] == ["segment", "n"]  # the engine ran it over the pulled rows
    same = requests.post(emulator.url("sources", "/postgres/crm/query"), headers=h, timeout=60, json={
        "sql": "SELECT country, COUNT(*) AS n FROM customers GROUP BY country ORDER BY country"}).json()
    assert direct["table"]["rows"] == same["table"]["rows"] and sum(r[1] for r in direct["table"]["rows"]) == 200
    assert refused["status"] == 422 and refused["code"] == "sql_refused"
