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

A request's cache reads may ride along (``check_reading``): the same script returns the values of the
keys it is given after its decision, so a cached answer costs one round trip in all. It is one command
(EVALSHA, and on NOSCRIPT one SCRIPT LOAD and a retry), not a pipeline: redis-py's pipelines check their
scripts with an extra SCRIPT EXISTS round trip, and a command keeps the client's fail-fast cooldown.

Redis failing never becomes a 500: ``RATE_LIMIT_FAIL_OPEN`` lets the request
through (a WARNING event and a process-local counter, :func:`stats`), or
refuses it with 503 and ``Retry-After``.
"""

from __future__ import annotations

import logging
import math
import secrets
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from convoinsight import errors
from convoinsight.observability import logs

log = logging.getLogger("convoinsight.ratelimit")

# KEYS[1] the set, KEYS[2..] keys to read when admitted; ARGV: window (µs), limit, unique suffix.
# Returns {admitted 0/1, count, age of oldest (µs), the values of KEYS[2..] (nil for a missing key)}.
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
local result = {admitted, count, age}
if admitted == 1 and #KEYS > 1 then
  local values = redis.call('MGET', unpack(KEYS, 2))
  for i = 1, #KEYS - 1 do result[3 + i] = values[i] end
end
return result
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
    return check_reading(services, settings, key, cls)[0]


def check_reading(services, settings, key: str, cls: str | None,
                  reads: Sequence[str] = ()) -> tuple[Decision | None, list[Any] | None]:
    """The decision of ``check``, and the values of the Redis keys ``reads`` fetched in the same round trip.

    The values are None when they could not be read (Redis unreachable) or the request is refused; with
    limiting off for ``cls`` they are one MGET of their own."""
    rule = _rule(settings, cls)
    if rule is None:
        return None, _read(services, reads)
    limit, window = rule
    try:
        client = services.redis
        if client is None:
            raise ConnectionError("REDIS_URL is not set")
        answer = _get_script()(keys=[f"ci:v1:rl:{cls}:{key}", *reads],
                               args=[window * 1_000_000, limit, secrets.token_hex(8)], client=client)
    except Exception as exc:  # redis raises several error types; none of them may turn a request into a 500
        return _unavailable(settings, cls, exc), None
    admitted, count, age_us = answer[:3]
    values = None
    if admitted and reads:
        values = list(answer[3:]) + [None] * (len(reads) - len(answer[3:]))  # Lua drops trailing nils
    # Never past the window, whatever the clocks say: a client told to wait longer than that was told wrong.
    reset = min(window, math.ceil(max(0, window * 1_000_000 - age_us) / 1_000_000)) if count else 0
    return Decision(allowed=bool(admitted), limit=limit, remaining=max(0, limit - count), reset=reset,
                    retry_after=0 if admitted else max(1, reset)), values


def _rule(settings, cls: str | None) -> tuple[int, int] | None:
    if cls is None or not settings.rate_limit_enabled:
        return None
    return next(((limit, window) for name, limit, window in settings.rate_limits if name == cls), None)


def _read(services, reads: Sequence[str]) -> list[Any] | None:
    """The values of ``reads`` in one MGET; None when there are none or Redis cannot answer (the cache then
    reads for itself, and treats that failure as a miss)."""
    if not reads:
        return None
    try:
        client = services.redis
        return None if client is None else list(client.mget(list(reads)))
    except Exception as exc:
        log.warning("prefetch failed: %s", type(exc).__name__)
        return None


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
