"""One WSGI app that serves every function under ``/api/v1/<function>/``.

Each function is loaded exactly as Cloud Functions loads it
(``functions_framework.create_app(target, source)``), so the local stack runs
the same adapters as the cloud. The prefix is stripped before the function
sees the request, matching the cloud's per-function URLs.
"""

from __future__ import annotations

import json
from pathlib import Path

import functions_framework
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.wrappers import Response

REPO = Path(__file__).resolve().parents[1]
FUNCTIONS_DIR = REPO / "functions"
API_PREFIX = "/api/v1"


def function_names() -> list[str]:
    return sorted(p.parent.name for p in FUNCTIONS_DIR.glob("*/main.py"))


def _not_found(environ, start_response):
    body = json.dumps({"error": {"code": "route_not_found", "message": "no such function; see /api/v1/<function>/",
                                 "request_id": ""}})
    return Response(body, status=404, mimetype="application/json")(environ, start_response)


def build_app():
    from local_emulator.storage import LocalStorage

    apps = {name: functions_framework.create_app(name, str(FUNCTIONS_DIR / name / "main.py"))
            for name in function_names()}
    mounts = {f"{API_PREFIX}/{name}": app for name, app in apps.items()}
    mounts["/_storage"] = LocalStorage(apps["ingest"])  # signed uploads, as GCS would take them
    return DispatcherMiddleware(_not_found, mounts)
