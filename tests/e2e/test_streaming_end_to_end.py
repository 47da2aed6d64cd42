"""Answers that stream, over HTTP through the local emulator, read by two real SSE parsers.

A sync question with ``"stream": true`` is read with httpx-sse, an async job's ``events_url`` with
sseclient-py over requests. The stub model streams its replies in real OpenAI chunks, slowly enough
that the draft visibly arrives before the answer.
"""

from __future__ import annotations

import json
import time

import httpx
import pytest
import requests
import sseclient
from httpx_sse import connect_sse

from tests.e2e.test_ask_end_to_end import BY_CARRIER, ask, headers, script_data_answer, tenant  # noqa: F401
from tests.support.stub_llm import Cut

pytestmark = pytest.mark.slow

ANSWER = "**Answer.** American Airlines and Delta share the \"top\" spots;\nsee the table for the rest."
COMPILER = json.dumps({"answer": ANSWER, "follow_ups": ["And by month?", "Only JFK?"]})
SAME = ("answer", "sql", "sql_status", "table", "insights", "follow_ups", "verified", "datasets")


def stream_sync(emulator, user: str, prompt: str, **extra) -> list[tuple[str, dict, float]]:
    """(event, data, seconds since the request) of a streamed sync question, parsed by httpx-sse."""
    started, out = time.monotonic(), []
    with httpx.Client(timeout=60) as client, connect_sse(
            client, "POST", emulator.url("queries"), headers=headers(user),
            json={"domain": "travel", "prompt": prompt, "stream": True, **extra}) as source:
        assert source.response.status_code == 200
        assert source.response.headers["content-type"].startswith("text/event-stream")
        for event in source.iter_sse():
            out.append((event.event, json.loads(event.data), time.monotonic() - started))
    return out


def script(stub, compiler=COMPILER) -> None:
    script_data_answer(stub, BY_CARRIER)
    stub.queues["compiler"].clear()
    stub.always("compiler", compiler)


def shown(events) -> str:
    text = ""
    for name, data, *_ in events:
        text = "" if name == "reset" else text + data["text"] if name == "token" else text
    return text


def test_a_streamed_sync_answer_arrives_as_it_is_written_and_equals_the_plain_one(emulator, tenant, stub):  # noqa: F811
    script(stub)
    plain = ask(emulator, tenant, "Average arrival delay by carrier?").json()
    script(stub)
    stub.stream_chunk_chars, stub.stream_chunk_delay = 4, 0.03  # about 1 s of writing
    events = stream_sync(emulator, tenant, "Average arrival delay by carrier, please?")
    names = [name for name, _, _ in events]
    assert names[-2:] == ["answer", "end"] and events[-1][1] == {"status": "succeeded"}
    first_token = names.index("token")
    assert set(names[:first_token]) == {"progress"} and events[first_token - 1][1]["current_stage"] == "compiler"
    tokens = [(data["text"], at) for name, data, at in events if name == "token"]
    answer, answered_at = events[-2][1], events[-2][2]
    assert len(tokens) > 10 and "".join(text for text, _ in tokens) == answer["answer"] == ANSWER
    assert answered_at - tokens[0][1] > 0.3  # the first words were shown well before the answer was done
    for key in SAME:
        assert answer[key] == plain[key], key
    assert answer["usage"]["tokens"] == plain["usage"]["tokens"] and answer["chart"]["spec"] == plain["chart"]["spec"]
    history = requests.get(emulator.url("sessions", f"/{answer['session_id']}"), headers=headers(tenant),
                           timeout=10).json()
    assert history["turns"][-1]["answer"] == ANSWER and history["turns"][-1]["sql"] == BY_CARRIER


def test_an_async_jobs_events_url_streams_stages_then_the_draft_then_the_end(emulator, tenant, stub):  # noqa: F811
    script(stub)
    stub.stream_chunk_chars, stub.stream_chunk_delay = 4, 0.02
    job = ask(emulator, tenant, "Average arrival delay by carrier, as a job?", mode="async").json()
    url = job["events_url"]  # signed: no identity header needed
    url = url if url.startswith("http") else f"http://127.0.0.1:{emulator.port}{url}"
    with requests.get(url, stream=True, timeout=60, headers={"Accept": "text/event-stream"}) as resp:
        assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/event-stream")
        events = [(e.event, json.loads(e.data), e.id) for e in sseclient.SSEClient(resp).events()]
    names = [name for name, _, _ in events]
    assert names[-1] == "end" and events[-1][1] == {"status": "succeeded"}
    first_token, last_token = names.index("token"), len(names) - 1 - names[::-1].index("token")
    assert set(names[:first_token]) == set(names[last_token + 1:-1]) == {"progress"}  # stages, draft, stages
    stages = [data for name, data, _ in events[:first_token] if name == "progress"][-1]["stages"]
    assert all(stages[s]["status"] == "done" for s in ("router", "orchestrator", "manipulator", "visualizer",
                                                        "analyzer"))
    tokens = [(data["text"], event_id) for name, data, event_id in events if name == "token"]
    result = events[-2][1]["result"]
    assert len(tokens) >= 3 and all(event_id for _, event_id in tokens)
    assert "".join(text for text, _ in tokens) == result["answer"] == ANSWER
    history = requests.get(emulator.url("sessions", f"/{job['session_id']}"), headers=headers(tenant),
                           timeout=10).json()
    assert history["turns"][-1]["answer"] == ANSWER


def test_a_model_failing_mid_stream_is_reset_and_the_fallback_answers(emulator, tenant, stub):  # noqa: F811
    script(stub, Cut(COMPILER, 30))  # every attempt breaks off after 30 characters
    events = stream_sync(emulator, tenant, "Average arrival delay by carrier, cut short?")
    names = [name for name, _, _ in events]
    answer = events[-2][1]
    assert names[-2:] == ["answer", "end"]
    resets = [data["reason"] for name, data, _ in events if name == "reset"]
    assert resets and resets[-1] == "fallback"  # retries of the same model first, then the offline planner
    first_reset = names.index("reset")
    assert "token" in names[:first_reset]  # the broken draft had been shown
    assert shown(events) == answer["answer"] and answer["answer"] != ANSWER
    assert answer["usage"]["fallbacks"] == 1 and answer["sql"] == BY_CARRIER
    assert len(stub.calls("compiler")) >= 2


def test_the_offline_planner_streams_its_answer_in_a_few_tokens(emulator, tenant, stub):  # noqa: F811
    events = stream_sync(emulator, tenant, "What is the average arrival delay by carrier?", model="offline")
    names = [name for name, _, _ in events]
    answer = events[-2][1]
    assert names[-2:] == ["answer", "end"] and 1 <= names.count("token") <= 6
    assert shown(events) == answer["answer"] and answer["sql_status"] == "ok"
    assert stub.calls() == []


def test_a_client_that_leaves_mid_stream_still_gets_its_answer_kept(emulator, tenant, stub):  # noqa: F811
    script(stub)
    stub.stream_chunk_chars, stub.stream_chunk_delay = 4, 0.03
    with httpx.Client(timeout=60) as client, connect_sse(
            client, "POST", emulator.url("queries"), headers=headers(tenant),
            json={"domain": "travel", "prompt": "Average delay by carrier, then I leave", "stream": True}) as source:
        for event in source.iter_sse():
            if event.event == "progress":
                session_id = json.loads(event.data)["session_id"]
            if event.event == "token":
                break  # the first words arrived: the client goes away
    deadline, turns = time.monotonic() + 30, []
    while time.monotonic() < deadline and not turns:
        resp = requests.get(emulator.url("sessions", f"/{session_id}"), headers=headers(tenant), timeout=10)
        turns = resp.json().get("turns", []) if resp.status_code == 200 else []
        time.sleep(0.1)
    assert turns and turns[-1]["answer"] == ANSWER
