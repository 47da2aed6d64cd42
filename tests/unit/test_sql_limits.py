"""Hostile SQL against the engine: every crash and limit class ends one question with a clear ``sql_error``,
the process survives, and the next question is answered.

The questions go through the real queries function with the stub model writing the manipulator's SQL,
so the whole path runs: guard, rewrite, worker pool, limits, answer, storage.
"""

from __future__ import annotations

import io
import json
import os
import signal
import threading
import time

import polars as pl
import pytest

from convoinsight.services import get_services
from convoinsight.sessions import store
from convoinsight.settings import get_settings
from tests.conftest import function_client

GOOD = "SELECT count(*) AS n FROM big"


@pytest.fixture
def big(local_env, use_stub_model, user_id):
    """A 2,500-row table in the domain "lab", and a client asking as the test's user."""
    frame = pl.DataFrame({"id": list(range(2500)), "name": [f"n{i % 97}" for i in range(2500)],
                          "amount": [i * 0.5 for i in range(2500)]})
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    datasets = function_client("datasets")
    resp = datasets.post("/lab", headers={"X-User-Id": user_id}, data={"file": (io.BytesIO(buffer.getvalue()),
                                                                                "big.parquet")})
    assert resp.status_code == 201, resp.get_json()
    return function_client("queries")


def _script(stub, *sqls: str) -> None:
    stub.reset()
    stub.always("router", json.dumps({"route": "data", "datasets": ["big"], "chart": "none", "analysis": True}))
    stub.always("orchestrator", json.dumps({"manipulator_prompt": "do it", "visualizer_prompt": "",
                                            "analyzer_prompt": "", "compiler_instruction": ""}))
    stub.script("manipulator", *(json.dumps({"sql": sql, "explanation": "x"}) for sql in sqls))
    stub.always("visualizer", json.dumps({"spec": None, "title": ""}))
    stub.always("analyzer", json.dumps({"summary": "Done.", "insights": []}))
    stub.always("compiler", json.dumps({"answer": "Here it is.", "follow_ups": ["a?", "b?"]}))


def _ask(client, user_id: str, prompt: str = "how many rows?") -> dict:
    resp = client.post("/", headers={"X-User-Id": user_id}, json={"domain": "lab", "prompt": prompt,
                                                                   "use_cache": False})
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def _answers_next_question(client, stub, user_id: str) -> None:
    _script(stub, GOOD)
    body = _ask(client, user_id, "and now, how many rows?")
    assert body["sql_status"] == "ok" and body["table"]["rows"] == [[2500]]


def _manipulator_calls(stub) -> int:
    return sum(1 for r in stub.requests if r["agent"] == "manipulator")


@pytest.mark.parametrize(("sql", "code"), [
    ("SELECT CAST(amount AS DECIMAL(76,70)) AS x FROM big", "sql_execution_error"),
    ("SELECT CAST(amount AS DECIMAL(0,0)) AS x FROM big", "sql_execution_error"),
    ("SELECT timestamp '2020-01-01' - INTERVAL '1000000000 days' AS t FROM big", "sql_execution_error"),
    ("SELECT 1 / (id - id) AS boom FROM big", "sql_execution_error"),
])
def test_engine_errors_end_the_question_cleanly(big, use_stub_model, user_id, sql, code):
    # Three tries, each failing the same way: the last error is the answer's, with its stage.
    _script(use_stub_model, sql, sql, sql)
    body = _ask(big, user_id)
    assert body["sql_status"] == "failed"
    assert body["sql_error"]["code"] == code and body["sql_error"]["stage"] == "execute"
    assert body["sql_error"]["message"] and body["table"] is None
    assert "could not be run" in body["answer"]
    _answers_next_question(big, use_stub_model, user_id)


def test_split_part_with_the_smallest_bigint_answers(big, use_stub_model, user_id):
    _script(use_stub_model, "SELECT split_part(name, 'N', -9223372036854775808) AS p FROM big ORDER BY id LIMIT 1")
    body = _ask(big, user_id)
    assert body["sql_status"] == "ok" and body["sql_error"] is None
    assert body["table"]["rows"] == [[""]]  # PostgreSQL: the field counted from the end, none that far


def test_a_query_past_the_time_limit_is_interrupted(big, use_stub_model, user_id, monkeypatch):
    monkeypatch.setenv("SQL_TIMEOUT_SECONDS", "1")
    get_settings.cache_clear()
    slow = "SELECT count(*) AS n FROM big a, big b, big c WHERE a.amount * b.amount * c.amount = a.id - 7.25"
    _script(use_stub_model, slow)
    started = time.monotonic()
    body = _ask(big, user_id)
    assert time.monotonic() - started < 8
    assert body["sql_status"] == "failed"
    assert body["sql_error"] == {"code": "sql_timeout", "stage": "timeout",
                                 "message": "the query ran past the 1 s limit and was stopped"}
    assert _manipulator_calls(use_stub_model) == 1  # a limit is final: the same query would hit it again
    _answers_next_question(big, use_stub_model, user_id)


def test_a_query_past_the_memory_limit_fails_with_the_limit(big, use_stub_model, user_id, monkeypatch):
    monkeypatch.setenv("SQL_MEMORY_MB", "64")
    monkeypatch.setenv("SQL_SPILL_MB", "0")
    get_settings.cache_clear()
    hungry = "SELECT string_agg(repeat(a.name, 2000), ',') AS s FROM big a, big b WHERE b.id < 200"
    _script(use_stub_model, hungry)
    body = _ask(big, user_id)
    assert body["sql_status"] == "failed"
    assert body["sql_error"]["code"] == "sql_memory_limit" and body["sql_error"]["stage"] == "limit"
    _answers_next_question(big, use_stub_model, user_id)


def test_results_are_bounded_in_rows_bytes_and_cells(big, use_stub_model, user_id):
    _script(use_stub_model, "SELECT id, lpad('a', 20000, 'b') AS wide FROM big ORDER BY id")
    body = _ask(big, user_id)
    table = body["table"]
    settings = get_settings()
    assert body["sql_status"] == "ok" and table["truncated"] is True
    assert table["row_count"] == 2500  # counted from the stream, not by a second query
    assert len(table["rows"]) < 2500 and set(table["limits"]) == {"bytes", "cells"}
    assert all(len(row[1]) == settings.max_cell_chars and row[1].endswith("…") for row in table["rows"])
    assert len(json.dumps(table)) <= settings.max_result_bytes * 1.1
    # What is stored and what the later agents were sent stay bounded too.
    docs = get_services(settings).documents
    message = docs.get(store.messages(user_id, body["session_id"]), body["message_id"])
    assert len(json.dumps(message)) < settings.max_result_bytes * 1.5
    analyzer = [r for r in use_stub_model.requests if r["agent"] == "analyzer"][-1]
    assert len(json.dumps(analyzer["body"])) < 64 * 1024


def test_a_worker_killed_mid_query_ends_only_that_question(big, use_stub_model, user_id, monkeypatch):
    from convoinsight.sql.execute import engine_pool

    monkeypatch.setenv("SQL_TIMEOUT_SECONDS", "20")
    get_settings.cache_clear()
    pool = engine_pool(get_settings())
    before = set(pool.pids())
    slow = "SELECT count(*) AS n FROM big a, big b, big c WHERE a.amount * b.amount * c.amount = a.id - 8.25"
    _script(use_stub_model, slow)

    def kill_the_busy_worker() -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            busy = pool.busy_pids()
            if busy:
                os.kill(busy[0], signal.SIGKILL)  # what a segfault or the OOM killer does
                return
            time.sleep(0.02)

    killer = threading.Thread(target=kill_the_busy_worker)
    killer.start()
    body = _ask(big, user_id)
    killer.join()
    assert body["sql_status"] == "failed"
    assert body["sql_error"]["code"] == "sql_engine_crashed" and body["sql_error"]["stage"] == "execute"
    assert "SIGKILL" in body["sql_error"]["message"]
    _answers_next_question(big, use_stub_model, user_id)
    assert set(pool.pids()) != before or pool.restarts >= 1


def test_a_refusal_is_fed_back_once(big, use_stub_model, user_id):
    _script(use_stub_model, "SELECT * FROM pg_catalog.pg_user", GOOD)
    body = _ask(big, user_id)
    assert body["sql_status"] == "ok" and body["table"]["rows"] == [[2500]]
    second = [r for r in use_stub_model.requests if r["agent"] == "manipulator"][1]
    assert "refused by the safety check" in json.dumps(second["body"])


def test_a_second_refusal_ends_the_question(big, use_stub_model, user_id):
    _script(use_stub_model, "SELECT * FROM pg_catalog.pg_user", "DELETE FROM big", GOOD)
    body = _ask(big, user_id)
    assert body["sql_status"] == "refused" and _manipulator_calls(use_stub_model) == 2
    assert body["sql_error"]["stage"] == "guard" and body["sql_error"]["code"] == "sql_refused"
    assert body["sql_error"]["message"] == "DELETE is not allowed; only a single SELECT query is"
    assert body["table"] is None and "refused by the safety check" in body["answer"]


def test_refusals_name_the_function_as_written(big, use_stub_model, user_id):
    _script(use_stub_model, "SELECT to_char(amount) AS x, pg_sleep(1) FROM big", "SELECT version()")
    body = _ask(big, user_id)
    assert body["sql_error"]["message"] == "function version is not allowed"


def test_an_async_job_whose_query_hits_a_limit_finishes_with_the_error(big, use_stub_model, user_id, monkeypatch):
    monkeypatch.setenv("SQL_TIMEOUT_SECONDS", "1")
    get_settings.cache_clear()
    slow = "SELECT count(*) AS n FROM big a, big b, big c WHERE a.amount * b.amount * c.amount = a.id - 9.25"
    _script(use_stub_model, slow)
    resp = big.post("/", headers={"X-User-Id": user_id}, json={"domain": "lab", "prompt": "slow one", "mode": "async"})
    assert resp.status_code == 202, resp.get_json()
    job_id = resp.get_json()["job_id"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        job = big.get(f"/{job_id}", headers={"X-User-Id": user_id}).get_json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            break
        time.sleep(0.05)
    assert job["status"] == "succeeded", job  # the job ends; its answer says what happened to the SQL
    result = job["result"]
    assert result["sql_status"] == "failed" and result["sql_error"]["code"] == "sql_timeout"
