"""50 questions at once through one dev server, the model adding latency: each gets its own right answer."""

from __future__ import annotations

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.support.stub_llm import context_of

pytestmark = pytest.mark.slow
CLIENTS = 50


def scripted(stub) -> None:
    """Replies computed from each request's own context, so concurrent requests cannot borrow each other's."""
    def router(body):
        names = [d["name"] for d in context_of(body)["datasets"]]
        return json.dumps({"route": "data", "datasets": names, "chart": "bar", "analysis": True})

    def manipulator(body):
        table = context_of(body)["datasets"][0]["name"]
        return json.dumps({"sql": f'SELECT "region", SUM("amount") AS total FROM "{table}" GROUP BY "region" '
                                  'ORDER BY "region"', "explanation": "sum per region"})

    def analyzer(body):
        rows = context_of(body)["rows"]
        return json.dumps({"summary": f"{rows[0][0]} has {rows[0][1]}.", "insights": []})

    stub.always("router", router)
    stub.always("orchestrator", json.dumps({"manipulator_prompt": "sum", "visualizer_prompt": "bar",
                                            "analyzer_prompt": "a", "compiler_instruction": "c"}))
    stub.always("manipulator", manipulator)
    stub.always("visualizer", json.dumps({"spec": {"mark": "bar", "encoding": {
        "x": {"field": "region", "type": "nominal"}, "y": {"field": "total", "type": "quantitative"}}},
        "title": "Totals"}))
    stub.always("analyzer", analyzer)
    stub.always("compiler", lambda body: json.dumps({"answer": f"Answer to: {context_of(body)['question']}",
                                                     "follow_ups": ["a?", "b?"]}))


def test_fifty_concurrent_questions_each_get_their_own_answer(emulator, stub):
    scripted(stub)
    stub.latency = 0.2
    run = uuid.uuid4().hex[:6]

    def one(i: int) -> tuple[int, dict, float]:
        user = {"X-User-Id": f"conc-{run}-{i}"}
        # Each tenant's data differs (the amounts carry i), and so must each answer.
        csv = f"region,amount\nNorth,{i}\nSouth,{1000 + i}\nNorth,{2 * i}\n".encode()
        up = requests.post(f"{emulator.base}/datasets/d{i}", headers=user, files={"file": (f"sales_{i}.csv", csv)},
                           timeout=60)
        assert up.status_code == 201, up.text
        started = time.perf_counter()
        resp = requests.post(f"{emulator.base}/queries/", headers=user, timeout=120,
                             json={"domain": f"d{i}", "prompt": f"total amount per region for client {i}"})
        return i, resp.json(), time.perf_counter() - started

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        results = list(pool.map(one, range(CLIENTS)))
    wall = time.perf_counter() - started
    for i, body, _ in results:
        assert body["table"]["rows"] == [["North", 3 * i], ["South", 1000 + i]], (i, body)
        assert body["answer"] == f"Answer to: total amount per region for client {i}"
        assert body["chart"]["spec"]["data"]["values"] == [{"region": "North", "total": 3 * i},
                                                          {"region": "South", "total": 1000 + i}]
        assert body["usage"]["llm_calls"] == 6
    assert len({body["session_id"] for _, body, _ in results}) == CLIENTS
    # Sequential would be >= 50 x 5 x 0.2 s = 50 s; print the real figure for the record.
    print(f"\n50 concurrent questions: wall {wall:.1f}s, slowest {max(r[2] for r in results):.1f}s")
