"""GET /api/v1/metrics through the local emulator (what `make dev` serves): the gateway routes it to the health
function, which shows what every function recorded (summed in Redis), as Prometheus text."""

from __future__ import annotations

import uuid

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from convoinsight.observability import metrics
from tests.conftest import GENEROUS_LIMITS
from tests.support.data import flights_csv
from tests.support.emulator import Emulator

pytestmark = pytest.mark.slow
TOKEN = "scrape-token-e2e-5d1c0b7a"


@pytest.fixture(scope="module")
def metered(postgres, redis_server, state_root):
    """A stack with metrics on and a tight `default` limit (the health function's `GET /`)."""
    import redis as redis_lib

    client = redis_lib.Redis.from_url(redis_server.url)
    for key in client.scan_iter(match=f"{metrics.KEY_PREFIX}:*"):
        client.delete(key)
    limits = ",".join(item if not item.startswith("default=") else "default=3/minute"
                      for item in GENEROUS_LIMITS.split(","))
    env = {"DEPLOYMENT_MODE": "local", "POSTGRES_URL": postgres.url, "REDIS_URL": redis_server.url,
           "LOG_LEVEL": "WARNING", "RATE_LIMITS": limits, "METRICS_ENABLED": "true", "METRICS_TOKEN": TOKEN,
           "METRICS_FLUSH_SECONDS": "10"}
    emu = Emulator(env, state_root / "metrics").start()
    yield emu
    emu.stop()
    for key in client.scan_iter(match=f"{metrics.KEY_PREFIX}:*"):
        client.delete(key)
    client.close()


def value(families: dict, name: str, suffix: str = "", **labels) -> float:
    family = families[name]
    return sum(s.value for s in family.samples
               if s.name == name + suffix and all(s.labels.get(k) == v for k, v in labels.items()))


def test_metrics_show_requests_refusals_stages_and_cache_hits(metered):
    user = {"X-User-Id": f"e2e-metrics-{uuid.uuid4().hex[:8]}"}
    base = metered.base
    assert requests.post(f"{base}/datasets/travel", headers=user, files={"file": ("flights.csv", flights_csv())},
                         timeout=60).status_code == 201
    assert requests.get(f"{base}/datasets/travel", headers=user, timeout=30).status_code == 200
    assert requests.get(f"{base}/datasets/nowhere/at/all/here", headers=user, timeout=30).status_code == 404

    statuses = []
    for _ in range(6):  # `default` is 3/minute per address: one of these is refused
        statuses.append(requests.get(f"{base}/health/", timeout=30).status_code)
        if statuses[-1] == 429:
            break
    assert statuses[-1] == 429, statuses

    question = {"domain": "travel", "prompt": "What is the average arrival delay by carrier?", "model": "offline"}
    for _ in range(2):  # the second is answered from the result cache
        resp = requests.post(f"{base}/queries", headers=user, json=question, timeout=120)
        assert resp.status_code == 200, resp.text

    # Who may read them: not an anonymous caller, not a user, not a wrong token.
    url = f"http://127.0.0.1:{metered.port}/api/v1/metrics"
    assert requests.get(url, timeout=30).status_code == 401
    assert requests.get(url, headers=user, timeout=30).status_code == 403
    assert requests.get(url, headers={"Authorization": "Bearer wrong"}, timeout=30).status_code == 401

    scraped = requests.get(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
    assert scraped.status_code == 200 and scraped.headers["Content-Type"].startswith("text/plain")
    assert TOKEN not in scraped.text
    found = {f.name: f for f in text_string_to_metric_families(scraped.text)}
    assert all(name.startswith("convoinsight_") for name in found)

    total = "convoinsight_requests"
    assert value(found, total, "_total", function="datasets", route="/<domain>", method="POST", status="201") == 1
    assert value(found, total, "_total", function="datasets", route="/<domain>", method="GET", status="200") == 1
    assert value(found, total, "_total", function="datasets", route="unmatched", status="404") == 1
    assert value(found, total, "_total", function="queries", route="/", method="POST", status="200") == 2
    assert value(found, total, "_total", function="health", route="/", method="GET", status="429") == 1
    assert value(found, total, "_total", function="health", route="/api/v1/metrics", status="401") == 2
    assert value(found, "convoinsight_request_duration_seconds", "_count", function="queries", route="/") == 2
    assert value(found, "convoinsight_request_duration_seconds", "_bucket", function="queries", le="+Inf") == 2

    assert value(found, "convoinsight_rate_limited", "_total", **{"class": "default"}) == 1
    for stage in ("router", "orchestrator", "manipulator", "compiler"):
        assert value(found, "convoinsight_stage_duration_seconds", "_count", stage=stage) >= 1, stage
    assert value(found, "convoinsight_cache_hits", "_total", kind="result") >= 1
    assert value(found, "convoinsight_cache_misses", "_total", kind="result") >= 1
    assert value(found, "convoinsight_llm_calls", "_total", agent="router",
                 model="convoinsight/offline-planner", outcome="ok") >= 1

    # Each process keeps its numbers in memory between flushes; the hashes in Redis are the cluster's totals.
    import redis as redis_lib

    client = redis_lib.Redis.from_url(metered.env["REDIS_URL"])
    try:
        keys = {k.decode() for k in client.scan_iter(match=f"{metrics.KEY_PREFIX}:*")}
    finally:
        client.close()
    assert "ci:v1:metrics:convoinsight_requests_total" in keys
