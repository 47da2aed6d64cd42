"""The isolation matrix: a second tenant walks every route and finds nothing of the first one's.

404 (never 403), no data, and no reuse of the first tenant's cache entries, conversation memory,
charts, overrides or keys. A route added later without a row here makes the coverage test fail.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

from tests.conftest import function_client

REPO = Path(__file__).resolve().parents[2]
OWNER_CSV = b"region,revenue\nNorth,111\nSouth,222\n"
OTHER_CSV = b"region,revenue\nNorth,5\nSouth,7\n"
QUESTION = {"domain": "d", "prompt": "total revenue by region"}


@pytest.fixture
def world(local_env, user_id, monkeypatch):
    """The owner's things: a dataset, an answered question (session, chart, cached answer, memory),
    domain overrides, a pending signed upload, an API key and a PostgreSQL connection."""
    from convoinsight.settings import get_settings

    monkeypatch.setenv("SOURCES_ALLOW_PRIVATE_HOSTS", "true")  # the connection is saved, never connected to
    get_settings.cache_clear()
    owner, intruder = {"X-User-Id": user_id}, {"X-User-Id": f"{user_id}-intruder"}
    clients = {name: function_client(name) for name in ("datasets", "queries", "charts", "prompts", "auth",
                                                          "sources", "sessions", "llm")}
    assert clients["datasets"].post("/d", headers=owner,
                                    data={"file": (io.BytesIO(OWNER_CSV), "t.csv")}).status_code == 201
    answer = clients["queries"].post("/", headers=owner, json=QUESTION).get_json()
    upload = clients["datasets"].post("/d/uploads", headers=owner, json={"filename": "big.csv"}).get_json()
    clients["prompts"].put("/overrides/d", headers=owner,
                           json={"agents": {"compiler": {"instructions": "OWNER ONLY"}}})
    key = clients["auth"].post("/keys", headers=owner, json={"name": "owner key"}).get_json()
    job = clients["queries"].post("/", headers=owner, json={**QUESTION, "mode": "async"}).get_json()
    connection = clients["sources"].post("/postgres", headers=owner, json={
        "name": "owned", "host": "127.0.0.1", "port": 1, "database": "shop", "user": "reader",
        "password": "owner-secret"})
    assert connection.status_code == 201, connection.get_json()
    llm_key = clients["llm"].post("/keys", headers=owner,
                                  json={"provider": "deepseek", "api_key": "sk-owner-secret-01"})
    assert llm_key.status_code == 201, llm_key.get_json()
    ids = {"chart": answer["chart"]["id"], "session": answer["session_id"], "upload": upload["upload_id"],
           "key": key["id"], "job": job["job_id"], "conn": "owned", "table": "orders", "provider": "deepseek"}
    return clients, owner, intruder, ids


# (function, method, path template, body) for every route; {ids} are the owner's.
MATRIX = [
    ("datasets", "GET", "/d", None),
    ("datasets", "GET", "/d/t", None),
    ("datasets", "GET", "/d/t?format=csv", None),
    ("datasets", "DELETE", "/d/t", None),
    ("datasets", "DELETE", "/d", None),
    ("datasets", "GET", "/d/uploads/{upload}", None),
    ("datasets", "GET", "/domain/d/datasets", None),  # the original API's routes (issue #14)
    ("datasets", "GET", "/?domain=d", None),
    ("datasets", "POST", "/d/query", {"sql": "SELECT * FROM t"}),  # custom SQL over the domain (issue #17)
    ("queries", "POST", "/", {**QUESTION}),
    ("queries", "POST", "/", {**QUESTION, "session_id": "{session}"}),
    ("queries", "GET", "/{job}", None),
    ("queries", "GET", "/{job}/events", None),
    ("queries", "DELETE", "/{job}", None),
    ("queries", "POST", "/{session}/cancel", None),
    ("charts", "GET", "/{chart}", None),
    ("charts", "GET", "/{chart}/image?format=svg", None),
    ("charts", "GET", "/{chart}/url", None),
    ("charts", "DELETE", "/{chart}", None),
    ("charts", "GET", "/api/v1/storage/charts/{chart}", None),
    ("auth", "DELETE", "/keys/{key}", None),
    ("sources", "GET", "/postgres/{conn}", None),
    ("sources", "PATCH", "/postgres/{conn}", {"password": "stolen"}),
    ("sources", "DELETE", "/postgres/{conn}", None),
    ("sources", "POST", "/postgres/{conn}/test", None),
    ("sources", "GET", "/postgres/{conn}/tables", None),
    ("sources", "POST", "/postgres/{conn}/tables", {"name": "x", "columns": [{"name": "a", "type": "int"}],
                                                    "rows": []}),
    ("sources", "GET", "/postgres/{conn}/tables/{table}", None),
    ("sources", "PUT", "/postgres/{conn}/tables/{table}", {"mode": "append", "columns": [], "rows": []}),
    ("sources", "DELETE", "/postgres/{conn}/tables/{table}", None),
    ("sources", "POST", "/postgres/{conn}/query", {"sql": "SELECT 1"}),
    ("sources", "POST", "/postgres/{conn}/links", {"domain": "d", "tables": ["orders"]}),
    ("sources", "POST", "/postgres/{conn}/link", {"domain": "d", "tables": ["orders"]}),
    ("sources", "GET", "/postgres/{conn}/links", None),
    ("sources", "POST", "/postgres/{conn}/links/refresh", None),
    ("sources", "DELETE", "/postgres/{conn}/links/d/t", None),
    ("llm", "PUT", "/keys/{provider}", {"api_key": "sk-stolen-key-0001"}),
    ("llm", "DELETE", "/keys/{provider}", None),
    ("sessions", "GET", "/{session}", None),
    ("sessions", "PATCH", "/{session}", {"title": "stolen"}),
    ("sessions", "POST", "/{session}/export", None),
    ("sessions", "POST", "/{session}/export", {"include_sql": True}),
    ("sessions", "DELETE", "/{session}", None),
]
# Routes whose answer for the intruder is their own (empty) view rather than a 404.
OWN_VIEW = [
    ("datasets", "GET", "/"), ("charts", "GET", "/"), ("auth", "GET", "/keys"), ("auth", "GET", "/me"),
    ("prompts", "GET", "/overrides"), ("prompts", "GET", "/overrides/<domain>"), ("sources", "GET", "/postgres"),
    ("sessions", "GET", "/"), ("llm", "GET", "/keys"), ("llm", "GET", "/providers"), ("llm", "GET", "/models"),
    ("datasets", "GET", "/list-domains"), ("charts", "GET", "/api/v1/storage/charts"),
]
# Routes that create the caller's own things or hold no tenant data; exercised below or elsewhere.
NOT_TENANT_DATA = [
    ("datasets", "POST", "/<domain>"), ("datasets", "POST", "/<domain>/uploads"),
    ("datasets", "POST", "/upload-datasets"),  # the original API's upload: into the caller's own domain
    ("prompts", "PUT", "/overrides"), ("prompts", "PUT", "/overrides/<domain>"), ("prompts", "GET", "/"),
    ("sources", "POST", "/postgres"), ("llm", "POST", "/keys"),
    ("prompts", "PUT", "/<name>"), ("prompts", "GET", "/<name>/versions"),  # admin, deployment-wide
    ("prompts", "GET", "/<name>/versions/<version>"), ("prompts", "POST", "/<name>/rollback"),  # admin
    ("prompts", "GET", "/<name>"), ("auth", "POST", "/keys"), ("health", "GET", "/"),
    ("health", "GET", "/live"), ("health", "GET", "/ready"),
    ("pipeline", "POST", "/"),  # internal Cloud Tasks target (IAM/OIDC in the cloud): runs given job ids only
    ("auth", "GET", "/users/<user_id>/keys"), ("auth", "DELETE", "/users/<user_id>/keys/<key_id>"),  # admin
    # MCP: a client of the public API with the caller's own key; its isolation is the API's, walked over MCP by
    # tests/e2e/test_mcp_end_to_end.py (another tenant's key sees nothing).
    ("mcp", "POST", "/"), ("mcp", "GET", "/"), ("mcp", "DELETE", "/"),
]
# The OpenAPI documents (each function's, and the whole API's): made from the routes, the same for everyone.
NOT_TENANT_DATA += [(p.parent.name, "GET", "/openapi.json") for p in (REPO / "functions").glob("*/main.py")]
NOT_TENANT_DATA += [("health", "GET", "/api/v1/openapi.json")]
# Deployment-wide operational totals, for an administrator or the metrics token only (test_metrics.py).
NOT_TENANT_DATA += [("health", "GET", "/api/v1/metrics")]


def test_every_route_with_tenant_data_answers_404_to_another_tenant(world):
    clients, owner, intruder, ids = world
    for function, method, template, body in MATRIX:
        path = template.format(**ids)
        payload = json.loads(json.dumps(body).replace("{session}", ids["session"])) if body else None
        resp = clients[function].open(path, method=method, headers=intruder, json=payload)
        assert resp.status_code == 404, (function, method, path, resp.status_code, resp.get_data(as_text=True))
        assert set(resp.get_json()) == {"error"}
    # ...and everything of the owner's is still there.
    assert clients["datasets"].get("/d/t", headers=owner).get_json()["rows"] == 2
    assert clients["charts"].get(f"/{ids['chart']}", headers=owner).status_code == 200
    assert clients["datasets"].get(f"/d/uploads/{ids['upload']}", headers=owner).status_code == 200
    assert not next(k for k in clients["auth"].get("/keys", headers=owner).get_json()["keys"]
                    if k["id"] == ids["key"])["revoked"]
    kept = clients["sources"].get("/postgres/owned", headers=owner).get_json()
    assert kept["version"] == 1 and kept["password"] == "********"  # not patched, not deleted
    (owned_key,) = clients["llm"].get("/keys", headers=owner).get_json()["keys"]
    assert owned_key["key"] == "…t-01" and owned_key["version"] == 1  # not rotated, not deleted
    session = clients["sessions"].get(f"/{ids['session']}", headers=owner).get_json()
    assert session["title"] == "total revenue by region" and session["turns"]  # not renamed, not deleted


def test_own_views_show_nothing_of_another_tenant(world):
    clients, _, intruder, _ = world
    assert clients["datasets"].get("/", headers=intruder).get_json() == {"domains": []}
    assert clients["charts"].get("/", headers=intruder).get_json() == {"charts": []}
    assert clients["auth"].get("/keys", headers=intruder).get_json() == {"keys": []}
    assert clients["sources"].get("/postgres", headers=intruder).get_json() == {"connections": []}
    assert clients["sessions"].get("/", headers=intruder).get_json() == {"sessions": [], "next_cursor": None}
    assert clients["llm"].get("/keys", headers=intruder).get_json() == {"keys": []}
    theirs = {p["name"]: p for p in clients["llm"].get("/providers", headers=intruder).get_json()["providers"]}
    assert theirs["deepseek"]["your_key"] is False
    models = {m["id"] for m in clients["llm"].get("/models", headers=intruder).get_json()["models"]}
    assert not any(m.startswith("deepseek/") for m in models)
    assert clients["auth"].get("/me", headers=intruder).get_json()["user_id"].endswith("-intruder")
    assert clients["prompts"].get("/overrides", headers=intruder).get_json()["agents"] == {}
    assert clients["prompts"].get("/overrides/d", headers=intruder).get_json()["agents"] == {}


def test_same_names_and_same_question_never_share_data_cache_or_memory(world):
    clients, owner, intruder, _ = world
    # The intruder builds the same domain, dataset name and question: the answer must be theirs.
    clients["datasets"].post("/d", headers=intruder, data={"file": (io.BytesIO(OTHER_CSV), "t.csv")})
    theirs = clients["queries"].post("/", headers=intruder, json=QUESTION).get_json()
    assert theirs["usage"]["cache_hits"] == 0  # not the owner's cached answer
    assert sorted(theirs["table"]["rows"]) == [["North", 5], ["South", 7]]
    assert clients["datasets"].get("/d/t?format=csv", headers=intruder).data == OTHER_CSV
    clients["queries"].post("/", headers=owner, json=QUESTION)  # (the owner's overrides changed the key)
    mine = clients["queries"].post("/", headers=owner, json=QUESTION).get_json()
    assert sorted(mine["table"]["rows"]) == [["North", 111], ["South", 222]]
    assert mine["usage"]["cache_hits"] == 1  # the owner's own cache still serves the owner


def test_the_matrix_covers_every_route():
    import importlib

    covered = {(f, m) for f, m, _, _ in MATRIX}
    declared = set()
    for function in sorted(p.parent.name for p in (REPO / "functions").glob("*/main.py")):
        if function == "ingest":
            continue  # a CloudEvent target: covered by the tenant prefix check on object names
        app = importlib.import_module(f"convoinsight.api.{function}").app
        for endpoint in app._handlers:
            method, path = endpoint.split(" ", 1)
            declared.add((function, method, path))
    listed = {(f, m, p) for f, m, p in OWN_VIEW + NOT_TENANT_DATA}
    matrix_paths = set()
    for function, method, template, _ in MATRIX:
        path = template.split("?")[0]
        for name in ("upload", "chart", "key", "job", "conn", "table", "session", "provider"):
            path = path.replace("{" + name + "}", {"upload": "<upload_id>", "chart": "<chart_id>",
                                                   "key": "<key_id>", "job": "<job_id>", "conn": "<conn>",
                                                   "table": "<table>", "session": "<session_id>",
                                                   "provider": "<provider>"}[name])
        path = re.sub(r"/d(?=/|$)", "/<domain>", re.sub(r"/d/t(?=/|$)", "/<domain>/<name>", path))
        matrix_paths.add((function, method, path))
    missing = declared - listed - matrix_paths
    assert not missing, f"routes with no isolation row: {sorted(missing)}"
    assert covered
