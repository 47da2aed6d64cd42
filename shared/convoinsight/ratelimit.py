"""Rate limits per class of route, in Redis (placeholder: limiting arrives with its own module)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset: int  # seconds until the window frees a request
    retry_after: int  # seconds to wait when not allowed


def check(services, settings, key: str, cls: str) -> Decision | None:
    """None when limiting is disabled or not configured for ``cls``."""
    return None


def headers(decision: Decision | None) -> dict[str, str]:
    if decision is None:
        return {}
    return {"X-RateLimit-Limit": str(decision.limit), "X-RateLimit-Remaining": str(decision.remaining),
            "X-RateLimit-Reset": str(decision.reset)}
