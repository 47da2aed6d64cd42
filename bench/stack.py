"""Our own PostgreSQL and Redis for a benchmark run, and the environment pointing at them."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from local_emulator.backing import PostgresServer, RedisServer


@contextmanager
def local_stack() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="convoinsight-bench-"))
    os.chmod(root, 0o755)  # noqa: S103 - the postgres server user must traverse it
    pg, redis = PostgresServer(root / "pg", durable=False), RedisServer(root / "redis")
    saved = dict(os.environ)
    try:
        # Limits stay on (their cost is part of what is measured) but never throttle a benchmark.
        limits = ",".join(f"{c}=100000000/hour" for c in rate_classes())
        os.environ.update(POSTGRES_URL=pg.start(), REDIS_URL=redis.start(), LOCAL_STATE_DIR=str(root / "state"),
                          DEPLOYMENT_MODE="local", LOG_LEVEL="WARNING", RATE_LIMITS=limits)
        for name in ("LLM_MODEL", "LLM_API_BASE", "LLM_API_KEY"):
            os.environ.pop(name, None)
        from convoinsight.services import get_services
        from convoinsight.settings import get_settings

        get_settings.cache_clear()
        get_services.cache_clear()
        yield root
    finally:
        os.environ.clear()
        os.environ.update(saved)
        pg.stop()
        redis.stop()
        shutil.rmtree(root, ignore_errors=True)


def rate_classes() -> list[str]:
    """Every rate-limit class, from the RATE_LIMITS default (the one list of them)."""
    from convoinsight.settings import SETTINGS

    default = next(s.default for s in SETTINGS if s.name == "RATE_LIMITS")
    return [item.split("=")[0] for item in default.split(",")]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]
