"""The thin web layer every function shares: routing, identity, errors, CORS, request ids.

A ``FunctionApp`` is what a ``functions/<name>/main.py`` hands its Flask
request to. Routes are werkzeug rules over the function's *inner* path (the
part after ``/api/v1/<function>`` locally, the whole path in the cloud).
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Request, Response
from werkzeug.exceptions import MethodNotAllowed as WzMethodNotAllowed
from werkzeug.exceptions import NotFound as WzNotFound
from werkzeug.routing import Map, Rule

from convoinsight import errors
from convoinsight.services import Services, get_services
from convoinsight.settings import Settings, get_settings
from convoinsight.web.auth import authenticate
from convoinsight.web.responses import cors_headers, error_response, json_response

log = logging.getLogger("convoinsight.web")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9_.-]{8,64}$")


@dataclass
class RequestContext:
    """Everything a handler may touch for one request; never stored in module globals."""

    settings: Settings
    services: Services
    request: Request
    request_id: str
    user_id: str | None = None
    started: float = field(default_factory=time.perf_counter)


Handler = Callable[..., Any]


class FunctionApp:
    def __init__(self, name: str):
        self.name = name
        self._rules: list[Rule] = []
        self._handlers: dict[str, tuple[Handler, bool]] = {}
        self._map: Map | None = None
        # Tests and the emulator may pin settings/services; otherwise they come from the environment.
        self.settings_provider: Callable[[], Settings] = get_settings
        self.services_provider: Callable[[Settings], Services] = get_services

    def route(self, method: str, path: str, *, auth: bool = True) -> Callable[[Handler], Handler]:
        def register(fn: Handler) -> Handler:
            endpoint = f"{method} {path}"
            self._rules.append(Rule(path, methods=[method], endpoint=endpoint))
            self._handlers[endpoint] = (fn, auth)
            self._map = None
            return fn

        return register

    def _adapter(self, request: Request):
        if self._map is None:
            self._map = Map(self._rules, strict_slashes=False, merge_slashes=False)
        return self._map.bind("localhost", "/", path_info=request.path, url_scheme="http")

    def __call__(self, request: Request) -> Response:
        supplied = request.headers.get("X-Request-Id", "")
        request_id = supplied if _REQUEST_ID.match(supplied) else uuid.uuid4().hex
        origin = request.headers.get("Origin")
        cors: dict[str, str] = {}
        try:
            settings = self.settings_provider()
            cors = cors_headers(origin, settings.cors_origins)
            if request.method == "OPTIONS":
                response = Response(status=204)
            else:
                response = self._dispatch(request, settings, request_id)
        except errors.ConvoInsightError as exc:
            if exc.status >= 500:
                log.warning("request failed: %s (%s)", exc.code, exc.message)
            response = error_response(exc, request_id)
        except Exception:
            log.exception("unhandled error in %s %s", request.method, request.path)
            response = error_response(errors.ConvoInsightError("internal error"), request_id)
        response.headers["X-Request-Id"] = request_id
        for key, value in cors.items():
            response.headers[key] = value
        return response

    def _dispatch(self, request: Request, settings: Settings, request_id: str) -> Response:
        try:
            endpoint, params = self._adapter(request).match(method=request.method)
        except WzNotFound:
            raise errors.NotFound(f"no route {request.method} {request.path}", code="route_not_found") from None
        except WzMethodNotAllowed as exc:
            raise errors.MethodNotAllowed(
                f"{request.method} is not allowed here; use {', '.join(sorted(exc.valid_methods or []))}"
            ) from None
        handler, needs_auth = self._handlers[endpoint]
        ctx = RequestContext(settings, self.services_provider(settings), request, request_id)
        if needs_auth:
            ctx.user_id = authenticate(request.headers, settings)
        result = handler(ctx, **params)
        if isinstance(result, Response):
            return result
        if isinstance(result, tuple):
            body, status = result
            return json_response(body, status)
        return json_response(result)


def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object, or a 400/415 that says what is wrong."""
    if not request.data:
        raise errors.BadRequest("a JSON body is required", code="missing_body")
    if not request.is_json:
        raise errors.UnsupportedMediaType("send the body as application/json", code="unsupported_content_type")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise errors.BadRequest("the body must be a JSON object", code="invalid_json")
    return body


def int_arg(request: Request, name: str, default: int, low: int, high: int) -> int:
    """A whole-number query parameter within [low, high], or a 400 naming it."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise errors.BadRequest(f"{name} must be a whole number", code="invalid_parameter") from None
    if not low <= value <= high:
        raise errors.BadRequest(f"{name} must be between {low} and {high}", code="invalid_parameter")
    return value
