"""Reading conversations back: a tenant's sessions (newest activity first) and a session's turns (in order).

Both are paged with opaque cursors: the (order value, id) of a page's last item, so a page never repeats or
skips an item when others are added meanwhile. A turn is an assistant message; its question, SQL, table,
chart reference, insights, usage and timings are its payload, written with it in one batch.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from convoinsight.errors import BadRequest
from convoinsight.sessions import store

_ID = re.compile(r"^[A-Za-z0-9-]{1,80}$")
TURN_FIELDS = ("sql", "sql_status", "sql_error", "table", "insights", "follow_ups", "verified", "usage", "timings",
               "datasets", "prompt_versions")


def encode_cursor(value: Any, doc_id: str) -> str:
    raw = json.dumps([value, doc_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> tuple[int, str] | None:
    """The (value, id) a cursor names; a cursor this server did not make is a 400 ``bad_cursor``."""
    if not cursor:
        return None
    try:
        value, doc_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, TypeError, binascii.Error):
        value, doc_id = None, None
    if type(value) is not int or not isinstance(doc_id, str) or not _ID.match(doc_id):
        raise BadRequest("cursor is not one this API returned", code="bad_cursor")
    return value, doc_id


def summary(session: dict[str, Any]) -> dict[str, Any]:
    count = int(session.get("message_count") or 0)
    return {
        "id": session["id"],
        "title": session.get("title") or "",
        "domain": session.get("domain"),
        "message_count": count,
        "turn_count": count // 2,
        "created_at": session.get("created_at"),
        "updated_at": session.get("updated_at"),
        "last_question": session.get("last_question"),
    }


def list_sessions(docs, user_id: str, *, limit: int, cursor: str | None) -> dict[str, Any]:
    page = docs.list(store.sessions(user_id), order_by="activity", descending=True, limit=limit + 1,
                     after=decode_cursor(cursor))
    more = len(page) > limit
    page = page[:limit]
    return {"sessions": [summary(s) for s in page],
            "next_cursor": encode_cursor(page[-1]["activity"], page[-1]["id"]) if more else None}


def turn_of(message: dict[str, Any], chart: dict[str, Any] | None) -> dict[str, Any]:
    """One turn as the history route shows it: the answer as it was returned, the chart with its spec."""
    payload = message.get("payload") or {}
    ref = payload.get("chart")
    if ref and chart:
        shown = {"id": chart["id"], "title": chart.get("title", ""), "spec": chart.get("spec")}
        if chart.get("truncated"):
            shown["truncated"] = chart["truncated"]
    elif ref:  # the chart was deleted on its own (charts DELETE): the turn keeps saying there was one
        shown = {"id": ref.get("id"), "title": ref.get("title", ""), "spec": None, "deleted": True}
    else:
        shown = None
    return {
        "message_id": message["id"],
        "created_at": message.get("created_at"),
        "question": payload.get("question", ""),
        "answer": message.get("content", ""),
        **{field: payload.get(field) for field in TURN_FIELDS},
        "chart": shown,
    }


def turns_page(docs, user_id: str, session_id: str, *, limit: int, cursor: str | None) -> tuple[list, str | None]:
    """Up to ``limit`` turns in order after ``cursor``, and the cursor of the next page (None at the end)."""
    page = docs.list(store.messages(user_id, session_id), where={"role": "assistant"}, order_by="seq",
                     limit=limit + 1, after=decode_cursor(cursor))
    more = len(page) > limit
    page = page[:limit]
    turns = [turn_of(m, _chart(docs, user_id, m)) for m in page]
    return turns, encode_cursor(page[-1]["seq"], page[-1]["id"]) if more else None


def _chart(docs, user_id: str, message: dict[str, Any]) -> dict[str, Any] | None:
    ref = (message.get("payload") or {}).get("chart")
    chart_id = ref.get("id") if isinstance(ref, dict) else None
    return docs.get(store.charts(user_id), chart_id) if chart_id else None


def read_session(docs, user_id: str, session_id: str, *, limit: int, cursor: str | None) -> dict[str, Any]:
    session = store.get_session(docs, user_id, session_id)
    turns, next_cursor = turns_page(docs, user_id, session_id, limit=limit, cursor=cursor)
    return {**summary(session), "turns": turns, "next_cursor": next_cursor}


def rename(docs, user_id: str, session_id: str, title: str) -> dict[str, Any]:
    session = store.get_session(docs, user_id, session_id)
    docs.put(store.sessions(user_id), session_id, {**session, "title": title})
    if store.is_deleted(docs, user_id, session_id):  # deleted meanwhile: the put must not bring it back
        docs.delete(store.sessions(user_id), session_id)
        store.get_session(docs, user_id, session_id)  # 404
    return summary({**session, "title": title})
