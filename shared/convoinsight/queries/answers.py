"""An answer from a finished job state, and how it is kept (chart + conversation turn).

Shared by the sync path and the async job's finalize step, so both give the
same answer for the same question.
"""

from __future__ import annotations

from typing import Any

from convoinsight import nul
from convoinsight.errors import NotFound
from convoinsight.pipeline.state import JobState
from convoinsight.sessions import cascade, store


def answer_of(state: JobState) -> dict[str, Any]:
    return {
        "answer": state.answer,
        "sql": state.sql,
        "sql_status": state.sql_status,
        "sql_error": state.sql_error,
        "table": state.table,
        "chart": state.chart,
        "insights": (state.analysis or {}).get("insights", []),
        "follow_ups": state.follow_ups,
        "verified": state.verified,
        "datasets": datasets_used(state),
        "prompt_versions": state.prompt_versions,
    }


def datasets_used(state: JobState) -> list[dict[str, Any]]:
    """The tables a data answer was given, with the versions it read: the provenance an export prints."""
    if not state.route or state.route.get("route") != "data":
        return []
    return [{"name": d["name"], "version": d.get("version"), "source": d.get("source") or "upload"}
            for d in state.routed_datasets()]


def timings_of(state: JobState) -> dict[str, Any]:
    """Each stage's milliseconds and the SQL within them: the answer's statement (``sql``), and when they ran
    the value lookup before it (``sql_lookup``) and the whole-result statistics after it (``sql_stats``)."""
    timings = {**state.timings, "sql": state.sql_ms}
    if state.lookup_ms:
        timings["sql_lookup"] = state.lookup_ms
    if state.result_stats and state.result_stats.get("ms"):
        timings["sql_stats"] = state.result_stats["ms"]
    return timings


def respond(docs, user_id: str, session: dict[str, Any] | None, session_id: str, domain: str, question: str,
            answer: dict[str, Any], usage: dict[str, Any], timings: dict[str, Any], *, message_id: str | None = None,
            chart_id: str | None = None, seq: int | None = None, new_session: bool = False,
            fresh: bool = False, clean: bool = False) -> dict[str, Any]:
    """Store the chart and the turn, all in one write; the response carries the chart's id and its bound spec.

    Given ids (an async job's), storing the same answer twice writes the same documents. Model output
    and result cells may hold NUL characters, which no document can: they are removed from the answer.

    A session deleted while its answer was being computed keeps nothing: ``session_not_found`` (404)
    before the write, or the write taken back when the delete came in between.

    ``new_session``: this request made ``session_id`` and nothing is stored under it yet, so no one can have
    renamed or deleted it: the turn is written without reading anything. ``fresh``: ``session`` was read by
    this request moments ago (a cached answer, nothing computed since): it is not read again, and a delete
    is caught by the check after the write alone (which takes the turn back, as before). ``clean``: the
    answer was stripped of NUL characters already (the sync path strips it once, before it is cached)."""
    if not (new_session or fresh) and store.is_deleted(docs, user_id, session_id):
        raise NotFound(f"session {session_id!r} not found: it was deleted", code="session_not_found")
    answer, question = (answer if clean else nul.strip(answer)), nul.strip(question)
    chart, also = None, []
    if answer["chart"]:
        chart_id = chart_id or store.new_id()
        also.append(store.chart_write(user_id, answer["chart"], session_id=session_id, chart_id=chart_id))
        chart = {"id": chart_id, "title": answer["chart"]["title"], "spec": answer["chart"]["spec"]}
        if answer["chart"].get("truncated"):
            chart["truncated"] = answer["chart"]["truncated"]  # the chart shows fewer points than the table
    response = {"session_id": session_id, **answer, "chart": chart, "usage": usage, "timings": timings}
    payload = {k: v for k, v in response.items() if k not in ("session_id", "chart")}
    # The message refers to its chart by id: the bound spec lives once, in the chart document.
    payload["chart"] = {"id": chart["id"], "title": chart["title"]} if chart else None
    payload["question"] = question
    response["message_id"] = store.record_turn(docs, user_id, session, session_id=session_id, domain=domain,
                                               question=question, answer=answer["answer"], payload=payload,
                                               message_id=message_id, seq=seq, also=also,
                                               reread=not (new_session or fresh))
    if not new_session and store.is_deleted(docs, user_id, session_id):
        cascade.purge_documents(docs, user_id, session_id)
        raise NotFound(f"session {session_id!r} not found: it was deleted", code="session_not_found")
    return response
