"""Every model call goes through here, and through litellm.

litellm is imported on the first call, never at module import (it costs
~2.5 s and ~165 MB: functions that never call a model must not pay it).
With no model, endpoint or key configured, the default model is the
offline planner, registered as a litellm custom provider, so the code path
is the same. It is also the fallback when a configured model fails.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

from convoinsight.errors import BadRequest, LLMOutputInvalid
from convoinsight.llm.jsonout import extract_json, validate
from convoinsight.llm.prompts import Prompt, PromptStore
from convoinsight.llm.usage import UsageMeter
from convoinsight.settings import Settings

log = logging.getLogger("convoinsight.llm")

OFFLINE_PROVIDER = "convoinsight"
OFFLINE_MODEL = f"{OFFLINE_PROVIDER}/offline-planner"
AGENT_HEADER = "X-ConvoInsight-Agent"
_REPAIR_TRIES = 1

_litellm = None
_litellm_lock = threading.Lock()


def litellm_module():
    """Import and configure litellm once per process."""
    global _litellm
    with _litellm_lock:
        if _litellm is None:
            os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no price-list download
            import litellm

            from convoinsight.llm.offline.provider import OfflinePlannerLLM

            litellm.telemetry = False
            litellm.suppress_debug_info = True
            litellm.drop_params = True  # providers that lack seed / response_format still answer
            litellm.custom_provider_map = [
                entry for entry in litellm.custom_provider_map if entry.get("provider") != OFFLINE_PROVIDER
            ] + [{"provider": OFFLINE_PROVIDER, "custom_handler": OfflinePlannerLLM()}]
            from litellm.utils import custom_llm_setup

            custom_llm_setup()
            _litellm = litellm
        return _litellm


class LLMClient:
    def __init__(self, settings: Settings, prompts: PromptStore):
        self.settings = settings
        self.prompts = prompts

    def configured(self) -> bool:
        s = self.settings
        return bool(s.llm_model or s.llm_api_base or s.llm_api_key)

    def resolve_model(self, requested: str | None, prompt: Prompt) -> str:
        """requested (if known) > LLM_MODEL > the prompt's model (when a provider is configured) > offline."""
        default = self.settings.llm_model or (prompt.model if self.configured() else "") or OFFLINE_MODEL
        if requested in (None, "", "default"):
            return default
        if requested in ("offline", OFFLINE_MODEL):
            return OFFLINE_MODEL
        if requested in {default, self.settings.llm_model, prompt.model, *prompt.fallbacks} - {""}:
            return requested
        # The server's key must never be sent to a provider chosen by the caller.
        raise BadRequest(f"model {requested!r} is not available; use 'offline' or the configured model",
                         code="unknown_model")

    def complete_json(self, agent: str, context: dict[str, Any], *, model: str | None,
                      meter: UsageMeter) -> dict[str, Any]:
        prompt = self.prompts.get(agent)
        chosen = self.resolve_model(model, prompt)
        messages = prompt.messages(context)
        problem = ""
        for _attempt in range(1 + _REPAIR_TRIES):
            text, chosen = self._call(agent, chosen, messages, prompt, meter)
            try:
                value = extract_json(text)
                validate(value, prompt.output_schema)
                return value
            except ValueError as exc:
                problem = str(exc)
                log.info("agent %s: invalid output from %s (%s); asking for a repair", agent, chosen, problem)
                messages = [*messages, {"role": "assistant", "content": text[:4000]},
                            {"role": "user", "content": f"That reply was invalid: {problem}. "
                                                        "Reply with only the corrected JSON object."}]
        raise LLMOutputInvalid(f"the {agent} agent did not return valid JSON: {problem}")

    def _call(self, agent: str, model: str, messages: list[dict], prompt: Prompt,
              meter: UsageMeter) -> tuple[str, str]:
        litellm = litellm_module()
        candidates = [model] + [m for m in prompt.fallbacks if m != model and model != OFFLINE_MODEL]
        if model != OFFLINE_MODEL:
            candidates.append(OFFLINE_MODEL)
        last_error: Exception | None = None
        for candidate in candidates:
            started = time.perf_counter()
            try:
                response = litellm.completion(**self._request(agent, candidate, messages, prompt))
            except Exception as exc:  # litellm maps every provider failure to its own exception types
                last_error = exc
                log.warning("agent %s: model %s failed: %s", agent, candidate, type(exc).__name__)
                continue
            if candidate != model:
                meter.add_fallback()
            tokens = int(getattr(getattr(response, "usage", None), "total_tokens", 0) or 0)
            meter.record(agent, candidate, tokens, _cost(litellm, response, candidate),
                         (time.perf_counter() - started) * 1000)
            return response.choices[0].message.content or "", candidate
        raise LLMOutputInvalid(f"no model could answer for the {agent} agent") from last_error

    def _request(self, agent: str, model: str, messages: list[dict], prompt: Prompt) -> dict[str, Any]:
        params = prompt.parameters
        request: dict[str, Any] = {
            "model": model,
            "messages": messages,
            "extra_headers": {AGENT_HEADER: agent},
            "timeout": self.settings.llm_timeout_seconds,
            "temperature": params.get("temperature", 0),
        }
        if model == OFFLINE_MODEL:
            return request
        if "seed" in params:
            request["seed"] = params["seed"]
        request["response_format"] = {"type": "json_object"}
        request["num_retries"] = 2
        if self.settings.llm_api_base:
            request["api_base"] = self.settings.llm_api_base
            if "/" not in model:
                request["model"] = f"openai/{model}"  # an OpenAI-compatible endpoint
        if self.settings.llm_api_key:
            request["api_key"] = self.settings.llm_api_key
        return request


def _cost(litellm, response, model: str) -> float:
    if model == OFFLINE_MODEL:
        return 0.0
    try:
        return float(litellm.completion_cost(completion_response=response) or 0.0)
    except Exception:  # unknown models (self-hosted endpoints) have no price: count them as free
        return 0.0
