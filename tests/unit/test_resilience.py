"""Backends going down and coming back: clear 503s with Retry-After, answers without Redis, recovery."""

from __future__ import annotations

import io
import os
import tempfile
import time
from pathlib import Path

import pytest

from convoinsight.services import REDIS_COOLDOWN_SECONDS, get_services
from convoinsight.settings import get_settings
from local_emulator.backing import PostgresServer, RedisServer
from tests.conftest import function_client
from tests.support.data import SALES_CSV


@pytest.fixture
def own_servers(local_env):
    """A PostgreSQL and a Redis of this test's own, to stop and start (never the session's)."""
    root = Path(tempfile.mkdtemp(prefix="convoinsight-resilience-"))
    os.chmod(root, 0o755)  # noqa: S103 - the postgres server user must traverse it
    pg, redis_server = PostgresServer(root / "pg", durable=False), RedisServer(root / "redis")
    os.environ.update(POSTGRES_URL=pg.start(), REDIS_URL=redis_server.start())
    get_settings.cache_clear()
    yield pg, redis_server
    pg.stop()
    redis_server.stop()


def test_postgres_down_is_503_with_retry_after_and_recovers_without_restart(own_servers, user_id):
    pg, _ = own_servers
    datasets, health = function_client("datasets"), function_client("health")
    h = {"X-User-Id": user_id}
    assert datasets.post("/d", headers=h, data={"file": (io.BytesIO(b"a\n1\n"), "t.csv")}).status_code == 201
    get_services(get_settings()).redis.flushdb()  # no cached listing to hide the outage
    pg.stop()
    down = datasets.get("/d", headers=h)
    assert down.status_code == 503 and down.headers["Retry-After"] == "5"
    assert down.get_json()["error"]["code"] in ("postgres_unavailable", "postgres_connection_lost")
    assert "Traceback" not in down.get_data(as_text=True)
    ready = health.get("/ready")
    assert ready.status_code == 503 and ready.get_json()["checks"]["documents"]["status"] == "unavailable"
    pg.start()
    back = datasets.get("/d", headers=h)
    assert back.status_code == 200 and back.get_json()["datasets"][0]["name"] == "t"
    assert health.get("/ready").status_code == 200


def test_questions_are_answered_while_redis_is_down_and_caching_resumes(own_servers, user_id):
    _, redis_server = own_servers
    datasets, queries = function_client("datasets"), function_client("queries")
    h = {"X-User-Id": user_id}
    datasets.post("/shop", headers=h, data={"file": (io.BytesIO(SALES_CSV.read_bytes()), "sales.csv")})
    redis_server.stop()
    ask = {"domain": "shop", "prompt": "total revenue by region"}
    during = queries.post("/", headers=h, json=ask)
    assert during.status_code == 200 and during.get_json()["sql_status"] == "ok"
    assert function_client("health").get("/ready").get_json()["checks"]["redis"]["status"] == "unavailable"
    redis_server.start()
    time.sleep(REDIS_COOLDOWN_SECONDS + 0.1)  # the client waits out its short cooldown, then tries again
    queries.post("/", headers=h, json=ask)
    again = queries.post("/", headers=h, json=ask).get_json()
    assert again["usage"]["cache_hits"] == 1  # the cache works again, same process
