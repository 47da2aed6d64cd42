"""A sync question answered as server-sent events on its own response (``"stream": true``).

The question runs in a worker thread (in a copy of the request's context, so its log lines keep
the request id) and tells ``ResponseEvents`` what happens; the response relays it in order:

- ``progress``: when the answering begins, then after each stage; the shape of an async job's
  progress (``status``, ``session_id``, ``stages_done``, ``stages_total``, ``current_stage``,
  ``stages: {name: {status, ms}}``), without ``job_id``;
- ``token`` ``{"text"}``: the next piece of the answer's markdown (a draft preview, pipeline/draft.py);
- ``reset`` ``{"reason"}``: discard the draft so far (``retry``, ``fallback``, ``repair``, ``revised``);
- ``answer``: the whole answer, exactly the JSON a sync question without streaming returns;
- ``error``: the one JSON error shape, when the question fails once the stream has begun;
- ``end`` ``{"status": "succeeded" | "failed"}``: the last event.

A question refused before it begins (bad input, unknown domain, a spent budget) gets the plain JSON
error with its status instead, as without streaming. A client that goes away does not stop the
question: its answer is kept in the session all the same.
"""

from __future__ import annotations

import contextvars
import logging
import queue
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Protocol

from flask import Response

from convoinsight.errors import ConvoInsightError
from convoinsight.web import sse

if TYPE_CHECKING:
    from convoinsight.pipeline.state import JobState

log = logging.getLogger("convoinsight.queries")
KEEPALIVE_SECONDS = 15.0
WORKER_JOIN_SECONDS = 15 * 60  # past every limit a question runs under


class AskEvents(Protocol):
    """What the ask use case tells a streamed response; also the compiler's token sink."""

    def begin(self, session_id: str, planned: list[str]) -> None: ...

    def stage(self, state: JobState) -> None: ...

    def token(self, text: str) -> None: ...

    def reset(self, reason: str) -> None: ...

    def flush(self) -> None: ...


def progress(session_id: str, planned: list[str], timings: dict[str, Any]) -> dict[str, Any]:
    """A sync question's progress, in the shape of an async job's (jobs/service.py ``progress``)."""
    from convoinsight.jobs.runner import BRANCHES  # the pipeline: loaded by the question, not at cold start

    current = next((s for s in planned if s not in timings), None)
    running = {current} | (set(BRANCHES) if current in BRANCHES else set())
    stages = {s: {"status": "done" if s in timings else "running" if s in running else "pending",
                  "ms": timings.get(s)} for s in planned}
    return {"status": "running", "session_id": session_id,
            "stages_done": sum(1 for s in stages.values() if s["status"] == "done"), "stages_total": len(planned),
            "current_stage": current, "stages": stages}


class ResponseEvents:
    """Events of one question, queued for the response (thread-safe: the two branches run side by side)."""

    def __init__(self) -> None:
        self.items: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.session_id = ""

    def begin(self, session_id: str, planned: list[str]) -> None:
        self.session_id = session_id
        self.items.put(("begin", progress(session_id, planned, {})))

    def stage(self, state: JobState) -> None:
        from convoinsight.jobs.runner import planned_stages

        self.items.put(("progress", progress(self.session_id, planned_stages(state), state.timings)))

    def token(self, text: str) -> None:
        self.items.put(("token", text))

    def reset(self, reason: str) -> None:
        self.items.put(("reset", reason))

    def flush(self) -> None:
        return


def stream_response(run: Callable[[ResponseEvents], dict[str, Any]], request_id: str) -> Response:
    """Run ``run(events)`` (it returns the answer's JSON) and relay it as events; an error raised before the
    answering began propagates, to become the plain JSON error response."""
    events = ResponseEvents()

    def work() -> None:
        try:
            events.items.put(("answer", run(events)))
        except ConvoInsightError as exc:
            if exc.status >= 500:  # the response said 200 already: this is where the failure shows
                log.warning("a streamed question failed: %s (%s)", exc.code, exc.message)
            events.items.put(("error", exc))
        except Exception:
            log.exception("a streamed question failed")
            events.items.put(("error", ConvoInsightError("internal error")))
        finally:
            events.items.put(("done", None))

    context = contextvars.copy_context()
    worker = threading.Thread(target=context.run, args=(work,), daemon=True, name="ask-stream")
    worker.start()
    kind, value = events.items.get()
    if kind == "error":
        raise value
    return Response(_relay(events.items, (kind, value), request_id, worker), mimetype="text/event-stream",
                    headers=sse.HEADERS)


def _relay(items: queue.Queue, first: tuple[str, Any], request_id: str, worker: threading.Thread) -> Iterator[str]:
    try:
        yield from _events(items, first, request_id)
    finally:
        # A client that left closes the response early: the request stays open until the answer is kept
        # (Cloud Run gives a request's work CPU only while the request lasts).
        worker.join(WORKER_JOIN_SECONDS)


def _events(items: queue.Queue, first: tuple[str, Any], request_id: str) -> Iterator[str]:
    kind, value = first
    while True:
        if kind in ("begin", "progress"):
            yield sse.event("progress", value)
        elif kind == "token":
            yield sse.event("token", {"text": value})
        elif kind == "reset":
            yield sse.event("reset", {"reason": value})
        elif kind == "answer":
            yield sse.event("answer", value)
            yield sse.event("end", {"status": "succeeded"})
            return
        elif kind in ("error", "done"):  # "done" first: the worker ended without a word (cannot happen)
            error = value if kind == "error" else ConvoInsightError("internal error")
            yield sse.event("error", error_payload(error, request_id))
            yield sse.event("end", {"status": "failed"})
            return
        try:
            kind, value = items.get(timeout=KEEPALIVE_SECONDS)
        except queue.Empty:
            yield sse.KEEPALIVE
            kind, value = "keepalive", None


def error_payload(error: ConvoInsightError, request_id: str) -> dict[str, Any]:
    """The one error shape, as web/responses.py ``error_response`` renders it."""
    body: dict[str, Any] = {"code": error.code, "message": error.message, "request_id": request_id}
    if error.details:
        body["details"] = error.details
    return {"error": body}
