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


def test_two_invalid_replies_raise_a_retryable_error(stubbed):
    llm, stub = stubbed
    stub.script("router", "nope", "still nope")
    with pytest.raises(LLMOutputInvalid) as caught:
        llm.complete_json("router", {}, model=None, meter=UsageMeter())
    assert caught.value.status == 502 and caught.value.retryable


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
