"""Round trips of the hot paths (issue #15), counted in local mode (Redis + PostgreSQL documents).

A cached dataset listing is ONE Redis round trip (the rate limit and the two cache entries in one script call)
and no document read; a repeated question in a new session is ONE Redis round trip and ONE document write
(the turn, batched), nothing else. What the fast path skips must still be what it always was: every write
invalidates, the memory of a conversation is whole, a deleted session keeps nothing.
"""

from __future__ import annotations

import io
import time

import pytest

from convoinsight.services import get_services
from convoinsight.sessions import memory, store
from convoinsight.settings import get_settings
from tests.conftest import function_client
from tests.support.counting import RoundTrips
from tests.support.data import SALES_CSV

QUESTION = {"domain": "shop", "prompt": "total revenue by region"}


@pytest.fixture
def trips(local_env, monkeypatch) -> RoundTrips:
    # The prompts' edits are checked in Redis once a second per process: not during a counted request.
    monkeypatch.setenv("PROMPTS_CHECK_SECONDS", "3600")
    get_settings.cache_clear()
    return RoundTrips(monkeypatch)


@pytest.fixture
def shop_clients(trips, user_id):
    datasets, queries = function_client("datasets"), function_client("queries")
    h = {"X-User-Id": user_id}
    assert datasets.post("/shop", headers=h,
                         data={"file": (io.BytesIO(SALES_CSV.read_bytes()), "sales.csv")}).status_code == 201
    return datasets, queries, h


def services():
    return get_services(get_settings())


def cached(answer: dict) -> bool:
    """Whether the answer came from the result cache (the model-reply cache also counts in cache_hits)."""
    return list(answer["timings"]) == ["cache"]


def test_a_cached_listing_is_one_redis_round_trip_and_no_document_read(shop_clients, trips):
    datasets, _, h = shop_clients
    first = datasets.get("/shop", headers=h)  # fills both entries (the datasets, the linked tables)
    datasets.get("/shop", headers=h)
    with trips.recording():
        again = datasets.get("/shop", headers=h)
    assert again.status_code == 200 and again.get_json() == first.get_json()
    assert trips.redis == [["EVALSHA"]] and trips.sql == []
    assert int(again.headers["X-RateLimit-Remaining"]) < int(first.headers["X-RateLimit-Remaining"])


def test_a_write_is_seen_by_the_next_cached_listing(shop_clients, trips):
    datasets, _, h = shop_clients
    assert [d["name"] for d in datasets.get("/shop", headers=h).get_json()["datasets"]] == ["sales"]
    assert datasets.post("/shop", headers=h, data={"file": (io.BytesIO(b"a\n1\n"), "more.csv")}).status_code == 201
    assert [d["name"] for d in datasets.get("/shop", headers=h).get_json()["datasets"]] == ["more", "sales"]
    assert datasets.delete("/shop/more", headers=h).status_code == 200
    assert [d["name"] for d in datasets.get("/shop", headers=h).get_json()["datasets"]] == ["sales"]
    other = {"X-User-Id": f"{h['X-User-Id']}-other"}  # another tenant's same domain name is its own
    assert datasets.get("/shop", headers=other).status_code == 404


def test_with_rate_limits_off_a_cached_listing_is_one_mget(shop_clients, trips, monkeypatch):
    datasets, _, h = shop_clients
    monkeypatch.setenv("RATE_LIMIT_ENABLED", "false")
    get_settings.cache_clear()
    datasets.get("/shop", headers=h)
    with trips.recording():
        resp = datasets.get("/shop", headers=h)
    assert resp.status_code == 200 and "X-RateLimit-Limit" not in resp.headers
    assert trips.redis == [["MGET"]] and trips.sql == []


def test_a_repeated_question_is_one_redis_round_trip_and_one_document_write(shop_clients, trips, user_id):
    _, queries, h = shop_clients
    first = queries.post("/", headers=h, json=QUESTION).get_json()
    assert first["sql_status"] == "ok" and first["usage"]["cache_hits"] == 0
    queries.post("/", headers=h, json=QUESTION)
    with trips.recording():
        resp = queries.post("/", headers=h, json=QUESTION)
    body = resp.get_json()
    assert resp.status_code == 200 and body["usage"]["cache_hits"] == 1 and body["usage"]["llm_calls"] == 0
    assert {k: body[k] for k in ("answer", "sql", "table", "insights")} == \
        {k: first[k] for k in ("answer", "sql", "table", "insights")}
    assert trips.redis == [["EVALSHA"]]
    assert trips.reads == [] and len(trips.writes) == 1 and trips.writes[0][0].startswith("INSERT")
    # That one write kept the turn whole: the session, the question, the answer and its chart.
    docs = services().documents
    session = docs.get(store.sessions(user_id), body["session_id"])
    assert session["message_count"] == 2 and session["title"] == QUESTION["prompt"]
    messages = docs.list(store.messages(user_id, body["session_id"]), order_by="seq")
    assert [m["role"] for m in messages] == ["user", "assistant"] and messages[1]["id"] == body["message_id"]
    assert docs.get(store.charts(user_id), body["chart"]["id"])["spec"] == body["chart"]["spec"]


def test_a_repeated_follow_up_reads_only_its_session_and_the_tombstone(shop_clients, trips, user_id):
    _, queries, h = shop_clients
    session_id = queries.post("/", headers=h, json=QUESTION).get_json()["session_id"]
    follow = {**QUESTION, "prompt": "total units by product", "session_id": session_id}
    queries.post("/", headers=h, json=follow)
    queries.post("/", headers=h, json=follow)
    with trips.recording():
        body = queries.post("/", headers=h, json=follow).get_json()
    assert cached(body)
    assert [(sql.split()[0], where["c"]) for sql, where in trips.sql if sql.startswith("SELECT")] == [
        ("SELECT", store.sessions(user_id)), ("SELECT", store.deleted(user_id))]  # before and after the write
    assert len(trips.writes) == 1
    # The rate limit, the memory, the answer, the memory's new turn.
    assert [trip[0] for trip in trips.redis] == ["EVALSHA", "LRANGE", "MGET", "MULTI"]
    assert services().documents.get(store.sessions(user_id), session_id)["message_count"] == 8


def test_the_first_turn_is_not_in_memory_and_the_next_one_seeds_it_whole(shop_clients, user_id):
    _, queries, h = shop_clients
    first = queries.post("/", headers=h, json=QUESTION).get_json()
    redis = services().redis
    assert memory.recall(redis, user_id, first["session_id"]) is None  # the stored turn says it
    follow = {**QUESTION, "prompt": "total units by product", "session_id": first["session_id"]}
    second = queries.post("/", headers=h, json=follow).get_json()
    third = queries.post("/", headers=h, json={**follow, "prompt": "average revenue by region"}).get_json()
    assert [t["question"] for t in memory.recall(redis, user_id, first["session_id"])] == [
        QUESTION["prompt"], "total units by product", "average revenue by region"]
    assert memory.recall(redis, user_id, first["session_id"])[0] == memory.compact_turn(
        QUESTION["prompt"], first["sql"], first["answer"])
    assert second["sql"] and third["sql"]


def test_an_async_follow_up_of_a_first_sync_turn_keeps_both_in_memory(shop_clients, user_id):
    _, queries, h = shop_clients
    first = queries.post("/", headers=h, json=QUESTION).get_json()
    job = queries.post("/", headers=h, json={**QUESTION, "prompt": "total units by product", "mode": "async",
                                             "session_id": first["session_id"]}).get_json()
    deadline = time.monotonic() + 30
    while queries.get(f"/{job['job_id']}", headers=h).get_json()["status"] not in ("succeeded", "failed"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    expected, remembered = [QUESTION["prompt"], "total units by product"], None
    while time.monotonic() < deadline:  # the job's last step writes the memory just after its outcome
        remembered = [t["question"] for t in memory.recall(services().redis, user_id, first["session_id"]) or []]
        if remembered == expected:
            break
        time.sleep(0.05)
    assert remembered == expected


def test_seeding_twice_keeps_each_turn_once(redis_server, user_id):
    import redis as redis_lib

    client = redis_lib.Redis.from_url(redis_server.url)
    seed = [memory.compact_turn("q1", None, "a1")]
    memory.remember(client, user_id, "s", memory.compact_turn("q2", None, "a2"), seed=seed)
    memory.remember(client, user_id, "s", memory.compact_turn("q3", None, "a3"), seed=seed)  # raced: no re-seed
    assert [t["question"] for t in memory.recall(client, user_id, "s")] == ["q1", "q2", "q3"]
    memory.remember(client, user_id, "only-seed", None, seed=seed)
    assert [t["question"] for t in memory.recall(client, user_id, "only-seed")] == ["q1"]
    assert 0 < client.ttl(f"ci:v1:{user_id}:memory:s") <= memory.TTL_SECONDS
    client.close()


def test_a_cached_answer_for_a_session_being_deleted_keeps_nothing(shop_clients, user_id):
    _, queries, h = shop_clients
    session_id = queries.post("/", headers=h, json=QUESTION).get_json()["session_id"]
    follow = {**QUESTION, "prompt": "total units by product", "session_id": session_id}
    queries.post("/", headers=h, json=follow)
    queries.post("/", headers=h, json=follow)  # the last turn is this question now: its answer is cached
    assert cached(queries.post("/", headers=h, json=follow).get_json())  # and so is the next one
    docs = services().documents
    docs.put(store.deleted(user_id), session_id, {"id": session_id, "at": time.time()})  # a delete under way
    resp = queries.post("/", headers=h, json=follow)
    assert resp.status_code == 404 and resp.get_json()["error"]["code"] == "session_not_found"
    assert docs.get(store.sessions(user_id), session_id) is None
    assert docs.list(store.messages(user_id, session_id)) == []


def test_a_new_dataset_version_is_never_answered_from_the_older_ones_cache(shop_clients):
    datasets, queries, h = shop_clients
    queries.post("/", headers=h, json=QUESTION)
    assert cached(queries.post("/", headers=h, json=QUESTION).get_json())
    doubled = SALES_CSV.read_bytes() + b"\n".join(SALES_CSV.read_bytes().splitlines()[1:]) + b"\n"
    assert datasets.post("/shop", headers=h, data={"file": (io.BytesIO(doubled), "sales.csv")}).status_code == 201
    fresh = queries.post("/", headers=h, json=QUESTION).get_json()
    assert not cached(fresh) and fresh["sql_status"] == "ok"
    assert datasets.delete("/shop/sales", headers=h).status_code == 200
    gone = queries.post("/", headers=h, json=QUESTION)
    assert gone.status_code == 404 and gone.get_json()["error"]["code"] == "domain_not_found"


def test_errors_keep_their_order_on_the_fast_path(shop_clients, user_id):
    _, queries, h = shop_clients
    session_id = queries.post("/", headers=h, json=QUESTION).get_json()["session_id"]
    for body, code in (({"domain": "nowhere", "prompt": "x", "session_id": "feedface"}, "domain_not_found"),
                       ({"domain": "nowhere", "prompt": "x", "session_id": session_id}, "domain_not_found"),
                       ({"domain": "shop", "prompt": "x", "session_id": "feedface"}, "session_not_found")):
        resp = queries.post("/", headers=h, json=body)
        assert resp.get_json()["error"]["code"] == code, body
