"""What the ``llm`` function lists: the providers offered, the models a caller can use now, and a key check."""

from __future__ import annotations

import time
from typing import Any

from convoinsight.llm import catalog, keys
from convoinsight.llm.catalog import OFFLINE_MODEL, PROVIDERS
from convoinsight.llm.prompts import AGENTS, PromptStore

_MESSAGE_CHARS = 300


def providers(services, user_id: str) -> list[dict[str, Any]]:
    from convoinsight.llm.client import server_provider

    settings = services.settings
    served = server_provider(settings)
    mine = {record["provider"] for record in keys.list_all(services, user_id)}
    counts: dict[str, int] = {}
    for model in catalog.chat_models().values():
        counts[model["provider"]] = counts.get(model["provider"], 0) + 1
    return [{"name": p.name, "label": p.label, "server_key": served == p.name and bool(settings.llm_api_key),
             "server_endpoint": served == p.name and bool(settings.llm_api_base),
             "your_key": p.name in mine, "custom_endpoint": p.custom_endpoint, "models": counts.get(p.name, 0)}
            for p in PROVIDERS.values()]


def defaults(settings, prompts: PromptStore) -> dict[str, list[str]]:
    """The model each agent runs on by default (the deployment's choice), agents by model."""
    from convoinsight.llm.client import LLMClient

    client = LLMClient(settings, prompts)
    by_model: dict[str, list[str]] = {}
    for agent in AGENTS:
        by_model.setdefault(client.resolve_model(None, prompts.get(agent)), []).append(agent)
    return by_model


def models(services, user_id: str, prompts: PromptStore, provider: str | None = None) -> list[dict[str, Any]]:
    """Models the caller can use now: the deployment's defaults, the offline planner, and every chat model of
    a provider the caller holds a key for; with context window and price per million tokens."""
    listed: dict[str, dict[str, Any]] = {}
    for model, agents in defaults(services.settings, prompts).items():
        listed[model] = {**catalog.describe(model), "source": "offline" if model == OFFLINE_MODEL else "default",
                         "agents": agents}
    listed.setdefault(OFFLINE_MODEL, {**catalog.describe(OFFLINE_MODEL), "source": "offline", "agents": []})
    mine = {record["provider"] for record in keys.list_all(services, user_id)}
    for model in catalog.chat_models().values():
        if model["provider"] in mine and model["id"] not in listed:
            listed[model["id"]] = {**model, "source": "your_key", "agents": []}
    rows = list(listed.values())
    return [row for row in rows if provider is None or row["provider"] == provider]


def verify(services, credential: keys.Credential, model: str | None = None) -> dict[str, Any]:
    """One cheap call on the key (one output token), reported as it went: never raises."""
    from convoinsight.llm.client import AGENT_HEADER, litellm_module, route_for

    settings = services.settings
    chosen = catalog.qualified(model, credential.provider) if model else PROVIDERS[credential.provider].probe_model
    started = time.perf_counter()
    try:
        request = {"model": chosen, "messages": [{"role": "user", "content": "Reply with OK."}], "max_tokens": 1,
                   "temperature": 0, "timeout": min(settings.llm_timeout_seconds, 15), "num_retries": 0,
                   "extra_headers": {AGENT_HEADER: "key-check"}, **route_for(settings, credential, chosen)}
        litellm_module().completion(**request)
    except Exception as exc:  # the provider's answer, whatever it is, is the report
        message = str(getattr(exc, "message", "") or exc).replace(credential.api_key, "…")[:_MESSAGE_CHARS]
        return {"verified": False, "model": chosen, "latency_ms": _ms(started), "error": {
            "type": type(exc).__name__, "status": getattr(exc, "status_code", None), "message": message}}
    return {"verified": True, "model": chosen, "latency_ms": _ms(started)}


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
