"""Metrics: recorded per process, summed in Redis, served as Prometheus text by the health function."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import uuid
from types import SimpleNamespace

import pytest
from prometheus_client.parser import text_string_to_metric_families

from convoinsight.errors import SqlExecutionError
from convoinsight.observability import exposition, metrics
from convoinsight.services import get_services
from convoinsight.settings import get_settings, load_settings
from tests.conftest import REPO, function_client

TOKEN = "metrics-token-7f3a9c1e5b"


def configure(**env: str) -> None:
    os.environ.update(env)
    get_settings.cache_clear()
    get_services.cache_clear()
    metrics.configure(get_settings())


def redis():
    return get_services(get_settings()).redis


def stored_keys(client) -> list[bytes]:
    return sorted(client.scan_iter(match=f"{metrics.KEY_PREFIX}:*"))


@pytest.fixture
def metrics_env(local_env):
    """Metrics on, flushed after every request, with a token; no totals in Redis and none in this process."""
    configure(METRICS_ENABLED="true", METRICS_FLUSH_SECONDS="0", METRICS_TOKEN=TOKEN)
    client = redis()
    for key in stored_keys(client):
        client.delete(key)
    metrics.reset()
    yield local_env
    for key in stored_keys(client):
        client.delete(key)
    metrics.reset()
    metrics.configure(load_settings({}))  # off again for the tests that follow


def families(text: str) -> dict:
    return {f.name: f for f in text_string_to_metric_families(text)}


def sample(family, suffix: str = "", **labels) -> float | None:
    name = family.name + suffix
    found = [s.value for s in family.samples if s.name == name and all(s.labels.get(k) == v
                                                                       for k, v in labels.items())]
    return sum(found) if found else None


def scrape(client, **headers):
    return client.get("/api/v1/metrics", headers={"Authorization": f"Bearer {TOKEN}", **headers})


# --- recording, flush, render -------------------------------------------------------------------------------------

def test_recording_is_a_no_op_when_disabled(local_env):
    metrics.reset()
    metrics.configure(load_settings({}))
    assert get_settings().metrics_enabled is False
    metrics.inc(metrics.REQUESTS, "f", "/", "GET", 200)
    metrics.observe(metrics.STAGE_SECONDS, 0.2, "router")
    metrics.cache("result", True)
    metrics.llm_call("router", "x", "ok", cost_usd=1.0)
    assert metrics.pending() == {}
    client = redis()
    before = stored_keys(client)
    health = function_client("health")
    assert health.get("/").status_code == 200 and health.get("/nope").status_code == 404
    assert metrics.pending() == {} and stored_keys(client) == before  # nothing written to Redis


def test_record_flush_and_render_counters_and_histograms(metrics_env):
    for seconds in (0.003, 0.04, 0.04, 7.0):
        metrics.observe(metrics.REQUEST_SECONDS, seconds, "queries", "/", "POST", 200)
    metrics.inc(metrics.REQUESTS, "queries", "/", "POST", 200, value=4)
    metrics.cache("result", True)
    metrics.cache("result", False)
    metrics.cache("llm", False)
    metrics.stage("router", 0.02)
    client = redis()
    assert metrics.flush(client, force=True) and metrics.pending() == {}
    text, content_type = exposition.render(metrics.read(client))
    assert content_type.startswith("text/plain")
    found = families(text.decode())
    assert {m.name.removesuffix("_total") for m in metrics.METRICS} <= set(found)
    assert all(name.startswith("convoinsight_") for name in found)

    requests_ = found["convoinsight_requests"]
    assert requests_.type == "counter"
    assert sample(requests_, "_total", function="queries", route="/", method="POST", status="200") == 4
    latency = found["convoinsight_request_duration_seconds"]
    assert latency.type == "histogram"
    labels = {"function": "queries", "route": "/", "method": "POST", "status": "200"}
    assert sample(latency, "_count", **labels) == 4
    assert sample(latency, "_sum", **labels) == pytest.approx(7.083)
    assert sample(latency, "_bucket", le="0.005", **labels) == 1  # cumulative buckets
    assert sample(latency, "_bucket", le="0.05", **labels) == 3
    assert sample(latency, "_bucket", le="5.0", **labels) == 3
    assert sample(latency, "_bucket", le="10.0", **labels) == 4
    assert sample(latency, "_bucket", le="+Inf", **labels) == 4
    assert sample(found["convoinsight_cache_hits"], "_total", kind="result") == 1
    assert sample(found["convoinsight_cache_misses"], "_total", kind="result") == 1
    assert sample(found["convoinsight_cache_misses"], "_total", kind="llm") == 1
    assert sample(found["convoinsight_stage_duration_seconds"], "_count", stage="router") == 1

    # A second flush adds to the totals: they are cumulative whatever process recorded them.
    metrics.cache("result", True)
    metrics.flush(client, force=True)
    again = families(exposition.render(metrics.read(client))[0].decode())
    assert sample(again["convoinsight_cache_hits"], "_total", kind="result") == 2


def test_one_flush_is_one_round_trip_into_hashes_under_the_key_prefix(metrics_env):
    metrics.cache("result", True)
    metrics.llm_call("router", metrics.OTHER, "ok")
    metrics.stage("compiler", 1.5)
    client = redis()
    calls = []
    real_pipeline = client.pipeline

    def counting_pipeline(*args, **kwargs):
        pipe = real_pipeline(*args, **kwargs)
        execute = pipe.execute

        def counted(*a, **k):
            calls.append([c[0][0] for c in pipe.command_stack])
            return execute(*a, **k)

        pipe.execute = counted
        return pipe

    client.pipeline = counting_pipeline
    try:
        metrics.flush(client, force=True)
    finally:
        del client.pipeline
    assert len(calls) == 1  # one MULTI/EXEC: every delta and every expiry
    assert set(calls[0]) == {"HINCRBYFLOAT", "EXPIRE"}
    keys = {k.decode() for k in stored_keys(client)}
    assert keys == {"ci:v1:metrics:convoinsight_cache_hits_total", "ci:v1:metrics:convoinsight_llm_calls_total",
                    "ci:v1:metrics:convoinsight_stage_duration_seconds"}
    assert 0 < client.ttl("ci:v1:metrics:convoinsight_cache_hits_total") <= metrics.RETENTION_SECONDS


def test_flushes_wait_for_their_interval(metrics_env):
    configure(METRICS_FLUSH_SECONDS="3600")
    client = redis()
    metrics.cache("profile", True)
    assert metrics.flush(client, force=True)  # the first flush of a process
    metrics.cache("profile", True)
    assert metrics.flush(client)  # not due: kept here
    assert len(metrics.pending()) == 1
    assert metrics.read(client)["convoinsight_cache_hits_total"] == {(("profile",), ""): 1.0}
    metrics.flush(client, force=True)
    assert metrics.read(client)["convoinsight_cache_hits_total"] == {(("profile",), ""): 2.0}


def test_redis_down_keeps_the_deltas_and_never_fails_a_request(metrics_env):
    client = redis()
    metrics.cache("result", True)
    configure(REDIS_URL="redis://127.0.0.1:1/0")  # nothing listens on port 1
    down = get_services(get_settings()).redis
    assert metrics.flush(down, force=True) is False
    kept = metrics.pending()
    assert kept[("convoinsight_cache_hits_total", ("result",), "")] == 1
    assert kept[("convoinsight_metrics_flush_errors_total", (), "")] == 1

    health = function_client("health")
    assert health.get("/live").status_code == 200  # recorded, the flush failed, the request did not
    unavailable = scrape(health)
    assert unavailable.status_code == 503 and unavailable.headers["Retry-After"]
    assert unavailable.get_json()["error"]["code"] == "metrics_unavailable"

    # Redis back: the next flush carries everything that was kept.
    assert metrics.flush(client, force=True) and metrics.pending() == {}
    totals = metrics.read(client)
    assert totals["convoinsight_cache_hits_total"] == {(("result",), ""): 1.0}
    assert totals["convoinsight_metrics_flush_errors_total"][((), "")] >= 2
    assert totals["convoinsight_requests_total"][(("health", "/live", "GET", "200"), "")] == 1


def test_without_redis_the_route_serves_this_process(metrics_env):
    configure(REDIS_URL="")
    health = function_client("health")
    health.get("/live")
    found = families(scrape(health).get_data(as_text=True))
    assert sample(found["convoinsight_requests"], "_total", function="health", route="/live") == 1


def test_totals_are_summed_over_processes(metrics_env):
    """Another process (another function, another instance) flushes into the same hashes; the health function's
    scrape shows both."""
    probe = (
        "from convoinsight.settings import load_settings\n"
        "from convoinsight.services import Services\n"
        "from convoinsight.observability import metrics\n"
        f"s = load_settings({{'METRICS_ENABLED': 'true', 'REDIS_URL': {os.environ['REDIS_URL']!r}}})\n"
        "metrics.configure(s)\n"
        "for _ in range(3):\n"
        "    metrics.inc(metrics.REQUESTS, 'queries', '/', 'POST', 200)\n"
        "    metrics.observe(metrics.REQUEST_SECONDS, 0.5, 'queries', '/', 'POST', 200)\n"
        "metrics.stage('manipulator', 0.3)\n"
        "assert metrics.flush(Services(s).redis, force=True)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO / "shared")})
    assert done.returncode == 0, done.stderr
    health = function_client("health")
    health.get("/live")
    found = families(scrape(health).get_data(as_text=True))
    requests_ = found["convoinsight_requests"]
    assert sample(requests_, "_total", function="queries", route="/", method="POST", status="200") == 3
    assert sample(requests_, "_total", function="health", route="/live", method="GET", status="200") == 1
    assert sample(found["convoinsight_request_duration_seconds"], "_bucket", function="queries", le="0.5") == 3
    assert sample(found["convoinsight_stage_duration_seconds"], "_count", stage="manipulator") == 1


# --- the hooks ----------------------------------------------------------------------------------------------------

def test_requests_are_labelled_by_route_template_and_unmatched(metrics_env, user_id):
    datasets = function_client("datasets")
    me = {"X-User-Id": user_id}
    datasets.get("/some-domain", headers=me)  # 404: no such domain, but the route matched
    datasets.get("/other-domain", headers=me)
    datasets.get("/a/b/c/d", headers=me)  # no route
    datasets.open("/", method="BREW", headers=me)  # an unknown method is one label, not one per method
    metrics.flush(redis(), force=True)
    counts = metrics.read(redis())["convoinsight_requests_total"]
    assert counts[(("datasets", "/<domain>", "GET", "404"), "")] == 2
    assert counts[(("datasets", "unmatched", "GET", "404"), "")] == 1
    assert counts[(("datasets", "unmatched", "other", "405"), "")] == 1
    assert not any("some-domain" in label for (labels, _), _v in counts.items() for label in labels)


def test_rate_limit_refusals_are_counted_by_class(metrics_env, user_id):
    configure(RATE_LIMITS="dataset_ops=1/minute")
    datasets = function_client("datasets")
    me = {"X-User-Id": user_id}
    assert datasets.get("/", headers=me).status_code == 200
    assert datasets.get("/", headers=me).status_code == 429
    metrics.flush(redis(), force=True)
    totals = metrics.read(redis())
    assert totals["convoinsight_rate_limited_total"] == {(("dataset_ops",), ""): 1.0}
    assert totals["convoinsight_requests_total"][(("datasets", "/", "GET", "429"), "")] == 1


def test_model_calls_tokens_and_cost(metrics_env):
    usage = SimpleNamespace(prompt_tokens=120, completion_tokens=30, total_tokens=150)
    metrics.llm_call("router", "openai/gpt-4o-mini", "ok", usage=usage, cost_usd=0.0021)
    metrics.llm_call("router", "openai/gpt-4o-mini", "cached")
    metrics.llm_call("compiler", "openai/made-up-model-9000", "error")  # a name a caller chose: no new series
    metrics.flush(redis(), force=True)
    totals = metrics.read(redis())
    assert totals["convoinsight_llm_calls_total"] == {
        (("router", "openai/gpt-4o-mini", "ok"), ""): 1.0, (("router", "openai/gpt-4o-mini", "cached"), ""): 1.0,
        (("compiler", "other", "error"), ""): 1.0}
    assert totals["convoinsight_llm_tokens_total"] == {(("router", "openai/gpt-4o-mini", "prompt"), ""): 120.0,
                                                        (("router", "openai/gpt-4o-mini", "completion"), ""): 30.0}
    assert totals["convoinsight_llm_cost_usd_total"][(("router", "openai/gpt-4o-mini"), "")] == pytest.approx(0.0021)


def test_the_configured_model_is_a_label(metrics_env):
    configure(LLM_MODEL="openai/stub-model")
    assert metrics.model_label("openai/stub-model") == "openai/stub-model"
    assert metrics.model_label("convoinsight/offline-planner") == "convoinsight/offline-planner"


def test_engine_limits_by_kind():
    metrics.reset()
    metrics.configure(load_settings({"METRICS_ENABLED": "true"}))
    try:
        @metrics.counts_engine_limits("duckdb")
        def run(outcome):
            if isinstance(outcome, Exception):
                raise outcome
            return outcome

        run(SimpleNamespace(limits=["rows", "bytes"]))
        run(SimpleNamespace(limits=[]))
        for code in ("sql_timeout", "sql_memory_limit", "sql_execution_error"):
            with pytest.raises(SqlExecutionError):
                run(SqlExecutionError("x", details={"code": code, "stage": "execute"}))
        assert {labels: v for (name, labels, _), v in metrics.pending().items()
                if name == "convoinsight_engine_limits_total"} == {
            ("duckdb", "rows"): 1, ("duckdb", "bytes"): 1, ("duckdb", "time"): 1, ("duckdb", "memory"): 1}
    finally:
        metrics.reset()
        metrics.configure(load_settings({}))


def test_series_per_metric_are_capped(monkeypatch):
    metrics.reset()
    metrics.configure(load_settings({"METRICS_ENABLED": "true"}))
    monkeypatch.setattr(metrics, "MAX_SERIES", 3)
    try:
        for kind in ("a", "b", "c", "d", "e"):
            metrics.cache(kind, True)
        assert sorted(labels for (_, labels, _), _v in metrics.pending().items()) == [
            ("a",), ("b",), ("c",), ("other",)]
    finally:
        metrics.reset()
        metrics.configure(load_settings({}))


def test_a_question_records_stages_model_calls_and_cache(metrics_env, shop):
    queries, me = shop
    body = {"domain": "shop", "prompt": "total revenue by region", "model": "offline"}
    first = queries.post("/", headers=me, json=body)
    assert first.status_code == 200, first.get_data(as_text=True)
    assert queries.post("/", headers=me, json=body).status_code == 200  # the result cache answers
    metrics.flush(redis(), force=True)
    totals = metrics.read(redis())
    stages = {labels[0] for (labels, part) in totals["convoinsight_stage_duration_seconds"] if part == "count"}
    assert {"router", "manipulator", "compiler"} <= stages
    assert totals["convoinsight_cache_hits_total"].get((("result",), ""), 0) >= 1
    calls = totals["convoinsight_llm_calls_total"]
    assert calls[(("router", "convoinsight/offline-planner", "ok"), "")] >= 1
    assert totals["convoinsight_requests_total"][(("queries", "/", "POST", "200"), "")] == 2


# --- the route ----------------------------------------------------------------------------------------------------

def test_disabled_is_404_in_the_error_shape(local_env):
    configure(METRICS_ENABLED="false", METRICS_TOKEN=TOKEN)
    resp = scrape(function_client("health"), **{"X-Request-Id": "req-metrics-404"})
    assert resp.status_code == 404
    assert resp.get_json() == {"error": {"code": "metrics_disabled",
                                         "message": "metrics are disabled (METRICS_ENABLED=false)",
                                         "request_id": "req-metrics-404"}}


def test_refused_without_an_admin_or_the_token(metrics_env):
    health = function_client("health")
    anonymous = health.get("/api/v1/metrics")
    assert anonymous.status_code == 401 and anonymous.get_json()["error"]["code"] == "missing_identity"
    user = health.get("/api/v1/metrics", headers={"X-User-Id": "someone"})
    assert user.status_code == 403 and user.get_json()["error"]["code"] == "admin_required"
    assert set(user.get_json()["error"]) == {"code", "message", "request_id"}
    wrong = health.get("/api/v1/metrics", headers={"Authorization": f"Bearer {TOKEN}x"})
    assert wrong.status_code == 401 and wrong.get_json()["error"]["code"] == "invalid_metrics_token"
    assert TOKEN not in wrong.get_data(as_text=True)
    admin = health.get("/api/v1/metrics", headers={"X-User-Id": "ops", "X-User-Role": "admin"})
    assert admin.status_code == 200 and admin.headers["Content-Type"].startswith("text/plain")
    token = scrape(health)
    assert token.status_code == 200 and token.headers["Cache-Control"] == "no-store"
    assert "convoinsight_requests_total" in token.get_data(as_text=True)


def test_no_token_configured_means_admins_only(metrics_env):
    configure(METRICS_TOKEN="")
    health = function_client("health")
    assert health.get("/api/v1/metrics", headers={"Authorization": "Bearer "}).status_code == 401
    assert scrape(health).status_code == 401


def test_token_in_apikey_mode_and_failed_tries_are_throttled(metrics_env):
    configure(AUTH_MODE="apikey", RATE_LIMITS="auth=2/minute")
    health = function_client("health")
    address = {"REMOTE_ADDR": f"2001:db8::{uuid.uuid4().hex[:4]}"}  # documentation range, new per run
    assert health.get("/api/v1/metrics", headers={"Authorization": f"Bearer {TOKEN}"},
                      environ_base=address).status_code == 200
    codes = [health.get("/api/v1/metrics", headers={"Authorization": "Bearer ci_nope_wrong"},
                        environ_base=address).status_code for _ in range(3)]
    assert codes == [401, 401, 429]
    metrics.flush(redis(), force=True)
    assert metrics.read(redis())["convoinsight_rate_limited_total"] == {(("auth",), ""): 1.0}


def test_the_token_is_compared_as_digests_and_never_shown():
    assert exposition._token_matches(TOKEN, TOKEN) and not exposition._token_matches(TOKEN[:-1], TOKEN)
    assert hashlib.sha256(TOKEN.encode()).hexdigest()  # a digest of any length compares in constant time
    shown = repr(load_settings({"METRICS_TOKEN": TOKEN}))
    assert TOKEN not in shown and "metrics_token='***'" in shown


def test_settings_defaults_and_bounds():
    s = load_settings({})
    assert (s.metrics_enabled, s.metrics_token, s.metrics_flush_seconds) == (False, "", 10)
    with pytest.raises(Exception, match="METRICS_FLUSH_SECONDS"):
        load_settings({"METRICS_FLUSH_SECONDS": "-1"})
    with pytest.raises(Exception, match="METRICS_ENABLED"):
        load_settings({"METRICS_ENABLED": "maybe"})


def test_prometheus_client_is_imported_only_when_scraped():
    probe = ("import sys; sys.path.insert(0, 'functions/health'); import main; "
             "from convoinsight.observability import metrics; "
             "print('prometheus_client' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, cwd=REPO,
                          env={"PATH": "/usr/bin:/bin", "DEPLOYMENT_MODE": "local",
                               "PYTHONPATH": str(REPO / "shared")})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
