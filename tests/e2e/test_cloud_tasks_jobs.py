"""Async jobs through the Cloud Tasks emulator, delivering to the `pipeline` function of the local stack.

The emulator delivers at least once and accepts duplicate task names, so the runner's own guarantees
are what keep one job to one message and one chart.
"""

from __future__ import annotations

import json
import time
import uuid

import pg8000.native
import pytest
import requests

from tests.conftest import GENEROUS_LIMITS
from tests.support.data import SALES_CSV
from tests.support.emulator import Emulator
from tests.support.stub_llm import context_of

pytestmark = pytest.mark.slow
QUESTION = {"domain": "shop", "prompt": "total revenue by region", "mode": "async"}
SQL = 'SELECT "region", SUM("revenue") AS total FROM sales GROUP BY "region" ORDER BY "region"'


@pytest.fixture(scope="module")
def tasks_stack(postgres, redis_server, stub_llm, tasks_emulator, state_root):
    queue = f"q-{uuid.uuid4().hex[:8]}"
    emu = Emulator({}, state_root / f"tasks-{queue}")
    emu.env.update({
        "DEPLOYMENT_MODE": "local", "QUEUE_BACKEND": "cloudtasks", "POSTGRES_URL": postgres.url,
        "REDIS_URL": redis_server.url, "GCP_PROJECT_ID": "convoinsight-test", "TASKS_LOCATION": "us-central1",
        "TASKS_QUEUE": queue, "CLOUD_TASKS_EMULATOR_HOST": tasks_emulator.host,
        "TASKS_TARGET_URL": f"http://127.0.0.1:{emu.port}/api/v1/pipeline/",
        "LLM_API_BASE": stub_llm.base_url, "LLM_MODEL": "openai/stub-model", "LLM_API_KEY": "sk-test",
        "RATE_LIMITS": GENEROUS_LIMITS, "LOG_LEVEL": "WARNING",
    })
    emu.start()
    yield emu, tasks_emulator, queue
    emu.stop()


def script(stub, analyzer_failures: int = 0) -> None:
    stub.always("router", json.dumps({"route": "data", "datasets": ["sales"], "chart": "bar", "analysis": True}))
    stub.always("orchestrator", json.dumps({"manipulator_prompt": "m", "visualizer_prompt": "v",
                                            "analyzer_prompt": "a", "compiler_instruction": "c"}))
    stub.always("manipulator", json.dumps({"sql": SQL, "explanation": "sum per region"}))
    stub.always("visualizer", json.dumps({"spec": {"mark": "bar", "encoding": {
        "x": {"field": "region", "type": "nominal"}, "y": {"field": "total", "type": "quantitative"}}},
        "title": "Revenue"}))
    for _ in range(2 * analyzer_failures):  # invalid, then invalid again after the repair request
        stub.script("analyzer", "not json")
    stub.always("analyzer", lambda body: json.dumps({"summary": f"{context_of(body)['rows'][0][0]} leads.",
                                                     "insights": []}))
    stub.always("compiler", json.dumps({"answer": "Revenue by region.", "follow_ups": ["By month?", "Top 3?"]}))


def tenant(emu) -> dict:
    h = {"X-User-Id": f"tasks-{uuid.uuid4().hex[:10]}"}
    up = requests.post(f"{emu.base}/datasets/shop", headers=h, files={"file": ("sales.csv", SALES_CSV.read_bytes())},
                       timeout=30)
    assert up.status_code == 201
    return h


def wait(emu, h, job_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = requests.get(f"{emu.base}/queries/{job_id}", headers=h, timeout=10).json()
        if body["status"] in ("succeeded", "failed", "cancelled"):
            return body
        time.sleep(0.1)
    raise AssertionError(f"job still {body['status']}: {body}")


def stored(postgres, user: str, session_id: str) -> tuple[int, int]:
    conn = pg8000.native.Connection(user="postgres", host="127.0.0.1", port=postgres.port, database="convoinsight")
    messages = conn.run("SELECT count(*) FROM documents WHERE collection = :c",
                        c=f"tenants/{user}/sessions/{session_id}/messages")[0][0]
    charts = conn.run("SELECT count(*) FROM documents WHERE collection = :c AND data->>'session_id' = :s",
                      c=f"tenants/{user}/charts", s=session_id)[0][0]
    conn.close()
    return messages, charts


def test_an_async_job_end_to_end_through_cloud_tasks(tasks_stack, stub, postgres):
    emu, _, _ = tasks_stack
    script(stub)
    h = tenant(emu)
    accepted = requests.post(f"{emu.base}/queries/", headers=h, json=QUESTION, timeout=30)
    assert accepted.status_code == 202
    job = accepted.json()
    done = wait(emu, h, job["job_id"])
    assert done["status"] == "succeeded" and done["stages_done"] == 6
    import polars as pl

    truth = pl.read_csv(SALES_CSV).group_by("Region").agg(pl.col("Revenue").sum()).sort("Region")
    got = done["result"]["table"]["rows"]
    assert [r[0] for r in got] == truth["Region"].to_list()
    assert all(abs(r[1] - t) < 1e-6 for r, t in zip(got, truth["Revenue"].to_list(), strict=True))
    assert done["result"]["answer"] == "Revenue by region." and done["result"]["sql"] == SQL
    assert len(done["result"]["chart"]["spec"]["data"]["values"]) == 4
    assert stored(postgres, h["X-User-Id"], job["session_id"]) == (2, 1)
    sync = requests.post(f"{emu.base}/queries/", headers=h, json={**QUESTION, "mode": "sync"}, timeout=60).json()
    assert sync["table"] == done["result"]["table"] and sync["answer"] == done["result"]["answer"]


def test_every_stage_delivered_again_by_the_emulator_changes_nothing(tasks_stack, stub, postgres):
    from convoinsight.jobs.cloudtasks import CloudTasksQueue
    from convoinsight.jobs.queue import StageTask
    from convoinsight.pipeline.state import STAGES

    emu, tasks, queue_name = tasks_stack
    script(stub)
    h = tenant(emu)
    job = requests.post(f"{emu.base}/queries/", headers=h, json=QUESTION, timeout=30).json()
    assert wait(emu, h, job["job_id"])["status"] == "succeeded"
    queue = CloudTasksQueue("convoinsight-test", "us-central1", queue_name, emu.env["TASKS_TARGET_URL"],
                            emulator_host=tasks.host)
    for stage in STAGES:  # a second delivery of every stage, with new task names so nothing dedupes
        queue.enqueue(StageTask(h["X-User-Id"], job["job_id"], stage, attempt=1))
    time.sleep(2.0)
    assert stored(postgres, h["X-User-Id"], job["session_id"]) == (2, 1)
    assert wait(emu, h, job["job_id"])["status"] == "succeeded"


def test_a_stage_failing_on_its_first_attempt_is_redelivered_by_cloud_tasks(tasks_stack, stub, postgres):
    emu, _, _ = tasks_stack
    script(stub, analyzer_failures=1)
    h = tenant(emu)
    job = requests.post(f"{emu.base}/queries/", headers=h, json=QUESTION, timeout=30).json()
    done = wait(emu, h, job["job_id"])
    assert done["status"] == "succeeded"
    assert done["stages"]["analyzer"]["attempts"] == 2
    assert stored(postgres, h["X-User-Id"], job["session_id"]) == (2, 1)


def test_cancel_while_a_stage_runs(tasks_stack, stub, postgres):
    emu, _, _ = tasks_stack
    script(stub)
    stub.latency = 0.4
    h = tenant(emu)
    job = requests.post(f"{emu.base}/queries/", headers=h, json=QUESTION, timeout=30).json()
    deadline = time.monotonic() + 30
    while requests.get(f"{emu.base}/queries/{job['job_id']}", headers=h, timeout=10).json()["stages_done"] < 1:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert requests.delete(f"{emu.base}/queries/{job['job_id']}", headers=h, timeout=10).json()["status"] == \
        "cancelled"
    time.sleep(3.0)
    final = requests.get(f"{emu.base}/queries/{job['job_id']}", headers=h, timeout=10).json()
    assert final["status"] == "cancelled" and final["stages_done"] < 6
    assert stored(postgres, h["X-User-Id"], job["session_id"]) == (0, 0)
