"""Routes of the ``mcp`` function: MCP over Streamable HTTP at its root (``/api/v1/mcp/``), API-key auth.

The function is a client of the public API only (``convoinsight.mcp``): it authenticates nothing itself and
counts no rate limit of its own. Every request's key is checked by the API (``GET /api/v1/auth/me``), and every
tool is an API call made with that key, in that route's rate class. So the web layer's own authentication and
rate limit are off for these routes (``auth=False``, ``limit=None``): they would be a second, private way in.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from convoinsight.web.app import FunctionApp, RequestContext

app = FunctionApp("mcp")


class JsonRpcMessage(BaseModel):
    """One JSON-RPC 2.0 message of the Model Context Protocol (a request, a notification or a response)."""

    model_config = ConfigDict(extra="allow")

    jsonrpc: str = Field("2.0", description='always "2.0"')
    id: int | str | None = Field(None, description="the request's id; none for a notification")
    method: str | None = Field(None, description="e.g. initialize, tools/list, tools/call, resources/read")
    params: dict[str, Any] | None = None


_ACCEPTED = {"description": "Accepted: a notification or a response from the client, no body"}
# 401 before any MCP work (no key, a malformed, unknown or revoked one: the API's own code), 429 when the key's
# check is throttled (class poll), 503 when the API cannot be reached.
RESPONSES: dict[int, Any] = {200: "application/json", 202: _ACCEPTED}
# GET (a server-to-client stream) and DELETE (end a session): 405 once the key is checked; the server is stateless.
NO_STREAM: dict[int, Any] = {405: None}


@app.route("POST", "/", auth=False, limit=None, api_key=True, body=JsonRpcMessage, responses=RESPONSES,
           summary="MCP over Streamable HTTP: one JSON-RPC message, its JSON answer (Authorization: Bearer ci_...)")
def messages(ctx: RequestContext):
    from convoinsight.mcp import http

    return http.handle(ctx)


@app.route("GET", "/", auth=False, limit=None, api_key=True, responses=NO_STREAM,
           summary="No server-to-client stream: the server is stateless (405 once the key is checked)")
def stream(ctx: RequestContext):
    from convoinsight.mcp import http

    return http.not_allowed(ctx)


@app.route("DELETE", "/", auth=False, limit=None, api_key=True, responses=NO_STREAM,
           summary="No session to end: the server is stateless (405 once the key is checked)")
def end_session(ctx: RequestContext):
    from convoinsight.mcp import http

    return http.not_allowed(ctx)
