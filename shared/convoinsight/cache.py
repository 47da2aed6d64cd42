"""One helper for every cached thing: per-tenant namespaces, TTLs, generation counters, JSON values.

Invalidation never scans keys: each (tenant, scope) has a generation counter; a write bumps it, and an
entry stored under an older generation is never served again (it expires by TTL). The generation is not
part of the entry's key but stored inside its value (``{"g": [generations], "v": value}``), so the counter
and the entry are read together, in ONE round trip (``MGET gen entry``): a value whose ``g`` is not the
current generation is a miss, and ``set_json`` stores the generation read at lookup, so an answer computed
from data read before a write can never be served after it. An entry may depend on several scopes (a
question's answer: its domain's data and the tenant's settings); it is current only while all of them are.

A request may read its entries even earlier: a route names the entries its handler will read
(``RouteOptions.prefetch`` in ``web/app.py``), the web layer fetches them in the same round trip as the
rate limit, and ``serving`` hands them to every ``Cache`` of that request only; ``get_json`` then answers
from them without calling Redis. A write of this request (``invalidate``, ``set_json``, ``forget``) drops
what it makes stale from that set, so a request always reads its own writes.

Redis being down, slow or disabled is a miss, never an error: the service keeps answering, only slower.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache
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
# What a question reads of a tenant's own settings (agent overrides, which providers they hold keys for):
# the writes of those settings bump this scope.
CONFIG_SCOPE = "config"



class _Request:
    """One request's scope: the entries fetched ahead (Redis key -> raw value, None for a missing key) and what
    its prefetch worked out for its handler (``memo``)."""

    __slots__ = ("memo", "served")

    def __init__(self, served: dict[str, Any] | None = None):
        self.served, self.memo = served, {}


_request: ContextVar[_Request | None] = ContextVar("convoinsight_cache_request", default=None)


def _digest(parts: tuple[Any, ...]) -> str:
    raw = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def gen_key(tenant: str, scope: str) -> str:
    return f"{_PREFIX}:{tenant}:gen:{scope}"


@dataclass(frozen=True)
class Ref:
    """Where one cache entry lives: the generation counters it depends on and its own key."""

    gen_keys: tuple[str, ...]
    key: str

    @property
    def keys(self) -> tuple[str, ...]:
        """What one lookup reads, in order: every generation, then the entry."""
        return (*self.gen_keys, self.key)


def ref(tenant: str, scope: str | Sequence[str], kind: str, *parts: Any) -> Ref:
    """The entry of ``parts`` in ``scope`` (one scope, or several that must all be current) of ``tenant``."""
    scopes = (scope,) if isinstance(scope, str) else tuple(scope)
    # The same few listings and records, over and over: remembered. Only for parts that are all strings (equal
    # values of other types, 1 and True, would share a memo but not a digest).
    if all(type(part) is str for part in parts):
        return _known_ref(tenant, scopes, kind, parts)
    return _make_ref(tenant, scopes, kind, parts)


@lru_cache(maxsize=4096)
def _known_ref(tenant: str, scopes: tuple[str, ...], kind: str, parts: tuple[Any, ...]) -> Ref:
    return _make_ref(tenant, scopes, kind, parts)


def _make_ref(tenant: str, scopes: tuple[str, ...], kind: str, parts: tuple[Any, ...]) -> Ref:
    # "e" marks the generation-free layout (values are {"g", "v"}): no key of the older layout, which held
    # the generation, can ever be read as one of these.
    key = f"{_PREFIX}:{tenant}:{kind}:{'+'.join(scopes)}:e:{_digest(parts)}"
    return Ref(tuple(gen_key(tenant, s) for s in scopes), key)


class CacheKey(str):
    """An entry's key as ``get_json`` hands it out: it remembers the generations read with it."""

    generations: tuple[int, ...]

    def __new__(cls, key: str, generations: tuple[int, ...]):
        made = super().__new__(cls, key)
        made.generations = generations
        return made


def prefetch_keys(refs: Iterable[Ref]) -> list[str]:
    """The distinct Redis keys that answer ``refs``, in a stable order (for one MGET)."""
    return list(dict.fromkeys(key for r in refs for key in r.keys))


@contextmanager
def request_scope() -> Iterator[None]:
    """One request (the web layer opens it around everything it does for one): what ``serve`` and ``memo``
    hold lives until its end, and is seen by no other request or thread."""
    token = _request.set(_Request())
    try:
        yield
    finally:
        _request.reset(token)


def serve(values: dict[str, Any] | None) -> None:
    """From now on, within this request, the cache answers the keys of ``values`` (fetched ahead) from them."""
    scope = _request.get()
    if scope is not None:
        scope.served = dict(values) if values else None


@contextmanager
def serving(values: dict[str, Any] | None) -> Iterator[None]:
    """A request scope that serves ``values`` (as the web layer does after its prefetch)."""
    with request_scope():
        serve(values)
        yield


def memo() -> dict[str, Any]:
    """This request's scratch space, for a route's prefetch to hand its handler what it worked out (a throwaway
    dict outside a request)."""
    scope = _request.get()
    return scope.memo if scope is not None else {}


def _take_served(keys: Sequence[str]) -> list[Any] | None:
    scope = _request.get()
    served = scope.served if scope is not None else None
    if not served or any(key not in served for key in keys):
        return None
    return [served[key] for key in keys]


def _drop_served(keys: Iterable[str]) -> None:
    scope = _request.get()
    if scope is not None and scope.served:
        for key in keys:
            scope.served.pop(key, None)


def _generation_of(raw: Any) -> int:
    return int(raw) if raw is not None else 0


class Cache:
    def __init__(self, redis_client, *, enabled: bool = True):
        self.redis = redis_client if enabled else None

    def _gen_key(self, tenant: str, scope: str) -> str:
        return gen_key(tenant, scope)

    def generation(self, tenant: str, scope: str) -> int | None:
        """The scope's current generation, or None when the cache is unavailable."""
        if self.redis is None:
            return None
        try:
            return _generation_of(self.redis.get(gen_key(tenant, scope)))
        except Exception as exc:  # any Redis failure means: no cache this time
            log.warning("cache unavailable: %s", type(exc).__name__)
            return None

    def invalidate(self, tenant: str, *scopes: str) -> None:
        """Bump the generation of each scope so every entry under it is no longer read."""
        _drop_served(gen_key(tenant, scope) for scope in scopes)  # this request reads its own write
        if self.redis is None:
            return
        try:
            pipe = self.redis.pipeline(transaction=False)
            for scope in scopes:
                key = gen_key(tenant, scope)
                pipe.incr(key)
                pipe.expire(key, _GENERATION_TTL)
            pipe.execute()
        except Exception as exc:
            # A missed bump could serve stale data until TTL: log loudly; writes still succeed.
            log.error("cache invalidation failed for %s %s: %s", tenant, scopes, type(exc).__name__)

    def get_json(self, tenant: str, scope: str | Sequence[str], kind: str, *parts: Any) -> tuple[str | None, Any]:
        """(key, value): value is None on a miss; pass the key back to ``set_json``.

        One round trip (the generations and the entry in one MGET), or none when this request fetched
        them ahead (``serving``)."""
        if self.redis is None:
            return None, None
        return self.lookup(ref(tenant, scope, kind, *parts), kind)

    def lookup(self, where: Ref, kind: str) -> tuple[str | None, Any]:
        """``get_json`` of an entry whose ``Ref`` is known already."""
        if self.redis is None:
            return None, None
        raws = _take_served(where.keys)
        if raws is None:
            try:
                raws = self.redis.mget(where.keys)
            except Exception as exc:  # any Redis failure means: no cache this time
                log.warning("cache unavailable: %s", type(exc).__name__)
                return None, None
        try:
            generations = tuple(_generation_of(raw) for raw in raws[:-1])
        except (TypeError, ValueError):  # not a counter: nothing under it can be trusted
            log.warning("cache generation unreadable for %s", kind)
            return None, None
        value, found = None, False
        if raws[-1] is not None:
            try:
                stored = json.loads(raws[-1])
                if isinstance(stored, dict) and stored.get("g") == list(generations):
                    value, found = stored.get("v"), True
            except ValueError:  # not ours (or cut short): a miss
                pass
        logs.event(log, "cache", f"cache {'hit' if found else 'miss'} {kind}", kind=kind, hit=found)
        metrics.cache(kind, found)
        return CacheKey(where.key, generations), value

    def set_json(self, key: str | None, kind: str, value: Any, ttl: int | None = None) -> None:
        # Only a key handed out by get_json knows the generations its value was computed under.
        if not isinstance(key, CacheKey) or self.redis is None or ttl == 0:
            return
        _drop_served((key,))
        payload = {"g": list(key.generations), "v": value}
        try:
            self.redis.set(key, json.dumps(payload, default=str, separators=(",", ":")), ex=ttl or TTL[kind])
        except Exception as exc:
            log.warning("cache write failed: %s", type(exc).__name__)

    def forget(self, key: str | None) -> None:
        if key is None or self.redis is None:
            return
        _drop_served((key,))
        try:
            self.redis.delete(key)
        except Exception as exc:
            log.warning("cache delete failed: %s", type(exc).__name__)

    def cached(self, tenant: str, scope: str | Sequence[str], kind: str, parts: tuple[Any, ...], compute,
               ttl: int | None = None) -> Any:
        key, value = self.get_json(tenant, scope, kind, *parts)
        if value is None:
            value = compute()
            self.set_json(key, kind, value, ttl)
        return value
