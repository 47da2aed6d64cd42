"""One WSGI app that serves every function under ``/api/v1/<function>/`` and the web console at ``/``.

Each function is loaded exactly as Cloud Functions loads it
(``functions_framework.create_app(target, source)``), so the local stack runs
the same adapters as the cloud. Requests are routed as the cloud's load balancer
routes them (``convoinsight.web.gateway``): by path prefix, with the path left
whole; each function matches its routes on the part after ``/api/v1/<name>``, so
``/api/v1/datasets`` and ``/api/v1/datasets/`` are both the function's ``/`` (no
redirect), and the original API's paths reach the function that serves them.

Every error is the one JSON shape, including those the HTTP server answers
itself before any function runs (431 for headers too large, 414, a bad request line).
"""

from __future__ import annotations

import json
import uuid
from http import HTTPStatus
from pathlib import Path

import functions_framework
from werkzeug.serving import WSGIRequestHandler
from werkzeug.wrappers import Request, Response

from convoinsight.web.app import request_id_of
from convoinsight.web.framework import error_body
from convoinsight.web.gateway import function_for
from local_emulator.console import ConsoleApp, is_console_path

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


class Gateway:
    """The load balancer's stand-in: the function for the path's prefix gets the request, path untouched.

    ``/_storage/...`` (signed uploads, the local GCS) is the one mount whose prefix is taken off. What no function
    claims at ``/``, ``/index.html``, ``/assets/...`` and ``/vendor/...`` is the web console's static files
    (local_emulator/console.py), as the console bucket is the load balancer's default in the cloud; every other
    unknown path is the JSON 404.
    """

    def __init__(self, apps: dict, storage, console=None):
        self.apps, self.storage = apps, storage
        self.functions = tuple(sorted(apps))
        self.console = console if console is not None else ConsoleApp(_not_found)

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO") or "/"
        if path == "/_storage" or path.startswith("/_storage/"):
            environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + "/_storage"
            environ["PATH_INFO"] = path[len("/_storage"):]
            return self.storage(environ, start_response)
        name = function_for(path, self.functions)
        if name is None:
            if is_console_path(path):  # the web console's files, as the console bucket serves them in the cloud
                return self.console(environ, start_response)
            return _not_found(environ, start_response)
        return self.apps[name](environ, start_response)


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
    return Gateway(apps, LocalStorage(apps["ingest"]))  # /_storage: signed uploads, as GCS would take them
