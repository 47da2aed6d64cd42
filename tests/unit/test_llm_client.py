"""The model client over the real litellm path, against the stub OpenAI-compatible server."""

from __future__ import annotations

import json

import pytest

from convoinsight.errors import BadRequest, LLMOutputInvalid
from convoinsight.llm.client import OFFLINE_MODEL, LLMClient
from convoinsight.llm.prompts import PromptStore
from convoinsight.llm.usage import UsageMeter
from convoinsight.settings import DEFAULT_PROMPTS_DIR, load_settings

ROUTE = {"route": "data", "datasets": ["sales"], "chart": "bar", "analysis": True}


def client(**env) -> LLMClient:
    return LLMClient(load_settings(env), PromptStore(DEFAULT_PROMPTS_DIR))


@pytest.fixture
def stubbed(stub_llm):
    stub_llm.reset()
    yield client(LLM_API_BASE=stub_llm.base_url, LLM_MODEL="openai/stub-model", LLM_API_KEY="sk-test-key"), stub_llm
    stub_llm.reset()


def test_call_carries_the_agent_header_model_key_and_json_mode(stubbed):
    llm, stub = stubbed
    stub.script("router", json.dumps(ROUTE))
    meter = UsageMeter()
    assert llm.complete_json("router", {"question": "q"}, model=None, meter=meter) == ROUTE
    (call,) = stub.calls()
    assert call["headers"]["X-ConvoInsight-Agent"] == "router"
    assert call["headers"]["Authorization"] == "Bearer sk-test-key"
    assert call["body"]["model"] == "stub-model" and call["body"]["temperature"] == 0
    assert call["body"]["response_format"] == {"type": "json_object"}
    assert meter.summary()["llm_calls"] == 1 and meter.summary()["tokens"] == 120


def test_output_in_a_fence_with_prose_is_accepted(stubbed):
    llm, stub = stubbed
    stub.script("router", "Here you go:\n```json\n" + json.dumps(ROUTE) + "\n```")
    assert llm.complete_json("router", {}, model=None, meter=UsageMeter()) == ROUTE


def test_schema_violation_gets_one_repair_with_the_reason(stubbed):
    llm, stub = stubbed
    stub.script("router", json.dumps({**ROUTE, "route": "maybe"}), json.dumps(ROUTE))
    assert llm.complete_json("router", {}, model=None, meter=UsageMeter()) == ROUTE
    repair = stub.calls()[1]["body"]["messages"][-1]["content"]
    assert "route" in repair and "invalid" in repair


def test_two_invalid_replies_hand_over_to_the_next_model(stubbed):
    """Malformed output after its one repair is a failure of that model: the chain moves on (here the offline
    planner, as the shipped fallbacks have no key), and usage says why."""
    llm, stub = stubbed
    stub.script("router", "nope", "still nope")
    meter = UsageMeter()
    out = llm.complete_json("router", {"question": "hello", "datasets": []}, model=None, meter=meter)
    assert out["route"] == "chat" and len(stub.calls()) == 2
    usage = meter.summary()
    assert usage["fallbacks"] == 1 and usage["fallback_reasons"] == {"invalid_output": 1}
    assert usage["answered_by"] == {OFFLINE_MODEL: 1}


def test_invalid_output_from_every_model_raises_a_retryable_error(stubbed, tmp_path):
    """An operator's schema that no model satisfies, the offline planner included: 502, retryable."""
    import shutil

    import yaml

    for path in DEFAULT_PROMPTS_DIR.glob("*.yaml"):
        shutil.copy(path, tmp_path / path.name)
    router = yaml.safe_load((tmp_path / "router.yaml").read_text())
    router["output_schema"]["required"].append("confidence")
    (tmp_path / "router.yaml").write_text(yaml.safe_dump(router))
    llm, stub = stubbed
    llm = LLMClient(llm.settings, PromptStore(tmp_path))
    stub.script("router", "nope", "still nope")
    with pytest.raises(LLMOutputInvalid) as caught:
        llm.complete_json("router", {"question": "hello", "datasets": []}, model=None, meter=UsageMeter())
    assert caught.value.status == 502 and caught.value.retryable and "confidence" in caught.value.message


def test_a_failing_endpoint_falls_back_to_the_offline_planner(stubbed):
    llm, stub = stubbed
    stub.fail_status = 500
    meter = UsageMeter()
    context = {"question": "hello", "datasets": []}
    out = llm.complete_json("router", context, model=None, meter=meter)
    assert out["route"] == "chat"
    assert meter.summary()["fallbacks"] == 1 and meter.calls[-1]["model"] == OFFLINE_MODEL
    assert len(stub.calls()) >= 1


def test_model_resolution():
    prompt = PromptStore(DEFAULT_PROMPTS_DIR).get("router")
    assert client().resolve_model(None, prompt) == OFFLINE_MODEL
    assert client(LLM_API_KEY="k").resolve_model(None, prompt) == prompt.model
    configured = client(LLM_MODEL="openai/gpt-4o-mini", LLM_API_KEY="k")
    assert configured.resolve_model(None, prompt) == "openai/gpt-4o-mini"
    assert configured.resolve_model("offline", prompt) == OFFLINE_MODEL
    with pytest.raises(BadRequest):
        configured.resolve_model("anthropic/claude-3-opus", prompt)  # never send our key elsewhere


# --- retries, circuit breaker, response cache, token budget -------------------------------------------------

from tests.support.stub_llm import Status  # noqa: E402


@pytest.fixture
def guarded(stub_llm, redis_server, user_id):
    """A client with the Redis-backed guards, as a request gets it."""
    import redis

    from convoinsight.cache import Cache

    stub_llm.reset()
    client_redis = redis.Redis.from_url(redis_server.url)

    def make(**env):
        settings = load_settings({"LLM_API_BASE": stub_llm.base_url, "LLM_MODEL": "openai/stub-model",
                                  "LLM_API_KEY": "sk-test-key", "LLM_BREAKER_COOLDOWN_SECONDS": "1", **env})
        return LLMClient(settings, PromptStore(DEFAULT_PROMPTS_DIR), redis=client_redis, tenant=user_id,
                         cache=Cache(client_redis))

    yield make, stub_llm
    # Breakers are per model and shared by every client: leave none open for the next test.
    for key in client_redis.scan_iter("ci:v1:breaker:*"):
        client_redis.delete(key)
    stub_llm.reset()


def test_transient_failures_are_retried_with_backoff(guarded):
    make, stub = guarded
    stub.script("router", Status(500), Status(429), json.dumps(ROUTE))
    meter = UsageMeter()
    assert make().complete_json("router", {"q": 1}, model=None, meter=meter) == ROUTE
    assert len(stub.calls()) == 3 and meter.summary()["llm_calls"] == 1 and meter.summary()["fallbacks"] == 0


def test_a_permanent_failure_is_not_retried_and_falls_back(guarded):
    make, stub = guarded
    stub.script("router", Status(401))
    meter = UsageMeter()
    out = make().complete_json("router", {"question": "hello", "datasets": []}, model=None, meter=meter)
    assert out["route"] == "chat" and len(stub.calls()) == 1 and meter.summary()["fallbacks"] == 1


def test_the_breaker_opens_for_every_instance_and_closes_after_the_cooldown(guarded):
    import time

    make, stub = guarded
    stub.fail_status = 503
    ctx = {"question": "hello", "datasets": []}
    first, second = make(LLM_MAX_RETRIES="0", LLM_BREAKER_THRESHOLD="3"), make(LLM_BREAKER_THRESHOLD="3")
    for _ in range(3):
        first.complete_json("router", ctx, model=None, meter=UsageMeter())
    assert len(stub.calls()) == 3
    # Another client (another instance) now skips the model without calling it: fallback at once.
    meter = UsageMeter()
    assert second.complete_json("router", ctx, model=None, meter=meter)["route"] == "chat"
    assert len(stub.calls()) == 3 and meter.summary()["fallbacks"] == 1
    stub.fail_status = None
    stub.script("router", json.dumps(ROUTE))
    time.sleep(1.2)  # cooldown: the next call is a trial that closes the breaker
    assert second.complete_json("router", ctx, model=None, meter=UsageMeter()) == ROUTE
    assert len(stub.calls()) == 4


def test_identical_calls_are_answered_from_the_tenants_cache(guarded, user_id):
    make, stub = guarded
    stub.script("router", json.dumps(ROUTE))
    llm, meter = make(), UsageMeter()
    assert llm.complete_json("router", {"q": "same"}, model=None, meter=meter) == ROUTE
    assert llm.complete_json("router", {"q": "same"}, model=None, meter=meter) == ROUTE
    assert len(stub.calls()) == 1
    assert meter.summary()["cache_hits"] == 1 and meter.summary()["llm_calls"] == 1
    # Another tenant never sees it.
    other = LLMClient(llm.settings, llm.prompts, redis=llm.cache.redis, tenant=f"{user_id}-x", cache=llm.cache)
    stub.script("router", json.dumps(ROUTE))
    other.complete_json("router", {"q": "same"}, model=None, meter=UsageMeter())
    assert len(stub.calls()) == 2


def test_an_invalid_reply_is_never_cached(guarded):
    make, stub = guarded
    stub.script("router", "not json", json.dumps(ROUTE), json.dumps(ROUTE))
    llm = make()
    llm.complete_json("router", {"q": "x"}, model=None, meter=UsageMeter())
    assert llm.complete_json("router", {"q": "x"}, model=None, meter=UsageMeter()) == ROUTE
    assert len(stub.calls()) == 3


def test_the_daily_token_budget_gives_429_until_midnight(guarded):
    from convoinsight.errors import RateLimited

    make, stub = guarded
    stub.always("router", json.dumps(ROUTE))
    llm = make(DAILY_TOKEN_BUDGET="200")
    llm.budget.spend(llm.tenant, 200)  # today's budget, all spent
    with pytest.raises(RateLimited) as caught:
        llm.complete_json("router", {"q": 3}, model=None, meter=UsageMeter())
    assert caught.value.status == 429 and 0 < caught.value.retry_after <= 86401
    assert "200" in caught.value.message and caught.value.code == "token_budget_exceeded"
    assert not stub.requests  # refused before any call
    # The offline planner costs no tokens and is never refused.
    llm.complete_json("router", {"question": "hi", "datasets": []}, model="offline", meter=UsageMeter())


def test_a_call_estimated_past_the_remaining_budget_is_not_made(guarded):
    """The budget is checked against each call's estimated size, so one large prompt cannot overshoot it."""
    from convoinsight.errors import RateLimited
    from convoinsight.llm.client import estimate_tokens

    make, stub = guarded
    stub.always("router", json.dumps(ROUTE))
    probe = make(DAILY_TOKEN_BUDGET="1000000")
    prompt = probe.prompts.get("router")
    small = estimate_tokens(prompt.messages({"q": 1}), prompt)
    llm = make(DAILY_TOKEN_BUDGET=str(small + 50))
    llm.complete_json("router", {"q": 1}, model=None, meter=UsageMeter())  # fits; the stub reports 120 tokens
    calls = len(stub.requests)
    big = {"q": "x" * 40_000}  # about 10,000 tokens of prompt
    with pytest.raises(RateLimited) as caught:
        llm.complete_json("router", big, model=None, meter=UsageMeter())
    assert caught.value.code == "token_budget_exceeded" and "needs about" in caught.value.message
    assert len(stub.requests) == calls  # the call was never made
    used = int(llm.budget.redis.get(llm.budget._key(llm.tenant)))
    assert used <= small + 50  # never over the budget
