"""Async questions on the in-process queue: at-least-once delivery, still exactly one answer."""

from __future__ import annotations

import json
import threading
import time

from convoinsight.errors import ServiceUnavailable
from convoinsight.jobs.inprocess import InProcessQueue
from convoinsight.jobs.service import handle_task
from convoinsight.llm.prompts import prompt_store
from convoinsight.pipeline import runner as sync_runner
from convoinsight.services import get_services
from convoinsight.sessions import store as sessions
from convoinsight.settings import get_settings
from tests.conftest import function_client

QUESTION = {"domain": "shop", "prompt": "total revenue by region"}


def wait(queries, h, job_id: str, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = queries.get(f"/{job_id}", headers=h).get_json()
        if body["status"] in ("succeeded", "failed", "cancelled"):
            return body
        time.sleep(0.05)
    raise AssertionError(f"job still {body['status']}: {body}")


def stored(user_id: str, session_id: str) -> tuple[list, list]:
    docs = get_services(get_settings()).documents
    messages = docs.list(sessions.messages(user_id, session_id))
    charts = [c for c in docs.list(sessions.charts(user_id)) if c["session_id"] == session_id]
    return messages, charts


def duplicating_queue(services) -> InProcessQueue:
    """Every task delivered twice, at once: what the emulator and the real service may do."""
    prompts = prompt_store(services.settings.prompts_dir)
    queue = InProcessQueue(lambda body, retry: handle_task(services, prompts, body)[0])
    original = queue.enqueue

    def twice(task, *, delay_seconds=0):
        original(task, delay_seconds=delay_seconds)
        original(task, delay_seconds=delay_seconds)

    queue.enqueue = twice
    return queue


def test_an_async_answer_equals_the_sync_answer(shop, user_id):
    queries, h = shop
    sync = queries.post("/", headers=h, json={**QUESTION, "use_cache": False}).get_json()
    accepted = queries.post("/", headers=h, json={**QUESTION, "mode": "async"})
    assert accepted.status_code == 202
    job = accepted.get_json()
    assert job["status"] == "queued" and job["status_url"] == f"/api/v1/queries/{job['job_id']}"
    assert job["events_url"].startswith(f"/api/v1/queries/{job['job_id']}/events?token=v1.")
    done = wait(queries, h, job["job_id"])
    assert done["status"] == "succeeded" and done["stages_done"] == done["stages_total"] == 6
    result = done["result"]
    for key in ("answer", "sql", "sql_status", "table", "insights", "follow_ups", "verified"):
        assert result[key] == sync[key], key
    assert result["chart"]["spec"] == sync["chart"]["spec"]
    assert result["usage"]["llm_calls"] == 6
    messages, charts = stored(user_id, job["session_id"])
    assert [m["role"] for m in sorted(messages, key=lambda m: m["seq"])] == ["user", "assistant"]
    assert len(charts) == 1


def test_every_stage_delivered_twice_still_gives_one_message_and_one_chart(shop, user_id):
    queries, h = shop
    services = get_services(get_settings())
    services._queue = duplicating_queue(services)
    job = queries.post("/", headers=h, json={**QUESTION, "mode": "async"}).get_json()
    assert wait(queries, h, job["job_id"])["status"] == "succeeded"
    time.sleep(0.5)  # let every duplicate delivery drain
    messages, charts = stored(user_id, job["session_id"])
    assert len(messages) == 2 and len(charts) == 1
    session = services.documents.get(sessions.sessions(user_id), job["session_id"])
    assert session["message_count"] == 2


def test_a_stage_that_crashes_on_its_first_attempt_is_retried(shop, user_id, monkeypatch):
    queries, h = shop
    real, failures = sync_runner.STAGE_FUNCTIONS["analyzer"], []

    def flaky(state, deps):
        if not failures:
            failures.append(1)
            raise ServiceUnavailable("the model gateway is down", code="gateway_down")
        return real(state, deps)

    monkeypatch.setitem(sync_runner.STAGE_FUNCTIONS, "analyzer", flaky)
    job = queries.post("/", headers=h, json={**QUESTION, "mode": "async"}).get_json()
    done = wait(queries, h, job["job_id"])
    assert done["status"] == "succeeded" and failures == [1]
    assert done["stages"]["analyzer"]["attempts"] == 2
    assert len(stored(user_id, job["session_id"])[0]) == 2


def test_a_stage_failing_every_time_fails_the_job_with_its_reason(shop, user_id, monkeypatch):
    queries, h = shop

    def broken(state, deps):
        raise ServiceUnavailable("the model gateway is down", code="gateway_down")

    monkeypatch.setitem(sync_runner.STAGE_FUNCTIONS, "orchestrator", broken)
    job = queries.post("/", headers=h, json={**QUESTION, "mode": "async"}).get_json()
    done = wait(queries, h, job["job_id"])
    assert done["status"] == "failed"
    assert done["error"]["stage"] == "orchestrator" and "down" in done["error"]["message"]
    assert stored(user_id, job["session_id"]) == ([], [])


def test_cancel_in_the_middle_never_produces_a_message(shop, user_id, monkeypatch):
    queries, h = shop
    real, entered, release = sync_runner.STAGE_FUNCTIONS["manipulator"], threading.Event(), threading.Event()

    def slow(state, deps):
        entered.set()
        release.wait(10)
        return real(state, deps)

    monkeypatch.setitem(sync_runner.STAGE_FUNCTIONS, "manipulator", slow)
    job = queries.post("/", headers=h, json={**QUESTION, "mode": "async"}).get_json()
    assert entered.wait(10)
    cancelled = queries.delete(f"/{job['job_id']}", headers=h).get_json()
    assert cancelled["status"] == "cancelled"
    release.set()
    time.sleep(0.5)
    final = queries.get(f"/{job['job_id']}", headers=h).get_json()
    assert final["status"] == "cancelled" and "result" not in final
    assert final["stages"]["visualizer"]["status"] == "pending"  # nothing ran after the cancel
    assert stored(user_id, job["session_id"]) == ([], [])


def test_branches_finishing_at_the_same_moment_run_the_compiler_once(shop, user_id, monkeypatch):
    queries, h = shop
    barrier, compiled = threading.Barrier(2), []
    for name in ("visualizer", "analyzer"):
        real = sync_runner.STAGE_FUNCTIONS[name]

        def together(state, deps, real=real):
            out = real(state, deps)
            barrier.wait(10)  # both branches store their output at the same moment
            return out

        monkeypatch.setitem(sync_runner.STAGE_FUNCTIONS, name, together)
    real_compiler = sync_runner.STAGE_FUNCTIONS["compiler"]

    def counted(state, deps):
        compiled.append(1)
        return real_compiler(state, deps)

    monkeypatch.setitem(sync_runner.STAGE_FUNCTIONS, "compiler", counted)
    job = queries.post("/", headers=h, json={**QUESTION, "mode": "async"}).get_json()
    assert wait(queries, h, job["job_id"])["status"] == "succeeded"
    time.sleep(0.3)
    assert compiled == [1]
    assert len(stored(user_id, job["session_id"])[0]) == 2


def test_progress_events_stream_until_the_job_ends(shop):
    queries, h = shop
    job = queries.post("/", headers=h, json={**QUESTION, "mode": "async"}).get_json()
    resp = queries.get(f"/{job['job_id']}/events", headers=h)
    assert resp.mimetype == "text/event-stream"
    events = [block for block in resp.get_data(as_text=True).split("\n\n") if block]
    assert events[-1].startswith("event: end") and '"succeeded"' in events[-1]
    progress = [json.loads(e.split("data: ", 1)[1]) for e in events if e.startswith("event: progress")]
    done_counts = [p["stages_done"] for p in progress]
    assert done_counts == sorted(done_counts) and progress[-1]["status"] == "succeeded"


def test_jobs_of_another_tenant_are_404(shop, user_id):
    queries, h = shop
    job = queries.post("/", headers=h, json={**QUESTION, "mode": "async"}).get_json()
    other = {"X-User-Id": f"{user_id}-x"}
    assert queries.get(f"/{job['job_id']}", headers=other).status_code == 404
    assert queries.delete(f"/{job['job_id']}", headers=other).status_code == 404
    assert queries.get(f"/{job['job_id']}/events", headers=other).status_code == 404
    assert wait(queries, h, job["job_id"])["status"] == "succeeded"


def test_the_pipeline_target_ignores_unknown_jobs_and_stages(local_env):
    pipeline = function_client("pipeline")
    unknown = pipeline.post("/", json={"user_id": "u", "job_id": "0" * 32, "stage": "router"})
    assert unknown.status_code == 200 and unknown.get_json()["outcome"] == "ignored"
    bad_stage = pipeline.post("/", json={"user_id": "u", "job_id": "0" * 32, "stage": "rm -rf"})
    assert bad_stage.status_code == 200 and bad_stage.get_json()["outcome"] == "ignored"


def test_a_malformed_task_is_acknowledged_not_retried_forever(local_env):
    resp = function_client("pipeline").post("/", data="not json", content_type="text/plain")
    assert resp.status_code == 200 and resp.get_json()["outcome"] == "rejected"
