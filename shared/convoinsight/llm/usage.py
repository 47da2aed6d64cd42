"""Usage of one job: model calls, tokens, cost, cache hits, fallbacks. Thread-safe (parallel stages share it).

Every mapping of the summary counts calls (per key owner, per model that answered, per reason a model was
left), so the usages of an async job's stages add up key by key (``jobs/service.py``)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass
class UsageMeter:
    llm_calls: int = 0
    tokens: int = 0
    cost_usd: float = 0.0
    cache_hits: int = 0
    fallbacks: int = 0
    model_ms: float = 0.0
    calls: list[dict[str, Any]] = field(default_factory=list)
    paid_by: dict[str, int] = field(default_factory=dict)  # model calls per key owner: server, user, request
    answered_by: dict[str, int] = field(default_factory=dict)  # agent answers per model that gave them
    fallback_reasons: dict[str, int] = field(default_factory=dict)  # models left, per reason (llm/fallbacks.py)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, agent: str, model: str, tokens: int, cost: float, latency_ms: float, *,
               paid_by: str | None = None) -> None:
        with self._lock:
            if paid_by:
                self.paid_by[paid_by] = self.paid_by.get(paid_by, 0) + 1
            self.llm_calls += 1
            self.tokens += tokens
            self.cost_usd += cost
            self.model_ms += latency_ms
            self.calls.append({"agent": agent, "model": model, "tokens": tokens, "latency_ms": round(latency_ms, 1)})

    def add_cache_hit(self) -> None:
        with self._lock:
            self.cache_hits += 1

    def add_fallback(self, reason: str = "unavailable") -> None:
        """A model of a chain was left (failed, or its breaker was open) and the next one is tried."""
        with self._lock:
            self.fallbacks += 1
            self.fallback_reasons[reason] = self.fallback_reasons.get(reason, 0) + 1

    def answered(self, model: str) -> None:
        """An agent's valid answer came from ``model``."""
        with self._lock:
            self.answered_by[model] = self.answered_by.get(model, 0) + 1

    def summary(self) -> dict[str, Any]:
        with self._lock:
            return {
                "llm_calls": self.llm_calls,
                "tokens": self.tokens,
                "cost_usd": round(self.cost_usd, 6),
                "cache_hits": self.cache_hits,
                "fallbacks": self.fallbacks,
                "model_ms": round(self.model_ms, 1),
                "paid_by": dict(self.paid_by),
                "answered_by": dict(self.answered_by),
                "fallback_reasons": dict(self.fallback_reasons),
            }
