"""Logs are structured JSON in Cloud Logging's shape, carry events, and never carry secrets or cell values."""

from __future__ import annotations

import json

import pg8000.native
import pytest
import requests

from tests.support.emulator import Emulator
from tests.support.stub_llm import Status

pytestmark = pytest.mark.slow
API_KEY = "sk-live-TOPSECRET-key-9f8e7d"
DB_PASSWORD = "pg-TOPSECRET-pass-4c3b"
CELL = "CELLVALUE-ZEBRA-4242"


@pytest.fixture(scope="module")
def chatty_emulator(postgres, redis_server, stub_llm, state_root):
    """A stack logging at DEBUG, with a password in its database URL and a real-looking model key."""
    conn = pg8000.native.Connection(user="postgres", host="127.0.0.1", port=postgres.port, database="postgres")
    conn.run(f"DO $$ BEGIN CREATE ROLE app LOGIN SUPERUSER PASSWORD '{DB_PASSWORD}'; "
             "EXCEPTION WHEN duplicate_object THEN NULL; END $$")
    conn.close()
    env = {"POSTGRES_URL": f"postgresql://app:{DB_PASSWORD}@127.0.0.1:{postgres.port}/convoinsight",
           "REDIS_URL": redis_server.url, "LLM_API_BASE": stub_llm.base_url, "LLM_MODEL": "openai/stub-model",
           "LLM_API_KEY": API_KEY, "LOG_LEVEL": "DEBUG", "GCP_PROJECT_ID": "demo-project"}
    emu = Emulator(env, state_root / "chatty").start()
    yield emu
    emu.stop()


def test_logs_are_structured_and_free_of_secrets_and_cells(chatty_emulator, stub):
    emu, user = chatty_emulator, {"X-User-Id": "observed-user",
                                  "X-Cloud-Trace-Context": "0af7651916cd43dd8448eb211c80319c/1;o=1"}
    csv = f"label,amount\n{CELL},17\nother,5\n".encode()
    assert requests.post(f"{emu.base}/datasets/obs", headers=user, files={"file": ("t.csv", csv)},
                         timeout=30).status_code == 201
    stub.always("router", json.dumps({"route": "data", "datasets": ["t"], "chart": "bar", "analysis": True}))
    stub.always("orchestrator", json.dumps({"manipulator_prompt": "m", "visualizer_prompt": "v",
                                            "analyzer_prompt": "a", "compiler_instruction": "c"}))
    stub.always("manipulator", json.dumps({"sql": f"SELECT * FROM t WHERE label = '{CELL}'",
                                           "explanation": "e"}))
    stub.always("visualizer", json.dumps({"spec": None, "title": "t"}))
    stub.script("analyzer", "not json " + CELL)  # an invalid reply quoting data, then a valid one
    stub.always("analyzer", json.dumps({"summary": f"{CELL} has 17.", "insights": []}))
    stub.script("compiler", Status(401))  # an auth failure from the provider, then the fallback
    body = requests.post(f"{emu.base}/queries/", headers=user, timeout=60,
                         json={"domain": "obs", "prompt": f"amount for {CELL}"}).json()
    assert body["table"]["rows"] == [[CELL, 17]]  # the cell is in the answer, where it belongs
    requests.get(f"{emu.base}/datasets/obs/t?format=csv", headers=user, timeout=30)
    requests.delete(f"{emu.base}/datasets/obs/t", headers=user, timeout=30)
    requests.get(f"{emu.base}/datasets/", timeout=30)  # a 401

    text = emu.log_path.read_text()
    for secret in (API_KEY, DB_PASSWORD, CELL):
        leaks = [line[:400] for line in text.splitlines() if secret in line]
        assert not leaks, f"{secret} leaked into the logs: {leaks[:2]}"
    entries = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    requests_logged = [e for e in entries if e.get("event") == "request"]
    assert requests_logged and all({"severity", "message", "time", "request_id", "status", "latency_ms",
                                    "route"} <= set(e) for e in requests_logged if e["status"] != 404)
    ask = next(e for e in requests_logged if e["path"] == "/api/v1/queries/" and e["function"] == "queries")
    assert ask["user"] == "observed-user" and ask["severity"] == "INFO"
    assert ask["logging.googleapis.com/trace"] == "projects/demo-project/traces/0af7651916cd43dd8448eb211c80319c"
    assert any(e["status"] == 401 and e["severity"] == "WARNING" for e in requests_logged)
    calls = [e for e in entries if e.get("event") == "llm_call"]
    assert {e["agent"] for e in calls} >= {"router", "manipulator", "analyzer", "compiler"}
    assert all({"model", "tokens", "cost_usd", "latency_ms", "cached"} <= set(e) for e in calls)
    assert all(e["request_id"] == ask["request_id"] for e in calls)  # parallel stages keep the request id
    assert any(e.get("event") == "llm_error" and e["agent"] == "compiler" for e in entries)
    assert any(e.get("event") == "cache" for e in entries)
    audits = {e["action"] for e in entries if e.get("event") == "audit"}
    assert {"dataset.export", "dataset.delete"} <= audits


def test_audit_records_are_stored_per_tenant(chatty_emulator, postgres):
    conn = pg8000.native.Connection(user="postgres", host="127.0.0.1", port=postgres.port, database="convoinsight")
    rows = conn.run("SELECT data FROM documents WHERE collection = 'tenants/observed-user/audit' ORDER BY id")
    conn.close()
    actions = [r[0]["action"] for r in rows]
    assert actions[-2:] == ["dataset.export", "dataset.delete"]
    assert rows[-1][0]["target"] == "obs/t" and rows[-1][0]["request_id"]
