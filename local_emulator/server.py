"""One WSGI app that serves every function under ``/api/v1/<function>/``.

Each function is loaded exactly as Cloud Functions loads it
(``functions_framework.create_app(target, source)``), so the local stack runs
the same adapters as the cloud. The prefix is stripped before the function
sees the request, matching the cloud's per-function URLs: ``/api/v1/datasets``
and ``/api/v1/datasets/`` are both the function's ``/`` (no redirect).

Every error is the one JSON shape, including those the HTTP server answers
itself before any function runs (431 for headers too large, 414, a bad request line).
"""

from __future__ import annotations

import json
import uuid
from http import HTTPStatus
from pathlib import Path

import functions_framework
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.serving import WSGIRequestHandler
from werkzeug.wrappers import Request, Response

from convoinsight.web.app import request_id_of
from convoinsight.web.framework import error_body

REPO = Path(__file__).resolve().parents[1]
FUNCTIONS_DIR = REPO / "functions"
API_PREFIX = "/api/v1"


def function_names() -> list[str]:
    return sorted(p.parent.name for p in FUNCTIONS_DIR.glob("*/main.py"))


def _not_found(environ, start_response):
    request_id = request_id_of(Request(environ).headers)
    body = json.dumps(error_body(404, "no such function; see /api/v1/<function>/", request_id))
    return Response(body, status=404, mimetype="application/json",
                    headers={"X-Request-Id": request_id})(environ, start_response)


def _at_root(app):
    """The function's root for its bare prefix: Flask would answer an empty path with a 308 to add the slash."""
    def serve(environ, start_response):
        if not environ.get("PATH_INFO"):
            environ["PATH_INFO"] = "/"
        return app(environ, start_response)

    return serve


class JsonErrorRequestHandler(WSGIRequestHandler):
    """werkzeug's request handler, whose own error replies (before any app runs) are JSON, not HTML."""

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        phrase = HTTPStatus(code).phrase if code in HTTPStatus._value2member_map_ else "Error"
        self.log_error("code %d, message %s", code, message)
        request_id = uuid.uuid4().hex
        text = f"{phrase}: {message}" if message and message != phrase else phrase
        body = json.dumps(error_body(code, text, request_id)).encode()
        self.send_response(code, message)
        self.send_header("Connection", "close")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Request-Id", request_id)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


def build_app():
    from local_emulator.storage import LocalStorage

    apps = {name: functions_framework.create_app(name, str(FUNCTIONS_DIR / name / "main.py"))
            for name in function_names()}
    mounts = {f"{API_PREFIX}/{name}": _at_root(app) for name, app in apps.items()}
    mounts["/_storage"] = LocalStorage(apps["ingest"])  # signed uploads, as GCS would take them
    return DispatcherMiddleware(_not_found, mounts)
