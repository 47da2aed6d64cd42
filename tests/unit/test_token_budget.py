"""The daily token budget is durable: a Redis restart or outage can neither reset it nor let spend run over."""

from __future__ import annotations

import json

import pytest
import redis

from convoinsight.errors import RateLimited, ServiceUnavailable
from convoinsight.llm.client import LLMClient
from convoinsight.llm.guards import TokenBudget
from convoinsight.llm.prompts import PromptStore
from convoinsight.llm.usage import UsageMeter
from convoinsight.settings import DEFAULT_PROMPTS_DIR, load_settings
from convoinsight.storage.postgres_documents import PostgresDocumentStore
from convoinsight.storage.postgres_pool import PostgresPool
from local_emulator.backing import free_port

ROUTE = {"route": "data", "datasets": ["sales"], "chart": "auto", "analysis": True}


@pytest.fixture
def docs(postgres):
    pool = PostgresPool(postgres.url)
    yield PostgresDocumentStore(pool)
    pool.close()


@pytest.fixture
def live_redis(redis_server):
    return redis.Redis.from_url(redis_server.url)


@pytest.fixture
def dead_redis():
    """A client whose server is not there: what an outage looks like to the service."""
    return redis.Redis(host="127.0.0.1", port=free_port(), socket_timeout=0.2, socket_connect_timeout=0.2)


class BrokenDocuments:
    def get(self, *args, **kwargs):
        raise ServiceUnavailable("the document store is down")

    def increment(self, *args, **kwargs):
        raise ServiceUnavailable("the document store is down")


def test_a_redis_restart_does_not_reset_the_budget(docs, live_redis, user_id):
    budget = TokenBudget(live_redis, 1000, docs)
    budget.check(user_id)  # seeds the cache
    budget.spend(user_id, 900)
    live_redis.flushall()  # what a restart without persistence does
    assert budget.used(user_id) == 900
    with pytest.raises(RateLimited) as caught:
        budget.check(user_id, needed=200)
    assert caught.value.code == "token_budget_exceeded"


def test_with_redis_down_the_durable_spend_still_holds(docs, dead_redis, user_id):
    budget = TokenBudget(dead_redis, 1000, docs)
    budget.spend(user_id, 1000)
    with pytest.raises(RateLimited):
        budget.check(user_id)
    assert docs.get(TokenBudget.collection(user_id), budget._day()) == {"tokens": 1000}


def test_spend_from_many_writers_is_counted_exactly(docs, live_redis, user_id):
    from concurrent.futures import ThreadPoolExecutor

    budget = TokenBudget(live_redis, 10**9, docs)
    budget.check(user_id)
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda _: budget.spend(user_id, 7), range(100)))
    assert budget.used(user_id) == 700
    live_redis.delete(budget._key(user_id))
    assert budget.used(user_id) == 700


def test_when_the_budget_cannot_be_read_questions_are_refused_by_default(dead_redis, user_id):
    closed = TokenBudget(dead_redis, 1000, BrokenDocuments())
    with pytest.raises(ServiceUnavailable) as caught:
        closed.check(user_id)
    assert caught.value.code == "budget_unavailable" and caught.value.status == 503
    TokenBudget(dead_redis, 1000, BrokenDocuments(), fail_open=True).check(user_id)  # the operator's choice


def test_an_over_budget_user_gets_no_model_call_while_redis_is_down(docs, dead_redis, stub_llm, user_id):
    stub_llm.reset()
    stub_llm.always("router", json.dumps(ROUTE))
    settings = load_settings({"LLM_API_BASE": stub_llm.base_url, "LLM_MODEL": "openai/stub-model",
                              "LLM_API_KEY": "sk-test-key", "DAILY_TOKEN_BUDGET": "2000"})
    llm = LLMClient(settings, PromptStore(DEFAULT_PROMPTS_DIR), redis=dead_redis, tenant=user_id, documents=docs)
    llm.complete_json("router", {"q": 1}, model=None, meter=UsageMeter())  # the stub reports 120 tokens
    docs.increment(TokenBudget.collection(user_id), llm.budget._day(), "tokens", 2000)
    calls = len(stub_llm.requests)
    with pytest.raises(RateLimited):
        llm.complete_json("router", {"q": 2}, model=None, meter=UsageMeter())
    assert len(stub_llm.requests) == calls
    assert docs.get(TokenBudget.collection(user_id), llm.budget._day())["tokens"] == 2120
