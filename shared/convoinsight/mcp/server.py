"""The official MCP SDK's low-level server over the tools and resources of ``tools.py``.

The server is built once per process and shared by every request (it holds only handlers). What one request
needs (its ``ApiClient``: the caller's key, the API's address, the request id; and ``MCP_MAX_ROWS``) travels in a
context variable that ``http.py`` sets before it runs the SDK's transport for that request: handlers read it
there, never from module state.

The SDK is imported here, on the first MCP request, never at the function's cold start (about 0.6 s).
"""

from __future__ import annotations

import contextvars
import json
import logging
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import anyio
import mcp_types as types
from mcp.server.lowlevel import Server
from mcp.shared.exceptions import MCPError
from pydantic import ValidationError

from convoinsight.mcp import tools
from convoinsight.mcp.api_client import ApiClient, ApiError

log = logging.getLogger("convoinsight.mcp")
SERVER_NAME = "convoinsight"
SERVER_VERSION = "0.1.0"  # shared/pyproject.toml's
INSTRUCTIONS = (
    "ConvoInsight answers business questions over the caller's datasets. Find data with list_domains, "
    "list_datasets and describe_dataset; ask questions in plain language with ask (pass session_id to follow up); "
    "run your own read-only SELECT with run_sql; read past conversations with list_sessions and get_session. "
    "Every dataset's schema is also a resource (convoinsight://datasets/{domain}/{name}/schema). Errors carry the "
    "API's code (e.g. sql_refused, domain_not_found, rate_limited with retry_after)."
)
RESOURCE_NOT_FOUND = -32002  # MCP's code for a resource that does not exist


@dataclass(frozen=True)
class Call:
    """What the handlers of one HTTP request may use."""

    api: ApiClient
    max_rows: int


CURRENT: contextvars.ContextVar[Call] = contextvars.ContextVar("convoinsight_mcp_call")


def _tool(spec: tools.ToolSpec) -> types.Tool:
    schema = spec.arguments.model_json_schema()
    schema.pop("title", None)
    return types.Tool(name=spec.name, title=spec.title, description=spec.description, input_schema=schema,
                      annotations=types.ToolAnnotations(title=spec.title, read_only_hint=spec.read_only,
                                                        destructive_hint=False, open_world_hint=False))


def _result(payload: dict[str, Any], error: bool = False) -> types.CallToolResult:
    text = json.dumps(payload, ensure_ascii=False, default=str, separators=(",", ":"))
    return types.CallToolResult(content=[types.TextContent(text=text)], structured_content=payload, is_error=error)


@lru_cache(maxsize=1)
def tool_list() -> tuple[types.Tool, ...]:
    return tuple(_tool(spec) for spec in tools.TOOLS)


async def list_tools(ctx, params) -> types.ListToolsResult:
    return types.ListToolsResult(tools=list(tool_list()))


async def call_tool(ctx, params: types.CallToolRequestParams) -> types.CallToolResult:
    spec = tools.BY_NAME.get(params.name)
    if spec is None:
        return _result({"error": {"code": "unknown_tool", "message": f"no tool {params.name!r}; tools: "
                                  + ", ".join(tools.BY_NAME)}}, error=True)
    try:
        arguments = spec.arguments.model_validate(params.arguments or {})
    except ValidationError as exc:
        problems = [{"field": ".".join(str(p) for p in e["loc"]) or "arguments", "message": e["msg"]}
                    for e in exc.errors()]
        return _result({"error": {"code": "invalid_arguments", "message": f"{problems[0]['field']}: "
                                  f"{problems[0]['message']}", "problems": problems}}, error=True)
    call = CURRENT.get()
    try:
        # httpx's client is synchronous and pooled per process: the call runs on a worker thread of this loop.
        payload = await anyio.to_thread.run_sync(spec.run, call.api, arguments, call.max_rows)
    except ApiError as exc:
        return _result(exc.as_dict(), error=True)
    return _result(payload)


async def list_resources(ctx, params) -> types.ListResourcesResult:
    call = CURRENT.get()
    found = await anyio.to_thread.run_sync(_api_or_mcp_error, tools.list_schema_resources, call.api)
    return types.ListResourcesResult(resources=[types.Resource(**item) for item in found])


async def list_resource_templates(ctx, params) -> types.ListResourceTemplatesResult:
    return types.ListResourceTemplatesResult(resource_templates=[types.ResourceTemplate(
        uri_template=tools.SCHEMA_URI, name="dataset-schema", title="A dataset's schema",
        description="The columns (name, type, label), row count and version of one dataset of a domain",
        mime_type="application/json")])


async def read_resource(ctx, params: types.ReadResourceRequestParams) -> types.ReadResourceResult:
    call = CURRENT.get()
    uri = str(params.uri)
    schema = await anyio.to_thread.run_sync(_api_or_mcp_error, tools.read_schema, call.api, uri)
    return types.ReadResourceResult(contents=[types.TextResourceContents(
        uri=uri, mime_type="application/json", text=json.dumps(schema, ensure_ascii=False))])


def _api_or_mcp_error(fn, *args):
    """Resources have no error result: an API error is a JSON-RPC error carrying the API's code and status."""
    try:
        return fn(*args)
    except ApiError as exc:
        code = RESOURCE_NOT_FOUND if exc.status == 404 else types.INTERNAL_ERROR if exc.status >= 500 \
            else types.INVALID_REQUEST
        raise MCPError(code, f"{exc.code}: {exc.message}", data=exc.as_dict()["error"]) from None


@lru_cache(maxsize=1)
def server() -> Server:
    return Server(SERVER_NAME, version=SERVER_VERSION, title="ConvoInsight", instructions=INSTRUCTIONS,
                  on_list_tools=list_tools, on_call_tool=call_tool, on_list_resources=list_resources,
                  on_list_resource_templates=list_resource_templates, on_read_resource=read_resource)
