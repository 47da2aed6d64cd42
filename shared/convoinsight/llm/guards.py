"""Shared state that protects model calls, kept in Redis so every instance sees the same:
a circuit breaker per model and a daily token budget per user.

Both fail open: with Redis down, calls go ahead (logged), because refusing every
question would turn a cache outage into a full outage.
"""

from __future__ import annotations

import logging
import time

from convoinsight.errors import RateLimited

log = logging.getLogger("convoinsight.llm")
_PREFIX = "ci:v1"
_FAILURE_WINDOW = 60


class CircuitBreaker:
    def __init__(self, redis_client, threshold: int, cooldown_seconds: int):
        self.redis = redis_client if threshold > 0 else None
        self.threshold = threshold
        self.cooldown = cooldown_seconds

    def _keys(self, model: str) -> tuple[str, str]:
        return f"{_PREFIX}:breaker:{model}:open", f"{_PREFIX}:breaker:{model}:failures"

    def allows(self, model: str) -> bool:
        """False while the model's breaker is open; once the open key expires, a trial call goes through."""
        if self.redis is None:
            return True
        try:
            return not self.redis.exists(self._keys(model)[0])
        except Exception as exc:
            log.warning("breaker state unavailable: %s", type(exc).__name__)
            return True

    def failure(self, model: str) -> None:
        if self.redis is None:
            return
        open_key, failures_key = self._keys(model)
        try:
            pipe = self.redis.pipeline()
            pipe.incr(failures_key)
            pipe.expire(failures_key, _FAILURE_WINDOW, nx=True)
            count = pipe.execute()[0]
            if count >= self.threshold:
                self.redis.set(open_key, "1", ex=self.cooldown)
                self.redis.delete(failures_key)
                log.warning("circuit breaker opened for %s for %ss", model, self.cooldown)
        except Exception as exc:
            log.warning("breaker update failed: %s", type(exc).__name__)

    def success(self, model: str) -> None:
        if self.redis is None:
            return
        try:
            self.redis.delete(self._keys(model)[1])
        except Exception as exc:
            log.warning("breaker update failed: %s", type(exc).__name__)


class TokenBudget:
    def __init__(self, redis_client, daily_limit: int):
        self.redis = redis_client if daily_limit > 0 else None
        self.limit = daily_limit

    def _key(self, tenant: str) -> str:
        return f"{_PREFIX}:{tenant}:tokens:{time.strftime('%Y%m%d', time.gmtime())}"

    @staticmethod
    def _seconds_to_midnight() -> int:
        now = time.time()
        return int(86400 - now % 86400) + 1

    def check(self, tenant: str | None, needed: int = 0) -> None:
        """Raise 429 when the tenant has spent today's tokens, or when a call estimated at ``needed`` tokens
        would go past the budget (the question stops cleanly instead of overshooting)."""
        if self.redis is None or tenant is None:
            return
        try:
            used = int(self.redis.get(self._key(tenant)) or 0)
        except Exception as exc:
            log.warning("token budget unavailable: %s", type(exc).__name__)
            return
        if used >= self.limit:
            raise RateLimited(f"today's model budget of {self.limit:,} tokens is spent ({used:,} used); "
                              "it resets at midnight UTC", retry_after=self._seconds_to_midnight(),
                              code="token_budget_exceeded")
        if needed and used + needed > self.limit:
            raise RateLimited(f"the next model call needs about {needed:,} tokens but only {self.limit - used:,} "
                              f"of today's {self.limit:,} are left; it resets at midnight UTC",
                              retry_after=self._seconds_to_midnight(), code="token_budget_exceeded")

    def spend(self, tenant: str | None, tokens: int) -> None:
        if self.redis is None or tenant is None or tokens <= 0:
            return
        try:
            pipe = self.redis.pipeline()
            pipe.incrby(self._key(tenant), tokens)
            pipe.expire(self._key(tenant), 2 * 86400)
            pipe.execute()
        except Exception as exc:
            log.warning("token budget update failed: %s", type(exc).__name__)
