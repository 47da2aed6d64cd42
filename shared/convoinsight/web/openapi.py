"""The OpenAPI 3.1 document, made from the routes themselves: there is no second description to drift.

Everything comes from what a ``FunctionApp`` registered (``app.py``):

- the path, from the werkzeug rule: converters become path parameters, and the path is the public one,
  ``/api/v1/<function>/<inner>``, or a route's own full path when it has one (``/api/v1/...``, or one of the
  original API's root paths that ``gateway.EXTRA_ROUTES`` sends to that function);
- query parameters, from the route's ``query`` model (the one the web layer validates with);
- the request body, from its ``body`` model (``Model | None``: the body may be left out); a model with a
  ``media_types`` class variable is sent as those (multipart/form-data for the upload, YAML beside JSON);
- the answers, from ``responses`` (status -> media type(s), a pydantic model of the JSON, or None for the one
  error shape); ``{200: application/json}`` otherwise. Every operation also lists the errors it can meet, all
  of them ``components/schemas/Error`` (429 and 503 with ``Retry-After``);
- the summary, from ``summary`` or the handler's docstring; ``deprecated`` from ``successor``; security
  from ``auth``, ``link`` and the deployment's ``AUTH_MODE`` (``web/auth.py``: how identity is sent).

Pydantic's ``model_json_schema`` gives the schemas; their ``$defs`` become ``components/schemas``.
A document is built once per process and configuration, on first request, and cached.
"""

from __future__ import annotations

import http
import importlib
import inspect
import re
import sys
import threading
import types
from collections.abc import Iterable
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from convoinsight.web.gateway import API_PREFIX, EXTRA_ROUTES, PUBLIC_FUNCTIONS, function_prefix
from convoinsight.web.sse import SSE_EVENT

OPENAPI_VERSION = "3.1.0"
JSON = "application/json"
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")
SCHEMAS = "#/components/schemas/"
_RULE_PART = re.compile(r"<(?:(?P<converter>[A-Za-z_]\w*)(?:\((?P<args>[^)]*)\))?:)?(?P<name>[A-Za-z_]\w*)>")
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

# Each error status an operation can answer with, as a shared response.
ERRORS: dict[int, tuple[str, str]] = {
    400: ("BadRequest", "The request is malformed (bad JSON, a NUL character, a bad name...)."),
    401: ("Unauthenticated", "No valid identity was sent."),
    403: ("Forbidden", "The identity may not do this (an administrator's route, a refused operation)."),
    404: ("NotFound", "Not found, or another tenant's (which is never told apart)."),
    405: ("MethodNotAllowed", "This route does not take that method (`Allow` lists those it takes)."),
    409: ("Conflict", "The request conflicts with the current state (the name is taken, ...)."),
    413: ("PayloadTooLarge", "The body is larger than allowed."),
    415: ("UnsupportedMediaType", "The body is not of a media type this route takes."),
    422: ("Unprocessable", "Well-formed but invalid: a field or query parameter is refused; `details.problems` "
                           "lists each."),
    429: ("RateLimited", "Too many requests of this class, or a budget is spent: wait `Retry-After` seconds."),
    500: ("InternalError", "An unexpected error; the request id is in the log."),
    502: ("UpstreamError", "A model provider failed, or answered with something unusable."),
    503: ("ServiceUnavailable", "A backend is unreachable: try again after `Retry-After` seconds."),
}
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Every error of the API has this one shape (`errors.py`, rendered by `web/responses.py`).",
    "required": ["error"],
    "properties": {"error": {
        "type": "object",
        "required": ["code", "message", "request_id"],
        "properties": {
            "code": {"type": "string", "description": "What went wrong, for programs (e.g. `dataset_not_found`)."},
            "message": {"type": "string", "description": "What went wrong and what to do, for people."},
            "request_id": {"type": "string", "description": "Also in the `X-Request-Id` header and the logs."},
            "details": {"type": "object", "description": "More about it, e.g. `problems`: "
                                                         "[{\"field\", \"message\"}] of a 422."},
        },
    }},
}
RETRY_AFTER = {"description": "Seconds to wait before trying again.", "schema": {"type": "integer", "minimum": 1}}
SECURITY_SCHEMES: dict[str, tuple[str, dict[str, Any]]] = {  # AUTH_MODE -> (scheme name, scheme)
    "dev": ("devUser", {"type": "apiKey", "in": "header", "name": "X-User-Id",
                        "description": "AUTH_MODE=dev (local mode only): the caller's user id, trusted as sent; "
                                       "`X-User-Role: admin` makes the caller an administrator."}),
    "firebase": ("firebase", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                              "description": "AUTH_MODE=firebase: `Authorization: Bearer <Firebase ID token>`."}),
    "apikey": ("apiKey", {"type": "http", "scheme": "bearer",
                          "description": "AUTH_MODE=apikey: `Authorization: Bearer <API key>` (POST "
                                         "/api/v1/auth/keys, or `python -m convoinsight.auth.issue`)."}),
}
SIGNED_LINK = ("signedLink", {"type": "apiKey", "in": "query", "name": "token",
                              "description": "A short-lived signed link for one resource of one user, as the "
                                             "API hands out in `*_url` fields (for EventSource, <img>, downloads)."})

_lock = threading.Lock()
_documents: dict[tuple, dict[str, Any]] = {}


def function_document(app, settings) -> dict[str, Any]:
    """The document of one function's routes (what ``GET /api/v1/<function>/openapi.json`` serves)."""
    key = ("function", app.name, id(app), len(app._rules), *_config(settings))
    return _cached(key, lambda: build([app], settings, title=f"ConvoInsight API: the {app.name} function"))


def combined_document(settings) -> dict[str, Any]:
    """The document of every public function (``GET /api/v1/openapi.json``); their modules load on first use."""
    def make() -> dict[str, Any]:
        apps = [importlib.import_module(f"convoinsight.api.{name}").app for name in PUBLIC_FUNCTIONS]
        return build(apps, settings, title="ConvoInsight API")

    return _cached(("combined", *_config(settings)), make)


def _config(settings) -> tuple[str, str]:
    return settings.public_base_url, settings.auth_mode


def _cached(key: tuple, make) -> dict[str, Any]:
    with _lock:
        document = _documents.get(key)
    if document is None:
        document = make()  # built outside the lock: two first requests at once both build; one is kept
        with _lock:
            document = _documents.setdefault(key, document)
    return document


def build(apps: Iterable, settings, *, title: str = "ConvoInsight API") -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``apps``' routes (FunctionApp objects), for this deployment's settings."""
    apps = list(apps)
    routes = [(app, rule, *app._handlers[rule.endpoint]) for app in apps for rule in app._rules]
    components: dict[str, Any] = {"Error": ERROR_SCHEMA}  # a model of that name would be refused
    refs = _model_schemas(routes, components)
    scheme_name, scheme = SECURITY_SCHEMES[settings.auth_mode]
    paths: dict[str, dict[str, Any]] = {}
    operation_ids: set[str] = set()
    for app, rule, handler, options in routes:
        method = next(iter(m for m in rule.methods if m not in ("HEAD", "OPTIONS")))
        path, parameters = _path(app.name, rule.rule)
        operation = _operation(app, method, handler, options, parameters, refs, components, scheme_name)
        operation["operationId"] = _unique(f"{app.name}_{handler.__name__}", operation_ids)
        paths.setdefault(path, {})[method.lower()] = operation
    used_link = any(options.link for *_, options in routes)
    # An API key is accepted in every AUTH_MODE (web/auth.py): beside the mode's own scheme on every secured route.
    used_key = any(options.api_key or options.auth for *_, options in routes) \
        and scheme_name != SECURITY_SCHEMES["apikey"][0]
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": title,
            "version": _version(),
            "description": "Conversational analytics over your datasets and PostgreSQL databases. Generated from "
                           "the routes (`convoinsight.web.openapi`). Every error is "
                           "`{\"error\": {\"code\", \"message\", \"request_id\", \"details\"?}}`.",
        },
        "servers": [{"url": settings.public_base_url or "/"}],
        "tags": [{"name": app.name, "description": _module_summary(app)} for app in apps],
        "paths": {path: dict(sorted(item.items(), key=lambda kv: METHODS.index(kv[0])))
                  for path, item in sorted(paths.items())},
        "components": {
            "schemas": dict(sorted(components.items())),
            "responses": {name: _error_response(status, description)
                          for status, (name, description) in ERRORS.items()},
            "securitySchemes": {scheme_name: scheme, **(dict([SIGNED_LINK]) if used_link else {}),
                                **(dict([SECURITY_SCHEMES["apikey"]]) if used_key else {})},
        },
    }


def public_path(function: str, rule_path: str) -> str:
    """The path clients use for a rule of ``function``: its own full path, or under the function's prefix."""
    if rule_path.startswith(API_PREFIX + "/") or any(
            fn == function and (rule_path == prefix or rule_path.startswith(prefix + "/"))
            for prefix, fn in EXTRA_ROUTES):
        return rule_path
    prefix = function_prefix(function)
    return prefix if rule_path == "/" else prefix + rule_path


def _path(function: str, rule_path: str) -> tuple[str, list[dict[str, Any]]]:
    parameters = []

    def template(match: re.Match) -> str:
        parameters.append({"name": match["name"], "in": "path", "required": True,
                           "schema": _converter_schema(match["converter"] or "default", match["args"])})
        return "{" + match["name"] + "}"

    return _RULE_PART.sub(template, public_path(function, rule_path)), parameters


def _converter_schema(converter: str, args: str | None) -> dict[str, Any]:
    if converter in ("default", "string"):
        return {"type": "string", "minLength": 1, "pattern": "^[^/]+$"}  # werkzeug's default: no slash
    if converter == "path":
        return {"type": "string", "minLength": 1}
    if converter == "int":
        return {"type": "integer", "minimum": 0}
    if converter == "float":
        return {"type": "number", "minimum": 0}
    if converter == "uuid":
        return {"type": "string", "format": "uuid"}
    if converter == "any":
        return {"type": "string", "enum": [a.strip().strip("'\"") for a in (args or "").split(",") if a.strip()]}
    return {"type": "string"}


def _body_model(body: Any) -> tuple[type[BaseModel] | None, bool]:
    """(model, required) of a route's ``body``: ``Model`` (required) or ``Model | None`` (may be left out)."""
    if body is None:
        return None, False
    if get_origin(body) in (Union, types.UnionType):
        models = [arg for arg in get_args(body) if arg is not type(None)]
        if len(models) != 1:
            raise TypeError(f"body={body!r}: one model, optionally `| None`")
        return models[0], False
    return body, True


def _model_schemas(routes: list, components: dict[str, Any]) -> dict[type[BaseModel], dict[str, Any]]:
    """The $ref of every body and response model, their schemas (and $defs) put in ``components``."""
    models: list[type[BaseModel]] = []
    for *_, options in routes:
        candidates = [_body_model(options.body)[0], *(options.responses or {}).values()]
        for model in candidates:
            if isinstance(model, type) and issubclass(model, BaseModel) and model not in models:
                models.append(model)
    if not models:
        return {}
    refs, top = models_json_schema([(model, "validation") for model in models],
                                   ref_template=SCHEMAS + "{model}")
    _add_definitions(components, top.get("$defs", {}))
    return {model: refs[(model, "validation")] for model in models}


def _add_definitions(components: dict[str, Any], definitions: dict[str, Any]) -> None:
    for name, schema in definitions.items():
        if name in components and components[name] != schema:
            raise ValueError(f"two different schemas are named {name!r}: rename one of the models")
        components[name] = schema


def _query_parameters(model: type[BaseModel], components: dict[str, Any]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(by_alias=True, ref_template=SCHEMAS + "{model}")
    _add_definitions(components, schema.pop("$defs", {}))
    required = set(schema.get("required", []))
    parameters = []
    for name, prop in schema.get("properties", {}).items():
        prop = _absent_is_null(prop)
        parameter: dict[str, Any] = {"name": name, "in": "query", "required": name in required, "schema": prop}
        if "description" in prop:
            parameter["description"] = prop["description"]
        parameters.append(parameter)
    return parameters


def _absent_is_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter that may be None is one that may be left out: a query string cannot send null."""
    schema = {k: v for k, v in schema.items() if k != "title"}
    branches = schema.get("anyOf")
    if isinstance(branches, list) and {"type": "null"} in branches:
        rest = [b for b in branches if b != {"type": "null"}]
        schema.pop("anyOf")
        schema = {**(rest[0] if len(rest) == 1 else {"anyOf": rest}), **schema}
    if schema.get("default", 0) is None:
        schema.pop("default")
    return schema


def _operation(app, method: str, handler, options, parameters: list[dict[str, Any]],
               refs: dict[type[BaseModel], dict[str, Any]], components: dict[str, Any],
               scheme_name: str) -> dict[str, Any]:
    summary, description = _docs(handler, options)
    notes = []
    if options.role == "admin":
        notes.append("Administrators only.")
    if options.successor:
        notes.append(f"Deprecated: the original API's route, served until its Sunset; use `{options.successor}`.")
    if options.link:
        notes.append("May be opened with a signed link (`?token=`) instead of credentials.")
    description = "\n\n".join(part for part in (description, *notes) if part)
    operation: dict[str, Any] = {"tags": [app.name], "summary": summary}
    if description:
        operation["description"] = description
    if options.query is not None:
        parameters = parameters + _query_parameters(options.query, components)
    if parameters:
        operation["parameters"] = parameters
    model, required = _body_model(options.body)
    if model is not None:
        media_types = getattr(model, "media_types", (JSON,))
        operation["requestBody"] = {"required": required,
                                    "content": {media: {"schema": refs[model]} for media in media_types}}
    secured = options.auth or options.link or options.api_key
    key = SECURITY_SCHEMES["apikey"][0]
    if options.auth:
        operation["security"] = [{scheme_name: []}] + ([{key: []}] if scheme_name != key else []) \
            + ([{SIGNED_LINK[0]: []}] if options.link else [])
    elif options.link:
        operation["security"] = [{SIGNED_LINK[0]: []}]
    elif options.api_key:  # an API key in every AUTH_MODE (web/auth.py), checked by the handler through the API
        operation["security"] = [{key: []}]
    operation["responses"] = _responses(method, options, refs, secured, model is not None)
    if options.successor:
        operation["deprecated"] = True
    if options.limit is not None:
        operation["x-rate-limit-class"] = options.limit  # RATE_LIMITS names the classes; None: never limited
    return operation


def _docs(handler, options) -> tuple[str, str]:
    doc = inspect.cleandoc(handler.__doc__ or "").replace("``", "`")  # reST literals as Markdown's
    first, _, rest = doc.partition("\n\n")
    first = " ".join(first.split())
    summary = options.summary or first or handler.__name__.replace("_", " ").strip().capitalize()
    description = rest.strip() if (first and not options.summary) else doc
    return summary, description


def _responses(method: str, options, refs, secured: bool, has_body: bool) -> dict[str, Any]:
    declared = dict(options.responses or {200: JSON})
    responses: dict[str, Any] = {}
    for status, value in sorted(declared.items()):
        responses[str(status)] = _response(status, value, refs, options)
    errors = {400, 404, 422, 500, 502, 503}
    if secured:
        errors |= {401, 403}
    if secured or options.limit is not None:
        errors.add(429)
    if method != "GET":
        errors.add(409)
    if has_body:
        errors |= {413, 415}
    for status in sorted(errors):
        responses.setdefault(str(status), {"$ref": f"#/components/responses/{ERRORS[status][0]}"})
    return dict(sorted(responses.items()))


def _response(status: int, value: Any, refs, options) -> dict[str, Any]:
    if value is None:  # the one error shape
        return {"$ref": f"#/components/responses/{ERRORS[status][0]}"}
    if isinstance(value, dict):  # a whole response object, as written
        return value
    phrase = http.HTTPStatus(status).phrase
    if isinstance(value, type) and issubclass(value, BaseModel):
        response = {"description": phrase, "content": {JSON: {"schema": refs[value]}}}
    else:
        media_types = (value,) if isinstance(value, str) else tuple(value)
        response = {"description": f"{phrase}: " + ", ".join(media_types),
                    "content": {media: _media(media) for media in media_types}}
    if options.successor and status < 300:
        response["headers"] = {
            "Deprecation": {"description": "When the route was deprecated (RFC 9745).", "schema": {"type": "string"}},
            "Sunset": {"description": "When it stops being served (RFC 8594).", "schema": {"type": "string"}},
            "Link": {"description": "The route that replaces it (`rel=\"successor-version\"`).",
                     "schema": {"type": "string"}},
        }
    return response


def _media(media_type: str) -> dict[str, Any]:
    if media_type == JSON:
        return {"schema": {"type": "object", "description": "A JSON object; its fields are listed in the "
                                                            "README's Routes table."}}
    if media_type == "text/event-stream":
        return {"schema": SSE_EVENT}
    if media_type in YAML_TYPES:
        return {"schema": {"type": "object", "description": "A YAML mapping."}}
    if media_type.startswith("text/"):
        return {"schema": {"type": "string"}}
    return {}  # binary content (images, PDF, Parquet): no schema, the bytes as they are


def _error_response(status: int, description: str) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description,
                                "content": {JSON: {"schema": {"$ref": SCHEMAS + "Error"}}}}
    if status == 429:
        response["headers"] = {"Retry-After": {**RETRY_AFTER, "required": True}}
    elif status == 503:  # a backend that is down says when to try again; a failing proxy in front may not
        response["headers"] = {"Retry-After": RETRY_AFTER}
    return response


def _unique(name: str, seen: set[str]) -> str:
    candidate, n = name, 2
    while candidate in seen:
        candidate, n = f"{name}_{n}", n + 1
    seen.add(candidate)
    return candidate


def _module_summary(app) -> str:
    """The first paragraph of the docstring of the module that declares the function's routes."""
    for handler, _ in app._handlers.values():
        module = sys.modules.get(handler.__module__)
        if module is not None and module.__name__ != __name__ and module.__name__.startswith("convoinsight.api."):
            return " ".join((module.__doc__ or "").strip().split("\n\n")[0].split()).replace("``", "`")
    return f"The {app.name} function."


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("convoinsight")
    except Exception:  # not installed as a distribution (a bare checkout on sys.path)
        return "0.0.0"
