"""The web console's static files, served at ``/`` by the emulator as the console bucket serves them in the cloud.

``console/`` is laid out as the bucket is: ``index.html`` at the root (``/`` and ``/index.html``), the console's own
modules and styles under ``/assets/``, the vendored libraries under ``/vendor/``. Nothing else is served: any other
path, a dotfile, a folder, or a path that tries to leave ``console/`` (``..`` in any spelling werkzeug decodes to
it, a backslash, a NUL) is the API's JSON 404, as every unknown path is.

Headers: the content type by extension, ``X-Content-Type-Options: nosniff``, ``Cache-Control`` (the page and its
modules revalidate every time, ``no-cache`` with an ETag, so a new deploy is seen at once; the vendored libraries
sit in versioned folders and never change, so they are cached for a year, ``immutable``), and a strict
Content-Security-Policy (:data:`CONTENT_SECURITY_POLICY`; Terraform's backend bucket sends the same one).
"""

from __future__ import annotations

import json
import posixpath
from pathlib import Path

from werkzeug.wrappers import Request, Response

from convoinsight.web.app import request_id_of
from convoinsight.web.framework import error_body

CONSOLE_DIR = Path(__file__).resolve().parents[1] / "console"

# Scripts only from this origin and never evaluated from strings: charts are drawn with vega-embed's `ast: true`,
# which evaluates Vega expressions with the interpreter vega-embed bundles instead of `new Function`, so no
# 'unsafe-eval'. Styles only from the stylesheet (vega-embed's injected default style is turned off). Images: the
# page's own, and data:/blob: URLs (the chart's PNG export). connect-src 'self': the API at the same origin; a
# console pointed at an API elsewhere needs its host to allow that origin here. The cloud adds the storage host
# the signed upload URLs point at (terraform/modules/gateway).
CONTENT_SECURITY_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
                           "connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; "
                           "form-action 'none'; frame-ancestors 'none'")

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
    "": "text/plain; charset=utf-8",  # LICENSE files
}
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
PREFIXES = ("assets", "vendor")


def security_headers() -> dict[str, str]:
    return {"Content-Security-Policy": CONTENT_SECURITY_POLICY, "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY",
            "Permissions-Policy": "camera=(), microphone=(), geolocation=()"}


def cache_control(relative: str) -> str:
    return IMMUTABLE if relative.startswith("vendor/") else REVALIDATE


def is_console_path(path: str) -> bool:
    """Whether the emulator hands ``path`` to the console (it may still answer 404 when no such file exists)."""
    return path in ("/", "/index.html") or any(path.startswith(f"/{p}/") for p in PREFIXES)


def resolve(path: str, root: Path = CONSOLE_DIR) -> Path | None:
    """The file under ``root`` that ``path`` (already percent-decoded) names, or None. Fails closed."""
    if path in ("/", "/index.html"):
        relative = "index.html"
    else:
        relative = path.lstrip("/")
        if "\\" in relative or "\x00" in relative or "//" in relative:
            return None
        parts = relative.split("/")
        if parts[0] not in PREFIXES or any(p in ("", ".", "..") or p.startswith(".") for p in parts):
            return None
        if posixpath.normpath(relative) != relative:
            return None
    candidate = (root / relative).resolve()
    base = root.resolve()
    if base not in candidate.parents or not candidate.is_file():
        return None
    if candidate.suffix.lower() not in CONTENT_TYPES:
        return None
    return candidate


class ConsoleApp:
    """WSGI app for the console's files; ``not_found`` answers what is not one of them (the API's JSON 404)."""

    def __init__(self, not_found, root: Path = CONSOLE_DIR):
        self.not_found, self.root = not_found, root

    def __call__(self, environ, start_response):
        request = Request(environ)
        target = resolve(request.path, self.root)
        if target is None:
            return self.not_found(environ, start_response)
        if request.method not in ("GET", "HEAD"):
            request_id = request_id_of(request.headers)
            body = json.dumps(error_body(405, "the console's files are read with GET or HEAD", request_id))
            response = Response(body, status=405, mimetype="application/json",
                                headers={"Allow": "GET, HEAD", "X-Request-Id": request_id})
            return response(environ, start_response)
        relative = target.relative_to(self.root.resolve()).as_posix()
        response = Response(target.read_bytes(), content_type=CONTENT_TYPES[target.suffix.lower()],
                            headers={"Cache-Control": cache_control(relative), **security_headers()})
        response.add_etag()
        response = response.make_conditional(request)
        response.headers.pop("Date", None)  # the HTTP server writes its own
        return response(environ, start_response)
