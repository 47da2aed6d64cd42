"""The mcp function in-process: the key's checks before any MCP work, its settings, and the tools' contracts.

Everything past the key's check is an HTTP call of the public API: tests/e2e/test_mcp_end_to_end.py runs it
against the local stack with the official SDK's client.
"""

from __future__ import annotations

import os

import pytest

from convoinsight.errors import ConfigError
from convoinsight.mcp import tools
from convoinsight.mcp.api_client import ApiClient, ApiError
from convoinsight.settings import get_settings, load_settings
from local_emulator.backing import free_port
from tests.conftest import function_client
from tests.support.http import assert_error

KEY = "ci_0123456789abcdef_" + "A" * 43
MESSAGE = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}


@pytest.fixture
def mcp_client(local_env):
    return function_client("mcp")


@pytest.mark.parametrize("headers, code", [
    ({}, "missing_credentials"),
    ({"X-User-Id": "alice"}, "missing_credentials"),  # dev mode's header is no credential here
    ({"Authorization": "Token abc"}, "malformed_authorization"),
    ({"Authorization": "Bearer eyJhbGciOiJSUzI1NiJ9.e30.sig"}, "api_key_required"),
])
def test_no_api_key_is_a_401_before_any_call(mcp_client, network_attempts, headers, code):
    for path in ("/", "/api/v1/mcp/", "/api/v1/mcp"):
        resp = mcp_client.post(path, headers=headers, json=MESSAGE)
        error = assert_error(resp, 401, code)
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
        assert "credential" in error["message"] or "API key" in error["message"]
    assert network_attempts == []  # refused before the API was called


def test_without_an_api_base_the_function_says_so(mcp_client):
    os.environ.pop("MCP_API_BASE_URL", None)
    get_settings.cache_clear()
    assert_error(mcp_client.post("/", headers={"Authorization": f"Bearer {KEY}"}, json=MESSAGE), 500,
                 "config_error")


def test_an_unreachable_api_is_a_503_with_retry_after(mcp_client, monkeypatch):
    monkeypatch.setenv("MCP_API_BASE_URL", f"http://127.0.0.1:{free_port()}")
    get_settings.cache_clear()
    resp = mcp_client.post("/", headers={"Authorization": f"Bearer {KEY}"}, json=MESSAGE)
    assert_error(resp, 503, "api_unavailable")
    assert resp.headers["Retry-After"] == "5"


def test_an_api_slower_than_mcp_api_timeout_seconds_is_a_504(mcp_client, monkeypatch):
    """A listener that takes the connection and never answers: the key's check waits MCP_API_TIMEOUT_SECONDS, no
    longer, and the request ends with the limit's code instead of holding a serving thread."""
    import socket

    silent = socket.create_server(("127.0.0.1", 0))
    try:
        monkeypatch.setenv("MCP_API_BASE_URL", f"http://127.0.0.1:{silent.getsockname()[1]}")
        monkeypatch.setenv("MCP_API_TIMEOUT_SECONDS", "0.5")
        get_settings.cache_clear()
        resp = mcp_client.post("/", headers={"Authorization": f"Bearer {KEY}"}, json=MESSAGE)
        assert "MCP_API_TIMEOUT_SECONDS" in assert_error(resp, 504, "api_timeout")["message"]
    finally:
        silent.close()


def test_the_settings_are_checked():
    with pytest.raises(ConfigError, match="MCP_API_BASE_URL"):
        load_settings({"MCP_API_BASE_URL": "ftp://api.example.com"})
    with pytest.raises(ConfigError, match="MCP_MAX_ROWS"):
        load_settings({"MCP_MAX_ROWS": "0"})
    settings = load_settings({"PUBLIC_BASE_URL": "https://api.example.com/"})
    assert settings.mcp_max_rows == 50 and settings.mcp_api_timeout_seconds == 120
    assert ApiClient.for_request(settings, KEY).base == "https://api.example.com"
    assert ApiClient.for_request(load_settings({"PUBLIC_BASE_URL": "https://a.example.com",
                                                "MCP_API_BASE_URL": "http://api.internal:8080"}), KEY).base == \
        "http://api.internal:8080"


def test_tables_are_bounded_with_their_full_count():
    table = {"columns": ["n"], "rows": [[i] for i in range(120)], "row_count": 5000, "truncated": True}
    shown = tools.bound_table(table, 50)
    assert len(shown["rows"]) == 50 and shown["row_count"] == 5000 and shown["truncated"] is True
    assert "50 of 5000 rows" in shown["note"]
    small = {"columns": ["n"], "rows": [[1]], "row_count": 1, "truncated": False}
    assert tools.bound_table(small, 50) is small and tools.bound_table(None, 50) is None


def test_every_argument_is_described_for_the_model():
    for spec in tools.TOOLS:
        schema = spec.arguments.model_json_schema()
        assert schema.get("additionalProperties") is False, spec.name
        for name, prop in schema.get("properties", {}).items():
            assert prop.get("description"), (spec.name, name)


def test_run_sql_takes_a_domain_or_a_connection():
    from pydantic import ValidationError

    assert tools.RunSqlArgs(sql="SELECT 1", domain="d").domain == "d"
    assert tools.RunSqlArgs(sql="SELECT 1", connection="crm").connection == "crm"
    for wrong in ({"sql": "SELECT 1"}, {"sql": "SELECT 1", "domain": "d", "connection": "c"}):
        with pytest.raises(ValidationError):
            tools.RunSqlArgs(**wrong)


class Recorder:
    """An ApiClient stand-in that records the calls a tool makes (the paths and bodies are the contract)."""

    def __init__(self, answers):
        self.answers, self.calls = answers, []

    def get(self, path, params=None):
        self.calls.append(("GET", path, params))
        return self.answers.pop(0)

    def post(self, path, body):
        self.calls.append(("POST", path, body))
        return self.answers.pop(0)


def test_tools_call_the_public_routes_with_path_segments_quoted():
    api = Recorder([{"table": {"rows": [[1]] * 80, "row_count": 80}}, {"table": {"rows": []}}])
    out = tools.run_sql(api, tools.RunSqlArgs(sql="SELECT 1", domain="a/b", limit=500), 50)
    tools.run_sql(api, tools.RunSqlArgs(sql="SELECT 1", connection="crm"), 50)
    assert api.calls == [("POST", "/api/v1/datasets/a%2Fb/query", {"sql": "SELECT 1", "limit": 50}),
                         ("POST", "/api/v1/sources/postgres/crm/query", {"sql": "SELECT 1", "limit": 50})]
    assert len(out["table"]["rows"]) == 50
    api = Recorder([{"answer": "x", "chart": None, "table": None}])
    tools.ask(api, tools.AskArgs(question="q?", domain="shop", model="offline"), 50)
    assert api.calls == [("POST", "/api/v1/queries/", {"domain": "shop", "prompt": "q?", "mode": "sync",
                                                       "model": "offline"})]


def test_a_resource_uri_that_is_no_schema_is_not_found():
    with pytest.raises(ApiError) as refused:
        tools.read_schema(Recorder([]), "convoinsight://datasets/a/b/c/schema")
    assert refused.value.status == 404 and refused.value.code == "resource_not_found"
    assert tools.schema_uri("my domain", "t") == "convoinsight://datasets/my%20domain/t/schema"


def test_the_sdk_is_made_ahead_only_under_functions_frameworks_server(local_env, monkeypatch):
    """start_function(preload=warm): in gunicorn's master before the port opens, nowhere else (the import lists
    hold every other way of loading main.py to no SDK at all)."""
    from convoinsight.mcp import warm
    from convoinsight.web import framework

    called = []
    for forks, expected in ((False, []), (True, ["warm"])):
        monkeypatch.setattr(framework, "_forks_workers", lambda forks=forks: forks)
        framework.start_function(preload=lambda: called.append("warm"))
        assert called == expected
    warm()  # the real one: the SDK, the tools' schemas and the pooled HTTP client, without any backend
    from convoinsight.mcp import server

    assert [tool.name for tool in server.tool_list()] == [spec.name for spec in tools.TOOLS]
