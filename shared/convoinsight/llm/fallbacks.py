"""An agent call's fallback chain: which models it walks, which of them can be called, why one is left.

The chain of one call is its model, then the agent's fallback models (LLM_FALLBACK_MODELS, else the prompt's
``fallbacks``), then the offline planner, which always answers last. A fallback model is tried only when its
provider can be called now; one that cannot is skipped without a request (a request without a key would only
cost a round trip and fill the logs with 401s). The chosen model itself is always tried: the operator or the
caller named it, and its credentials may come from where we cannot see them (application default credentials).

Every reason here is a short code that logs, metrics and ``usage.fallback_reasons`` share; none carries a key,
a prompt or a reply (a provider's error message may quote either).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from convoinsight.errors import ConvoInsightError
from convoinsight.llm.catalog import OFFLINE_MODEL, provider_of
from convoinsight.settings import Settings

# Why a model was left (counted in usage.fallbacks) ...
UNAVAILABLE = "unavailable"  # 5xx or a connection failure, after the client's retries
RATE_LIMITED = "rate_limited"  # 429, after the retries
TIMEOUT = "timeout"  # the call's timeout, after the retries
INVALID_OUTPUT = "invalid_output"  # no valid JSON after the repair attempt
KEY_REFUSED = "key_refused"  # the caller's own key was refused (401/403): see README, "Fallback models"
AUTH = "auth"  # the deployment's key was refused
REQUEST_REFUSED = "request_refused"  # another 4xx (unknown model, bad request): never retried
ENDPOINT_REFUSED = "endpoint_refused"  # the caller's endpoint failed its SSRF check now
BREAKER_OPEN = "breaker_open"  # the model's breaker is open: skipped without a request, as a failure
# ... and why one was skipped before any request (logged only: it never answered, nor failed).
NO_KEY = "no_key"
CHAIN_TIME = "chain_time"  # LLM_CHAIN_TIMEOUT_SECONDS is spent: no model is started any more

_STATUS_REASONS = {429: RATE_LIMITED, 401: AUTH, 403: AUTH}


class ChainTimeUp(Exception):
    """The chain's time ran out before (another attempt of) a call could start."""


@dataclass
class Deadline:
    """When a chain must be over (monotonic clock), and how long a call may still take."""

    seconds: float
    ends: float = field(init=False)

    def __post_init__(self) -> None:
        self.ends = time.monotonic() + self.seconds

    def left(self) -> float:
        return self.ends - time.monotonic()


def chain(settings: Settings, agent: str, chosen: str, shipped: tuple[str, ...]) -> list[str]:
    """The models one call of ``agent`` walks, in order; the offline planner only ever last (or alone)."""
    if chosen == OFFLINE_MODEL:
        return [OFFLINE_MODEL]
    models = [chosen]
    for model in settings.fallback_models(agent, shipped):
        if model not in models and model != OFFLINE_MODEL:
            models.append(model)
    return [*models, OFFLINE_MODEL]


def server_provider_of(settings: Settings, prompt_model: str) -> str | None:
    """The provider the deployment's LLM_API_KEY / LLM_API_BASE serve: LLM_MODEL's, else `openai` for an
    OpenAI-compatible LLM_API_BASE, else (a bare LLM_API_KEY) the provider of the prompts' model."""
    if not (settings.llm_api_key or settings.llm_api_base):
        return None
    from convoinsight.llm.client import server_provider

    return server_provider(settings) or provider_of(prompt_model)


def why_not_callable(settings: Settings, model: str, *, has_caller_key: bool, prompt_model: str) -> str | None:
    """None when a fallback ``model`` can be called: the caller holds a key for its provider, the deployment's
    key or endpoint serves that provider, or the environment holds litellm's own ``<PROVIDER>_API_KEY`` or
    ``<PROVIDER>_API_BASE``. Else a sentence for the log (names the provider, never a key)."""
    if model == OFFLINE_MODEL or has_caller_key:
        return None
    provider = provider_of(model) or ""
    if provider and provider == server_provider_of(settings, prompt_model):
        return None
    if provider in settings.provider_env:
        return None
    upper = provider.upper() or "PROVIDER"
    return (f"no key for provider {provider or '(unknown)'!r}: neither the caller's, LLM_API_KEY/LLM_API_BASE, "
            f"nor {upper}_API_KEY/{upper}_API_BASE")


def failure_reason(exc: BaseException, *, caller_key: bool) -> str:
    """The short reason a call failed, from litellm's exception types (by name: litellm is imported lazily)."""
    if isinstance(exc, ChainTimeUp):
        return CHAIN_TIME
    if isinstance(exc, ConvoInsightError):
        return ENDPOINT_REFUSED
    names = {cls.__name__ for cls in type(exc).__mro__}
    if "Timeout" in names:
        return TIMEOUT
    if "RateLimitError" in names:
        return RATE_LIMITED
    if names & {"AuthenticationError", "PermissionDeniedError"}:
        return KEY_REFUSED if caller_key else AUTH
    status = getattr(exc, "status_code", None)
    if isinstance(status, int) and status in _STATUS_REASONS:
        reason = _STATUS_REASONS[status]
        return KEY_REFUSED if reason == AUTH and caller_key else reason
    if isinstance(status, int) and 400 <= status < 500:
        return REQUEST_REFUSED
    return UNAVAILABLE
