"""One HTTP request of the ``mcp`` function: the caller's API key checked, then MCP's stateless Streamable HTTP.

1. ``Authorization: Bearer ci_...`` is required: a missing or malformed one is a 401 here; a well-formed one is
   checked by the API itself (``GET /api/v1/auth/me``, rate class ``poll``) before any MCP work, and the API's
   401 (``invalid_api_key``, ``revoked_key``), 429 or 503 is this request's answer, in the one error shape.
2. The SDK's ``StreamableHTTPSessionManager``, stateless with JSON responses (each POST stands alone: serverless
   instances have no sticky sessions), serves the request's body as an ASGI request on an event loop of its own
   (``anyio.run`` on the serving thread, the whole transport for this one request). No ASGI server, no bridge
   package: functions-framework's Flask (WSGI) thread hands it the body and sends back what it answered.

The SDK (about 0.6 s to import) is loaded on the first request, never at cold start.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Response

from convoinsight.errors import Unauthenticated
from convoinsight.mcp.api_client import ApiClient, ApiError
from convoinsight.web.app import MAX_JSON_BYTES, RequestContext, read_body
from convoinsight.web.auth import API_KEY_PREFIX, bearer_token
from convoinsight.web.responses import json_response

log = logging.getLogger("convoinsight.mcp")
# Response headers of the SDK's transport that are passed on (the rest is the web layer's: request id, CORS).
PASSED_HEADERS = ("content-type", "mcp-session-id", "mcp-protocol-version", "allow", "www-authenticate",
                  "cache-control")
ME = "/api/v1/auth/me"


def credential_of(headers) -> str:
    """The caller's API key, or a 401 saying what is wrong (no call made yet)."""
    credential = bearer_token(headers, "an API key (POST /api/v1/auth/keys)")
    if not credential.startswith(API_KEY_PREFIX):
        raise Unauthenticated("the mcp function takes an API key: 'Authorization: Bearer ci_...' (issue one with "
                              "POST /api/v1/auth/keys)", code="api_key_required")
    return credential


def api_error_response(exc: ApiError, request_id: str) -> Response:
    headers = {"Retry-After": exc.retry_after} if exc.retry_after else {}
    if exc.status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="convoinsight"'
    return json_response({"error": {"code": exc.code, "message": exc.message, "request_id": request_id}},
                         exc.status, headers)


def checked_api(ctx: RequestContext) -> ApiClient | Response:
    """The caller's ApiClient once the API accepted the key, or the error response to send instead."""
    try:
        credential = credential_of(ctx.request.headers)
    except Unauthenticated as exc:
        return api_error_response(ApiError(401, exc.code, exc.message), ctx.request_id)
    api = ApiClient.for_request(ctx.settings, credential, ctx.request_id)
    try:
        api.get(ME)  # the API authenticates the key: unknown, revoked or throttled, nothing else runs
    except ApiError as exc:
        return api_error_response(exc, ctx.request_id)
    return api


def handle(ctx: RequestContext) -> Response:
    """POST: one JSON-RPC message in, its JSON answer out (202 for a notification)."""
    api = checked_api(ctx)
    if isinstance(api, Response):
        return api
    body = read_body(ctx.request, MAX_JSON_BYTES)
    from convoinsight.mcp import server  # the SDK: loaded on the first MCP request

    limit = ctx.settings.mcp_api_timeout_seconds + ctx.settings.mcp_api_connect_timeout_seconds + 5
    status, headers, content = serve(ctx.request, body, server.Call(api, ctx.settings.mcp_max_rows), limit)
    log.debug("mcp %s answered %s after API calls %s", ctx.request.method, status, api.calls)
    return Response(content, status=status, headers=headers)


def not_allowed(ctx: RequestContext) -> Response:
    """GET (a server-to-client stream) and DELETE (end a session): a stateless server has neither. Answered here,
    after the key's check, so the SDK never holds a stream open on a serving thread."""
    api = checked_api(ctx)
    if isinstance(api, Response):
        return api
    return json_response({"error": {"code": "method_not_allowed", "message": "this MCP server is stateless: POST "
                                    "each message; there is no stream to open and no session to end",
                                    "request_id": ctx.request_id}}, 405, {"Allow": "POST"})


def serve(request, body: bytes, call, limit_s: float) -> tuple[int, list[tuple[str, str]], bytes]:
    """Run the SDK's stateless transport for this one request; (status, headers, body) of its answer. Past
    ``limit_s`` (every API call has its own timeouts first) the transport is cancelled: a 504."""
    import anyio

    from convoinsight.mcp import server

    scope = _scope(request)
    answer: dict[str, Any] = {"status": 500, "headers": [], "body": []}

    async def receive() -> dict[str, Any]:
        if not answer.get("sent_body"):
            answer["sent_body"] = True
            return {"type": "http.request", "body": body, "more_body": False}
        await anyio.sleep_forever()  # the body is whole; the client never disconnects mid-answer here
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
            answer["headers"] = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in message.get("headers", [])]
        elif message["type"] == "http.response.body":
            answer["body"].append(message.get("body", b""))

    async def run() -> None:
        from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

        server.CURRENT.set(call)
        # A manager runs once: one per request (cheap), over the process's one server and its handlers.
        manager = StreamableHTTPSessionManager(app=server.server(), json_response=True, stateless=True,
                                               max_request_body_size=MAX_JSON_BYTES)
        with anyio.move_on_after(limit_s) as scope_limit:
            async with manager.run():
                await manager.handle_request(scope, receive, send)
        if scope_limit.cancelled_caught:
            answer.update(status=504, headers=[("content-type", "application/json")], body=[json.dumps(
                {"error": {"code": "mcp_timeout", "message": f"the MCP request took longer than {limit_s:g} s",
                           "request_id": call.api.request_id}}).encode()])

    anyio.run(run)
    headers = [(k, v) for k, v in answer["headers"] if k.lower() in PASSED_HEADERS]
    return answer["status"], headers, b"".join(answer["body"])


def _scope(request) -> dict[str, Any]:
    headers = [(key.lower().encode("latin-1"), value.encode("latin-1")) for key, value in request.headers.items()]
    return {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
            "method": request.method, "scheme": request.scheme, "path": "/", "raw_path": b"/",
            "query_string": request.query_string or b"", "root_path": "", "headers": headers,
            "client": (request.remote_addr or "unknown", 0), "server": (request.host.split(":")[0], 0)}
