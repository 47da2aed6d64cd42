"""Sliding-window rate limits per (route class, caller), exact under concurrency, in one Redis round trip.

Each (class, key) is a sorted set ``ci:v1:rl:<class>:<key>`` of the requests
admitted in the last window, scored by Redis server time. One Lua script
trims, counts and admits atomically: a separate ZCARD then ZADD would let
concurrent requests (other threads, other instances) all see room and
over-admit. Members carry a random suffix because two requests in the same
microsecond would otherwise collapse into one member and be undercounted.
Server time (not ours) keeps every instance on one clock.

``reset`` (the ``X-RateLimit-Reset`` header) is a delta, not an epoch: the
seconds, rounded up, until the oldest counted request leaves the window, i.e.
until ``remaining`` next grows; 0 when nothing is counted. Refused requests get
the same figure as ``Retry-After``, so a client that waits it is admitted.

Redis failing never becomes a 500: ``RATE_LIMIT_FAIL_OPEN`` lets the request
through (a WARNING event and a process-local counter, :func:`stats`), or
refuses it with 503 and ``Retry-After``.
"""

from __future__ import annotations

import logging
import math
import secrets
import threading
from dataclasses import dataclass

from convoinsight import errors
from convoinsight.observability import logs

log = logging.getLogger("convoinsight.ratelimit")

# KEYS[1] the set; ARGV: window (µs), limit, unique suffix. Returns {admitted 0/1, count, age of oldest (µs)}.
# Writing after TIME needs effects replication: the default from Redis 5 (Memorystore runs 6 and 7).
_LUA = b"""
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local window, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
local admitted = 0
if count < limit then
  redis.call('ZADD', KEYS[1], now, t[1] .. '.' .. t[2] .. ':' .. ARGV[3])
  redis.call('PEXPIRE', KEYS[1], math.ceil(window / 1000))
  count, admitted = count + 1, 1
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local age = 0
if oldest[2] then age = now - tonumber(oldest[2]) end
return {admitted, count, age}
"""
_script = None  # one per process, made on first use: importing redis at module import would slow cold starts

_stats_lock = threading.Lock()
_stats = {"fail_open": 0, "fail_closed": 0}


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset: int  # seconds until the window frees a request
    retry_after: int  # seconds to wait when not allowed


def check(services, settings, key: str, cls: str | None) -> Decision | None:
    """None when limiting is disabled or not configured for ``cls`` (a route with ``limit=None`` is exempt)."""
    if cls is None or not settings.rate_limit_enabled:
        return None
    rule = next(((limit, window) for name, limit, window in settings.rate_limits if name == cls), None)
    if rule is None:
        return None
    limit, window = rule
    try:
        client = services.redis
        if client is None:
            raise ConnectionError("REDIS_URL is not set")
        admitted, count, age_us = _get_script()(keys=[f"ci:v1:rl:{cls}:{key}"],
                                          args=[window * 1_000_000, limit, secrets.token_hex(8)], client=client)
    except Exception as exc:  # redis raises several error types; none of them may turn a request into a 500
        return _unavailable(settings, cls, exc)
    # Never past the window, whatever the clocks say: a client told to wait longer than that was told wrong.
    reset = min(window, math.ceil(max(0, window * 1_000_000 - age_us) / 1_000_000)) if count else 0
    return Decision(allowed=bool(admitted), limit=limit, remaining=max(0, limit - count), reset=reset,
                    retry_after=0 if admitted else max(1, reset))


def _get_script():
    # Bytes need no client to hash, so one Script serves every client: EVALSHA, and SCRIPT LOAD once on NOSCRIPT
    # (first use, or a Redis that restarted and lost its scripts). Two threads racing here build equal objects.
    global _script
    if _script is None:
        from redis.commands.core import Script

        _script = Script(None, _LUA)
    return _script


def _unavailable(settings, cls: str, exc: Exception) -> None:
    outcome = "fail_open" if settings.rate_limit_fail_open else "fail_closed"
    with _stats_lock:
        _stats[outcome] += 1
    logs.event(log, "rate_limit_unavailable", f"rate limiting unavailable ({type(exc).__name__}): {outcome}",
               logging.WARNING, limit_class=cls, outcome=outcome, error=type(exc).__name__)
    if settings.rate_limit_fail_open:
        return None
    raise errors.ServiceUnavailable("rate limiting is unavailable; try again shortly",
                                    code="rate_limit_unavailable") from exc


def stats() -> dict[str, int]:
    """Requests this process let through (fail_open) or refused (fail_closed) because Redis was unreachable."""
    with _stats_lock:
        return dict(_stats)


def headers(decision: Decision | None) -> dict[str, str]:
    if decision is None:
        return {}
    return {"X-RateLimit-Limit": str(decision.limit), "X-RateLimit-Remaining": str(decision.remaining),
            "X-RateLimit-Reset": str(decision.reset)}
