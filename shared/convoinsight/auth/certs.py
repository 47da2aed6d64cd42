"""Firebase's token-signing certificates, fetched over HTTP and cached per process.

Google publishes the certificates as ``{"<kid>": "<PEM x509>", ...}`` with a
``Cache-Control: max-age`` that ends before a key is retired, so honouring it
is both correct and cheap: one fetch every few hours per instance. A fetch
that fails is a 503 (our dependency is down, the caller did nothing wrong),
never a 401.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from typing import Any

from convoinsight.errors import ServiceUnavailable

log = logging.getLogger("convoinsight.auth")
FETCH_TIMEOUT_SECONDS = 5
# Without a max-age we still keep the certificates briefly: fetching on every request would let callers make
# us hammer Google (and add latency), while a short TTL bounds how long a withdrawn key is trusted.
DEFAULT_TTL_SECONDS = 60
MAX_TTL_SECONDS = 24 * 3600
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d+)\"?\s*(?:,|$)", re.IGNORECASE)
_NO_STORE = re.compile(r"(?:^|,)\s*(?:no-store|no-cache)\s*(?:,|$)", re.IGNORECASE)


def ttl_from_cache_control(value: str | None) -> int:
    """Seconds the response may be reused, per Cache-Control (``no-store``/``no-cache`` mean 0)."""
    if not value:
        return DEFAULT_TTL_SECONDS
    if _NO_STORE.search(value):
        return 0
    match = _MAX_AGE.search(value)
    return min(int(match.group(1)), MAX_TTL_SECONDS) if match else DEFAULT_TTL_SECONDS


class CertCache:
    """URL -> (certificates, expiry). One lock: concurrent misses wait for one fetch instead of each fetching."""

    def __init__(self, clock=time.monotonic):
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[dict[str, str], float]] = {}
        self._transport: Any = None

    def get(self, url: str) -> dict[str, str]:
        with self._lock:
            entry = self._entries.get(url)
            if entry and entry[1] > self._clock():
                return entry[0]
            certs, ttl = self._fetch(url)
            if ttl > 0:
                self._entries[url] = (certs, self._clock() + ttl)
            else:
                self._entries.pop(url, None)
            return certs

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def _fetch(self, url: str) -> tuple[dict[str, str], int]:
        from google.auth import exceptions as gexc

        try:
            response = self._request()(url, method="GET", timeout=FETCH_TIMEOUT_SECONDS)
        except gexc.TransportError as exc:
            log.warning("could not fetch the token-signing certificates from %s: %s", url, type(exc).__name__)
            raise _unavailable() from exc
        if response.status != 200:
            log.warning("the token-signing certificates at %s answered HTTP %s", url, response.status)
            raise _unavailable()
        try:
            certs = json.loads(response.data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise _unavailable() from exc
        if not isinstance(certs, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                  for k, v in certs.items()):
            log.warning("the token-signing certificates at %s are not a {kid: PEM} object", url)
            raise _unavailable()
        return certs, ttl_from_cache_control(response.headers.get("Cache-Control"))

    def _request(self):
        # One google-auth transport (a requests Session, so connections are reused) per process, made on first use.
        if self._transport is None:
            from google.auth.transport.requests import Request

            self._transport = Request()
        return self._transport


def _unavailable() -> ServiceUnavailable:
    return ServiceUnavailable("sign-in cannot be checked right now: the token-signing certificates are unavailable; "
                              "try again shortly", code="auth_certs_unavailable")


# The process's cache: warm instances verify tokens without any network call.
CACHE = CertCache()
