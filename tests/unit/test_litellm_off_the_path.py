"""litellm (and the SQL engine's start) stay off the first answer's path (#15).

- With no model configured, a whole question is answered by the offline planner without litellm ever being
  imported: a fresh process, as an instance serving its first question.
- With a remote model configured, the functions that call models import litellm as they start: under
  functions-framework's gunicorn in the master before it binds its port and forks (so the instance takes
  no traffic before), elsewhere on a background thread; LLM_PRELOAD=never or a function that calls no model
  leaves it alone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

FIRST_QUESTION = """
import io, json, sys
sys.path.insert(0, {repo!r})
from tests.conftest import function_client
from tests.support.data import SALES_CSV
user = {{"X-User-Id": "first-question"}}
up = function_client("datasets").post("/shop", headers=user,
                                      data={{"file": (io.BytesIO(SALES_CSV.read_bytes()), "sales.csv")}})
assert up.status_code == 201, up.get_json()
body = function_client("queries").post("/", headers=user, json={{"domain": "shop",
                                        "prompt": "total revenue by region"}}).get_json()
print(json.dumps({{"litellm": "litellm" in sys.modules, "sql_status": body.get("sql_status"),
                  "rows": len((body.get("table") or {{}}).get("rows", [])),
                  "model_calls": body["usage"]["llm_calls"]}}))
"""

START = """
import json, os, sys, threading
sys.argv = [{argv0!r}]
sys.path.insert(0, {folder!r})
import main
before = "litellm" in sys.modules
threads = [t.name for t in threading.enumerate()]
child = None
if {fork!r}:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the gunicorn worker
        names = [t.name for t in threading.enumerate()]
        for t in threading.enumerate():
            if t.name in ("litellm-preload", "engine-warm-up"):
                t.join(120)
        engine = []
        if "engine-warm-up" in names:
            from convoinsight.settings import get_settings
            from convoinsight.sql.execute import engine_pool
            engine = engine_pool(get_settings()).pids()
        os.write(write, json.dumps({{"threads": names, "litellm": "litellm" in sys.modules,
                                    "engine_workers": len(engine)}}).encode())
        os._exit(0)
    os.waitpid(pid, 0)
    child = json.loads(os.read(read, 100000))
for t in threading.enumerate():
    if t.name == "litellm-preload":
        t.join(120)
print(json.dumps({{"imported_at_start": before, "threads": threads, "child": child,
                  "litellm": "litellm" in sys.modules,
                  # warmed by a call through an in-memory transport: the openai SDK and the connection pool
                  "warmed": all(m in sys.modules for m in ("openai", "httpcore._sync.http11"))}}))
"""


def _run(script: str, env: dict[str, str]) -> dict:
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=180, env=env,
                          cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLM_")}
    return {**env, "LLM_PRELOAD": "auto", **extra}


def test_a_first_offline_answer_never_imports_litellm(local_env):
    report = _run(FIRST_QUESTION.format(repo=str(REPO)), _env())
    assert report["sql_status"] == "ok" and report["rows"] > 0, report
    assert report["model_calls"] >= 5  # every stage asked "the model": the offline planner answered
    assert report["litellm"] is False, "the offline planner imported litellm"


def _start(function: str, *, argv0: str = "pytest", fork: bool = False, **env: str) -> dict:
    script = START.format(argv0=argv0, folder=str(REPO / "functions" / function), fork=fork)
    return _run(script, _env(DEPLOYMENT_MODE="local", **env))


def test_with_a_remote_model_litellm_is_imported_in_the_background_at_start():
    report = _start("queries", LLM_MODEL="openai/gpt-4o-mini", LLM_API_KEY="sk-not-real")
    assert "litellm-preload" in report["threads"]
    assert report["litellm"] is True and report["warmed"] is True


def test_under_gunicorn_the_master_imports_it_before_it_binds_and_forks_the_worker():
    # Cloud Run routes requests to an instance once its port accepts connections: imported before that, no
    # request of a new instance waits for it; the forked worker has it already (no half-done import copied).
    report = _start("pipeline", argv0="/usr/local/bin/functions-framework", fork=True,
                    LLM_API_BASE="http://127.0.0.1:9/v1")
    assert report["imported_at_start"] is True and "litellm-preload" not in report["threads"]
    assert report["warmed"] is True  # the first real call imports nothing more
    assert report["child"]["litellm"] is True
    # The SQL engine's workers start in the worker (never in the master), alongside its first request.
    assert "engine-warm-up" not in report["threads"] and "engine-warm-up" in report["child"]["threads"]
    assert report["child"]["engine_workers"] >= 1


def test_no_preload_without_a_model_with_never_or_for_a_function_that_calls_none():
    for function, env in (("queries", {}), ("queries", {"LLM_MODEL": "openai/x", "LLM_PRELOAD": "never"}),
                          ("datasets", {"LLM_MODEL": "openai/x", "LLM_PRELOAD": "always"})):
        report = _start(function, **env)
        assert report["litellm"] is False and "litellm-preload" not in report["threads"], (function, env)
    report = _start("llm", LLM_PRELOAD="always")  # users bring their own keys: imported with no server model
    assert report["litellm"] is True
