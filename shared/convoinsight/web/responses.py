"""JSON responses, the one error shape, and CORS headers."""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Response

from convoinsight.errors import ConvoInsightError

log = logging.getLogger("convoinsight.web")


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body, default=_default, separators=(",", ":")),
        status=status,
        mimetype="application/json",
        headers=headers or {},
    )


def _default(value: Any) -> Any:
    # Result tables may hold dates, decimals and the like: render them as text rather than failing.
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def error_response(error: ConvoInsightError, request_id: str) -> Response:
    headers = {}
    if error.retry_after:
        headers["Retry-After"] = str(error.retry_after)
    body = {"error": {"code": error.code, "message": error.message, "request_id": request_id}}
    if error.details:
        body["error"]["details"] = error.details
    return json_response(body, error.status, headers)


def cors_headers(origin: str | None, allowed: tuple[str, ...]) -> dict[str, str]:
    if not origin or not allowed:
        return {}
    if "*" in allowed:
        value = "*"
    elif origin in allowed:
        value = origin
    else:
        return {}
    return {
        "Access-Control-Allow-Origin": value,
        "Access-Control-Allow-Methods": "GET, POST, PUT, PATCH, DELETE, OPTIONS",
        "Access-Control-Allow-Headers": "Authorization, Content-Type, X-User-Id, X-User-Role, X-Request-Id, "
                                        "Last-Event-ID",
        "Access-Control-Expose-Headers": "X-Request-Id, Retry-After, X-RateLimit-Limit, X-RateLimit-Remaining, "
                                         "X-RateLimit-Reset, Content-Disposition, Deprecation, Sunset, Link, "
                                         "X-Export-Partial, X-Export-Turns",
        "Access-Control-Max-Age": "3600",
        "Vary": "Origin",
    }


def bucket_cors_headers(origin: str | None, allowed: tuple[str, ...]) -> dict[str, str]:
    """What the bucket's CORS configuration answers (Terraform writes it from the same CORS_ORIGINS): a browser
    may PUT to a signed upload URL, and GET a signed download, from an allowed origin."""
    base = cors_headers(origin, allowed)
    if not base:
        return {}
    return {"Access-Control-Allow-Origin": base["Access-Control-Allow-Origin"],
            "Access-Control-Allow-Methods": "PUT, GET, HEAD, OPTIONS",
            "Access-Control-Allow-Headers": "Content-Type",
            "Access-Control-Expose-Headers": "Content-Type, Content-Length, ETag",
            "Access-Control-Max-Age": "3600", "Vary": "Origin"}
