"""The web console's files as the emulator serves them at ``/`` (local_emulator/console.py through the Gateway):
content types, caching, the Content-Security-Policy, and nothing else: unknown paths and every attempt to leave
``console/`` are the API's JSON 404. Also: the page uses no inline script or style the CSP would refuse, every
module it imports exists, and it reaches the package only through the HTTP API."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from werkzeug.test import Client
from werkzeug.wrappers import Response

from local_emulator.console import CONSOLE_DIR, CONTENT_SECURITY_POLICY, resolve
from local_emulator.server import Gateway

ASSETS = CONSOLE_DIR / "assets"


def _health(environ, start_response):
    return Response(json.dumps({"service": "health"}), mimetype="application/json")(environ, start_response)


@pytest.fixture
def client() -> Client:
    return Client(Gateway({"health": _health}, storage=_health))


def _assert_json_404(response) -> None:
    assert response.status_code == 404
    assert response.mimetype == "application/json"
    error = response.get_json()["error"]
    assert error["code"] == "route_not_found" and error["request_id"] == response.headers["X-Request-Id"]


@pytest.mark.parametrize(("path", "content_type", "cache"), [
    ("/", "text/html; charset=utf-8", "no-cache"),
    ("/index.html", "text/html; charset=utf-8", "no-cache"),
    ("/assets/app.js", "text/javascript; charset=utf-8", "no-cache"),
    ("/assets/styles.css", "text/css; charset=utf-8", "no-cache"),
    ("/assets/icon.svg", "image/svg+xml", "no-cache"),
    ("/vendor/vega-6.2.0/vega.min.js", "text/javascript; charset=utf-8", "public, max-age=31536000, immutable"),
    ("/vendor/marked-18.2.1/marked.esm.js", "text/javascript; charset=utf-8", "public, max-age=31536000, immutable"),
    ("/vendor/dompurify-3.4.18/purify.es.mjs", "text/javascript; charset=utf-8",
     "public, max-age=31536000, immutable"),
    ("/vendor/dompurify-3.4.18/LICENSE", "text/plain; charset=utf-8", "public, max-age=31536000, immutable"),
    ("/vendor/manifest.json", "application/json", "public, max-age=31536000, immutable"),
])
def test_the_console_files_have_their_content_type_caching_and_security_headers(client, path, content_type, cache):
    response = client.get(path)
    assert response.status_code == 200, path
    assert response.headers["Content-Type"] == content_type
    assert response.headers["Cache-Control"] == cache
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY" and response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers.getlist("Date") == []  # the HTTP server writes the one Date header
    relative = "index.html" if path in ("/", "/index.html") else path.lstrip("/")
    assert response.get_data() == (CONSOLE_DIR / relative).read_bytes()
    # Revalidation: the ETag answers 304 without the body; HEAD has the headers only.
    again = client.get(path, headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304 and again.get_data() == b""
    head = client.head(path)
    assert head.status_code == 200 and head.get_data() == b"" and head.headers["Content-Type"] == content_type


def test_the_policy_is_strict():
    directives = dict(d.strip().split(" ", 1) for d in CONTENT_SECURITY_POLICY.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"  # no 'unsafe-inline', no 'unsafe-eval' (vega-embed's ast: true)
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'" and directives["base-uri"] == "'none'"
    assert "unsafe" not in CONTENT_SECURITY_POLICY


@pytest.mark.parametrize("path", [
    "/nothing", "/README.md", "/console/index.html", "/assets/", "/assets", "/vendor/", "/assets/missing.js",
    "/../README.md", "/assets/../../README.md", "/assets/%2e%2e/%2e%2e/README.md", "/assets/%2E%2E/index.html",
    "/vendor/..%2f..%2fREADME.md", "/assets/..\\..\\README.md", "/assets/%5c..%5cREADME.md",
    "/assets/./app.js", "/assets//app.js", "/vendor/vega-6.2.0", "/assets/.hidden", "/assets/app.js%00.css",
    "/vendor/%2e%2e/%2e%2e/Makefile", "/index.html/", "/favicon.ico", "/api/v2/queries",
])
def test_anything_else_is_the_json_404_and_nothing_leaves_the_console_folder(client, path):
    _assert_json_404(client.get(path))


def test_resolve_fails_closed_even_with_a_symlink_out(tmp_path):
    root = tmp_path / "console"
    (root / "assets").mkdir(parents=True)
    (root / "assets" / "ok.js").write_text("1")
    (tmp_path / "secret.js").write_text("secret")
    (root / "assets" / "out.js").symlink_to(tmp_path / "secret.js")
    (root / "assets" / "data.py").write_text("no")
    assert resolve("/assets/ok.js", root) == (root / "assets" / "ok.js").resolve()
    assert resolve("/assets/out.js", root) is None  # a link that leads out of the folder
    assert resolve("/assets/data.py", root) is None  # not a type the console serves


def test_writes_are_refused_and_the_api_keeps_its_paths(client):
    response = client.post("/")
    assert response.status_code == 405 and response.get_json()["error"]["code"] == "method_not_allowed"
    assert response.headers["Allow"] == "GET, HEAD"
    assert client.get("/api/v1/health/").get_json() == {"service": "health"}  # functions come first


def test_the_page_has_no_inline_script_or_style_and_every_import_resolves():
    html = (CONSOLE_DIR / "index.html").read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline <script> (the CSP refuses it)"
    assert "<style" not in html and " style=" not in html and not re.search(r"\son[a-z]+=", html)
    for ref in re.findall(r'(?:src|href)="([^"#:]+)"', html):
        assert (CONSOLE_DIR / ref).is_file(), ref
    for module in ASSETS.glob("*.js"):
        text = module.read_text()
        for target in re.findall(r'^import .* from "(\.[^"]+)";$', text, re.M):
            assert (module.parent / target).resolve().is_file(), (module.name, target)
        assert "innerHTML" not in text or module.name == "render.js", module.name  # only sanitized markdown
        assert "eval(" not in text and "new Function" not in text


def test_the_console_reaches_the_package_only_through_the_public_api():
    """No private shortcut: every request goes to /api/v1/<public function>/ (or a URL the API returned)."""
    from convoinsight.web.gateway import PUBLIC_FUNCTIONS

    api = (ASSETS / "api.js").read_text()
    used = set(re.findall(r'this\.(?:json|request)\("[A-Z]+", [`"]/([a-z]+)/', api))
    used |= set(re.findall(r'this\.url\(`/([a-z]+)/', api))
    assert not re.findall(r'this\.(?:json|request)\("[A-Z]+", [^`"g]', api)  # only literal paths, or grant URLs
    assert used and used <= set(PUBLIC_FUNCTIONS), used
    assert {"auth", "datasets", "queries", "sessions", "llm"} <= used
    for module in ASSETS.glob("*.js"):
        text = module.read_text()
        assert "fetch(" not in text or module.name == "api.js", module.name
        assert "XMLHttpRequest" not in text or module.name == "api.js", module.name
        assert "localStorage" not in text, module.name  # credentials live in sessionStorage only


def test_the_vendored_files_the_page_loads_are_in_the_manifest():
    manifest = json.loads((CONSOLE_DIR / "vendor" / "manifest.json").read_text())
    listed = {f"vendor/{target}" for package in manifest["packages"].values() for target in package["files"]}
    loaded = set()
    for module in ASSETS.glob("*.js"):
        text = module.read_text()
        loaded |= {Path(t).as_posix().replace("../", "") for t in re.findall(r'"((?:\.\./)?vendor/[^"]+\.m?js)"', text)}
    assert loaded == {"vendor/vega-6.2.0/vega.min.js", "vendor/vega-lite-6.4.1/vega-lite.min.js",
                      "vendor/vega-embed-7.0.2/vega-embed.min.js", "vendor/marked-18.2.1/marked.esm.js",
                      "vendor/dompurify-3.4.18/purify.es.mjs"}
    assert loaded <= listed
