"""Cluster-wide metrics: recorded in-process, summed in Redis, served as Prometheus text by ``health``.

A per-process registry would not do: in the cloud every function is its own process, instances are
many and short-lived, and a scrape of ``/api/v1/metrics`` reaches one health instance, which would
show only its own numbers. So each process adds what it records to in-memory deltas (a dict under a
lock; nothing at all when ``METRICS_ENABLED`` is false), and at the end of a request, at most every
``METRICS_FLUSH_SECONDS``, adds them to Redis in one MULTI/EXEC round trip: ``HINCRBYFLOAT`` into one
hash per metric, ``ci:v1:metrics:<name>``. There is no background thread: Cloud Functions throttles
the CPU outside requests. The metrics route flushes its own process, reads every hash and renders
them (``observability.exposition``, the only module that imports prometheus_client). Redis being
down never fails a request: the deltas are kept, and added by the next flush that reaches it.

A hash field is a JSON array: the label values in the metric's label order, then ``""`` for a
counter, or ``"sum"``, ``"count"`` or a bucket's upper bound for a histogram (bucket counts are
stored per bucket, not cumulated; the renderer cumulates). Labels are bounded by construction (route
templates, never raw paths; known methods; models a deployment knows) and, as a last resort, by a cap
on the series one process records per metric.
"""

from __future__ import annotations

import bisect
import functools
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from convoinsight.observability import logs

log = logging.getLogger("convoinsight.metrics")

KEY_PREFIX = "ci:v1:metrics"
# A hash untouched this long (no process recorded into it) is dropped by Redis; each flush renews it.
RETENTION_SECONDS = 30 * 24 * 3600
MAX_SERIES = 1000  # label sets one process records per metric; past it new ones count under "other"
MAX_LABEL_CHARS = 120
OTHER = "other"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
STAGE_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


@dataclass(frozen=True)
class Metric:
    name: str
    kind: str  # counter | histogram
    help: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()


REQUESTS = Metric("convoinsight_requests_total", "counter",
                  "HTTP requests answered, by function, route template (unmatched: no route), method and status.",
                  ("function", "route", "method", "status"))
REQUEST_SECONDS = Metric("convoinsight_request_duration_seconds", "histogram",
                         "Time to answer an HTTP request, by function, route template, method and status.",
                         ("function", "route", "method", "status"), LATENCY_BUCKETS)
CACHE_HITS = Metric("convoinsight_cache_hits_total", "counter", "Cache lookups that found an entry, by kind.",
                    ("kind",))
CACHE_MISSES = Metric("convoinsight_cache_misses_total", "counter", "Cache lookups that found nothing, by kind.",
                      ("kind",))
LLM_CALLS = Metric("convoinsight_llm_calls_total", "counter",
                   "Model calls by agent, model and outcome: ok, cached (the response cache answered), error "
                   "(the model failed; a fallback may have answered), breaker_open (skipped).",
                   ("agent", "model", "outcome"))
LLM_TOKENS = Metric("convoinsight_llm_tokens_total", "counter",
                    "Model tokens by agent, model and kind (prompt, completion).", ("agent", "model", "kind"))
LLM_COST = Metric("convoinsight_llm_cost_usd_total", "counter",
                  "Cost of model calls in US dollars (litellm's price map; unpriced models count 0).",
                  ("agent", "model"))
RATE_LIMITED = Metric("convoinsight_rate_limited_total", "counter",
                      "Requests refused with 429 by a rate limit, by route class.", ("class",))
STAGE_SECONDS = Metric("convoinsight_stage_duration_seconds", "histogram",
                       "Run time of one pipeline stage (sync or async), by stage.", ("stage",), STAGE_BUCKETS)
ENGINE_LIMITS = Metric("convoinsight_engine_limits_total", "counter",
                       "SQL runs that met a limit, by engine (duckdb, postgres) and limit: rows, bytes, cells "
                       "(the result was cut), time, memory, busy (no free worker), crash (the worker died), "
                       "pull_rows (a linked table past SOURCE_PULL_MAX_ROWS).", ("engine", "limit"))
FLUSH_ERRORS = Metric("convoinsight_metrics_flush_errors_total", "counter",
                      "Flushes of a process's metrics to Redis that failed (the deltas were kept for the next).")

METRICS: tuple[Metric, ...] = (REQUESTS, REQUEST_SECONDS, CACHE_HITS, CACHE_MISSES, LLM_CALLS, LLM_TOKENS, LLM_COST,
                               RATE_LIMITED, STAGE_SECONDS, ENGINE_LIMITS, FLUSH_ERRORS)
BY_NAME = {m.name: m for m in METRICS}

# The limit an engine failure met, by the sql_error code it carries.
LIMIT_OF_CODE = {"sql_timeout": "time", "sql_memory_limit": "memory", "sql_busy": "busy",
                 "sql_engine_crashed": "crash", "source_pull_too_large": "pull_rows"}

Key = tuple[str, tuple[str, ...], str]  # (metric name, label values, part)

_enabled = False
_flush_seconds = 10.0
_lock = threading.Lock()  # guards _pending and _series
_pending: dict[Key, float] = {}
_series: dict[str, set[tuple[str, ...]]] = {}
_flushing = threading.Lock()
_last_flush = 0.0
_known_models: set[str] = set()


def configure(settings) -> None:
    """Per request (cheap): whether to record, how often to flush, which configured model names are labels."""
    global _enabled, _flush_seconds
    _enabled = bool(settings.metrics_enabled)
    _flush_seconds = float(settings.metrics_flush_seconds)
    if settings.llm_model and settings.llm_model not in _known_models:
        _known_models.add(settings.llm_model)


def enabled() -> bool:
    return _enabled


def _labels(metric: Metric, values: tuple[Any, ...]) -> tuple[str, ...]:
    """Called under _lock."""
    labels = tuple(str(v)[:MAX_LABEL_CHARS] for v in values)
    seen = _series.setdefault(metric.name, set())
    if labels not in seen:
        if len(seen) >= MAX_SERIES:
            labels = (OTHER,) * len(labels)
        seen.add(labels)
    return labels


def inc(metric: Metric, *labels: Any, value: float = 1.0) -> None:
    if not _enabled or not value:
        return
    with _lock:
        key = (metric.name, _labels(metric, labels), "")
        _pending[key] = _pending.get(key, 0.0) + value


def observe(metric: Metric, seconds: float, *labels: Any) -> None:
    if not _enabled:
        return
    index = bisect.bisect_left(metric.buckets, seconds)
    bound = repr(float(metric.buckets[index])) if index < len(metric.buckets) else "+Inf"
    with _lock:
        values = _labels(metric, labels)
        for part, value in ((bound, 1.0), ("count", 1.0), ("sum", float(seconds))):
            key = (metric.name, values, part)
            _pending[key] = _pending.get(key, 0.0) + value


# --- hooks (one line at each call site) ---

def request_done(app, method: str, status: int, seconds: float) -> None:
    """FunctionApp.__call__, after the request's log event: count it, then flush if one is due."""
    if not _enabled:
        return
    try:
        endpoint = logs.current("route")  # "<METHOD> <rule>", set by _dispatch once a route matched
        route = endpoint.partition(" ")[2] if endpoint else "unmatched"
        method = method if method in METHODS else OTHER
        inc(REQUESTS, app.name, route, method, status)
        observe(REQUEST_SECONDS, seconds, app.name, route, method, status)
        if _due():
            flush(app.services_provider(app.settings_provider()).redis)
    except Exception:  # metrics never fail a request
        log.warning("metrics could not be recorded", exc_info=True)


def cache(kind: str, hit: bool) -> None:
    inc(CACHE_HITS if hit else CACHE_MISSES, kind)


def llm_call(agent: str, model: str, outcome: str, *, usage: Any = None, cost_usd: float = 0.0) -> None:
    if not _enabled:
        return
    try:
        name = model_label(model)
        inc(LLM_CALLS, agent, name, outcome)
        if usage is not None:
            inc(LLM_TOKENS, agent, name, "prompt", value=float(getattr(usage, "prompt_tokens", 0) or 0))
            inc(LLM_TOKENS, agent, name, "completion", value=float(getattr(usage, "completion_tokens", 0) or 0))
        inc(LLM_COST, agent, name, value=float(cost_usd or 0.0))
    except Exception:
        log.warning("model call metrics could not be recorded", exc_info=True)


def model_label(model: str) -> str:
    """A model as a label: a name the deployment configures or litellm's map lists; ``other`` otherwise
    (a caller holding a key may name any model of its provider: that must not mint series)."""
    if model in _known_models:
        return model
    from convoinsight.llm.catalog import OFFLINE_MODEL, chat_models

    if model == OFFLINE_MODEL or model in chat_models():
        with _lock:
            _known_models.add(model)
        return model
    return OTHER


def rate_limited(cls: str) -> None:
    inc(RATE_LIMITED, cls)


def stage(name: str, seconds: float) -> None:
    observe(STAGE_SECONDS, seconds, name)


def engine_limit(engine: str, limit: str) -> None:
    inc(ENGINE_LIMITS, engine, limit)


def counts_engine_limits(engine: str) -> Callable:
    """Decorates a function that runs SQL: counts the limits its result met (``ResultTable.limits``) or the
    limit its SqlExecutionError names (``details["code"]``, see LIMIT_OF_CODE)."""
    def wrap(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def run(*args, **kwargs):
            try:
                result = fn(*args, **kwargs)
            except Exception as exc:
                if _enabled:
                    limit = LIMIT_OF_CODE.get(str((getattr(exc, "details", None) or {}).get("code", "")))
                    if limit:
                        engine_limit(engine, limit)
                raise
            if _enabled:
                for limit in getattr(result, "limits", None) or ():
                    engine_limit(engine, limit)
            return result
        return run
    return wrap


# --- flushing and reading ---

def key_of(name: str) -> str:
    return f"{KEY_PREFIX}:{name}"


def _due() -> bool:
    return bool(_pending) and time.monotonic() - _last_flush >= _flush_seconds


def _restore(batch: dict[Key, float]) -> None:
    with _lock:
        for key, value in batch.items():
            _pending[key] = _pending.get(key, 0.0) + value


def flush(redis_client, *, force: bool = False) -> bool:
    """Add this process's deltas to Redis in one round trip. True when nothing is left pending.

    Without Redis (no REDIS_URL) the deltas stay here: the route then serves this process's own numbers.
    ``force`` (the metrics route) waits for a flush another thread is making, and ignores the interval.
    """
    global _last_flush
    if redis_client is None:
        return not _pending
    if not force and not _due():
        return True
    if not _flushing.acquire(blocking=force):
        return True  # another thread is flushing right now
    try:
        with _lock:
            batch = dict(_pending)
            _pending.clear()
            _last_flush = time.monotonic()
        if not batch:
            return True
        try:
            pipe = redis_client.pipeline(transaction=True)  # all or nothing: a retry never counts twice
            for (name, labels, part), value in batch.items():
                pipe.hincrbyfloat(key_of(name), json.dumps([*labels, part]), value)
            for name in sorted({name for name, _, _ in batch}):
                pipe.expire(key_of(name), RETENTION_SECONDS)
            pipe.execute()
        except Exception as exc:  # redis raises several error types; none may reach the request
            _restore(batch)
            inc(FLUSH_ERRORS)
            logs.event(log, "metrics_flush_failed", f"metrics flush to Redis failed ({type(exc).__name__}); "
                       f"{len(batch)} deltas kept for the next flush", logging.WARNING, error=type(exc).__name__)
            return False
        return True
    finally:
        _flushing.release()


Totals = dict[str, dict[tuple[tuple[str, ...], str], float]]


def read(redis_client) -> Totals:
    """Every metric's cluster-wide totals from Redis (one round trip), or this process's when there is no Redis.

    Raises whatever the Redis client raises when it is unreachable.
    """
    if redis_client is None:
        with _lock:
            totals: Totals = {}
            for (name, labels, part), value in _pending.items():
                totals.setdefault(name, {})[(labels, part)] = value
            return totals
    pipe = redis_client.pipeline(transaction=False)
    for metric in METRICS:
        pipe.hgetall(key_of(metric.name))
    totals = {}
    for metric, fields in zip(METRICS, pipe.execute(), strict=True):
        totals[metric.name] = decoded = {}
        for raw, value in (fields or {}).items():
            try:
                field = json.loads(raw)
                number = float(value)
            except (TypeError, ValueError):
                continue
            if (isinstance(field, list) and len(field) == len(metric.labels) + 1
                    and all(isinstance(v, str) for v in field)):
                decoded[(tuple(field[:-1]), field[-1])] = number
    return totals


def reset() -> None:
    """Forget everything recorded in this process (tests)."""
    global _last_flush
    with _lock:
        _pending.clear()
        _series.clear()
        _last_flush = 0.0


def pending() -> dict[Key, float]:
    """This process's deltas not yet flushed (tests, operators)."""
    with _lock:
        return dict(_pending)
