"""Routes of the ``queries`` function: ask (sync or as an async job), job progress, events, cancel."""

from __future__ import annotations

import json
import time

from flask import Response

from convoinsight.errors import BadRequest
from convoinsight.jobs import service as jobs
from convoinsight.jobs.store import TERMINAL
from convoinsight.llm.prompts import prompt_store
from convoinsight.queries.ask import ask
from convoinsight.web.app import FunctionApp, RequestContext, json_body

app = FunctionApp("queries")
EVENTS_POLL_SECONDS = 0.25
EVENTS_MAX_SECONDS = 15 * 60


@app.route("POST", "/", limit="query")
def ask_question(ctx: RequestContext):
    request = json_body(ctx.request)
    if "apiKey" in request and _needs_https(ctx) and not _https(ctx):
        raise BadRequest("apiKey is refused over plain HTTP: send it over https, or store it with "
                         "POST /api/v1/llm/keys", code="insecure_transport")
    body, status = ask(ctx.services, prompt_store(ctx.settings.prompts_dir), ctx.user_id, request)
    return body, status


def _needs_https(ctx: RequestContext) -> bool:
    return ctx.settings.deployment_mode == "cloud"


def _https(ctx: RequestContext) -> bool:
    """Whether the client's own connection was TLS: the scheme Google's front end saw (X-Forwarded-Proto)."""
    forwarded = (ctx.request.headers.get("X-Forwarded-Proto") or "").split(",")[0].strip().lower()
    return (forwarded or ctx.request.scheme) == "https"


@app.route("GET", "/<job_id>", limit="dataset_ops")
def job_status(ctx: RequestContext, job_id: str):
    return jobs.progress(ctx.services, ctx.user_id, job_id)


@app.route("DELETE", "/<job_id>", limit="dataset_ops")
def cancel_job(ctx: RequestContext, job_id: str):
    return jobs.cancel(ctx.services, ctx.user_id, job_id)


@app.route("GET", "/<job_id>/events", limit="dataset_ops")
def job_events(ctx: RequestContext, job_id: str):
    """Server-sent events: the progress object each time it changes, until the job ends."""
    services, user_id = ctx.services, ctx.user_id
    first = jobs.progress(services, user_id, job_id)  # 404 before the stream starts

    def stream():
        last, current, deadline = None, first, time.monotonic() + EVENTS_MAX_SECONDS
        while True:
            text = json.dumps(current, default=str)
            if text != last:
                yield f"event: progress\ndata: {text}\n\n"
                last = text
            if current["status"] in TERMINAL or time.monotonic() > deadline:
                yield f"event: end\ndata: {json.dumps({'status': current['status']})}\n\n"
                return
            time.sleep(EVENTS_POLL_SECONDS)
            current = jobs.progress(services, user_id, job_id)

    return Response(stream(), mimetype="text/event-stream", headers={"Cache-Control": "no-cache",
                                                                      "X-Accel-Buffering": "no"})
