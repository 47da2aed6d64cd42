"""Conversations: sessions, their messages, and the charts answers refer to (per tenant)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any

from convoinsight.clock import now_iso
from convoinsight.errors import NotFound
from convoinsight.sessions.memory import compact_turn
from convoinsight.storage.documents import DocumentStore, Write

HISTORY_MESSAGES = 8
TITLE_CHARS = 80
LAST_QUESTION_CHARS = 200


def sessions(user_id: str) -> str:
    return f"tenants/{user_id}/sessions"


def messages(user_id: str, session_id: str) -> str:
    return f"tenants/{user_id}/sessions/{session_id}/messages"


def charts(user_id: str) -> str:
    return f"tenants/{user_id}/charts"


def deleted(user_id: str) -> str:
    """Tombstones of deleted sessions: a turn still in flight when its session is deleted is not kept."""
    return f"tenants/{user_id}/deleted_sessions"


def is_deleted(docs: DocumentStore, user_id: str, session_id: str) -> bool:
    return docs.get(deleted(user_id), session_id) is not None


def clip(text: str, limit: int) -> str:
    """``text`` on one line, cut at the last word boundary before ``limit`` characters (with an ellipsis)."""
    flat = " ".join((text or "").split())
    if len(flat) <= limit:
        return flat
    cut = flat[:limit - 1]
    space = cut.rfind(" ")
    if flat[len(cut)] != " " and space >= limit // 2:  # back to a word boundary, unless a long word is cut
        cut = cut[:space]
    return cut.rstrip(" ,;:.-") + "…"


def title_of(question: str) -> str:
    return clip(question, TITLE_CHARS) or "Untitled session"


def new_id() -> str:
    return uuid.uuid4().hex


def get_session(docs: DocumentStore, user_id: str, session_id: str) -> dict[str, Any]:
    session = docs.get(sessions(user_id), session_id) if session_id.isalnum() else None
    if session is None:
        raise NotFound(f"session {session_id!r} not found", code="session_not_found")
    return session


def recent_turns(docs: DocumentStore, user_id: str, session_id: str) -> list[dict[str, Any]]:
    """The last assistant answers of a session, oldest first, as the pipeline's history."""
    latest = docs.list(messages(user_id, session_id), where={"role": "assistant"}, order_by="seq",
                       descending=True, limit=HISTORY_MESSAGES)
    return [compact_turn(m["payload"].get("question"), m["payload"].get("sql"), m["content"])
            for m in reversed(latest)]


def record_turn(docs: DocumentStore, user_id: str, session: dict[str, Any] | None, *, session_id: str,
                domain: str, question: str, answer: str, payload: dict[str, Any], message_id: str | None = None,
                seq: int | None = None, also: Sequence[Write] = (), reread: bool = True) -> str:
    """Store the user's question and the answer, and create the session on its first turn: in one
    ``put_many`` with the documents ``also`` names (the answer's chart), so a turn is kept whole or not at all.

    With ``message_id`` and ``seq`` given (an async job's, derived from the job), storing the same turn
    again writes the same documents: a redelivered task can never add a second message.

    ``reread``: read the session again first (a rename made while the answer was being computed is kept);
    False when ``session`` was read (or made) just now, so the turn costs one write and nothing else.
    """
    if reread:
        session = docs.get(sessions(user_id), session_id) or session
    now = now_iso()
    seq = seq if seq is not None else time.time_ns() // 1000  # ordered across sync and async turns
    # The listing's order: the latest turn's position (a late async answer to an early question does not
    # move a session back).
    activity = max(int((session or {}).get("activity") or 0), seq + 1)
    replay = message_id is not None
    message_id = message_id or new_id()
    question_id = f"{message_id}-q"
    if replay:  # a replayed turn (given id) may or may not be stored already: what is there, plus this turn
        count = len({m["id"] for m in docs.list(messages(user_id, session_id))} | {question_id, message_id})
    else:  # a fresh turn adds two messages
        count = (session or {}).get("message_count", 0) + 2
    docs.put_many([
        *also,
        (messages(user_id, session_id), question_id, {
            "id": question_id, "session_id": session_id, "user_id": user_id, "role": "user",
            "content": question, "payload": {}, "seq": seq, "created_at": now,
        }),
        (messages(user_id, session_id), message_id, {
            "id": message_id, "session_id": session_id, "user_id": user_id, "role": "assistant",
            "content": answer, "payload": payload, "seq": seq + 1, "created_at": now,
        }),
        (sessions(user_id), session_id, {
            **(session or {}),
            "id": session_id,
            "domain": domain,
            "title": (session or {}).get("title") or title_of(question),
            "created_at": (session or {}).get("created_at", now),
            "updated_at": now,
            "activity": activity,
            "message_count": count,
            "last_question": clip(question, LAST_QUESTION_CHARS),
        }),
    ])
    return message_id


def chart_write(user_id: str, chart: dict[str, Any], *, session_id: str, chart_id: str) -> Write:
    """The chart document of an answer, as one write of its turn's ``put_many``."""
    doc = {"id": chart_id, "session_id": session_id, "title": chart.get("title", ""), "spec": chart["spec"],
           "created_at": now_iso()}
    if chart.get("truncated"):
        doc["truncated"] = chart["truncated"]  # the chart shows fewer rows than the result (charts/notes.py)
    return charts(user_id), chart_id, doc


def save_chart(docs: DocumentStore, user_id: str, chart: dict[str, Any], *, session_id: str,
               chart_id: str | None = None) -> str:
    chart_id = chart_id or new_id()
    docs.put(*chart_write(user_id, chart, session_id=session_id, chart_id=chart_id))
    return chart_id
