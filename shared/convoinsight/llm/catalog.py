"""Providers and models a deployment offers, from litellm's local price and context map.

The map ships inside the litellm package (``model_prices_and_context_window_backup.json``); it is read as a
file, without importing litellm (2.5 s and 165 MB that a listing route must not pay), once per process.
Only the providers below are offered: those that speak OpenAI's chat completions, the wire format the tests
exercise through the local stub server (each provider's endpoint pointed at it by litellm's
``<PROVIDER>_API_BASE`` variable), so that what is listed is what is known to work. Mistral and Groq were
left out: litellm's handlers for them did not reach an endpoint given that way, so they are untested here.
"""

from __future__ import annotations

import importlib.util
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from convoinsight.errors import BadRequest

OFFLINE_PROVIDER = "convoinsight"
OFFLINE_MODEL = f"{OFFLINE_PROVIDER}/offline-planner"
MAP_FILE = "model_prices_and_context_window_backup.json"
_MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.:@/+-]*")


@dataclass(frozen=True)
class Provider:
    name: str
    label: str
    custom_endpoint: bool  # takes an api_base (an OpenAI-compatible server: vLLM, Ollama, a gateway)
    probe_model: str  # the small model a key check (verify) asks for one token


PROVIDERS: dict[str, Provider] = {p.name: p for p in (
    Provider("openai", "OpenAI or any OpenAI-compatible endpoint (vLLM, Ollama, a gateway)", True,
             "openai/gpt-4o-mini"),
    Provider("deepseek", "DeepSeek", False, "deepseek/deepseek-chat"),
    Provider("openrouter", "OpenRouter", False, "openrouter/openai/gpt-4o-mini"),
    Provider("xai", "xAI", False, "xai/grok-3-mini"),
)}


@lru_cache(maxsize=1)
def _price_map() -> dict[str, dict[str, Any]]:
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return {}
    path = Path(next(iter(spec.submodule_search_locations))) / MAP_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {key: value for key, value in data.items() if isinstance(value, dict) and key != "sample_spec"}


def _per_million(value: Any) -> float | None:
    return round(float(value) * 1_000_000, 6) if isinstance(value, (int, float)) else None


@lru_cache(maxsize=1)
def chat_models() -> dict[str, dict[str, Any]]:
    """Every chat model of an offered provider, by its litellm name ``provider/model``."""
    models: dict[str, dict[str, Any]] = {}
    for key, entry in _price_map().items():
        provider = entry.get("litellm_provider")
        if provider not in PROVIDERS or entry.get("mode") != "chat":
            continue
        name = key if key.startswith(f"{provider}/") else f"{provider}/{key}"
        models[name] = {
            "id": name, "provider": provider,
            "context_window": entry.get("max_input_tokens") or entry.get("max_tokens"),
            "max_output_tokens": entry.get("max_output_tokens"),
            "input_usd_per_million": _per_million(entry.get("input_cost_per_token")),
            "output_usd_per_million": _per_million(entry.get("output_cost_per_token")),
        }
    return models


def provider_of(model: str) -> str | None:
    """The provider of a litellm model name: its prefix, or the map's provider for a bare name."""
    if not model:
        return None
    if model == OFFLINE_MODEL or model.startswith(f"{OFFLINE_PROVIDER}/"):
        return OFFLINE_PROVIDER
    prefix, _, rest = model.partition("/")
    if rest:
        return prefix
    entry = _price_map().get(model)
    return entry.get("litellm_provider") if entry else None


def qualified(model: str, provider: str | None = None) -> str:
    """``provider/model`` for a model named with or without its provider (the original API sent both)."""
    model = model.strip()
    if provider:
        if provider not in PROVIDERS:
            raise BadRequest(f"provider {provider!r} is not offered here; see GET /api/v1/llm/providers",
                             code="unknown_provider")
        return model if model.startswith(f"{provider}/") else f"{provider}/{model}"
    found = provider_of(model)
    return model if "/" in model or not found else f"{found}/{model}"


def describe(model: str) -> dict[str, Any]:
    """A model as the listing shows it; models missing from the map (self-hosted) have no price."""
    if model == OFFLINE_MODEL:
        return {"id": OFFLINE_MODEL, "provider": OFFLINE_PROVIDER, "context_window": None,
                "max_output_tokens": None, "input_usd_per_million": 0.0, "output_usd_per_million": 0.0}
    known = chat_models().get(model) or chat_models().get(qualified(model))
    if known:
        return dict(known)
    return {"id": model, "provider": provider_of(model), "context_window": None, "max_output_tokens": None,
            "input_usd_per_million": None, "output_usd_per_million": None}


def fallback_problem(model: str) -> str | None:
    """Why ``model`` cannot be a fallback model (LLM_FALLBACK_MODELS, a prompt's ``fallbacks``), or None.

    A fallback must name its provider (``deepseek/deepseek-chat``, not ``deepseek-chat``): which key can pay
    for it, and whether it can be called at all, is decided by that prefix before any request. The offline
    planner is never listed: it always answers last. Checked without litellm or its price map (cold start)."""
    if not isinstance(model, str) or not model.strip() or len(model) > 200:
        return f"{model!r} is not a model name (text of 1-200 characters)"
    if model == OFFLINE_MODEL or model.split("/", 1)[0] == OFFLINE_PROVIDER or model == "offline":
        return f"{model!r}: the offline planner is always the last fallback and is not listed"
    if not _MODEL_NAME.fullmatch(model):
        return (f"{model!r} must be litellm's provider/model (e.g. 'deepseek/deepseek-chat'), without spaces "
                "or other characters")
    return None
