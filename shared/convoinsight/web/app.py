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
from pydantic import BaseModel
from werkzeug.exceptions import MethodNotAllowed as WzMethodNotAllowed
from werkzeug.exceptions import NotFound as WzNotFound
from werkzeug.routing import Map, Rule

from convoinsight import errors, ratelimit
from convoinsight.observability import logs
from convoinsight.services import Services, get_services
from convoinsight.settings import Settings, get_settings
from convoinsight.validation import validated
from convoinsight.web.auth import Identity, authenticate
from convoinsight.web.responses import cors_headers, error_response, json_response

log = logging.getLogger("convoinsight.web")
MAX_JSON_BYTES = 1024 * 1024
_REQUEST_ID = re.compile(r"^[A-Za-z0-9_.-]{8,64}$")


@dataclass
class RequestContext:
    """Everything a handler may touch for one request; never stored in module globals."""

    settings: Settings
    services: Services
    request: Request
    request_id: str
    identity: Identity | None = None
    query: Any = None  # the route's validated query-string model, when it declares one
    started: float = field(default_factory=time.perf_counter)

    @property
    def user_id(self) -> str | None:
        return self.identity.user_id if self.identity else None


Handler = Callable[..., Any]


@dataclass(frozen=True)
class RouteOptions:
    auth: bool = True
    role: str = "user"  # "admin" for operator routes
    limit: str | None = "default"  # rate-limit class: default, query, upload, dataset_ops, auth
    query: type[BaseModel] | None = None  # allowed query parameters; any other is refused (422)


def client_ip(request: Request) -> str:
    """The caller's address: Google's front end puts it first in X-Forwarded-For."""
    forwarded = request.headers.get("X-Forwarded-For", "")
    return (forwarded.split(",")[0].strip() if forwarded else request.remote_addr) or "unknown"


class FunctionApp:
    def __init__(self, name: str):
        self.name = name
        self._rules: list[Rule] = []
        self._handlers: dict[str, tuple[Handler, RouteOptions]] = {}
        self._map: Map | None = None
        # Tests and the emulator may pin settings/services; otherwise they come from the environment.
        self.settings_provider: Callable[[], Settings] = get_settings
        self.services_provider: Callable[[Settings], Services] = get_services

    def route(self, method: str, path: str, *, auth: bool = True, role: str = "user",
              limit: str | None = "default", query: type[BaseModel] | None = None) -> Callable[[Handler], Handler]:
        def register(fn: Handler) -> Handler:
            endpoint = f"{method} {path}"
            self._rules.append(Rule(path, methods=[method], endpoint=endpoint))
            self._handlers[endpoint] = (fn, RouteOptions(auth, role, limit, query))
            self._map = None
            return fn

        return register

    def _adapter(self, request: Request):
        if self._map is None:
            self._map = Map(self._rules, strict_slashes=False, merge_slashes=False)
        return self._map.bind("localhost", "/", path_info=request.path, url_scheme="http")

    def __call__(self, request: Request) -> Response:
        started = time.perf_counter()
        supplied = request.headers.get("X-Request-Id", "")
        request_id = supplied if _REQUEST_ID.match(supplied) else uuid.uuid4().hex
        token = logs.bind(request_id=request_id, function=self.name, method=request.method, path=request.path,
                          trace=logs.trace_id(request.headers))
        cors: dict[str, str] = {}
        extra_headers: dict[str, str] = {}
        try:
            settings = self.settings_provider()
            logs.configure(settings)
            cors = cors_headers(request.headers.get("Origin"), settings.cors_origins)
            if request.method == "OPTIONS":
                response = Response(status=204)
            else:
                response = self._dispatch(request, settings, request_id, extra_headers)
        except errors.ConvoInsightError as exc:
            if exc.status >= 500:
                log.warning("request failed: %s (%s)", exc.code, exc.message)
            response = error_response(exc, request_id)
        except Exception:
            log.exception("unhandled error in %s %s", request.method, request.path)
            response = error_response(errors.ConvoInsightError("internal error"), request_id)
        response.headers["X-Request-Id"] = request_id
        for key, value in {**cors, **extra_headers}.items():
            response.headers[key] = value
        latency = round((time.perf_counter() - started) * 1000, 1)
        level = logging.ERROR if response.status_code >= 500 else logging.WARNING if response.status_code >= 400 \
            else logging.INFO
        logs.event(log, "request", f"{request.method} {request.path} {response.status_code} {latency}ms", level,
                   status=response.status_code, latency_ms=latency)
        logs.reset(token)
        return response

    def _dispatch(self, request: Request, settings: Settings, request_id: str,
                  extra_headers: dict[str, str]) -> Response:
        try:
            endpoint, params = self._adapter(request).match(method=request.method)
        except WzNotFound:
            raise errors.NotFound(f"no route {request.method} {request.path}", code="route_not_found") from None
        except WzMethodNotAllowed as exc:
            raise errors.MethodNotAllowed(
                f"{request.method} is not allowed here; use {', '.join(sorted(exc.valid_methods or []))}"
            ) from None
        handler, options = self._handlers[endpoint]
        ctx = RequestContext(settings, self.services_provider(settings), request, request_id)
        logs.update(route=endpoint)
        if options.auth:
            try:
                ctx.identity = authenticate(request.headers, settings, ctx.services)
            except errors.Unauthenticated:
                # Failed sign-ins count against the caller's address: guessing keys or tokens is throttled.
                self._limit(ctx, f"ip:{client_ip(request)}", "auth", extra_headers)
                raise
            logs.update(user=ctx.identity.user_id)
            if options.role == "admin" and ctx.identity.role != "admin":
                raise errors.Forbidden("this route is for administrators", code="admin_required")
        key = f"user:{ctx.identity.user_id}" if ctx.identity else f"ip:{client_ip(request)}"
        self._limit(ctx, key, options.limit, extra_headers)
        ctx.query = parse_query(request, options.query)
        result = handler(ctx, **params)
        if isinstance(result, Response):
            return result
        if isinstance(result, tuple):
            body, status = result
            return json_response(body, status)
        return json_response(result)

    @staticmethod
    def _limit(ctx: RequestContext, key: str, cls: str | None, extra_headers: dict[str, str]) -> None:
        if cls is None:
            return
        decision = ratelimit.check(ctx.services, ctx.settings, key, cls)
        extra_headers.update(ratelimit.headers(decision))
        if decision is not None and not decision.allowed:
            logs.event(log, "rate_limited", f"rate limit {cls} reached", logging.WARNING, limit_class=cls,
                       limit=decision.limit)
            raise errors.RateLimited(f"too many {cls.replace('_', ' ')} requests: the limit is {decision.limit}; "
                                     f"try again in {decision.retry_after}s", retry_after=decision.retry_after)


def parse_query(request: Request, model: type[BaseModel] | None) -> Any:
    """The query string validated by the route's pydantic model; unknown or bad parameters are a 422."""
    args = {key: request.args.getlist(key)[-1] for key in request.args}
    if model is None:
        if args:
            raise errors.Unprocessable(f"this route takes no query parameters (got {', '.join(sorted(args))})",
                                       code="invalid_parameter")
        return None
    return validated(model, args, code="invalid_parameter")


def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object, or a 400/413/415 that says what is wrong."""
    if request.content_length and request.content_length > MAX_JSON_BYTES:
        raise errors.PayloadTooLarge(f"a JSON body may be at most {MAX_JSON_BYTES:,} bytes", code="body_too_large")
    if not request.data:
        raise errors.BadRequest("a JSON body is required", code="missing_body")
    if not request.is_json:
        raise errors.UnsupportedMediaType("send the body as application/json", code="unsupported_content_type")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise errors.BadRequest("the body must be a JSON object", code="invalid_json")
    return body
