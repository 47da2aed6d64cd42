"""The cloud surface as a frontend meets it: function bundles served as Cloud Functions serves them, behind a
stand-in for the load balancer, followed only through the URLs the API returns.

Every bundle is built by terraform/package.sh and run on its own (tests/support/cloud_gateway.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.support.data import SALES_CSV

pytestmark = pytest.mark.slow
USER = {"X-User-Id": "cloud-alice"}


def follow_events(url: str, timeout: float = 60) -> list[tuple[str, dict]]:
    """The event stream read as EventSource reads it: no headers of ours, events until ``end``."""
    events, name, data = [], None, []
    with requests.get(url, stream=True, timeout=timeout, headers={"Accept": "text/event-stream"}) as resp:
        assert resp.status_code == 200, resp.text
        assert resp.headers["Content-Type"].startswith("text/event-stream")
        for line in resp.iter_lines(decode_unicode=True):
            if line.startswith("event:"):
                name = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                data.append(line.split(":", 1)[1].strip())
            elif line == "" and name:
                events.append((name, json.loads("\n".join(data))))
                if name == "end":
                    break
                name, data = None, []
    return events


def test_upload_ask_async_follow_the_events_and_show_the_chart_by_returned_urls_only(cloud):
    base = cloud.base
    # A large file's path: a signed URL, a PUT with no credentials, then the upload's status URL.
    created = requests.post(f"{base}/api/v1/datasets/shop/uploads", headers=USER, timeout=30,
                            json={"filename": "sales.csv", "size": SALES_CSV.stat().st_size})
    assert created.status_code == 201, created.text
    upload = created.json()
    assert upload["url"].startswith(f"{base}/_storage/upload?") and upload["status_url"].startswith(base)
    put = requests.put(upload["url"], data=SALES_CSV.read_bytes(), headers=upload["headers"], timeout=30)
    assert put.status_code == 200, put.text
    deadline = time.monotonic() + 60
    while (status := requests.get(upload["status_url"], headers=USER, timeout=30).json())["status"] != "ready":
        assert status["status"] in ("pending", "processing"), status
        assert time.monotonic() < deadline, status
        time.sleep(0.2)

    job = requests.post(f"{base}/api/v1/queries/", headers=USER, timeout=60,
                        json={"domain": "shop", "prompt": "total revenue by region", "mode": "async"})
    assert job.status_code == 202, job.text
    job = job.json()
    assert job["status_url"] == f"{base}/api/v1/queries/{job['job_id']}"
    assert job["events_url"].startswith(f"{base}/api/v1/queries/{job['job_id']}/events?token=")
    events = follow_events(job["events_url"])
    names = [name for name, _ in events]
    assert names[-1] == "end" and events[-1][1] == {"status": "succeeded"}
    progress = [data for name, data in events if name == "progress"]
    assert progress[-1]["stages_done"] == progress[-1]["stages_total"]
    chart = progress[-1]["result"]["chart"]
    assert chart["image_url"].startswith(f"{base}/api/v1/charts/{chart['id']}/image?format=png&token=")
    image = requests.get(chart["image_url"], timeout=60)  # what <img src> sends: nothing of ours
    assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
    # The status URL answers the same result, and fresh links with it.
    status = requests.get(job["status_url"], headers=USER, timeout=30).json()
    assert status["result"]["answer"] == progress[-1]["result"]["answer"]
    # Every request went through the load balancer's routes to a function that answered.
    assert all(code < 400 for _, _, code in cloud.lb.seen), cloud.lb.seen


def test_each_function_serves_its_inner_paths_and_its_public_prefix(cloud):
    datasets = cloud.functions["datasets"]
    direct = requests.get(f"{datasets.url}/", headers=USER, timeout=30)  # Cloud Functions' own URL
    prefixed = requests.get(f"{datasets.url}/api/v1/datasets/", headers=USER, timeout=30)
    through = requests.get(f"{cloud.base}/api/v1/datasets", headers=USER, timeout=30)
    assert direct.status_code == prefixed.status_code == through.status_code == 200
    assert direct.json() == prefixed.json() == through.json()
    missing = requests.get(f"{cloud.base}/api/v1/nothing/here", timeout=30)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "route_not_found"
    # pipeline and ingest are not behind the load balancer.
    assert requests.post(f"{cloud.base}/api/v1/pipeline/", json={}, timeout=30).status_code == 404


def test_a_hand_deployed_bundle_finds_its_prompts_and_logs_in_cloud_loggings_shape(cloud):
    listed = requests.get(f"{cloud.base}/api/v1/prompts/", headers=USER, timeout=30)
    assert listed.status_code == 200, listed.text  # PROMPTS_DIR unset: the bundle's own prompts/
    assert {p["name"] for p in listed.json()["prompts"]} >= {"router", "compiler"}
    ingest_log = [json.loads(line) for line in cloud.functions["ingest"].log().splitlines() if line.startswith("{")]
    entries = [e for e in ingest_log if e.get("event") == "ingest"]
    assert entries and all({"severity", "message", "time", "function"} <= set(e) for e in entries), ingest_log[-5:]
    assert any(e.get("outcome") == "registered" for e in entries), entries
    assert not [e for e in ingest_log if e["severity"] == "ERROR"], ingest_log  # the event was not redelivered


def test_local_signed_uploads_answer_a_browsers_preflight_as_the_bucket_does(cloud):
    preflight = requests.options(f"{cloud.base}/_storage/upload?path=x", timeout=30, headers={
        "Origin": "http://app.example.test", "Access-Control-Request-Method": "PUT",
        "Access-Control-Request-Headers": "content-type"})
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == "http://app.example.test"
    assert "PUT" in preflight.headers["Access-Control-Allow-Methods"]
    assert "Content-Type" in preflight.headers["Access-Control-Allow-Headers"]
    stranger = requests.options(f"{cloud.base}/_storage/upload", timeout=30, headers={
        "Origin": "http://evil.example.test", "Access-Control-Request-Method": "PUT"})
    assert stranger.status_code == 403 and "Access-Control-Allow-Origin" not in stranger.headers


def test_ready_is_503_with_retry_after_when_a_backend_is_not_configured(cloud, tmp_path):
    from tests.support.cloud_gateway import FunctionProcess, build_bundles

    env = {k: v for k, v in cloud.env.items() if k not in ("POSTGRES_URL", "REDIS_URL")}
    health = FunctionProcess("health", build_bundles(tmp_path), tmp_path / "bundles", env).start()
    try:
        health.wait_ready()
        ready = requests.get(f"{health.url}/ready", timeout=30)
        assert ready.status_code == 503 and ready.headers["Retry-After"]
        checks = ready.json()["checks"]
        assert checks["documents"]["status"] == "unavailable" and checks["documents"]["code"] == "not_configured"
        assert checks["redis"]["status"] == "unavailable"
        assert checks["blobs"]["status"] == "ok"
    finally:
        health.stop()


def test_bundles_import_their_own_package(cloud):
    queries = cloud.functions["queries"]
    where = subprocess.run([sys.executable, "-c", "import convoinsight, convoinsight.settings as s; "
                            "print(convoinsight.__file__); print(s.DEFAULT_PROMPTS_DIR)"],
                           cwd=queries.folder, env=queries.env, capture_output=True, text=True, check=True)
    package, prompts = where.stdout.split()
    assert Path(package).is_relative_to(queries.folder) and Path(prompts) == queries.folder / "prompts"
