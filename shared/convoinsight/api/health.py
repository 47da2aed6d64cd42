"""Routes of the ``health`` function: liveness and readiness (each dependency reported)."""

from __future__ import annotations

import logging
import time

from convoinsight.errors import ConfigError, ConvoInsightError
from convoinsight.web.app import FunctionApp, RequestContext
from convoinsight.web.responses import json_response

app = FunctionApp("health")
log = logging.getLogger("convoinsight.health")


@app.route("GET", "/", auth=False, limit="default", summary="Service name, status and mode")
def index(ctx: RequestContext):
    return {"service": "convoinsight", "status": "ok", "mode": ctx.settings.deployment_mode}


# The full path: the gateway routes /api/v1/metrics here, outside /api/v1/health (inner_path leaves it whole).
@app.route("GET", "/api/v1/metrics", auth=False, limit=None, summary="Prometheus metrics of every instance",
           responses={200: ("text/plain", "application/openmetrics-text"), 401: None, 403: None})
def metrics(ctx: RequestContext):
    """Prometheus text (METRICS_ENABLED); an administrator or `Authorization: Bearer <METRICS_TOKEN>`."""
    from convoinsight.observability import exposition  # prometheus_client: only when scraped

    return exposition.serve(ctx)


# The full path as well: the gateway routes /api/v1/openapi.json here.
@app.route("GET", "/api/v1/openapi.json", auth=False, limit=None,
           summary="The OpenAPI 3.1 document of the whole API")
def api_document(ctx: RequestContext):
    """Every public function's routes; their modules are imported on the first request (not at cold start)."""
    from convoinsight.web import openapi

    return json_response(openapi.combined_document(ctx.settings), headers={"Cache-Control": "no-cache"})


@app.route("GET", "/live", auth=False, limit=None, summary="Liveness")
def live(ctx: RequestContext):
    return {"status": "alive"}


@app.route("GET", "/ready", auth=False, limit=None, summary="Readiness: each backend checked",
           responses={200: "application/json", 503: "application/json"})
def ready(ctx: RequestContext):
    # Each backend is built inside its own check: one that is not configured (a hand deploy without
    # POSTGRES_URL, say) is reported as such, and the answer is a 503 with Retry-After, never a 500.
    checks = {
        "documents": lambda: ctx.services.documents.ping(),
        "blobs": lambda: ctx.services.blobs.ping(),
        "redis": lambda: ctx.services.check_redis(),
    }
    report, ok = {}, True
    for name, check in checks.items():
        started = time.perf_counter()
        try:
            check()
            report[name] = {"status": "ok"}
        except ConvoInsightError as exc:
            ok = False
            code = "not_configured" if isinstance(exc, ConfigError) else exc.code
            report[name] = {"status": "unavailable", "code": code, "message": exc.message}
        except Exception as exc:  # a client library's own error: the backend is down, the probe is not broken
            ok = False
            log.warning("readiness check %s failed: %s", name, type(exc).__name__)
            report[name] = {"status": "unavailable", "code": "backend_error", "message": type(exc).__name__}
        report[name]["latency_ms"] = round((time.perf_counter() - started) * 1000, 1)
    body = {"status": "ready" if ok else "unavailable", "checks": report}
    return json_response(body, 200 if ok else 503, {} if ok else {"Retry-After": "5"})
