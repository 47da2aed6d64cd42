"""One helper for every cached thing: per-tenant namespaces, TTLs, generation counters, JSON values.

Invalidation never scans keys: each (tenant, scope) has a generation counter
that is part of every key; a write bumps the counter and old entries simply
stop being read (they expire by TTL). Redis being down, slow or disabled is a
miss, never an error: the service keeps answering, only slower.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from convoinsight.observability import logs, metrics

log = logging.getLogger("convoinsight.cache")

# Seconds each kind of entry lives; generation counters outlive them.
TTL = {
    "listing": 300,
    "profile": 3600,
    "result": 3600,
    "llm": 24 * 3600,
    "catalog": 300,  # a tenant's PostgreSQL catalog (SOURCE_SCHEMA_CACHE_SECONDS overrides per call)
}
_GENERATION_TTL = 7 * 24 * 3600
_PREFIX = "ci:v1"


def _digest(parts: tuple[Any, ...]) -> str:
    raw = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


class Cache:
    def __init__(self, redis_client, *, enabled: bool = True):
        self.redis = redis_client if enabled else None

    def _gen_key(self, tenant: str, scope: str) -> str:
        return f"{_PREFIX}:{tenant}:gen:{scope}"

    def generation(self, tenant: str, scope: str) -> int | None:
        """The scope's current generation, or None when the cache is unavailable."""
        if self.redis is None:
            return None
        try:
            value = self.redis.get(self._gen_key(tenant, scope))
            return int(value) if value is not None else 0
        except Exception as exc:  # any Redis failure means: no cache this time
            log.warning("cache unavailable: %s", type(exc).__name__)
            return None

    def invalidate(self, tenant: str, *scopes: str) -> None:
        """Bump the generation of each scope so every entry under it is no longer read."""
        if self.redis is None:
            return
        try:
            pipe = self.redis.pipeline(transaction=False)
            for scope in scopes:
                key = self._gen_key(tenant, scope)
                pipe.incr(key)
                pipe.expire(key, _GENERATION_TTL)
            pipe.execute()
        except Exception as exc:
            # A missed bump could serve stale data until TTL: log loudly; writes still succeed.
            log.error("cache invalidation failed for %s %s: %s", tenant, scopes, type(exc).__name__)

    def _key(self, tenant: str, scope: str, kind: str, parts: tuple[Any, ...]) -> str | None:
        generation = self.generation(tenant, scope)
        if generation is None:
            return None
        return f"{_PREFIX}:{tenant}:{kind}:{scope}:{generation}:{_digest(parts)}"

    def get_json(self, tenant: str, scope: str, kind: str, *parts: Any) -> tuple[str | None, Any]:
        """(key, value): value is None on a miss; pass the key back to ``set_json``."""
        key = self._key(tenant, scope, kind, parts)
        if key is None:
            return None, None
        try:
            raw = self.redis.get(key)
        except Exception as exc:
            log.warning("cache read failed: %s", type(exc).__name__)
            return None, None
        logs.event(log, "cache", f"cache {'hit' if raw is not None else 'miss'} {kind}", kind=kind,
                   hit=raw is not None)
        metrics.cache(kind, raw is not None)
        return key, (json.loads(raw) if raw is not None else None)

    def set_json(self, key: str | None, kind: str, value: Any, ttl: int | None = None) -> None:
        if key is None or self.redis is None or ttl == 0:
            return
        try:
            self.redis.set(key, json.dumps(value, default=str, separators=(",", ":")), ex=ttl or TTL[kind])
        except Exception as exc:
            log.warning("cache write failed: %s", type(exc).__name__)

    def forget(self, key: str | None) -> None:
        if key is None or self.redis is None:
            return
        try:
            self.redis.delete(key)
        except Exception as exc:
            log.warning("cache delete failed: %s", type(exc).__name__)

    def cached(self, tenant: str, scope: str, kind: str, parts: tuple[Any, ...], compute,
               ttl: int | None = None) -> Any:
        key, value = self.get_json(tenant, scope, kind, *parts)
        if value is None:
            value = compute()
            self.set_json(key, kind, value, ttl)
        return value
