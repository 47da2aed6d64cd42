"""Server-sent events as text: one ``event:`` (and optional ``id:``) with one JSON ``data:`` line each."""

from __future__ import annotations

import json
from typing import Any

from convoinsight.web.responses import _default

KEEPALIVE = ": keepalive\n\n"  # a comment line: clients ignore it, proxies see a live stream
# A server-sent event as EventSource (and schemathesis) reads it: the schema is each event's (``event`` below).
SSE_EVENT = {
    "type": "object",
    "description": "One server-sent event: `event` names it (`progress`, `token`, `reset`, `answer`, `error`, "
                   "`end`), `data` is one JSON object; token and reset events carry an `id` to resume after "
                   "(`Last-Event-ID`).",
    "required": ["event", "data"],
    "properties": {
        "event": {"type": "string"},
        "data": {"type": "string", "contentMediaType": "application/json", "contentSchema": {"type": "object"}},
        "id": {"type": "string"},
    },
}
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}  # no proxy may hold the events back


def event(name: str, data: Any, event_id: str | None = None) -> str:
    """One event. The JSON has no raw newline (json.dumps escapes them), so one data line carries it."""
    head = f"id: {event_id}\n" if event_id else ""
    return f"{head}event: {name}\ndata: {json.dumps(data, default=_default, separators=(',', ':'))}\n\n"
