"""Routes of the ``queries`` function: ask (sync or as an async job), job progress, events, cancel."""

from __future__ import annotations

import json
import time

from flask import Response

from convoinsight.api import public_urls
from convoinsight.errors import BadRequest
from convoinsight.jobs import tokens
from convoinsight.jobs.store import TERMINAL
from convoinsight.queries.request import AskRequest, parse_ask
from convoinsight.queries.verified import ANSWER_SCHEMA
from convoinsight.web import sse
from convoinsight.web.app import FunctionApp, RequestContext, json_body, prefetch_body
from convoinsight.web.responses import json_response
from convoinsight.web.sse import SSE_EVENT

app = FunctionApp("queries")
EVENTS_POLL_SECONDS = 0.25
EVENTS_MAX_SECONDS = 15 * 60
POLL_HINT_SECONDS = 1  # a running job's Retry-After: the stages take seconds, the poll class allows 20/s


def _prefetch(ctx: RequestContext, params: dict):
    """A new-session question's cached answer, read with the rate limit in one round trip (issue #15)."""
    from convoinsight.queries import result_cache

    return result_cache.prefetch(ctx.settings, ctx.user_id, prefetch_body(ctx.request))


@app.route("POST", "/", limit="query", body=AskRequest, summary="Ask a question: the answer, a stream of it, or a job",
           responses={200: {"description": "OK: application/json, text/event-stream", "content": {
               "application/json": {"schema": ANSWER_SCHEMA}, "text/event-stream": {"schema": SSE_EVENT}}},
               202: "application/json"}, prefetch=_prefetch)
def ask_question(ctx: RequestContext):
    # The pipeline (its agents, the SQL compiler, the model client) loads with the first question, not at cold
    # start (issue #15): the other routes never need it.
    from convoinsight.llm.prompts import prompt_store
    from convoinsight.queries.ask import ask
    from convoinsight.queries.streaming import stream_response

    request = json_body(ctx.request)
    if "apiKey" in request and _needs_https(ctx) and not _https(ctx):
        raise BadRequest("apiKey is refused over plain HTTP: send it over https, or store it with "
                         "POST /api/v1/llm/keys", code="insecure_transport")
    prompts = prompt_store(ctx.settings.prompts_dir)
    if parse_ask(request).stream:  # validated first: a bad field is the same 422 as without streaming
        return stream_response(lambda events: with_links(ctx, ask(ctx.services, prompts, ctx.user_id, request,
                                                                  events)[0]), ctx.request_id)
    body, status = ask(ctx.services, prompts, ctx.user_id, request)
    return with_links(ctx, body), status


def with_links(ctx: RequestContext, body: dict) -> dict:
    """A job gets its status and (signed) events URLs; an answer's chart its image URL."""
    if "job_id" in body and "answer" not in body:
        return {**body, **public_urls.job_links(ctx.settings, ctx.user_id, body["job_id"])}
    return public_urls.with_chart_link(ctx.settings, ctx.user_id, body)


def progress_of(ctx: RequestContext, job_id: str) -> dict:
    """A job's progress; a succeeded job's result with its chart's image link."""
    from convoinsight.jobs import service as jobs  # imports the pipeline: on first use, not at cold start

    body = jobs.progress(ctx.services, ctx.user_id, job_id)
    if isinstance(body.get("result"), dict):
        body = {**body, "result": public_urls.with_chart_link(ctx.settings, ctx.user_id, body["result"])}
    return body


def _needs_https(ctx: RequestContext) -> bool:
    return ctx.settings.deployment_mode == "cloud"


def _https(ctx: RequestContext) -> bool:
    """Whether the client's own connection was TLS: the scheme Google's front end saw (X-Forwarded-Proto)."""
    forwarded = (ctx.request.headers.get("X-Forwarded-Proto") or "").split(",")[0].strip().lower()
    return (forwarded or ctx.request.scheme) == "https"


@app.route("GET", public_urls.JOB_PATH, limit="poll")
def job_status(ctx: RequestContext, job_id: str):
    """The job's progress; its answer once it succeeded. While it runs, ``Retry-After`` says when to ask again."""
    body = {**progress_of(ctx, job_id), **public_urls.job_links(ctx.settings, ctx.user_id, job_id)}
    headers = {} if body["status"] in TERMINAL else {"Retry-After": str(POLL_HINT_SECONDS)}
    return json_response(body, 200, headers)


@app.route("DELETE", "/<job_id>", limit="dataset_ops", summary="Cancel a job")
def cancel_job(ctx: RequestContext, job_id: str):
    from convoinsight.jobs import service as jobs

    return jobs.cancel(ctx.services, ctx.user_id, job_id)


@app.route("GET", public_urls.EVENTS_PATH, limit="poll", link=True, responses={200: "text/event-stream"})
def job_events(ctx: RequestContext, job_id: str):
    """Server-sent events: the progress object each time it changes, the answer's draft as token events
    while the compiler writes it (from the job's Redis Stream, jobs/tokens.py), until the job ends.

    Token and reset events carry ``id:``; a client that reconnects with ``Last-Event-ID`` gets the
    current progress and only the draft after that id."""
    from convoinsight.queries.streaming import KEEPALIVE_SECONDS

    first = progress_of(ctx, job_id)  # 404 before the stream starts
    redis, user_id = ctx.services.redis, ctx.user_id
    after = tokens.cursor(ctx.request.headers.get("Last-Event-ID"))

    def drafted(entries):
        nonlocal after
        for entry_id, fields in entries:
            after = entry_id
            if fields.get("t") == "reset":
                yield sse.event("reset", {"reason": fields.get("reason", "")}, entry_id)
            elif fields.get("text"):
                yield sse.event("token", {"text": fields["text"]}, entry_id)

    def stream():
        last, current, deadline = None, first, time.monotonic() + EVENTS_MAX_SECONDS
        polled = quiet = time.monotonic()

        def changed():  # the progress event, when it differs from the last one sent
            nonlocal last, quiet
            text = json.dumps(current, default=str)
            if text == last:
                return []
            last, quiet = text, time.monotonic()
            return [f"event: progress\ndata: {text}\n\n"]

        while True:
            ended = current["status"] in TERMINAL
            if ended:  # the compiler wrote its whole draft before the job settled: all of it comes first
                while entries := tokens.read(redis, user_id, job_id, after):
                    yield from drafted(entries)
            yield from changed()
            if ended or time.monotonic() > deadline:
                yield f"event: end\ndata: {json.dumps({'status': current['status']})}\n\n"
                return
            # Waiting for the draft's next entries is the poll interval (or a plain sleep without Redis).
            entries = tokens.read(redis, user_id, job_id, after, block_ms=int(EVENTS_POLL_SECONDS * 1000))
            if entries is None:
                time.sleep(EVENTS_POLL_SECONDS)
            # The progress is read once per interval; and before the first tokens, so that the stages before
            # the compiler are shown done ahead of its draft.
            if time.monotonic() - polled >= EVENTS_POLL_SECONDS or (entries and current["current_stage"] != "compiler"):
                current, polled = progress_of(ctx, job_id), time.monotonic()
                if entries and current["status"] not in TERMINAL:
                    yield from changed()
            if entries:
                yield from drafted(entries)
                quiet = time.monotonic()
            elif time.monotonic() - quiet > KEEPALIVE_SECONDS:
                yield sse.KEEPALIVE
                quiet = time.monotonic()

    return Response(stream(), mimetype="text/event-stream", headers=sse.HEADERS)


# --- Compatibility with the original API (issue #14) ----------------------------------------------------------
# Its routes, answered as their successors answer plus Deprecation, Sunset and Link (web/app.py compat_headers).

@app.route("POST", "/<session_id>/cancel", limit="dataset_ops", successor=f"{app.prefix}/{{job_id}}",
           summary="The original API's cancel: every running job of a session, as DELETE /api/v1/queries/{job_id}")
def legacy_cancel_session(ctx: RequestContext, session_id: str):
    """``{"session_id", "cancelled": [...]}``: the progress of each job it cancelled, as ``DELETE /{job_id}``
    answers it; an empty list when nothing was running; 404 when the session is not the caller's."""
    from convoinsight.jobs import service as jobs

    return jobs.cancel_session(ctx.services, ctx.user_id, session_id)
