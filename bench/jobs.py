"""Async jobs on the in-process queue.

- Per stage hop: a job's wall time minus the time its stages ran, divided by its stages (offline model).
- 200 jobs with the stub model adding 0.5 s to every call: all must succeed; end-to-end p95 against
  1.2 x (model calls on the job's critical path x 0.5 s), the goal. Jobs arrive at a steady rate (a burst of 200
  at once on 2 cores measures litellm's CPU cost per call, which is reported separately).
"""

from __future__ import annotations

import io
import json
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

from bench.stack import local_stack, percentile

JOBS = 200
RATE_PER_SECOND = float(os.environ.get("BENCH_JOB_RATE", "4"))
LATENCY = 0.5
GOAL_P95_OVER_IDEAL = 1.2
CRITICAL_PATH_CALLS = 5  # router, orchestrator, manipulator, (visualizer || analyzer), compiler
QUESTION = {"domain": "shop", "prompt": "total revenue by region", "mode": "async"}


def _wait(queries, headers, job_id, timeout=300, poll=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = queries.get(f"/{job_id}", headers=headers).get_json()
        if body["status"] in ("succeeded", "failed", "cancelled"):
            return body
        time.sleep(poll)
    return body


def hop_overhead() -> dict:
    from convoinsight.jobs import store
    from convoinsight.services import get_services
    from convoinsight.settings import get_settings
    from tests.conftest import function_client
    from tests.support.data import SALES_CSV

    datasets, queries = function_client("datasets"), function_client("queries")
    h = {"X-User-Id": "bench-hops"}
    datasets.post("/shop", headers=h, data={"file": (io.BytesIO(SALES_CSV.read_bytes()), "sales.csv")})
    docs = get_services(get_settings()).documents
    per_hop = []
    for _ in range(20):
        job = queries.post("/", headers=h, json=QUESTION).get_json()
        _wait(queries, h, job["job_id"])
        record = store.get_job(docs, "bench-hops", job["job_id"])
        outcome = store.outcome(docs, "bench-hops", job["job_id"])
        outputs = store.outputs(docs, "bench-hops", job["job_id"])
        wall_ms = (outcome["at"] - record["created_at"]) * 1000
        per_hop.append((wall_ms - sum(o["ms"] for o in outputs.values())) / len(outputs))
    return {"hop_overhead_ms_median": round(statistics.median(per_hop), 1),
            "hop_overhead_ms_p95": round(percentile(per_hop, 95), 1)}


def load() -> dict:
    from tests.conftest import function_client
    from tests.support.data import SALES_CSV
    from tests.support.stub_llm import StubLLM, context_of

    stub = StubLLM().start()
    stub.latency = LATENCY
    stub.always("router", json.dumps({"route": "data", "datasets": ["sales"], "chart": "bar", "analysis": True}))
    stub.always("orchestrator", json.dumps({"manipulator_prompt": "m", "visualizer_prompt": "v",
                                            "analyzer_prompt": "a", "compiler_instruction": "c"}))
    stub.always("manipulator", json.dumps({"sql": 'SELECT "region", SUM("revenue") AS total FROM sales '
                                                  'GROUP BY "region"', "explanation": "e"}))
    stub.always("visualizer", json.dumps({"spec": None, "title": "t"}))
    stub.always("analyzer", lambda b: json.dumps({"summary": f"{len(context_of(b)['rows'])} regions.",
                                                  "insights": []}))
    stub.always("compiler", json.dumps({"answer": "done", "follow_ups": ["a?", "b?"]}))
    os.environ.update(LLM_API_BASE=stub.base_url, LLM_MODEL="openai/stub-model", LLM_API_KEY="sk-bench",
                      QUEUE_WORKERS="256")
    from convoinsight.services import get_services
    from convoinsight.settings import get_settings

    get_settings.cache_clear()
    get_services.cache_clear()
    try:
        datasets, queries = function_client("datasets"), function_client("queries")
        users = [{"X-User-Id": f"bench-load-{i}"} for i in range(JOBS)]
        for h in users:  # one tenant per job: no answer or response cache can shortcut the model
            datasets.post("/shop", headers=h, data={"file": (io.BytesIO(SALES_CSV.read_bytes()), "sales.csv")})

        from convoinsight.jobs import store

        docs = get_services(get_settings()).documents

        def one(i):
            time.sleep(i / RATE_PER_SECOND)
            job = queries.post("/", headers=users[i], json=QUESTION).get_json()
            done = _wait(queries, users[i], job["job_id"], poll=1.0)  # as a UI would poll
            user = users[i]["X-User-Id"]
            # End to end as the server saw it: accepted -> outcome stored (polling adds no error).
            accepted = store.get_job(docs, user, job["job_id"])["created_at"]
            wall = store.outcome(docs, user, job["job_id"])["at"] - accepted
            return done["status"], wall

        with ThreadPoolExecutor(max_workers=JOBS) as pool:
            results = list(pool.map(one, range(JOBS)))
    finally:
        stub.stop()
    latencies = [t for _, t in results]
    target = GOAL_P95_OVER_IDEAL * CRITICAL_PATH_CALLS * LATENCY
    p95_over_ideal = percentile(latencies, 95) / (CRITICAL_PATH_CALLS * LATENCY)
    succeeded = sum(1 for s, _ in results if s == "succeeded")
    if succeeded < JOBS:  # a failed job ends early: its latency would flatter the figure, so there is none
        raise RuntimeError(f"only {succeeded} of {JOBS} jobs succeeded: {sorted({s for s, _ in results})}")
    return {"jobs": JOBS, "arrival_per_s": RATE_PER_SECOND, "succeeded": succeeded,
            "e2e_s_p50": round(percentile(latencies, 50), 2), "e2e_s_p95": round(percentile(latencies, 95), 2),
            "target_s": target, "p95_over_ideal": round(p95_over_ideal, 2),
            "goal_p95_over_ideal": GOAL_P95_OVER_IDEAL, "at_goal_p95_over_ideal": p95_over_ideal <= GOAL_P95_OVER_IDEAL}


def run() -> dict:
    with local_stack():
        return {**hop_overhead(), **load()}
