"""Conversation memory: recent turns in Redis with a TTL, trimmed by tokens, documents as the fallback."""

from __future__ import annotations

import io

import redis

from convoinsight.queries.ask import _history
from convoinsight.services import get_services
from convoinsight.sessions import memory, store
from convoinsight.settings import get_settings
from tests.support.data import SALES_CSV


def test_remember_caps_turns_and_sets_a_ttl(redis_server, user_id):
    client = redis.Redis.from_url(redis_server.url)
    for i in range(memory.MAX_TURNS + 5):
        memory.remember(client, user_id, "s1", memory.compact_turn(f"q{i}", None, "a"))
    turns = memory.recall(client, user_id, "s1")
    assert [t["question"] for t in turns] == [f"q{i}" for i in range(5, memory.MAX_TURNS + 5)]
    assert 0 < client.ttl(f"ci:v1:{user_id}:memory:s1") <= memory.TTL_SECONDS
    assert memory.recall(client, user_id, "other-session") is None


def test_memory_is_optional():
    down = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    memory.remember(down, "u", "s", {"question": "q"})  # no error
    assert memory.recall(down, "u", "s") is None
    assert memory.recall(None, "u", "s") is None


def test_trim_keeps_the_newest_turns_within_the_token_budget():
    turns = [memory.compact_turn(f"question {i}", "SELECT 1", "x" * 400) for i in range(10)]
    kept = memory.trim_to_tokens(turns, budget=300)
    assert kept == turns[-len(kept):] and 1 <= len(kept) < 10
    assert memory.trim_to_tokens(turns[:1], budget=1) == turns[:1]  # the last turn always stays


def test_history_comes_from_redis_and_falls_back_to_the_documents(datasets_client, queries_client, user_id):
    datasets_client.post("/shop", headers={"X-User-Id": user_id},
                         data={"file": (io.BytesIO(SALES_CSV.read_bytes()), "sales.csv")})
    first = queries_client.post("/", headers={"X-User-Id": user_id},
                                json={"domain": "shop", "prompt": "total revenue by region"}).get_json()
    session_id = first["session_id"]
    services = get_services(get_settings())
    from_memory = _history(services, user_id, session_id)
    assert from_memory == [memory.compact_turn("total revenue by region", first["sql"], first["answer"])]
    services.redis.delete(f"ci:v1:{user_id}:memory:{session_id}")
    assert _history(services, user_id, session_id) == from_memory  # rebuilt from the stored messages
    assert store.recent_turns(services.documents, user_id, session_id) == from_memory
