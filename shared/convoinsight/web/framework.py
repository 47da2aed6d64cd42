"""What every ``functions/<name>/main.py`` runs once at cold start, inside functions-framework's Flask app.

- The settings are read now: a misconfigured function (say, on Cloud Run with ``AUTH_MODE`` unset)
  refuses to start with the ConfigError in its start-up log, instead of answering every request with
  a 500.
- Errors that Flask or functions-framework answer themselves, before or around the function (a path
  its router cannot match, such as one holding ``%0A``; ``/robots.txt``; a crash outside the
  function), get the one JSON error shape with a request id instead of an HTML page.
- Flask's slash merging is off, so ``//x`` reaches the function's own routes instead of a 308 redirect,
  and Flask's ``/static/<path>`` route is gone (it answered ``GET /static/x`` itself, shadowing a
  domain named ``static``; functions serve no static files).

- A function that calls models (``calls_models``) with a remote model configured imports litellm
  before its instance takes traffic, or in the background where nothing forks (``LLM_PRELOAD``,
  ``schedule_preload``): a question never waits for the whole import. One that runs SQL (``runs_sql``)
  starts the engine's workers in gunicorn's worker as it starts, alongside its first request.

- Servers answer a few malformed requests (431 headers too large, 414, a bad request line) before any
  app runs, with an HTML page: gunicorn, functions-framework's server in the cloud, gets its error
  writer replaced by one that writes the JSON shape; the emulator's werkzeug server does the same
  (local_emulator/server.py). Google's front end, before both, still answers what it refuses itself.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import uuid
from collections.abc import Callable

from flask import Flask, current_app, has_app_context, request
from werkzeug.exceptions import HTTPException, InternalServerError
from werkzeug.routing import Map

from convoinsight.errors import ConfigError
from convoinsight.observability import logs
from convoinsight.settings import get_settings
from convoinsight.web.app import request_id_of
from convoinsight.web.responses import json_response

log = logging.getLogger("convoinsight.web")

CODES = {
    400: "bad_request", 404: "route_not_found", 405: "method_not_allowed", 408: "request_timeout",
    411: "length_required", 413: "body_too_large", 414: "uri_too_long", 415: "unsupported_content_type",
    431: "headers_too_large", 500: "internal_error", 501: "not_implemented", 505: "http_version_not_supported",
}
# functions-framework's crash handler marks a crash with this header (Cloud Functions logs it as one).
CRASH_HEADER = ("X-Google-Status", "crash")


def start_function(*, calls_models: bool = False, runs_sql: bool = False,
                   preload: Callable[[], None] | None = None) -> None:
    """Fail fast on bad settings, log as Cloud Logging reads it, make Flask's own errors JSON, and for a
    function that calls models start importing litellm when it will be needed (see the module docstring).

    ``preload``: what every request of the function needs but its cold import must not pay for (the mcp
    function's SDK and HTTP client). Under functions-framework's server it runs in gunicorn's master before the
    port opens, as litellm's import does (``schedule_preload``): no request of a new instance waits for it.
    Anywhere else (the emulator, a test client) the first request that needs it pays."""
    try:
        settings = get_settings()
    except ConfigError as exc:
        log.critical("refusing to start: %s", exc.message)
        raise
    logs.configure(settings)  # every bundle (ingest and pipeline too) logs in Cloud Logging's shape from here on
    if has_app_context():  # functions-framework runs main.py inside its app's context
        install(current_app._get_current_object())  # type: ignore[attr-defined]
    gunicorn_errors_as_json()
    if calls_models and preloads_litellm(settings):
        schedule_preload()
    if runs_sql and _forks_workers():
        _warm_engine_after_fork()
    if preload is not None and _forks_workers():
        preload()


def preloads_litellm(settings) -> bool:
    if settings.llm_preload == "never":
        return False
    return settings.llm_preload == "always" or bool(settings.llm_model or settings.llm_api_base
                                                    or settings.llm_api_key)


def schedule_preload() -> None:
    """Import litellm before the instance takes its first request, or alongside it.

    Under functions-framework's server (gunicorn) main.py runs in the master before it binds the port and
    forks the worker that serves: there litellm is imported now, synchronously. The instance then accepts
    connections only once it is imported, and Cloud Run routes requests to an instance only once its port
    accepts them (the startup probe): a new instance added under load never makes a request wait for the
    import, and the forked worker shares the imported pages. (A thread would not survive the fork, and a
    half-done import would be copied into the worker.) Anywhere else (the emulator, a test client,
    ``--debug``) a background thread imports it while requests are served."""
    from convoinsight.llm.client import preload_litellm, preload_now

    if _forks_workers():
        preload_now("before serving")
    else:
        preload_litellm()


_engine_warm_pending = False


def _warm_engine_after_fork() -> None:
    """Start the SQL engine's workers as gunicorn's worker starts, alongside its first request.

    They are forked from a forkserver of their own (workers/pool.py), never from the master: the worker
    starts them on a background thread, so the engine's start-up (a fresh interpreter importing DuckDB)
    overlaps whatever the first request does before it runs SQL."""
    global _engine_warm_pending
    if not _engine_warm_pending:
        _engine_warm_pending = True
        os.register_at_fork(after_in_child=_warm_engine_in_worker)


def _warm_engine_in_worker() -> None:
    global _engine_warm_pending
    if _engine_warm_pending:  # once, in gunicorn's worker: not in the processes it forks in turn
        _engine_warm_pending = False
        threading.Thread(target=_warm_engine, name="engine-warm-up", daemon=True).start()


def _warm_engine() -> None:
    try:
        from convoinsight.sql.execute import engine_pool

        engine_pool(get_settings()).warm()
    except Exception:  # the first query starts them itself and reports what fails
        log.warning("the SQL engine's workers could not be started ahead", exc_info=True)


def _forks_workers() -> bool:
    """Whether this process is functions-framework's gunicorn master (its CLI without ``--debug``)."""
    program = os.path.basename(sys.argv[0]) if sys.argv else ""
    cli = program in ("functions-framework", "functions_framework") or \
        sys.argv[0].replace("\\", "/").endswith("functions_framework/__main__.py")
    debug = "--debug" in sys.argv or os.environ.get("DEBUG", "").lower() in ("1", "true")
    return cli and not debug


def install(app: Flask) -> None:
    old = app.url_map
    # functions-framework adds its catch-all rules after main.py has run: they bind to this map.
    app.url_map = Map([rule.empty() for rule in old.iter_rules() if rule.endpoint != "static"],
                      converters=dict(old.converters), merge_slashes=False, strict_slashes=False)
    app.register_error_handler(HTTPException, _framework_error)
    # Replaces functions-framework's plain-text crash handler (its crash header is kept).
    app.register_error_handler(InternalServerError, _crash)


def gunicorn_errors_as_json() -> None:
    """gunicorn writes its own errors (before the app sees the request) through ``gunicorn.util.write_error``,
    which its workers look up on the module at each error: swap in one that writes the JSON shape."""
    try:
        from gunicorn import util
    except ImportError:  # not installed: not the server in use
        return
    if getattr(util.write_error, "convoinsight", False):
        return

    def write_error(sock, status_int, reason, mesg) -> None:
        request_id = uuid.uuid4().hex
        status = int(status_int)
        message = f"{reason}: {str(mesg)[:200]}" if mesg else str(reason)
        body = json.dumps(error_body(status, message, request_id)).encode()
        head = (f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\nX-Request-Id: {request_id}\r\n\r\n")
        util.write_nonblock(sock, head.encode("latin-1") + body)

    write_error.convoinsight = True  # type: ignore[attr-defined]
    util.write_error = write_error


def error_body(status: int, message: str, request_id: str, code: str | None = None) -> dict:
    return {"error": {"code": code or CODES.get(status, "http_error"), "message": message,
                      "request_id": request_id}}


def _framework_error(exc: HTTPException):
    status = exc.code or 500
    if status >= 500:
        return _crash(exc)
    if status == 404:
        message = f"no route {request.method} {request.path}"
    else:
        message = (exc.description or exc.name or "the request could not be served").strip()
    return _respond(status, message, {k: v for k, v in exc.get_headers() if k.lower() == "allow"})


def _crash(exc: HTTPException):
    return _respond(500, "internal error", {CRASH_HEADER[0]: CRASH_HEADER[1]})


def _respond(status: int, message: str, headers: dict[str, str]):
    request_id = request_id_of(request.headers)
    logs.event(log, "request", f"{request.method} {request.path} {status} (answered by the framework)",
               logging.ERROR if status >= 500 else logging.WARNING, status=status, request_id=request_id)
    response = json_response(error_body(status, message, request_id), status, headers)
    response.headers["X-Request-Id"] = request_id
    return response
