"""Async jobs through the Cloud Tasks emulator, delivering to the `pipeline` function of the local stack.

The emulator delivers at least once and accepts duplicate task names, so the runner's own guarantees
are what keep one job to one message and one chart.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

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


class Relay:
    """Between the Cloud Tasks emulator and the `pipeline` function: forwards each delivery, except that it
    answers 503 without forwarding to the first delivery of each stage named in ``drop`` (a platform-side
    failure no model fallback can absorb), and records every stage delivered."""

    def __init__(self) -> None:
        self.target, self.drop, self.seen, relay = "", set(), [], self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                return

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                stage = (json.loads(body or b"{}") or {}).get("stage", "")
                relay.seen.append(stage)
                if stage in relay.drop:
                    relay.drop.discard(stage)
                    status, data = 503, b'{"outcome": "retry"}'
                else:
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                    resp = requests.post(relay.target, data=body, headers=headers, timeout=60)
                    status, data = resp.status_code, resp.content
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def relay():
    r = Relay()
    yield r
    r.server.shutdown()
    r.server.server_close()


@pytest.fixture(scope="module")
def tasks_stack(postgres, redis_server, stub_llm, tasks_emulator, state_root, relay):
    queue = f"q-{uuid.uuid4().hex[:8]}"
    emu = Emulator({}, state_root / f"tasks-{queue}")
    relay.target = f"http://127.0.0.1:{emu.port}/api/v1/pipeline/"
    emu.env.update({
        "DEPLOYMENT_MODE": "local", "QUEUE_BACKEND": "cloudtasks", "POSTGRES_URL": postgres.url,
        "REDIS_URL": redis_server.url, "GCP_PROJECT_ID": "convoinsight-test", "TASKS_LOCATION": "us-central1",
        "TASKS_QUEUE": queue, "CLOUD_TASKS_EMULATOR_HOST": tasks_emulator.host,
        "TASKS_TARGET_URL": relay.url,
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


def test_a_stage_failing_on_its_first_delivery_is_redelivered_by_cloud_tasks(tasks_stack, stub, postgres, relay):
    emu, _, _ = tasks_stack
    # The analyzer's model writes invalid JSON twice (its fallback answers, within the stage), and the first
    # delivery of the analyzer's task fails on the platform side (503): Cloud Tasks must deliver it again.
    script(stub, analyzer_failures=1)
    h = tenant(emu)
    relay.drop, relay.seen[:] = {"analyzer"}, []
    job = requests.post(f"{emu.base}/queries/", headers=h, json=QUESTION, timeout=30).json()
    done = wait(emu, h, job["job_id"])
    assert done["status"] == "succeeded"
    assert relay.seen.count("analyzer") >= 2 and not relay.drop  # dropped once, delivered again
    assert done["stages"]["analyzer"]["status"] == "done"
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
