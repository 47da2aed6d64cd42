"""Fallback chains over the real litellm path: each provider's endpoint is the stub, which answers per model.

The chosen model is ``openai/stub-model`` on the deployment's endpoint (LLM_API_BASE, LLM_API_KEY); the
fallbacks are DeepSeek, xAI and OpenRouter models whose endpoints and keys come from litellm's own variables
(``<PROVIDER>_API_BASE``, ``<PROVIDER>_API_KEY``), all pointed at the same stub. The stub tells them apart by
the ``model`` field it receives: ``stub-model``, ``deepseek-chat``, ``grok-3-mini``, ``openai/gpt-4o-mini``.
"""

from __future__ import annotations

import json
import logging
import time

import pytest

from convoinsight.errors import ConfigError
from convoinsight.llm.client import OFFLINE_MODEL, LLMClient
from convoinsight.llm.keys import Credential
from convoinsight.llm.prompts import PromptStore
from convoinsight.llm.usage import UsageMeter
from convoinsight.pipeline.draft import AnswerDraft
from convoinsight.settings import DEFAULT_PROMPTS_DIR, load_settings
from tests.conftest import function_client
from tests.support.stub_llm import Cut, Slow, Status
from tests.support.token_sink import Recorder

ROUTE = {"route": "data", "datasets": ["sales"], "chart": "bar", "analysis": True}
COMPILER = json.dumps({"answer": "Revenue is highest in the North.", "follow_ups": ["And by month?"]})
SERVER_KEY = "sk-server-key-for-stub"
CHAIN = "deepseek/deepseek-chat|xai/grok-3-mini|openrouter/openai/gpt-4o-mini"
CHAT = {"question": "hello", "datasets": []}


@pytest.fixture
def providers(stub_llm, monkeypatch):
    """Every fallback provider's endpoint and key in the environment, as a deployment would set them;
    ``make(**env)`` builds a request's client over the same environment."""
    stub_llm.reset()
    env = {"LLM_API_BASE": stub_llm.base_url, "LLM_MODEL": "openai/stub-model", "LLM_API_KEY": SERVER_KEY}
    for provider in ("deepseek", "xai", "openrouter"):
        env[f"{provider.upper()}_API_BASE"] = stub_llm.base_url
        env[f"{provider.upper()}_API_KEY"] = f"sk-{provider}-deployment-key"
    for name, value in env.items():
        monkeypatch.setenv(name, value)  # litellm reads the provider variables from the process environment

    def make(credentials=None, **more):
        """A client over the environment plus ``more`` (a value of None removes that variable)."""
        merged = {**env, **more}
        for name, value in more.items():
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
        settings = load_settings({k: v for k, v in merged.items() if v is not None})
        return LLMClient(settings, PromptStore(DEFAULT_PROMPTS_DIR), credentials=credentials)

    yield make, stub_llm
    stub_llm.reset()


def test_the_chain_walks_5xx_timeout_and_malformed_json_to_the_model_that_answers(providers):
    make, stub = providers
    stub.always_model("stub-model", Status(503))
    stub.always_model("deepseek-chat", Slow(2.0, json.dumps(ROUTE)))  # past the 0.5 s timeout
    stub.script_model("grok-3-mini", "not json at all", json.dumps({**ROUTE, "route": "maybe"}))
    stub.always_model("openai/gpt-4o-mini", json.dumps(ROUTE))
    llm = make(LLM_FALLBACK_MODELS=f"router={CHAIN}", LLM_TIMEOUT_SECONDS="0.5", LLM_MAX_RETRIES="1",
               LLM_CHAIN_TIMEOUT_SECONDS="15")
    meter = UsageMeter()
    started = time.monotonic()
    assert llm.complete_json("router", {"question": "revenue by region"}, model=None, meter=meter) == ROUTE
    elapsed = time.monotonic() - started
    # Each model gets its retry (5xx, timeout) or its one repair (invalid JSON), in the chain's order.
    assert stub.models("router") == ["stub-model", "stub-model", "deepseek-chat", "deepseek-chat",
                                     "grok-3-mini", "grok-3-mini", "openai/gpt-4o-mini"]
    repair = stub.calls("router")[5]["body"]["messages"][-1]["content"]
    assert "invalid" in repair
    # The answer came from the third fallback; three models were left, each for its reason.
    usage = meter.summary()
    assert usage["answered_by"] == {"openrouter/openai/gpt-4o-mini": 1}
    assert usage["fallbacks"] == 3
    assert usage["fallback_reasons"] == {"unavailable": 1, "timeout": 1, "invalid_output": 1}
    assert usage["llm_calls"] == 3 and usage["tokens"] == 360  # the two invalid replies and the answer
    assert meter.calls[-1]["model"] == "openrouter/openai/gpt-4o-mini"
    # Each provider got its own key: the deployment's LLM_API_KEY never left for another provider.
    keys = {(r["model"], r["headers"]["Authorization"]) for r in stub.calls("router")}
    assert keys == {("stub-model", f"Bearer {SERVER_KEY}"), ("deepseek-chat", "Bearer sk-deepseek-deployment-key"),
                    ("grok-3-mini", "Bearer sk-xai-deployment-key"),
                    ("openai/gpt-4o-mini", "Bearer sk-openrouter-deployment-key")}
    assert 1.0 <= elapsed < 15  # two timeouts of 0.5 s, all within the chain's bound


def test_a_fallback_without_a_key_is_skipped_without_a_request(providers, caplog):
    make, stub = providers
    stub.always_model("stub-model", Status(503))
    llm = make(DEEPSEEK_API_KEY=None, DEEPSEEK_API_BASE=None, LLM_FALLBACK_MODELS="deepseek/deepseek-chat",
               LLM_MAX_RETRIES="0")
    caplog.set_level(logging.INFO, logger="convoinsight.llm")
    meter = UsageMeter()
    assert llm.complete_json("router", CHAT, model=None, meter=meter)["route"] == "chat"
    assert stub.models() == ["stub-model"]  # deepseek never called
    assert meter.summary()["answered_by"] == {OFFLINE_MODEL: 1}
    assert meter.summary()["fallbacks"] == 1  # the skip is no fallback taken: only the failed model counts
    def events(name):
        return [r for r in caplog.records if getattr(r, "fields", {}).get("event") == name]

    (skipped,) = events("llm_fallback_skipped")
    assert "no key for provider 'deepseek'" in skipped.getMessage()
    assert skipped.fields == {"event": "llm_fallback_skipped", "agent": "router", "model": "deepseek/deepseek-chat",
                              "reason": "no_key"}
    assert [r.getMessage() for r in events("llm_fallback")] == ["agent router: left openai/stub-model (unavailable)"]
    assert SERVER_KEY not in caplog.text and "sk-xai-deployment-key" not in caplog.text


def test_llm_fallback_models_overrides_the_prompts_list(providers):
    make, stub = providers
    stub.always_model("stub-model", Status(503))
    for model in ("openai/gpt-4o-mini", "deepseek-chat", "grok-3-mini"):
        stub.always_model(model, json.dumps(ROUTE))
    # The router's shipped fallbacks first: OpenRouter's gpt-4o-mini answers.
    shipped = make(LLM_MAX_RETRIES="0")
    assert shipped.prompts.get("router").fallbacks == ("openrouter/openai/gpt-4o-mini", "deepseek/deepseek-chat")
    meter = UsageMeter()
    assert shipped.complete_json("router", {"q": 1}, model=None, meter=meter) == ROUTE
    assert stub.models() == ["stub-model", "openai/gpt-4o-mini"]
    # The setting for every agent replaces them; an agent's own entry wins over it.
    stub.requests.clear()
    overridden = make(LLM_MAX_RETRIES="0", LLM_FALLBACK_MODELS="xai/grok-3-mini;compiler=deepseek/deepseek-chat")
    meter = UsageMeter()
    assert overridden.complete_json("router", {"q": 2}, model=None, meter=meter) == ROUTE
    assert stub.models() == ["stub-model", "grok-3-mini"]
    assert meter.summary()["answered_by"] == {"xai/grok-3-mini": 1}
    assert overridden.settings.fallback_models("compiler", ()) == ("deepseek/deepseek-chat",)
    # `none`: straight to the offline planner.
    stub.requests.clear()
    bare = make(LLM_MAX_RETRIES="0", LLM_FALLBACK_MODELS="router=none")
    meter = UsageMeter()
    assert bare.complete_json("router", CHAT, model=None, meter=meter)["route"] == "chat"
    assert stub.models() == ["stub-model"] and meter.summary()["answered_by"] == {OFFLINE_MODEL: 1}


def test_a_callers_refused_key_is_a_fallback_that_usage_names(providers):
    make, stub = providers
    stub.always_model("stub-model", Status(401))
    stub.always_model("openai/gpt-4o-mini", json.dumps(ROUTE))
    mine = Credential("openai", "user", "sk-alice-own-key-1234")
    meter = UsageMeter()
    llm = make(credentials={"openai": mine})
    assert llm.complete_json("router", {"q": 3}, model="openai/stub-model", meter=meter) == ROUTE
    assert stub.models() == ["stub-model", "openai/gpt-4o-mini"]  # a 401 is never retried
    assert stub.calls()[0]["headers"]["Authorization"] == "Bearer sk-alice-own-key-1234"
    assert meter.summary()["fallback_reasons"] == {"key_refused": 1}
    assert meter.summary()["answered_by"] == {"openrouter/openai/gpt-4o-mini": 1}


def test_a_chain_of_slow_models_stops_at_its_time_bound(providers):
    make, stub = providers
    for model in ("stub-model", "openai/gpt-4o-mini", "deepseek-chat"):
        stub.always_model(model, Slow(3.0, json.dumps(ROUTE)))
    llm = make(LLM_TIMEOUT_SECONDS="1", LLM_MAX_RETRIES="2", LLM_CHAIN_TIMEOUT_SECONDS="1.5")
    meter = UsageMeter()
    started = time.monotonic()
    assert llm.complete_json("router", CHAT, model=None, meter=meter)["route"] == "chat"
    elapsed = time.monotonic() - started
    seen = [(r["model"], round(r["at"] - started, 2)) for r in stub.requests]
    # 1.5 s of chain, then the offline planner at once (slack for a loaded machine; each model sleeps 3 s)
    assert elapsed < 2.5, (elapsed, seen)
    # The first fallback gets only what is left of the 1.5 s; nothing starts once it is spent.
    assert seen[0][0] == "stub-model" and "deepseek-chat" not in stub.models(), seen
    assert all(at < 1.5 + 0.2 for _, at in seen), seen
    assert meter.summary()["answered_by"] == {OFFLINE_MODEL: 1}
    assert set(meter.summary()["fallback_reasons"]) == {"timeout"}


def test_a_streamed_answer_falls_back_without_leaving_the_failed_models_text(providers):
    make, stub = providers
    stub.always_model("stub-model", Cut(json.dumps({"answer": "PRIMARY half-written text that"}), 30))
    broken = '{"answer": "DEEPSEEK wrong draft, never closed'
    stub.script_model("deepseek-chat", broken, broken)
    stub.always_model("openai/gpt-4o-mini", COMPILER)
    llm = make(LLM_MAX_RETRIES="0", LLM_FALLBACK_MODELS="compiler=deepseek/deepseek-chat|openrouter/openai/gpt-4o-mini")
    sink = Recorder()
    draft, meter = AnswerDraft(sink), UsageMeter()
    out = llm.complete_json("compiler", {"q": 4}, model=None, meter=meter, draft=draft)
    assert out == json.loads(COMPILER)
    assert stub.models("compiler") == ["stub-model", "deepseek-chat", "deepseek-chat", "openai/gpt-4o-mini"]
    assert all(r["body"]["stream"] is True for r in stub.calls("compiler"))
    resets = [value for kind, value in sink.events if kind == "reset"]
    assert resets == ["fallback", "repair", "fallback"]
    last_reset = max(i for i, (kind, _) in enumerate(sink.events) if kind == "reset")
    streamed = "".join(value for kind, value in sink.events[last_reset:] if kind == "token")
    assert streamed == out["answer"]  # the fallback's text streamed as it came, before the answer was final
    draft.finish(out["answer"])
    assert sink.shown() == out["answer"]
    assert "PRIMARY" not in sink.shown() and "DEEPSEEK" not in sink.shown()
    assert meter.summary()["fallback_reasons"] == {"unavailable": 1, "invalid_output": 1}


@pytest.mark.parametrize(("value", "says"), [
    ("gpt-4o-mini", "provider/model"),
    ("planner=openai/gpt-4o-mini", "unknown agent 'planner'"),
    ("router=", "no model for 'router'"),
    ("offline", "offline planner"),
    ("router=openai/a;router=openai/b", "'router' for the second time"),
    ("openai/gpt 4o", "provider/model"),
    ("analyzer=" + ",".join(f"openai/m{i}" for i in range(11)), "more than 10"),
])
def test_an_invalid_llm_fallback_models_is_refused_at_cold_start(local_env, monkeypatch, value, says):
    with pytest.raises(ConfigError) as caught:
        load_settings({"LLM_FALLBACK_MODELS": value})
    assert "LLM_FALLBACK_MODELS" in caught.value.message and says in caught.value.message
    from convoinsight.settings import get_settings

    monkeypatch.setenv("LLM_FALLBACK_MODELS", value)
    get_settings.cache_clear()
    with pytest.raises(ConfigError, match="LLM_FALLBACK_MODELS"):  # the function refuses to start
        function_client("queries")


@pytest.mark.parametrize(("value", "router", "compiler"), [
    ("", ("shipped/router",), ("shipped/compiler",)),
    ("deepseek/deepseek-chat, xai/grok-3-mini", ("deepseek/deepseek-chat", "xai/grok-3-mini"),
     ("deepseek/deepseek-chat", "xai/grok-3-mini")),
    ("analyzer=a/b|c/d;compiler=none", ("shipped/router",), ()),
    ("deepseek/deepseek-chat; Compiler = xai/grok-3-mini", ("deepseek/deepseek-chat",), ("xai/grok-3-mini",)),
    ("none", (), ()),
])
def test_llm_fallback_models_formats(value, router, compiler):
    settings = load_settings({"LLM_FALLBACK_MODELS": value})
    assert settings.fallback_models("router", ("shipped/router",)) == router
    assert settings.fallback_models("compiler", ("shipped/compiler",)) == compiler


def test_the_chain_bound_may_not_outlast_a_stage():
    with pytest.raises(ConfigError, match="LLM_CHAIN_TIMEOUT_SECONDS"):
        load_settings({"LLM_CHAIN_TIMEOUT_SECONDS": "700"})
    assert load_settings({}).llm_chain_timeout_seconds == 90


def test_every_shipped_fallback_is_a_catalog_model_on_another_provider():
    """The prompts' fallbacks are models the catalog lists (so priced and offered), on a provider other than the
    agent's own model: a provider's outage must not take both down."""
    from convoinsight.llm.catalog import chat_models, provider_of
    from convoinsight.llm.prompts import AGENTS

    store = PromptStore(DEFAULT_PROMPTS_DIR)
    for agent in AGENTS:
        prompt = store.get(agent)
        assert len(prompt.fallbacks) >= 2, agent
        for model in prompt.fallbacks:
            assert model in chat_models(), (agent, model)
            assert provider_of(model) != provider_of(prompt.model), (agent, model)


def test_a_question_says_which_models_answered_and_why_others_were_left(shop, use_stub_model, monkeypatch):
    """Through the queries function: the primary is down, the shipped fallbacks have no key here (skipped
    without a request), and the offline planner answers every agent; the answer's usage says so."""
    from convoinsight.settings import get_settings

    queries, headers = shop
    use_stub_model.fail_status = 503
    monkeypatch.setenv("LLM_MAX_RETRIES", "0")
    monkeypatch.setenv("LLM_BREAKER_THRESHOLD", "0")  # every agent tries the model (the session shares Redis)
    get_settings.cache_clear()
    resp = queries.post("/", headers=headers, json={"domain": "shop", "prompt": "What is the total revenue by region?"})
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["sql_status"] == "ok" and body["table"]["row_count"] > 0
    usage = body["usage"]
    calls = usage["llm_calls"]
    assert calls >= 5 and usage["answered_by"] == {OFFLINE_MODEL: calls}
    assert usage["fallbacks"] == calls and usage["fallback_reasons"] == {"unavailable": calls}
    assert set(use_stub_model.models()) == {"stub-model"}  # no request to any shipped fallback
