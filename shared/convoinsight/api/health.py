"""Routes of the ``health`` function: liveness and readiness (each dependency reported)."""

from __future__ import annotations

import time

from convoinsight.errors import ConvoInsightError
from convoinsight.web.app import FunctionApp, RequestContext
from convoinsight.web.responses import json_response

app = FunctionApp("health")


@app.route("GET", "/", auth=False, limit="default")
def index(ctx: RequestContext):
    return {"service": "convoinsight", "status": "ok", "mode": ctx.settings.deployment_mode}


@app.route("GET", "/live", auth=False, limit=None)
def live(ctx: RequestContext):
    return {"status": "alive"}


@app.route("GET", "/ready", auth=False, limit=None)
def ready(ctx: RequestContext):
    checks = {
        "documents": ctx.services.documents.ping,
        "blobs": ctx.services.blobs.ping,
        "redis": ctx.services.check_redis,
    }
    report, ok = {}, True
    for name, check in checks.items():
        started = time.perf_counter()
        try:
            check()
            report[name] = {"status": "ok"}
        except ConvoInsightError as exc:
            ok = False
            report[name] = {"status": "unavailable", "code": exc.code, "message": exc.message}
        report[name]["latency_ms"] = round((time.perf_counter() - started) * 1000, 1)
    body = {"status": "ready" if ok else "unavailable", "checks": report}
    return json_response(body, 200 if ok else 503, {} if ok else {"Retry-After": "5"})
