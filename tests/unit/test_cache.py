"""The cache against a real Redis: one round trip per lookup, generations in the value, entries fetched ahead."""

from __future__ import annotations

import json
import threading
import uuid

import pytest
import redis

from convoinsight import cache as caching
from convoinsight import ratelimit
from convoinsight.cache import Cache
from convoinsight.services import Services
from convoinsight.settings import load_settings
from tests.support.counting import RoundTrips


@pytest.fixture
def client(redis_server):
    made = redis.Redis.from_url(redis_server.url)
    yield made
    made.close()


@pytest.fixture
def tenant() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def trips(monkeypatch) -> RoundTrips:
    return RoundTrips(monkeypatch)


def test_a_lookup_is_one_round_trip_and_a_write_keeps_the_generation_read(client, tenant, trips):
    cache = Cache(client)
    with trips.recording():
        key, value = cache.get_json(tenant, "domain:d", "listing", "datasets")
    assert value is None and trips.redis == [["MGET"]]  # the generation and the entry, together
    cache.set_json(key, "listing", [1, 2])
    assert "gen" not in key and key.startswith(f"ci:v1:{tenant}:listing:")  # no generation in the key
    assert json.loads(client.get(key)) == {"g": [0], "v": [1, 2]}
    with trips.recording():
        assert cache.get_json(tenant, "domain:d", "listing", "datasets")[1] == [1, 2]
    assert trips.redis == [["MGET"]]


def test_a_write_makes_every_older_entry_a_miss_even_one_stored_after_it(client, tenant):
    cache = Cache(client)
    key, _ = cache.get_json(tenant, "domain:d", "listing", "datasets")  # read at generation 0
    cache.invalidate(tenant, "domain:d")  # a write lands while the value is being computed
    cache.set_json(key, "listing", ["computed before the write"])  # stored late, under generation 0
    again, value = cache.get_json(tenant, "domain:d", "listing", "datasets")
    assert value is None and again == key  # same key, older generation: never served
    cache.set_json(again, "listing", ["fresh"])
    assert cache.get_json(tenant, "domain:d", "listing", "datasets")[1] == ["fresh"]
    cache.invalidate(tenant, "domain:d")
    assert cache.get_json(tenant, "domain:d", "listing", "datasets")[1] is None


def test_an_entry_of_several_scopes_is_current_only_while_all_of_them_are(client, tenant):
    cache = Cache(client)
    scopes = ("domain:d", caching.CONFIG_SCOPE)
    key, _ = cache.get_json(tenant, scopes, "result", "q")
    cache.set_json(key, "result", {"answer": 1})
    assert cache.get_json(tenant, scopes, "result", "q")[1] == {"answer": 1}
    cache.invalidate(tenant, "domain:other")
    assert cache.get_json(tenant, scopes, "result", "q")[1] == {"answer": 1}
    cache.invalidate(tenant, caching.CONFIG_SCOPE)
    assert cache.get_json(tenant, scopes, "result", "q")[1] is None
    key, _ = cache.get_json(tenant, scopes, "result", "q")
    cache.set_json(key, "result", {"answer": 2})
    cache.invalidate(tenant, "domain:d")
    assert cache.get_json(tenant, scopes, "result", "q")[1] is None


def test_tenants_and_parts_never_share_an_entry(client, tenant):
    cache = Cache(client)
    key, _ = cache.get_json(tenant, "domain:d", "listing", "datasets")
    cache.set_json(key, "listing", ["mine"])
    assert cache.get_json(f"{tenant}-other", "domain:d", "listing", "datasets")[1] is None
    assert cache.get_json(tenant, "domain:d", "listing", "other")[1] is None
    assert caching.ref(tenant, "domain:d", "listing", "datasets").key == key


@pytest.mark.parametrize("stored", [b"not json", b'["no wrapper"]', b'{"v": 1}', b'{"g": 0, "v": 1}'])
def test_anything_but_a_current_wrapped_value_is_a_miss(client, tenant, stored):
    cache = Cache(client)
    key, _ = cache.get_json(tenant, "s", "listing", "x")
    client.set(key, stored)
    assert cache.get_json(tenant, "s", "listing", "x")[1] is None


def test_only_a_key_handed_out_by_a_lookup_can_be_written(client, tenant):
    cache = Cache(client)
    key, _ = cache.get_json(tenant, "s", "listing", "x")
    cache.set_json(str(key), "listing", "plain string key: the generation is unknown")
    assert client.get(key) is None
    cache.set_json(key, "listing", "ok", ttl=0)  # ttl 0: not kept
    assert client.get(key) is None


def test_redis_down_or_disabled_is_a_miss_never_an_error():
    down = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    for cache in (Cache(down), Cache(None), Cache(down, enabled=False)):
        key, value = cache.get_json("t", "s", "listing", "x")
        assert (key, value) == (None, None)
        cache.set_json(key, "listing", 1)
        cache.invalidate("t", "s")
        cache.forget(key)
        assert cache.cached("t", "s", "listing", ("x",), lambda: "computed") == "computed"


def test_entries_fetched_ahead_are_served_without_calling_redis_for_this_request_only(client, tenant, trips):
    cache = Cache(client)
    first, _ = cache.get_json(tenant, "domain:d", "listing", "datasets")
    cache.set_json(first, "listing", "the datasets")
    second, _ = cache.get_json(tenant, "domain:d", "profile", "l")
    cache.set_json(second, "profile", "the links")
    refs = [caching.ref(tenant, "domain:d", "listing", "datasets"), caching.ref(tenant, "domain:d", "profile", "l")]
    keys = caching.prefetch_keys(refs)
    assert keys == [refs[0].gen_keys[0], refs[0].key, refs[1].key]  # the shared generation once
    fetched = dict(zip(keys, client.mget(keys), strict=True))
    with trips.recording(), caching.serving(fetched):
        assert cache.get_json(tenant, "domain:d", "listing", "datasets")[1] == "the datasets"
        assert cache.get_json(tenant, "domain:d", "profile", "l")[1] == "the links"
    assert trips.redis == []
    with trips.recording():  # the block is over: back to Redis
        cache.get_json(tenant, "domain:d", "listing", "datasets")
    assert trips.redis == [["MGET"]]


def test_a_request_reads_its_own_writes_over_what_it_fetched_ahead(client, tenant):
    cache = Cache(client)
    key, _ = cache.get_json(tenant, "domain:d", "listing", "datasets")
    cache.set_json(key, "listing", "before")
    r = caching.ref(tenant, "domain:d", "listing", "datasets")
    fetched = dict(zip(r.keys, client.mget(r.keys), strict=True))
    with caching.serving(fetched):
        cache.invalidate(tenant, "domain:d")  # this request wrote: what it fetched is stale now
        key, value = cache.get_json(tenant, "domain:d", "listing", "datasets")
        assert value is None
        cache.set_json(key, "listing", "after")
        assert cache.get_json(tenant, "domain:d", "listing", "datasets")[1] == "after"
    with caching.serving(dict(zip(r.keys, client.mget(r.keys), strict=True))):
        cache.forget(r.key)
        assert cache.get_json(tenant, "domain:d", "listing", "datasets")[1] is None


def test_what_one_thread_fetched_is_not_served_to_another(client, tenant):
    cache = Cache(client)
    r = caching.ref(tenant, "s", "listing", "x")
    seen = []
    with caching.serving({r.gen_keys[0]: None, r.key: json.dumps({"g": [0], "v": "fetched"}).encode()}):
        assert cache.get_json(tenant, "s", "listing", "x")[1] == "fetched"
        worker = threading.Thread(target=lambda: seen.append(cache.get_json(tenant, "s", "listing", "x")[1]))
        worker.start()
        worker.join()
    assert seen == [None]  # Redis has no such entry: the other thread read Redis


# --- the rate limit that reads ------------------------------------------------------------------------------------

@pytest.fixture
def limited(redis_server):
    made: list[Services] = []

    def make(rate_limits: str = "", **env: str):
        settings = load_settings({"REDIS_URL": redis_server.url, "RATE_LIMITS": rate_limits, **env})
        made.append(Services(settings))
        return settings, made[-1]

    yield make
    for services in made:
        services.close()


def test_the_rate_limit_returns_the_reads_in_the_same_round_trip(limited, client, trips):
    settings, services = limited("query=2/minute")
    client.set("ci:v1:test:read-a", b"A")
    key = f"user:{uuid.uuid4().hex}"
    reads = ["ci:v1:test:read-a", "ci:v1:test:missing"]
    ratelimit.check_reading(services, settings, f"user:{uuid.uuid4().hex}", "query", reads)  # script loaded
    with trips.recording():
        decision, values = ratelimit.check_reading(services, settings, key, "query", reads)
    assert decision.allowed and decision.remaining == 1 and values == [b"A", None]
    assert trips.redis == [["EVALSHA"]]
    ratelimit.check_reading(services, settings, key, "query", reads)
    refused, values = ratelimit.check_reading(services, settings, key, "query", reads)
    assert not refused.allowed and values is None  # a refused request reads nothing
    assert services.redis.zcard(f"ci:v1:rl:query:{key}") == 2


def test_a_redis_that_lost_its_scripts_loads_it_again(limited, client):
    settings, services = limited("query=5/minute")
    client.set("ci:v1:test:read-b", b"B")
    ratelimit.check_reading(services, settings, f"user:{uuid.uuid4().hex}", "query", ["ci:v1:test:read-b"])
    client.script_flush()
    decision, values = ratelimit.check_reading(services, settings, f"user:{uuid.uuid4().hex}", "query",
                                               ["ci:v1:test:read-b"])
    assert decision.allowed and values == [b"B"]


def test_fifty_threads_reading_along_are_still_admitted_exactly(limited, client):
    settings, services = limited("query=5/minute")
    client.set("ci:v1:test:read-c", b"C")
    key, threads = f"user:{uuid.uuid4().hex}", 50
    barrier = threading.Barrier(threads)
    results: list = [None] * threads

    def hit(i: int) -> None:
        barrier.wait()
        results[i] = ratelimit.check_reading(services, settings, key, "query", ["ci:v1:test:read-c"])

    workers = [threading.Thread(target=hit, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    admitted = [values for decision, values in results if decision.allowed]
    assert len(admitted) == 5 and all(values == [b"C"] for values in admitted)
    assert sorted(d.remaining for d, _ in results if d.allowed) == [0, 1, 2, 3, 4]


def test_with_limits_off_the_reads_are_one_mget_and_redis_down_is_no_values(limited, client, trips):
    settings, services = limited(RATE_LIMIT_ENABLED="false")
    client.set("ci:v1:test:read-d", b"D")
    with trips.recording():
        assert ratelimit.check_reading(services, settings, "user:x", "query", ["ci:v1:test:read-d"]) == \
            (None, [b"D"])
    assert trips.redis == [["MGET"]]
    assert ratelimit.check_reading(services, settings, "user:x", "query") == (None, None)
    down = load_settings({"REDIS_URL": "redis://127.0.0.1:1/0"})
    gone = Services(down)
    assert ratelimit.check_reading(gone, down, "user:x", "query", ["k"]) == (None, None)  # fail open
    gone.close()


def test_parts_of_other_types_never_share_a_key_with_equal_ones(tenant):
    assert len({caching.ref(tenant, "s", "k", part).key for part in (1, True, 1.0, "1")}) == 4
    assert caching.ref(tenant, "s", "k", "a", "b") == caching.ref(tenant, ("s",), "k", "a", "b")
