"""The thin web layer every function shares: routing, identity, errors, CORS, request ids.

A ``FunctionApp`` is what a ``functions/<name>/main.py`` hands its Flask
request to. Routes are werkzeug rules over the function's *inner* path (the
part after ``/api/v1/<function>`` locally, the whole path in the cloud).
"""

from __future__ import annotations

import io
import ipaddress
import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from flask import Request, Response
from pydantic import BaseModel
from werkzeug.exceptions import ClientDisconnected
from werkzeug.exceptions import MethodNotAllowed as WzMethodNotAllowed
from werkzeug.exceptions import NotFound as WzNotFound
from werkzeug.routing import Map, Rule

from convoinsight import cache, errors, nul, ratelimit
from convoinsight.observability import logs, metrics
from convoinsight.security import signed_links
from convoinsight.services import Services, get_services
from convoinsight.settings import Settings, get_settings
from convoinsight.validation import validated
from convoinsight.web.auth import Identity, authenticate
from convoinsight.web.gateway import function_prefix
from convoinsight.web.responses import cors_headers, error_response, json_response

log = logging.getLogger("convoinsight.web")
# The original API's routes are served until this date (RFC 9745 Deprecation, RFC 8594 Sunset).
LEGACY_DEPRECATED = "@1796083200"  # 2026-12-01T00:00:00Z, when the compatibility layer was added
LEGACY_SUNSET = "Wed, 30 Jun 2027 23:59:59 GMT"
_TEMPLATE_PART = re.compile(r"\{(\w+)\}")  # a successor's path parameter, as in "/api/v1/datasets/{domain}"
MAX_JSON_BYTES = 1024 * 1024
# After a body is refused as too large, at most this much more of it is read (and dropped) so that the client
# can still read the 413; past it the connection is closed instead of reading on.
DRAIN_BYTES = 1024 * 1024
_REQUEST_ID = re.compile(r"^[A-Za-z0-9_.-]{8,64}$")
_BODY = "convoinsight.body"  # environ key: the body as read_body read it
_UNREAD = "convoinsight.body_unread"  # environ key: a body was refused before it was read to its end
_BODY_ERROR = "convoinsight.body_error"  # environ key: why read_body could not read the body (raised again)
# A route's prefetch may read a JSON body this large before the rate limit; a larger one is read by its handler.
PREFETCH_BODY_BYTES = 64 * 1024


def request_id_of(headers) -> str:
    """The caller's X-Request-Id when it is safe to echo, otherwise a fresh one."""
    supplied = headers.get("X-Request-Id", "")
    return supplied if _REQUEST_ID.match(supplied) else uuid.uuid4().hex


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
    limit: str | None = "default"  # rate-limit class: default, query, upload, dataset_ops, export, auth
    query: type[BaseModel] | None = None  # allowed query parameters; any other is refused (422)
    # The body's model, for the OpenAPI document (the handler validates): ``Model``, or ``Model | None`` when the
    # body may be left out; JSON unless the model names other ``media_types`` (a ClassVar).
    body: Any = None
    summary: str | None = None  # the OpenAPI operation's summary; the handler's docstring otherwise
    # A compatibility route of the original API: the path of the route that replaces it. Its answers carry
    # Deprecation, Sunset and a Link to that successor (see compat_headers).
    successor: str | None = None
    # The route may be opened with a signed link token (?token=, security/signed_links.py) instead of headers:
    # what EventSource and <img src> can follow.
    link: bool = False
    # What the route answers when it succeeds, for the OpenAPI document: status -> media type(s), a pydantic model
    # of the JSON, or None for the one error shape. {200: "application/json"} when not given.
    responses: Mapping[int, Any] | None = None
    # The cache entries the handler will read (``cache.Ref``s), from (ctx, path parameters): fetched in the same
    # Redis round trip as the rate limit and served to this request's cache reads (``convoinsight.cache``).
    # Called after authentication; it must be cheap, and whatever it raises only means: no prefetch.
    prefetch: Callable[[RequestContext, dict[str, Any]], Sequence[cache.Ref]] | None = None
    # With ``auth=False``: the handler has the API itself check an API key (``Authorization: Bearer ci_...``), as
    # the mcp function does through ``GET /api/v1/auth/me``; for the OpenAPI document's security and 401.
    api_key: bool = False


def client_ip(request: Request, trusted_hops: int = 0) -> str:
    """The caller's address for every IP-keyed limit, as far as it can be trusted.

    Each proxy appends the address it saw to X-Forwarded-For; whatever stands to the left of what our own
    proxies wrote came from the client and proves nothing. With ``trusted_hops`` (TRUSTED_PROXY_HOPS) 0
    the socket peer is the caller; with n the n-th address from the right is (1 on Cloud Run / Cloud
    Functions, where Google's front end appends the address it saw). A header with fewer addresses than
    that did not come through those proxies: the socket peer is used.
    """
    peer = request.remote_addr or "unknown"
    if trusted_hops <= 0:
        return peer
    hops = [part.strip() for part in ",".join(request.headers.getlist("X-Forwarded-For")).split(",")]
    hops = [hop for hop in hops if hop]
    if len(hops) < trusted_hops:
        return peer
    try:
        return str(ipaddress.ip_address(hops[-trusted_hops]))
    except ValueError:  # not an address: our proxies never write that
        return peer


class FunctionApp:
    def __init__(self, name: str):
        self.name = name
        self._rules: list[Rule] = []
        self._handlers: dict[str, tuple[Handler, RouteOptions]] = {}
        self._map: Map | None = None
        # Tests and the emulator may pin settings/services; otherwise they come from the environment.
        self.settings_provider: Callable[[], Settings] = get_settings
        self.services_provider: Callable[[Settings], Services] = get_services
        # Every function serves its own OpenAPI document (a static rule: it wins over /<converters>).
        self.route("GET", "/openapi.json", auth=False, limit=None,
                   summary=f"The OpenAPI 3.1 document of the {name} function")(self.openapi_document)

    def openapi_document(self, ctx: RequestContext):
        """Made from this function's routes (``convoinsight.web.openapi``) on first request, then cached."""
        from convoinsight.web import openapi

        return json_response(openapi.function_document(self, ctx.settings), headers={"Cache-Control": "no-cache"})

    def route(self, method: str, path: str, *, auth: bool = True, role: str = "user",
              limit: str | None = "default", query: type[BaseModel] | None = None,
              body: Any = None, summary: str | None = None,
              successor: str | None = None, link: bool = False,
              responses: Mapping[int, Any] | None = None,
              prefetch: Callable[[RequestContext, dict[str, Any]], Sequence[cache.Ref]] | None = None,
              api_key: bool = False,
              ) -> Callable[[Handler], Handler]:
        def register(fn: Handler) -> Handler:
            endpoint = f"{method} {path}"
            self._rules.append(Rule(path, methods=[method], endpoint=endpoint))
            self._handlers[endpoint] = (fn, RouteOptions(auth, role, limit, query, body, summary,
                                                                    successor, link, responses, prefetch, api_key))
            self._map = None
            return fn

        return register

    @property
    def prefix(self) -> str:
        """The function's public path prefix: the load balancer (and the emulator) route ``/api/v1/<name>/*`` here."""
        return function_prefix(self.name)

    def inner_path(self, path: str) -> str:
        """The path the routes match: the request's path without the function's public prefix.

        Cloud Functions' own URL hands the function its inner path (``/abc``); the load balancer hands it the
        whole path (``/api/v1/queries/abc``). Both reach the same route.
        """
        prefix = self.prefix
        if path == prefix or path.startswith(prefix + "/"):
            return path[len(prefix):] or "/"
        return path

    def _adapter(self, request: Request):
        if self._map is None:
            self._map = Map(self._rules, strict_slashes=False, merge_slashes=False)
        return self._map.bind("localhost", "/", path_info=self.inner_path(request.path), url_scheme="http")

    def __call__(self, request: Request) -> Response:
        started = time.perf_counter()
        request_id = request_id_of(request.headers)
        token = logs.bind(request_id=request_id, function=self.name, method=request.method, path=request.path,
                          trace=logs.trace_id(request.headers))
        cors: dict[str, str] = {}
        extra_headers: dict[str, str] = {}
        try:
            settings = self.settings_provider()
            logs.configure(settings)
            metrics.configure(settings)
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
        if request.environ.get(_UNREAD):
            response = _after_refused_body(request, response)
        response.headers["X-Request-Id"] = request_id
        for key, value in {**cors, **extra_headers}.items():
            response.headers[key] = value
        latency = round((time.perf_counter() - started) * 1000, 1)
        level = logging.ERROR if response.status_code >= 500 else logging.WARNING if response.status_code >= 400 \
            else logging.INFO
        logs.event(log, "request", f"{request.method} {request.path} {response.status_code} {latency}ms", level,
                   status=response.status_code, latency_ms=latency)
        metrics.request_done(self, request.method, response.status_code, time.perf_counter() - started)
        logs.reset(token)
        return response

    def _dispatch(self, request: Request, settings: Settings, request_id: str,
                  extra_headers: dict[str, str]) -> Response:
        refuse_nul_in_url(request)
        try:
            endpoint, params = self._adapter(request).match(method=request.method)
        except WzNotFound:
            raise errors.NotFound(f"no route {request.method} {request.path}", code="route_not_found") from None
        except WzMethodNotAllowed as exc:
            raise errors.MethodNotAllowed(
                f"{request.method} is not allowed here; use {', '.join(sorted(exc.valid_methods or []))}"
            ) from None
        handler, options = self._handlers[endpoint]
        if options.successor:
            extra_headers.update(compat_headers(options.successor, params))
        ctx = RequestContext(settings, self.services_provider(settings), request, request_id)
        logs.update(route=endpoint)
        link_token = request.args.get(signed_links.QUERY_PARAMETER) if options.link else None
        if link_token is not None:
            # A signed link is checked before anything else, and opens this one resource of its user only.
            try:
                user_id = signed_links.verify(settings, link_token,
                                              signed_links.resource(self.name, endpoint, params))
            except errors.Unauthenticated:
                self._limit(ctx, f"ip:{client_ip(request, settings.trusted_proxy_hops)}", "auth", extra_headers)
                raise
            ctx.identity = Identity(user_id, "user", "link")
            logs.update(user=user_id)
        elif options.auth:
            try:
                ctx.identity = authenticate(request.headers, settings, ctx.services)
            except errors.Unauthenticated:
                # Failed sign-ins count against the caller's address: guessing keys or tokens is throttled.
                self._limit(ctx, f"ip:{client_ip(request, settings.trusted_proxy_hops)}", "auth", extra_headers)
                raise
            logs.update(user=ctx.identity.user_id)
            if options.role == "admin" and ctx.identity.role != "admin":
                raise errors.Forbidden("this route is for administrators", code="admin_required")
        key = f"user:{ctx.identity.user_id}" if ctx.identity else \
            f"ip:{client_ip(request, settings.trusted_proxy_hops)}"
        with cache.request_scope():  # what the prefetch fetched and worked out: for this request only
            reads = cache.prefetch_keys(self._prefetch(ctx, options, params))
            fetched = self._limit(ctx, key, options.limit, extra_headers, reads)
            ctx.query = parse_query(request, options.query,
                                    ignore=(signed_links.QUERY_PARAMETER,) if options.link else ())
            cache.serve(dict(zip(reads, fetched, strict=True)) if fetched is not None else None)
            result = handler(ctx, **params)
        if isinstance(result, Response):
            return result
        if isinstance(result, tuple):
            body, status = result
            return json_response(body, status)
        return json_response(result)

    @staticmethod
    def _prefetch(ctx: RequestContext, options: RouteOptions, params: dict[str, Any]) -> Sequence[cache.Ref]:
        if options.prefetch is None or not ctx.settings.cache_enabled or not ctx.settings.redis_url:
            return ()
        try:
            return options.prefetch(ctx, params)
        except Exception as exc:  # the handler meets (and reports) whatever went wrong here
            log.debug("no prefetch for this request: %s", type(exc).__name__)
            return ()

    @staticmethod
    def _limit(ctx: RequestContext, key: str, cls: str | None, extra_headers: dict[str, str],
               reads: Sequence[str] = ()) -> list[Any] | None:
        """Count the request against ``cls`` (429 past its limit); the values of ``reads`` (Redis keys), read in
        the same round trip, or None when they could not be."""
        if cls is None and not reads:
            return None
        decision, fetched = ratelimit.check_reading(ctx.services, ctx.settings, key, cls, reads)
        extra_headers.update(ratelimit.headers(decision))
        if decision is not None and not decision.allowed:
            logs.event(log, "rate_limited", f"rate limit {cls} reached", logging.WARNING, limit_class=cls,
                       limit=decision.limit)
            metrics.rate_limited(cls)
            raise errors.RateLimited(f"too many {cls.replace('_', ' ')} requests: the limit is {decision.limit}; "
                                     f"try again in {decision.retry_after}s", retry_after=decision.retry_after)
        return fetched


def compat_headers(successor: str, params: Mapping[str, Any] | None = None) -> dict[str, str]:
    """What a compatibility route adds to its answer: it is deprecated, until when, and what replaces it.

    ``{name}`` in ``successor`` becomes the request's path parameter of that name (``/domain/shop/datasets`` links
    to ``/api/v1/datasets/shop``); a part the request's path does not hold stays a template (``{job_id}``)."""
    def fill(match: re.Match) -> str:
        value = (params or {}).get(match[1])
        return quote(str(value), safe="") if value is not None else match[0]

    link = _TEMPLATE_PART.sub(fill, successor)
    return {"Deprecation": LEGACY_DEPRECATED, "Sunset": LEGACY_SUNSET, "Link": f'<{link}>; rel="successor-version"'}


def parse_query(request: Request, model: type[BaseModel] | None, ignore: tuple[str, ...] = ()) -> Any:
    """The query string validated by the route's pydantic model; unknown or bad parameters are a 422.

    ``ignore``: parameters the web layer itself consumed (a link's ``token``)."""
    args = {key: request.args.getlist(key)[-1] for key in request.args if key not in ignore}
    if model is None:
        if args:
            raise errors.Unprocessable(f"this route takes no query parameters (got {', '.join(sorted(args))})",
                                       code="invalid_parameter")
        return None
    return validated(model, args, code="invalid_parameter")


def refuse_nul_in_url(request: Request) -> None:
    """Client input never holds NUL (convoinsight.nul): a path or query parameter with one is a 400."""
    if nul.NUL in request.path:
        raise errors.BadRequest("the path contains a NUL character (%00)", code="invalid_characters")
    for key, values in request.args.lists():
        if nul.NUL in key or any(nul.NUL in value for value in values):
            raise errors.BadRequest("a query parameter contains a NUL character (%00)", code="invalid_characters")


def refuse_nul(value: Any, what: str) -> None:
    """A 400 ``invalid_characters`` naming where ``value`` (client input) holds a NUL character."""
    where = nul.find(value)
    if where:
        raise errors.BadRequest(f"{what} contains a NUL character at {where}; remove it and send again",
                                code="invalid_characters", details={"field": where})


class _BoundedStream(io.RawIOBase):
    """A request body that raises ``too_large()`` as soon as more than ``limit`` bytes arrive.

    Checking Content-Length alone lets a chunked body (which has none) through unbounded, so every body
    is read through this; only a bounded prefix of a refused body is ever held.
    """

    def __init__(self, request: Request, limit: int, too_large: Callable[[], errors.ConvoInsightError]):
        self._request, self._stream, self._limit, self._too_large = request, request.stream, limit, too_large
        self._read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        try:
            data = self._stream.read(len(buffer))
        except ClientDisconnected:
            raise errors.BadRequest("the request body ended before its announced length",
                                    code="incomplete_body") from None
        self._read += len(data)
        if self._read > self._limit:
            self._request.environ[_UNREAD] = True
            raise self._too_large()
        buffer[:len(data)] = data
        return len(data)


def bounded_stream(request: Request, limit: int, too_large: Callable[[], errors.ConvoInsightError]) -> io.IOBase:
    """The request body as a stream of at most ``limit`` bytes; a body that announces more is refused unread."""
    if request.content_length is not None and request.content_length > limit:
        request.environ[_UNREAD] = True
        raise too_large()
    return io.BufferedReader(_BoundedStream(request, limit, too_large), 64 * 1024)


def read_body(request: Request, limit: int = MAX_JSON_BYTES) -> bytes:
    """The whole body, at most ``limit`` bytes however it is sent (Content-Length or chunked), or a 413.

    Read once: a second call (a route's prefetch read it first) gets the same bytes, or the same error."""
    if _BODY_ERROR in request.environ:
        raise request.environ[_BODY_ERROR]
    if _BODY not in request.environ:
        def too_large() -> errors.ConvoInsightError:
            return errors.PayloadTooLarge(f"a JSON body may be at most {limit:,} bytes", code="body_too_large")

        try:
            request.environ[_BODY] = bounded_stream(request, limit, too_large).read()
        except errors.ConvoInsightError as exc:
            request.environ[_BODY_ERROR] = exc
            raise
    return request.environ[_BODY]


def prefetch_body(request: Request) -> dict[str, Any] | None:
    """The JSON object of a small JSON request, for a route's prefetch; None for anything else (a large or
    chunked body is left to the handler, which reads it after the rate limit)."""
    length = request.content_length
    if not request.is_json or length is None or length > PREFETCH_BODY_BYTES:
        return None
    try:
        body = json.loads(read_body(request), parse_constant=_no_constant)
    except (errors.ConvoInsightError, ValueError, RecursionError):
        return None
    return body if isinstance(body, dict) else None


def json_body(request: Request, *, optional: bool = False) -> dict[str, Any]:
    """The request's JSON object, or a 400/413/415 that says what is wrong (``optional``: {} for no body).

    Strict JSON (no NaN or Infinity) whose keys and strings hold no NUL character (400 invalid_characters).
    """
    data = read_body(request)
    if not data:
        if optional:
            return {}
        raise errors.BadRequest("a JSON body is required", code="missing_body")
    if not request.is_json:
        raise errors.UnsupportedMediaType("send the body as application/json", code="unsupported_content_type")
    try:
        body = json.loads(data, parse_constant=_no_constant)
        if isinstance(body, dict):
            refuse_nul(body, "the JSON body")
    except (ValueError, RecursionError):  # bad JSON, bad UTF-8, NaN / Infinity, nested past the stack
        body = None
    if not isinstance(body, dict):
        raise errors.BadRequest("the body must be a JSON object", code="invalid_json")
    return body


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _after_refused_body(request: Request, response: Response) -> Response:
    """A body refused before its end: drop a little more of it so the client can read the answer, then close.

    Never handed back for functions-framework to read: it reads whatever is left of a body into memory
    after the response (``read_request``), which is the very thing the limit is there to prevent.
    """
    try:
        stream, left = request.stream, DRAIN_BYTES
        while left > 0 and (chunk := stream.read(min(left, 64 * 1024))):
            left -= len(chunk)
    except Exception:  # noqa: S110 - a client that went away: nothing left to protect
        pass
    body = response.get_data()
    streamed = Response((part for part in (body,)), status=response.status_code, headers=response.headers)
    streamed.headers["Content-Length"] = str(len(body))
    streamed.headers["Connection"] = "close"
    return streamed
