"""Every model call goes through here: remote models through litellm, the offline planner in-process.

litellm is imported on the first remote call, never at module import (it costs seconds and ~170 MiB:
functions that never call a model must not pay it, nor a deployment with no model configured). Where
a remote model is configured it is imported as the instance starts (``web/framework.py``
``schedule_preload``: before gunicorn's master binds its port, else ``preload_litellm`` in the background).
With no model, endpoint or key configured, the default model is the offline planner, answered by
``llm/offline/agents.py`` with a reply of litellm's shape: ``_completion`` is the one seam that knows
which one answered. A model that fails hands over to the agent's fallback models, then to the offline planner
(``llm/fallbacks.py``: which ones, which can be called, why one is left).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

from tenacity import Retrying, retry_if_exception, stop_after_attempt, stop_before_delay, wait_exponential_jitter

from convoinsight.cache import Cache
from convoinsight.errors import BadRequest, ConvoInsightError, LLMOutputInvalid, UpstreamError
from convoinsight.llm import fallbacks, keys
from convoinsight.llm.catalog import OFFLINE_MODEL, provider_of, qualified
from convoinsight.llm.guards import CircuitBreaker, TokenBudget
from convoinsight.llm.jsonout import extract_json, validate
from convoinsight.llm.keys import Credential
from convoinsight.llm.overrides import apply as apply_override
from convoinsight.llm.prompts import Prompt, PromptStore
from convoinsight.llm.streaming import Draft, streamed_completion
from convoinsight.llm.usage import UsageMeter
from convoinsight.observability import logs, metrics
from convoinsight.settings import Settings

log = logging.getLogger("convoinsight.llm")

AGENT_HEADER = "X-ConvoInsight-Agent"
_REPAIR_TRIES = 1
_MIN_CALL_SECONDS = 0.05  # a call with less time left than this is not started

_litellm = None
_litellm_lock = threading.Lock()


def litellm_module():
    """Import and configure litellm once per process."""
    global _litellm
    with _litellm_lock:
        if _litellm is None:
            os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no price-list download
            os.environ.setdefault("LITELLM_LOG", "WARNING")
            import litellm

            # litellm prints every request (prompts with their sample rows) through handlers of its own at
            # DEBUG: route its loggers through ours instead, at WARNING and above.
            for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy"):
                library_logger = logging.getLogger(name)
                library_logger.handlers.clear()
                library_logger.setLevel(logging.WARNING)
                library_logger.propagate = True

            litellm.telemetry = False
            litellm.suppress_debug_info = True
            litellm.drop_params = True  # providers that lack seed / response_format still answer
            _litellm = litellm
        return _litellm


_preload: threading.Thread | None = None


def preload_litellm() -> threading.Thread:
    """Import litellm on a background thread (once per process); a call that needs it meanwhile waits on
    ``litellm_module``'s lock for the rest of the import only."""
    global _preload
    with _litellm_lock:
        if _preload is None:
            _preload = threading.Thread(target=_preload_quietly, name="litellm-preload", daemon=True)
            _preload.start()
        return _preload


def warm_litellm() -> None:
    """Import litellm and run one call through it, so the first real call is as fast as the next ones.

    litellm's first completion imports another ~550 modules (the openai SDK, httpx, its provider handlers:
    about a second). The warm-up call goes to an in-memory transport: nothing leaves the process."""
    import httpx
    import openai

    litellm = litellm_module()
    reply = {"id": "warm-up", "object": "chat.completion", "created": 0, "model": "warm-up",
             "choices": [{"index": 0, "message": {"role": "assistant", "content": "{}"}, "finish_reason": "stop"}],
             "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=reply))
    client = openai.OpenAI(api_key="warm-up", base_url="http://warm-up.invalid/v1", max_retries=0,
                           http_client=httpx.Client(transport=transport))
    response = litellm.completion(model="openai/warm-up", messages=[{"role": "user", "content": "{}"}],
                                  client=client, api_key="warm-up", num_retries=0,
                                  response_format={"type": "json_object"})
    _cost(response, "openai/gpt-4o-mini")  # the price lookup of a listed model
    # What the in-memory transport skipped: the connection pool's modules (a real call's first connection).
    import httpcore._sync.http11
    import httpcore._synchronization  # noqa: F401


def preload_now(where: str) -> None:
    """``warm_litellm``, logged; a failure is logged only: the first call imports it again and fails with the
    real error where it is seen."""
    started = time.perf_counter()
    try:
        warm_litellm()
    except Exception:
        log.warning("litellm could not be preloaded", exc_info=True)
        return
    seconds = round(time.perf_counter() - started, 2)
    logs.event(log, "llm_preloaded", f"litellm imported and warmed {where} in {seconds}s", seconds=seconds)


def _preload_quietly() -> None:
    preload_now("in the background")


_RETRYABLE_NAMES = {"RateLimitError", "InternalServerError", "ServiceUnavailableError", "Timeout",
                    "APIConnectionError", "BadGatewayError"}


class _Left(Exception):
    """One model of a chain failed; ``reason`` is the short code of ``llm/fallbacks.py``."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def estimate_tokens(messages: list[dict], prompt: Prompt) -> int:
    """A cautious estimate of a call's tokens before it is made: about 4 characters a token for the prompt,
    plus the reply's cap (or 1,000 tokens when the prompt sets none)."""
    chars = sum(len(str(m.get("content", ""))) for m in messages)
    return chars // 4 + 1 + int(prompt.parameters.get("max_tokens") or 1000)


def _retryable(exc: BaseException) -> bool:
    """429, 5xx, timeouts and connection failures are worth another try; auth or bad requests are not."""
    return any(cls.__name__ in _RETRYABLE_NAMES for cls in type(exc).__mro__)


class LLMClient:
    """One tenant's model calls for one request (never shared across requests or tenants)."""

    def __init__(self, settings: Settings, prompts: PromptStore, *, redis=None, tenant: str | None = None,
                 cache: Cache | None = None, documents=None, credentials: dict[str, Credential] | None = None):
        self.settings = settings
        self.prompts = prompts
        self.tenant = tenant
        self.cache = cache
        # The caller's own keys by provider (stored ones, or the original API's apiKey for this request):
        # a model of such a provider runs on the caller's key, never on the server's.
        self.credentials = dict(credentials or {})
        self.documents = documents
        self.breaker = CircuitBreaker(redis, settings.llm_breaker_threshold, settings.llm_breaker_cooldown_seconds)
        self.budget = TokenBudget(redis, settings.daily_token_budget, documents,
                                  fail_open=settings.budget_fail_open)

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
        allowed = {default, self.settings.llm_model, prompt.model,
                   *self.settings.fallback_models(prompt.name, prompt.fallbacks)}
        if requested in allowed - {""}:
            return requested
        named = qualified(requested)
        if provider_of(named) in self.credentials:  # any model of a provider the caller holds a key for
            return named
        # The server's key must never be sent to a provider chosen by the caller.
        raise BadRequest(f"model {requested!r} is not available; use 'offline', the configured model, or a "
                         "model of a provider you hold a key for (POST /api/v1/llm/keys)", code="unknown_model")

    def credential(self, model: str) -> Credential | None:
        """The caller's key for the provider of ``model``, or None when the server's settings apply."""
        return None if model == OFFLINE_MODEL else self.credentials.get(provider_of(model) or "")

    def _counts_against_budget(self, model: str) -> bool:
        return model != OFFLINE_MODEL and (self.credential(model) is None or self.settings.budget_counts_user_keys)

    def check_budget(self, model: str) -> None:
        if self._counts_against_budget(model):
            self.budget.check(self.tenant)

    def complete_json(self, agent: str, context: dict[str, Any], *, model: str | None,
                      meter: UsageMeter, override: dict[str, Any] | None = None,
                      draft: Draft | None = None) -> dict[str, Any]:
        """The agent's validated JSON, from the first model of its chain that gives it (``llm/fallbacks.py``).

        Each model gets its call retried on transient failures (``_completion``) and one repair of an invalid
        reply; then the next model is tried, the offline planner last, all within LLM_CHAIN_TIMEOUT_SECONDS.
        With ``draft`` the reply streams (llm/streaming.py): its deltas go to the draft as they arrive, and every
        new attempt (retry, repair, fallback) restarts it, so a failed model's text is never left as the answer."""
        prompt = apply_override(self.prompts.get(agent), override)
        chosen = self.resolve_model((override or {}).get("model") or model, prompt)
        messages = prompt.messages(context)
        deadline = fallbacks.Deadline(self.settings.llm_chain_timeout_seconds)
        last: tuple[str, BaseException | None] = ("", None)
        tried = False
        for candidate in fallbacks.chain(self.settings, agent, chosen, prompt.fallbacks):
            if candidate != OFFLINE_MODEL:
                skipped = self._skip_reason(candidate, chosen, prompt, deadline)
                if skipped:
                    logs.event(log, "llm_fallback_skipped", f"agent {agent}: {candidate} not tried: {skipped}",
                               agent=agent, model=candidate, reason=skipped.split(":")[0])
                    continue
            if draft is not None and tried:
                draft.restart("fallback")  # the client discards what the failed model wrote
            tried = True
            value, reason, error = self._try_model(agent, candidate, chosen, messages, prompt, meter, draft,
                                                   deadline)
            if reason is None:
                meter.answered(candidate)
                return value
            last = (reason, error)
            meter.add_fallback(reason)
            logs.event(log, "llm_fallback", f"agent {agent}: left {candidate} ({reason})", logging.WARNING,
                       agent=agent, model=candidate, reason=reason)
        reason, error = last
        if reason == fallbacks.INVALID_OUTPUT:
            raise LLMOutputInvalid(f"the {agent} agent did not return valid JSON: {error}")
        raise UpstreamError(f"no model could answer for the {agent} agent") from error

    def _skip_reason(self, candidate: str, chosen: str, prompt: Prompt, deadline: fallbacks.Deadline) -> str | None:
        """Why a remote ``candidate`` is not even tried now, or None. A skip is no failure of the model."""
        if deadline.left() <= 0:
            spent = self.settings.llm_chain_timeout_seconds
            return f"{fallbacks.CHAIN_TIME}: LLM_CHAIN_TIMEOUT_SECONDS ({spent:g}s) spent"
        if candidate == chosen:
            return None
        caller_key = self.credential(candidate) is not None
        missing = fallbacks.why_not_callable(self.settings, candidate, has_caller_key=caller_key,
                                             prompt_model=prompt.model)
        return f"{fallbacks.NO_KEY}: {missing}" if missing else None

    def _try_model(self, agent: str, candidate: str, chosen: str, messages: list[dict], prompt: Prompt,
                   meter: UsageMeter, draft: Draft | None, deadline: fallbacks.Deadline
                   ) -> tuple[dict[str, Any] | None, str | None, BaseException | str | None]:
        """(value, None, None) when ``candidate`` gave valid JSON, else (None, reason, the error or problem)."""
        problem = ""
        for attempt in range(1 + _REPAIR_TRIES):
            if attempt and candidate != OFFLINE_MODEL and deadline.left() <= 0:
                return None, fallbacks.INVALID_OUTPUT, problem  # no time left for the repair
            if draft is not None and attempt:
                draft.restart("repair")
            try:
                text, cache_key = self._call(agent, candidate, chosen, messages, prompt, meter,
                                             use_cache=attempt == 0, draft=draft, deadline=deadline)
            except _Left as left:
                return None, left.reason, left.__cause__
            try:
                value = extract_json(text)
                validate(value, prompt.output_schema)
                return value, None, None
            except ValueError as exc:
                problem = str(exc)
                # The problem text quotes the model's output, which may quote data: it goes to the model only.
                logs.event(log, "llm_invalid_output", f"agent {agent}: invalid output from {candidate}; "
                           + ("repairing" if attempt < _REPAIR_TRIES else "leaving it"),
                           agent=agent, model=candidate)
                if self.cache is not None:
                    self.cache.forget(cache_key)  # never serve an invalid reply again
                messages = [*messages, {"role": "assistant", "content": text[:4000]},
                            {"role": "user", "content": f"That reply was invalid: {problem}. "
                                                        "Reply with only the corrected JSON object."}]
        return None, fallbacks.INVALID_OUTPUT, problem

    def forget(self, agent: str, context: dict[str, Any], *, model: str | None,
               override: dict[str, Any] | None = None) -> None:
        """Evict a cached reply that proved wrong downstream (refused or failing SQL), so asking again can
        get a different one instead of the same mistake for a day."""
        if self.cache is None or self.tenant is None:
            return
        prompt = apply_override(self.prompts.get(agent), override)
        chosen = self.resolve_model((override or {}).get("model") or model, prompt)
        key, _ = self._cached(self._request(agent, chosen, prompt.messages(context), prompt, chosen=chosen), prompt)
        self.cache.forget(key)

    def _call(self, agent: str, candidate: str, chosen: str, messages: list[dict], prompt: Prompt,
              meter: UsageMeter, *, use_cache: bool, draft: Draft | None,
              deadline: fallbacks.Deadline) -> tuple[str, str | None]:
        """(reply text, its response-cache key) of one model, or ``_Left`` with the reason it failed. Parallel
        stages share this client, so nothing about one call is kept on the instance."""
        credential = self.credential(candidate)
        # A caller's failing key opens the breaker for the caller's calls only, never for everyone's.
        breaker_key = candidate if credential is None else f"{candidate}@{credential.owner}:{self.tenant}"
        cache_key = None
        if candidate != OFFLINE_MODEL:
            if not self.breaker.allows(breaker_key):
                log.info("agent %s: breaker open for %s, skipping", agent, candidate)
                metrics.llm_call(agent, candidate, "breaker_open")
                raise _Left(fallbacks.BREAKER_OPEN)
            try:
                request = self._request(agent, candidate, messages, prompt, chosen=chosen)
            except ConvoInsightError as exc:  # the caller's endpoint is refused now (its DNS changed)
                logs.event(log, "llm_error", f"agent {agent}: model {candidate} refused: {exc.code}",
                           logging.WARNING, agent=agent, model=candidate, error=exc.code)
                raise _Left(fallbacks.ENDPOINT_REFUSED) from exc
            cache_key, cached = self._cached(request, prompt)
            if (cached is None or not use_cache) and self._counts_against_budget(candidate):
                self.budget.check(self.tenant, estimate_tokens(messages, prompt))
            if cached is not None and use_cache:
                meter.add_cache_hit()
                logs.event(log, "llm_call", f"{agent} answered from cache", agent=agent, model=candidate,
                           tokens=0, cost_usd=0.0, latency_ms=0.0, cached=True)
                metrics.llm_call(agent, candidate, "cached")
                return cached, cache_key
        else:
            request = self._request(agent, candidate, messages, prompt, chosen=chosen)
        started = time.perf_counter()
        try:
            response = self._completion(request, draft, deadline)
        except Exception as exc:  # litellm maps every provider failure to its own exception types
            logs.event(log, "llm_error", f"agent {agent}: model {candidate} failed: {type(exc).__name__}",
                       logging.WARNING, agent=agent, model=candidate, error=type(exc).__name__)
            metrics.llm_call(agent, candidate, "error")
            if candidate != OFFLINE_MODEL and not isinstance(exc, fallbacks.ChainTimeUp):
                self.breaker.failure(breaker_key)
            raise _Left(fallbacks.failure_reason(exc, caller_key=credential is not None
                                                 and credential.owner != "server")) from exc
        text = response.choices[0].message.content or ""
        tokens = int(getattr(getattr(response, "usage", None), "total_tokens", 0) or 0)
        cost, latency = _cost(response, candidate), (time.perf_counter() - started) * 1000
        paid_by = None if candidate == OFFLINE_MODEL else credential.owner if credential else "server"
        meter.record(agent, candidate, tokens, cost, latency, paid_by=paid_by)
        metrics.llm_call(agent, candidate, "ok", usage=getattr(response, "usage", None), cost_usd=cost)
        logs.event(log, "llm_call", f"{agent} answered by {candidate}", agent=agent, model=candidate,
                   tokens=tokens, cost_usd=round(cost, 6), latency_ms=round(latency, 1), cached=False,
                   key=paid_by)
        if candidate != OFFLINE_MODEL:
            self.breaker.success(breaker_key)
            if self._counts_against_budget(candidate):
                self.budget.spend(self.tenant, tokens)
            if credential is not None and credential.owner == "user" and self.tenant:
                keys.touch(self.documents, self.tenant, credential.provider)
            if self.cache is not None and cache_key is not None:
                self.cache.set_json(cache_key, "llm", text)
        return text, cache_key

    def _completion(self, request: dict[str, Any], draft: Draft | None = None,
                    deadline: fallbacks.Deadline | None = None):
        """One logical call: retried with exponential backoff and jitter on transient failures, every attempt
        and wait inside the chain's ``deadline`` (each attempt's timeout cut to what is left). With a draft it
        streams; the offline planner never does (its whole answer reaches the draft at the end).

        The one seam between the two kinds of model: the offline planner answers in-process with a reply of
        litellm's shape, and litellm is never imported for it."""
        if request["model"] == OFFLINE_MODEL:
            from convoinsight.llm.offline.agents import complete

            return complete(request)
        litellm = litellm_module()
        deadline = deadline or fallbacks.Deadline(self.settings.llm_chain_timeout_seconds)
        retrying = Retrying(stop=stop_after_attempt(1 + self.settings.llm_max_retries)
                            | stop_before_delay(max(0.0, deadline.left())),
                            wait=wait_exponential_jitter(multiplier=0.2, max=4.0),
                            retry=retry_if_exception(_retryable), reraise=True)

        def attempt():
            left = deadline.left()
            if left <= _MIN_CALL_SECONDS:
                raise fallbacks.ChainTimeUp(f"{left:.2f}s left of LLM_CHAIN_TIMEOUT_SECONDS")
            bounded = {**request, "timeout": min(float(request["timeout"]), left)}
            if draft is not None:
                return streamed_completion(litellm, bounded, draft)
            return litellm.completion(**bounded)

        return retrying(attempt)

    def _cached(self, request: dict[str, Any], prompt: Prompt) -> tuple[str | None, str | None]:
        """Response cache per tenant; the key covers model, messages, parameters and prompt version."""
        if self.cache is None or self.tenant is None:
            return None, None
        parts = ({k: v for k, v in request.items() if k not in ("api_key", "client", "extra_headers", "timeout")},
                 prompt.name, prompt.version)
        return self.cache.get_json(self.tenant, "llm", "llm", *parts)

    def _request(self, agent: str, model: str, messages: list[dict], prompt: Prompt, *,
                 chosen: str | None = None) -> dict[str, Any]:
        """The litellm request of one call. The deployment's key and endpoint go only with the chosen model (as
        configured) or a model of the provider they serve; a fallback of another provider goes without them
        (litellm then reads its own ``<PROVIDER>_API_KEY``): the server's key never reaches another provider."""
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
        for name in ("seed", "reasoning_effort"):
            if name in params:
                request[name] = params[name]
        request["response_format"] = {"type": "json_object"}
        request["num_retries"] = 0  # retries are ours (see _completion), never doubled inside litellm
        credential = self.credential(model)
        if credential is not None:
            return {**request, **route_for(self.settings, credential, model)}
        if model != (chosen or model) and provider_of(model) != fallbacks.server_provider_of(self.settings,
                                                                                            prompt.model):
            return request
        if self.settings.llm_api_base:
            request["api_base"] = self.settings.llm_api_base
            if "/" not in model:
                request["model"] = f"openai/{model}"  # an OpenAI-compatible endpoint
        if self.settings.llm_api_key:
            request["api_key"] = self.settings.llm_api_key
        return request


def server_provider(settings: Settings) -> str | None:
    """The provider the server's own key and endpoint (LLM_API_KEY, LLM_API_BASE) are for."""
    if settings.llm_model:
        return provider_of(settings.llm_model) or ("openai" if settings.llm_api_base else None)
    return "openai" if settings.llm_api_base else None


def route_for(settings: Settings, credential: Credential, model: str) -> dict[str, Any]:
    """Where a call on the caller's key goes: the caller's own endpoint (pinned to a checked address), else the
    deployment's gateway when it serves that provider (LLM_API_BASE), else the provider's public API."""
    from convoinsight.llm import endpoints

    route: dict[str, Any] = {"model": qualified(model), "api_key": credential.api_key}
    if credential.api_base:
        route["api_base"] = credential.api_base
        route["client"] = endpoints.pinned_client(settings, credential.api_base, credential.api_key)
    elif settings.llm_api_base and server_provider(settings) == provider_of(model):
        route["api_base"] = settings.llm_api_base
    return route


def _cost(response, model: str) -> float:
    if model == OFFLINE_MODEL:
        return 0.0
    try:
        return float(litellm_module().completion_cost(completion_response=response) or 0.0)
    except Exception:  # unknown models (self-hosted endpoints) have no price: count them as free
        return 0.0
