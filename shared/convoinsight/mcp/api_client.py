"""The public API as the MCP function sees it: HTTP calls with the caller's own API key, under timeouts.

Nothing here reads a store or imports a use case: every tool is what the caller could do with curl and their
key, so the API's authentication, rate limits (each call counts in its route's class) and tenant isolation apply
exactly. An error answer of the API becomes ``ApiError`` with the API's own status, code and message.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from convoinsight.errors import ConfigError
from convoinsight.settings import Settings

USER_AGENT = "convoinsight-mcp"
_clients: dict[tuple[float, float], Any] = {}
_clients_lock = threading.Lock()


class ApiError(Exception):
    """The API answered with its error shape (or could not be reached: status 503, ``api_unavailable``)."""

    def __init__(self, status: int, code: str, message: str, retry_after: str | None = None,
                 details: Any = None):
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message
        self.retry_after, self.details = retry_after, details

    def as_dict(self) -> dict[str, Any]:
        error: dict[str, Any] = {"status": self.status, "code": self.code, "message": self.message}
        if self.retry_after:
            error["retry_after"] = self.retry_after
        if self.details:
            error["details"] = self.details
        return {"error": error}


def base_url(settings: Settings) -> str:
    """Where the API is: MCP_API_BASE_URL, else PUBLIC_BASE_URL (the one origin). Never the request's own Host
    header: a client must not choose where its credential is sent."""
    base = settings.mcp_api_base_url or settings.public_base_url
    if not base:
        raise ConfigError("the mcp function needs MCP_API_BASE_URL or PUBLIC_BASE_URL: the public API it calls")
    return base


def segment(value: str) -> str:
    """One path segment, quoted: a tool argument never adds a segment of its own."""
    return quote(value, safe="")


def http_client(connect_s: float, read_s: float):
    """One pooled client per process (keep-alive to the API); httpx is thread-safe and loaded on first use."""
    key = (connect_s, read_s)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            import httpx

            timeout = httpx.Timeout(read_s, connect=connect_s)
            client = _clients[key] = httpx.Client(timeout=timeout, follow_redirects=False,
                                                  headers={"User-Agent": USER_AGENT})
        return client


@dataclass
class ApiClient:
    base: str
    credential: str
    connect_timeout_s: float
    read_timeout_s: float
    request_id: str = ""
    calls: list[tuple[str, str, int]] = field(default_factory=list)  # (method, path, status), for logs and tests

    @classmethod
    def for_request(cls, settings: Settings, credential: str, request_id: str = "") -> ApiClient:
        return cls(base_url(settings), credential, settings.mcp_api_connect_timeout_seconds,
                   settings.mcp_api_timeout_seconds, request_id)

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self.request("POST", path, json=body)

    def request(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                json: dict[str, Any] | None = None) -> Any:
        import httpx

        headers = {"Authorization": f"Bearer {self.credential}"}
        if self.request_id:
            headers["X-Request-Id"] = self.request_id  # one id across the MCP request and the API calls it made
        query = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            resp = http_client(self.connect_timeout_s, self.read_timeout_s).request(
                method, self.base + path, params=query, json=json, headers=headers)
        except httpx.TimeoutException:
            self.calls.append((method, path, 504))
            raise ApiError(504, "api_timeout", f"the API did not answer {method} {path} within "
                           f"{self.read_timeout_s:g} s (MCP_API_TIMEOUT_SECONDS)") from None
        except httpx.HTTPError as exc:
            self.calls.append((method, path, 503))
            raise ApiError(503, "api_unavailable", f"the API could not be reached ({type(exc).__name__})",
                           retry_after="5") from None
        self.calls.append((method, path, resp.status_code))
        if resp.status_code >= 400:
            raise _error_of(resp)
        try:
            return resp.json()
        except ValueError:
            raise ApiError(502, "api_bad_response", f"the API answered {method} {path} with no JSON") from None


def _error_of(resp) -> ApiError:
    try:
        error = resp.json().get("error") or {}
    except (ValueError, AttributeError):
        error = {}
    return ApiError(resp.status_code, str(error.get("code") or f"http_{resp.status_code}"),
                    str(error.get("message") or resp.reason_phrase or "the API refused the request"),
                    resp.headers.get("Retry-After"), error.get("details"))
