"""The OpenAPI document is made from the routes: every route has its operation; the document is valid OpenAPI 3.1."""

from __future__ import annotations

import dataclasses
import importlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from pydantic import BaseModel

from convoinsight import errors
from convoinsight.settings import load_settings
from convoinsight.web import openapi
from convoinsight.web.app import FunctionApp
from convoinsight.web.gateway import PUBLIC_FUNCTIONS
from convoinsight.web.responses import error_response

REPO = Path(__file__).resolve().parents[2]
FUNCTIONS = sorted(p.parent.name for p in (REPO / "functions").glob("*/main.py"))
HTTP_FUNCTIONS = [name for name in FUNCTIONS if name != "ingest"]  # ingest is a CloudEvent target, no routes
SETTINGS = load_settings({"DEPLOYMENT_MODE": "local"})


def app_of(function: str) -> FunctionApp:
    return importlib.import_module(f"convoinsight.api.{function}").app


def operations(document: dict) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in document["paths"].items() for method in item}


def route_operations(app: FunctionApp) -> set[tuple[str, str]]:
    """(METHOD, public path template) of every rule the app registered."""
    found = set()
    for rule in app._rules:
        method = next(m for m in rule.methods if m not in ("HEAD", "OPTIONS"))
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", openapi.public_path(app.name, rule.rule))
        found.add((method, path))
    return found


def operation(document: dict, method: str, path: str) -> dict:
    return document["paths"][path][method.lower()]


@pytest.fixture(scope="module")
def combined() -> dict:
    return openapi.combined_document(SETTINGS)


def test_every_function_is_looked_at():
    assert set(HTTP_FUNCTIONS) >= set(PUBLIC_FUNCTIONS) and "pipeline" in HTTP_FUNCTIONS


@pytest.mark.parametrize("function", HTTP_FUNCTIONS)
def test_every_route_of_every_function_has_its_operation(function, combined):
    app = app_of(function)
    own = openapi.function_document(app, SETTINGS)
    routes = route_operations(app)
    assert len(routes) == len(app._rules), "two rules of one function share a public method and path"
    missing = routes - operations(own)
    assert not missing, f"routes of {function} with no operation in its document: {sorted(missing)}"
    assert operations(own) == routes  # and nothing else
    assert ("GET", f"/api/v1/{function}/openapi.json") in routes  # every function serves its own document
    if function in PUBLIC_FUNCTIONS:
        missing = routes - operations(combined)
        assert not missing, f"routes of {function} missing from /api/v1/openapi.json: {sorted(missing)}"


def test_the_combined_document_holds_the_public_functions_only(combined):
    expected = set().union(*(route_operations(app_of(name)) for name in PUBLIC_FUNCTIONS))
    assert operations(combined) == expected
    assert ("GET", "/api/v1/openapi.json") in expected
    assert not any(path.startswith("/api/v1/pipeline") for _, path in expected)  # private: Cloud Tasks only
    assert len({op["operationId"] for item in combined["paths"].values() for op in item.values()}) == len(expected)


@pytest.mark.parametrize("mode", ["dev", "apikey", "firebase"])
def test_the_documents_are_valid_openapi_31(mode):
    settings = dataclasses.replace(SETTINGS, auth_mode=mode)
    documents = [openapi.combined_document(settings)] + [openapi.function_document(app_of(name), settings)
                                                         for name in HTTP_FUNCTIONS]
    for document in documents:
        validate(document)
        assert document["openapi"] == "3.1.0"
        json.dumps(document)  # plain JSON, nothing Python-only in it


def test_security_follows_auth_mode_and_route_options(combined):
    assert combined["components"]["securitySchemes"]["devUser"] == {
        **openapi.SECURITY_SCHEMES["dev"][1]} and combined["components"]["securitySchemes"]["devUser"]["name"] == \
        "X-User-Id"
    for app in (app_of(name) for name in PUBLIC_FUNCTIONS):
        for rule in app._rules:
            _, options = app._handlers[rule.endpoint]
            method = next(m for m in rule.methods if m not in ("HEAD", "OPTIONS"))
            path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", openapi.public_path(app.name, rule.rule))
            op = operation(combined, method, path)
            if options.api_key:  # the mcp function: an API key, checked through the API (issue #17)
                assert op["security"] == [{"apiKey": []}] and "401" in op["responses"], (method, path)
                assert combined["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"
            elif not options.auth and not options.link:
                assert "security" not in op, (method, path)
                assert "401" not in op["responses"] or rule.rule == "/api/v1/metrics"
            else:
                assert {"devUser": []} in op["security"] or not options.auth
                assert ({"signedLink": []} in op["security"]) == options.link
                assert "401" in op["responses"]
    keyed = openapi.combined_document(dataclasses.replace(SETTINGS, auth_mode="apikey"))
    assert keyed["components"]["securitySchemes"]["apiKey"] == {
        "type": "http", "scheme": "bearer", "description": openapi.SECURITY_SCHEMES["apikey"][1]["description"]}
    assert operation(keyed, "GET", "/api/v1/auth/me")["security"] == [{"apiKey": []}]
    firebase = openapi.combined_document(dataclasses.replace(SETTINGS, auth_mode="firebase"))
    assert firebase["components"]["securitySchemes"]["firebase"]["bearerFormat"] == "JWT"
    # An API key works in every mode (issue #17): the alternative to the mode's own scheme.
    assert operation(firebase, "GET", "/api/v1/auth/me")["security"] == [{"firebase": []}, {"apiKey": []}]
    assert operation(combined, "GET", "/api/v1/datasets")["security"] == [{"devUser": []}, {"apiKey": []}]


def test_bodies_are_the_handlers_models(combined):
    from convoinsight.queries.request import AskRequest

    ask = operation(combined, "POST", "/api/v1/queries")
    assert ask["requestBody"] == {"required": True, "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/AskRequest"}}}}
    schema = combined["components"]["schemas"]["AskRequest"]
    assert schema == AskRequest.model_json_schema(ref_template="#/components/schemas/{model}")
    assert "apiKey" in schema["properties"]  # by alias, as clients send it
    assert schema.get("additionalProperties") is False  # extra="forbid": unknown fields are refused
    # $defs are components, never nested in a schema
    assert not any("$defs" in s for s in combined["components"]["schemas"].values())
    assert operation(combined, "PUT", "/api/v1/prompts/overrides")["requestBody"]["content"][
        "application/json"]["schema"] == {"$ref": "#/components/schemas/Overrides"}
    assert "AgentOverride" in combined["components"]["schemas"]  # a model's $defs moved into components
    export = operation(combined, "POST", "/api/v1/sessions/{session_id}/export")
    assert export["requestBody"]["required"] is False  # `ExportOptions | None`: the body may be left out
    assert operation(combined, "POST", "/api/v1/auth/keys")["requestBody"]["required"] is False
    prompt = operation(combined, "PUT", "/api/v1/prompts/{name}")["requestBody"]["content"]
    assert set(prompt) == {"application/json", "application/yaml"}


def test_every_route_that_reads_a_json_body_declares_its_model():
    """A handler that calls json_body(...) has ``body=`` (what the document shows)."""
    missing = []
    for app in (app_of(name) for name in HTTP_FUNCTIONS):
        for endpoint, (handler, options) in app._handlers.items():
            source = Path(sys.modules[handler.__module__].__file__).read_text()
            match = re.search(rf"\ndef {handler.__name__}\(.*?(?=\n(?:@|def |class |\S))", source, re.S)
            reads = match and ("json_body(" in match.group(0) or "_prompt_body(" in match.group(0)
                               or "_write(" in match.group(0) or "_multipart(" in match.group(0))
            if reads and options.body is None:
                missing.append(f"{app.name} {endpoint}")
    assert not missing


def test_the_upload_is_multipart_with_a_binary_file(combined):
    body = operation(combined, "POST", "/api/v1/datasets/{domain}")["requestBody"]
    assert list(body["content"]) == ["multipart/form-data"]
    form = combined["components"]["schemas"]["UploadForm"]
    assert form["properties"]["file"] == {**form["properties"]["file"], "type": "string", "format": "binary"}
    assert form["required"] == ["file"]


def test_binary_and_event_stream_answers(combined):
    def media(method, path, status="200"):
        return set(operation(combined, method, path)["responses"][status]["content"])

    assert media("GET", "/api/v1/charts/{chart_id}/image") == {"image/png", "image/svg+xml"}
    assert media("GET", "/api/v1/datasets/{domain}/{name}") == {"application/json", "text/csv",
                                                               "application/vnd.apache.parquet"}
    assert media("POST", "/api/v1/sessions/{session_id}/export") == {"application/pdf"}
    assert media("GET", "/api/v1/queries/{job_id}/events") == {"text/event-stream"}
    assert "text/event-stream" in media("POST", "/api/v1/queries")
    assert media("POST", "/api/v1/queries", "202") == {"application/json"}
    assert media("POST", "/api/v1/datasets/{domain}", "201") == {"application/json"}
    png = operation(combined, "GET", "/api/v1/charts/{chart_id}/image")["responses"]["200"]["content"]["image/png"]
    assert png == {}  # the bytes as they are: no JSON schema to check them against


def test_errors_share_the_one_error_shape(combined):
    components = combined["components"]
    for path, item in combined["paths"].items():
        for method, op in item.items():
            for status, response in op["responses"].items():
                if int(status) >= 400 and "$ref" not in response:
                    assert (method, path, status) == ("get", "/api/v1/health/ready", "503"), (method, path, status)
            assert {"400", "404", "422", "500", "503"} <= set(op["responses"]), (method, path)
    for name, response in components["responses"].items():
        assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}, name
    assert components["responses"]["RateLimited"]["headers"]["Retry-After"]["required"] is True
    assert "Retry-After" in components["responses"]["ServiceUnavailable"]["headers"]
    # what the web layer renders fits the schema, with and without details
    schema = components["schemas"]["Error"]
    for exc in (errors.NotFound("no such dataset", code="dataset_not_found"),
                errors.Unprocessable("bad", details={"problems": [{"field": "x", "message": "y"}]}),
                errors.RateLimited("slow down", retry_after=3)):
        Draft202012Validator(schema).validate(json.loads(error_response(exc, "req-12345678").get_data()))


def test_a_compatibility_route_keeps_its_own_path_and_is_deprecated():
    app = FunctionApp("datasets")

    @app.route("POST", "/upload-datasets", successor="/api/v1/datasets/{domain}")
    def legacy_upload(ctx):
        """The original API's upload."""

    @app.route("GET", "/api/v1/storage/charts/<chart_id>", successor="/api/v1/charts/{chart_id}")
    def legacy_chart(ctx, chart_id):
        return {}

    @app.route("GET", "/<domain>")
    def current(ctx, domain):
        return {}

    document = openapi.build([app], SETTINGS)
    validate(document)
    legacy = operation(document, "POST", "/upload-datasets")
    assert legacy["deprecated"] is True and legacy["summary"] == "The original API's upload."
    assert "/api/v1/datasets/{domain}" in legacy["description"]
    assert set(legacy["responses"]["200"]["headers"]) == {"Deprecation", "Sunset", "Link"}
    assert operation(document, "GET", "/api/v1/storage/charts/{chart_id}")["deprecated"] is True
    assert "deprecated" not in operation(document, "GET", "/api/v1/datasets/{domain}")
    # and the real functions' compatibility routes, whichever exist
    for app in (app_of(name) for name in PUBLIC_FUNCTIONS):
        for rule in app._rules:
            if app._handlers[rule.endpoint][1].successor:
                path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", openapi.public_path(app.name, rule.rule))
                method = next(m for m in rule.methods if m not in ("HEAD", "OPTIONS"))
                assert operation(openapi.combined_document(SETTINGS), method, path)["deprecated"] is True


@pytest.mark.parametrize(("function", "rule", "public"), [
    ("datasets", "/", "/api/v1/datasets"),
    ("datasets", "/<domain>/<name>", "/api/v1/datasets/<domain>/<name>"),
    ("datasets", "/upload-datasets", "/upload-datasets"),  # gateway.EXTRA_ROUTES sends it to datasets
    ("datasets", "/domain/<domain>/datasets", "/domain/<domain>/datasets"),
    ("health", "/api/v1/metrics", "/api/v1/metrics"),
    ("health", "/openapi.json", "/api/v1/health/openapi.json"),
    ("charts", "/upload-datasets", "/api/v1/charts/upload-datasets"),  # not charts' path at the one origin
])
def test_public_paths_never_get_the_prefix_twice(function, rule, public):
    assert openapi.public_path(function, rule) == public


def test_summaries_query_parameters_and_servers(combined):
    assert operation(combined, "GET", "/api/v1/queries/{job_id}")["summary"].startswith("The job's progress")
    assert combined["servers"] == [{"url": "/"}]
    assert operation(combined, "GET", "/api/v1/charts")["parameters"] == [{
        "name": "limit", "in": "query", "required": False,
        "schema": {"default": 50, "maximum": 200, "minimum": 1, "type": "integer"}}]
    record = {p["name"]: p for p in operation(combined, "GET", "/api/v1/datasets/{domain}/{name}")["parameters"]}
    assert record["format"]["schema"] == {"enum": ["csv", "parquet"], "type": "string"}  # None is "left out"
    assert record["domain"]["in"] == "path" and record["domain"]["required"] is True
    tables = {p["name"] for p in operation(combined, "GET", "/api/v1/sources/postgres/{conn}/tables")["parameters"]}
    assert tables == {"conn", "schema", "refresh"}  # by alias, as the query string names it
    public = dataclasses.replace(SETTINGS, public_base_url="https://api.example.com")
    assert openapi.combined_document(public)["servers"] == [{"url": "https://api.example.com"}]
    assert openapi.combined_document(SETTINGS) is combined  # built once, then cached


def test_prompt_body_is_what_the_checker_takes():
    from convoinsight.api.prompts import PromptBody
    from convoinsight.llm import prompt_checks

    schema = PromptBody.model_json_schema()
    assert set(schema["properties"]) == set(prompt_checks.FIELDS)
    assert set(schema["required"]) == set(prompt_checks.REQUIRED)


def test_models_named_alike_are_refused():
    first = type("Body", (BaseModel,), {"__annotations__": {"a": int}})
    second = type("Body", (BaseModel,), {"__annotations__": {"b": str}})
    components: dict = {}
    openapi._add_definitions(components, {"Body": first.model_json_schema()})
    with pytest.raises(ValueError, match="Body"):
        openapi._add_definitions(components, {"Body": second.model_json_schema()})


def test_each_function_serves_its_document_and_health_the_whole(monkeypatch):
    from tests.conftest import function_client

    monkeypatch.setenv("DEPLOYMENT_MODE", "local")
    for name in HTTP_FUNCTIONS:
        client = function_client(name)
        for path in ("/openapi.json", f"/api/v1/{name}/openapi.json"):  # its own URL, and the load balancer's
            response = client.get(path)  # no identity needed
            assert response.status_code == 200, (name, path, response.get_data(as_text=True)[:300])
            document = response.get_json()
            assert document["info"]["title"].endswith(f"the {name} function")
            assert operations(document) == route_operations(app_of(name))
    whole = function_client("health").get("/api/v1/openapi.json")
    assert whole.status_code == 200 and whole.mimetype == "application/json"
    assert ("POST", "/api/v1/queries") in operations(whole.get_json())
    # a domain name never holds a dot, so /openapi.json shadows no domain; other methods still reach /<domain>
    bad = function_client("datasets").delete("/openapi.json", headers={"X-User-Id": "someone"})
    assert bad.status_code == 400 and bad.get_json()["error"]["code"] == "invalid_domain"


def test_health_builds_the_whole_document_only_when_asked():
    probe = ("import sys; sys.path.insert(0, 'functions/health'); import main; "
             "print(sorted(m for m in sys.modules if m == 'convoinsight.web.openapi' or "
             "(m.startswith('convoinsight.api.') and m != 'convoinsight.api.health')))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, cwd=REPO,
                          env={"PATH": "/usr/bin:/bin", "DEPLOYMENT_MODE": "local"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
