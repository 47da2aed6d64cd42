"""Rate limits against a real Redis: exact under a thundering herd, a sliding window, the setting that shapes them."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
import uuid

import pytest

from convoinsight import errors, ratelimit
from convoinsight.errors import ConfigError
from convoinsight.services import Services
from convoinsight.settings import load_settings


@pytest.fixture
def limiter(redis_server):
    """(settings, services) for a given RATE_LIMITS against the session's Redis; services closed afterwards."""
    made: list[Services] = []

    def make(rate_limits: str = "", **env: str):
        settings = load_settings({"REDIS_URL": redis_server.url, "RATE_LIMITS": rate_limits, **env})
        made.append(Services(settings))
        return settings, made[-1]

    yield make
    for services in made:
        services.close()


def fresh_key() -> str:
    return f"user:rl-{uuid.uuid4().hex[:12]}"


@pytest.mark.parametrize("round_", range(3))  # three fresh keys: exactly five every time, not by luck
def test_fifty_threads_against_a_limit_of_five_admit_exactly_five(limiter, round_):
    settings, services = limiter("query=5/minute")
    key, threads = fresh_key(), 50
    barrier = threading.Barrier(threads)
    decisions: list[ratelimit.Decision | None] = [None] * threads

    def hit(i: int) -> None:
        barrier.wait()  # all fifty leave together: the race a separate ZCARD + ZADD loses
        decisions[i] = ratelimit.check(services, settings, key, "query")

    workers = [threading.Thread(target=hit, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    assert all(isinstance(d, ratelimit.Decision) for d in decisions)
    admitted = [d for d in decisions if d.allowed]
    refused = [d for d in decisions if not d.allowed]
    assert len(admitted) == 5 and len(refused) == 45
    assert sorted(d.remaining for d in admitted) == [0, 1, 2, 3, 4]  # each saw its own, exact count
    assert all(d.remaining == 0 and 1 <= d.retry_after <= 60 for d in refused)
    redis_key = f"ci:v1:rl:query:{key}"
    assert services.redis.zcard(redis_key) == 5  # refusals are not recorded
    assert 0 < services.redis.pttl(redis_key) <= 60_000  # the set expires with its window


def test_the_window_slides_counts_down_and_frees_a_slot(limiter):
    settings, services = limiter("default=2/second")
    key = fresh_key()
    first, second, third = (ratelimit.check(services, settings, key, "default") for _ in range(3))
    assert (first.allowed, second.allowed, third.allowed) == (True, True, False)
    assert (first.limit, first.remaining, second.remaining, third.remaining) == (2, 1, 0, 0)
    assert first.reset == 1 and first.retry_after == 0  # reset: seconds until the oldest request leaves the window
    assert 1 <= third.retry_after <= 2 and third.reset == third.retry_after
    time.sleep(third.retry_after)
    again = ratelimit.check(services, settings, key, "default")
    assert again.allowed and again.remaining == 1


def test_a_sliding_window_not_a_fixed_one(limiter):
    settings, services = limiter()
    settings = dataclasses.replace(settings, rate_limits=(("default", 2, 2),))  # 2 per 2 s, for timing slack
    key = fresh_key()
    assert ratelimit.check(services, settings, key, "default").allowed  # A at 0 s
    time.sleep(1.0)
    assert ratelimit.check(services, settings, key, "default").allowed  # B at 1 s
    time.sleep(1.3)
    # At 2.3 s A has left the window and B has not: one slot, exactly.
    c = ratelimit.check(services, settings, key, "default")
    d = ratelimit.check(services, settings, key, "default")
    assert c.allowed and c.remaining == 0
    assert not d.allowed and 1 <= d.retry_after <= 2  # B frees its slot at 3 s


def test_classes_and_keys_count_apart(limiter):
    settings, services = limiter("query=1/minute,upload=1/minute")
    key, other = fresh_key(), fresh_key()
    assert ratelimit.check(services, settings, key, "query").allowed
    assert not ratelimit.check(services, settings, key, "query").allowed
    assert ratelimit.check(services, settings, key, "upload").allowed
    assert ratelimit.check(services, settings, other, "query").allowed


def test_disabled_exempt_or_unknown_class_is_no_decision(limiter):
    settings, services = limiter(RATE_LIMIT_ENABLED="false")
    assert ratelimit.check(services, settings, fresh_key(), "query") is None
    settings, services = limiter()
    assert ratelimit.check(services, settings, fresh_key(), None) is None
    assert ratelimit.check(services, settings, fresh_key(), "nonsense") is None
    assert ratelimit.headers(None) == {}


def test_headers_keep_their_shape():
    decision = ratelimit.Decision(allowed=False, limit=20, remaining=0, reset=7, retry_after=7)
    assert ratelimit.headers(decision) == {"X-RateLimit-Limit": "20", "X-RateLimit-Remaining": "0",
                                           "X-RateLimit-Reset": "7"}


@pytest.mark.parametrize("redis_url", ["redis://127.0.0.1:1/0", ""])  # nothing listens on port 1; no Redis at all
def test_without_redis_fail_open_allows_logs_and_counts(redis_url, caplog):
    settings = load_settings({"REDIS_URL": redis_url})
    services = Services(settings)
    before = ratelimit.stats()["fail_open"]
    with caplog.at_level(logging.WARNING, logger="convoinsight.ratelimit"):
        assert ratelimit.check(services, settings, fresh_key(), "query") is None
    assert ratelimit.stats()["fail_open"] == before + 1
    events = [r for r in caplog.records if getattr(r, "fields", {}).get("event") == "rate_limit_unavailable"]
    assert events and events[0].levelno == logging.WARNING and events[0].fields["limit_class"] == "query"
    services.close()


def test_without_redis_fail_closed_is_503_with_retry_after():
    settings = load_settings({"REDIS_URL": "redis://127.0.0.1:1/0", "RATE_LIMIT_FAIL_OPEN": "false"})
    services = Services(settings)
    before = ratelimit.stats()["fail_closed"]
    with pytest.raises(errors.ServiceUnavailable) as caught:
        ratelimit.check(services, settings, fresh_key(), "query")
    assert caught.value.status == 503 and caught.value.retry_after == 5
    assert caught.value.code == "rate_limit_unavailable"
    assert ratelimit.stats()["fail_closed"] == before + 1
    services.close()


# --- the settings -------------------------------------------------------------------------------------------------

def test_defaults_are_the_seeded_classes():
    s = load_settings({})
    assert s.rate_limit_enabled is True and s.rate_limit_fail_open is True
    assert dict((c, (n, w)) for c, n, w in s.rate_limits) == {
        "default": (100, 3600), "query": (20, 60), "upload": (50, 3600), "dataset_ops": (200, 3600),
        "export": (30, 3600), "auth": (10, 60), "poll": (1200, 60)}
    hash(s)  # settings key the services cache: they must stay hashable


def test_rate_limits_override_only_the_classes_named():
    s = load_settings({"RATE_LIMITS": " query = 5/Second , auth=3/day,"})
    limits = {c: (n, w) for c, n, w in s.rate_limits}
    assert limits["query"] == (5, 1) and limits["auth"] == (3, 86400)
    assert limits["upload"] == (50, 3600) and limits["default"] == (100, 3600)


@pytest.mark.parametrize(("value", "message"), [
    ("queries=5/minute", "unknown class"),
    ("query=5/fortnight", "class=count/unit"),
    ("query=5", "class=count/unit"),
    ("query", "class=count/unit"),
    ("=5/minute", "class=count/unit"),
    ("query=0/minute", "at least 1"),
    ("query=-1/minute", "class=count/unit"),
    ("query=five/minute", "class=count/unit"),
    ("query=²/minute", "class=count/unit"),
    ("query=5/minute,query=6/minute", "twice"),
])
def test_bad_rate_limits_name_the_setting(value, message):
    with pytest.raises(ConfigError, match="RATE_LIMITS") as caught:
        load_settings({"RATE_LIMITS": value})
    assert message in caught.value.message


@pytest.mark.parametrize("name", ["RATE_LIMIT_ENABLED", "RATE_LIMIT_FAIL_OPEN"])
def test_bad_switches_name_the_setting(name):
    with pytest.raises(ConfigError, match=name):
        load_settings({name: "sometimes"})


def test_every_route_has_a_known_class_or_is_exempt():
    from convoinsight.api import charts, datasets, health, prompts, queries

    known = {c for c, _, _ in load_settings({}).rate_limits}
    classes = {}
    for module in (charts, datasets, health, prompts, queries):
        for endpoint, (_, options) in module.app._handlers.items():
            classes[f"{module.app.name} {endpoint}"] = options.limit
    # Every function's own OpenAPI document is exempt, like the probes: the same bytes for everyone, cached.
    assert {c for e, c in classes.items() if e.endswith(" GET /openapi.json")} == {None}
    classes = {e: c for e, c in classes.items() if not e.endswith(" GET /openapi.json")}
    assert all(c is None or c in known for c in classes.values()), classes
    assert classes["queries POST /"] == "query"
    assert classes["datasets POST /<domain>"] == classes["datasets POST /<domain>/uploads"] == "upload"
    assert {c for e, c in classes.items() if e.startswith("datasets") and "POST" not in e} == {"dataset_ops"}
    assert {c for e, c in classes.items() if e.startswith("charts")} == {"dataset_ops"}
    assert {c for e, c in classes.items() if e.startswith("prompts")} == {"default"}
    assert classes["health GET /"] == "default"
    assert classes["health GET /live"] is None and classes["health GET /ready"] is None  # probes: never limited
