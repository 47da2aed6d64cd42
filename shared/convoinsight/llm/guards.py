"""Shared state that protects model calls, kept in Redis so every instance sees the same:
a circuit breaker per model and a daily token budget per user.

The breaker fails open: with Redis down, calls go ahead (logged), because refusing every
question would turn a cache outage into a full outage. The budget is durable (the document
store) and fails closed by default when it cannot be read at all (``BUDGET_FAIL_OPEN``).
"""

from __future__ import annotations

import logging
import time

from convoinsight.errors import RateLimited, ServiceUnavailable

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
    """A user's daily model tokens: kept durably in the document store, with Redis as its fast path.

    Spend is added to the day's document (an atomic increment) and, when Redis holds the day's
    counter, to Redis too. A check reads Redis; when Redis has no counter (expired, restarted,
    flushed) it reads the document and seeds Redis for ``CACHE_SECONDS``, so a Redis restart can
    never reset a budget. With Redis down the document is read directly. When neither can be read,
    ``fail_open`` decides: by default the question is refused (503): spend is never unbounded.
    """

    CACHE_SECONDS = 60

    def __init__(self, redis_client, daily_limit: int, documents=None, *, fail_open: bool = False):
        self.redis = redis_client if daily_limit > 0 else None
        self.documents = documents if daily_limit > 0 else None
        self.limit = daily_limit
        self.fail_open = fail_open

    @staticmethod
    def _day() -> str:
        return time.strftime("%Y%m%d", time.gmtime())

    def _key(self, tenant: str) -> str:
        return f"{_PREFIX}:{tenant}:tokens:{self._day()}"

    @staticmethod
    def collection(tenant: str) -> str:
        return f"tenants/{tenant}/budget"

    @staticmethod
    def _seconds_to_midnight() -> int:
        now = time.time()
        return int(86400 - now % 86400) + 1

    def used(self, tenant: str) -> int:
        """Today's spend; raises ServiceUnavailable (or returns 0 with ``fail_open``) when it cannot be known."""
        if self.redis is not None:
            try:
                cached = self.redis.get(self._key(tenant))
                if cached is not None:
                    return int(cached)
            except Exception as exc:
                log.warning("token budget cache unavailable: %s", type(exc).__name__)
        if self.documents is None:
            return 0
        try:
            doc = self.documents.get(self.collection(tenant), self._day())
        except Exception as exc:
            log.error("token budget unavailable: %s", type(exc).__name__)
            if self.fail_open:
                return 0
            raise ServiceUnavailable("the model budget cannot be checked right now; try again shortly",
                                     code="budget_unavailable") from None
        used = int((doc or {}).get("tokens", 0))
        if self.redis is not None:
            try:  # seed only if no spend created the key meanwhile
                self.redis.set(self._key(tenant), used, ex=self.CACHE_SECONDS, nx=True)
            except Exception as exc:
                log.warning("token budget cache not seeded: %s", type(exc).__name__)
        return used

    def check(self, tenant: str | None, needed: int = 0) -> None:
        """Raise 429 when the tenant has spent today's tokens, or when a call estimated at ``needed`` tokens
        would go past the budget (the question stops cleanly instead of overshooting)."""
        if (self.redis is None and self.documents is None) or tenant is None:
            return
        used = self.used(tenant)
        if used >= self.limit:
            raise RateLimited(f"today's model budget of {self.limit:,} tokens is spent ({used:,} used); "
                              "it resets at midnight UTC", retry_after=self._seconds_to_midnight(),
                              code="token_budget_exceeded")
        if needed and used + needed > self.limit:
            raise RateLimited(f"the next model call needs about {needed:,} tokens but only {self.limit - used:,} "
                              f"of today's {self.limit:,} are left; it resets at midnight UTC",
                              retry_after=self._seconds_to_midnight(), code="token_budget_exceeded")

    def spend(self, tenant: str | None, tokens: int) -> None:
        if tenant is None or tokens <= 0:
            return
        if self.documents is not None:
            try:
                self.documents.increment(self.collection(tenant), self._day(), "tokens", tokens)
            except Exception as exc:
                log.error("token spend not recorded durably: %s", type(exc).__name__)
        if self.redis is not None:
            try:
                if self.documents is not None:  # only a counter that exists is advanced: a missing one is re-read
                    self.redis.eval(_INCR_IF_EXISTS, 1, self._key(tenant), tokens)
                else:  # no durable store (a bare client in scripts and tests): Redis is the counter
                    pipe = self.redis.pipeline()
                    pipe.incrby(self._key(tenant), tokens)
                    pipe.expire(self._key(tenant), 2 * 86400)
                    pipe.execute()
            except Exception as exc:
                log.warning("token budget cache update failed: %s", type(exc).__name__)


_INCR_IF_EXISTS = """
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('INCRBY', KEYS[1], ARGV[1]) end
return nil
"""
