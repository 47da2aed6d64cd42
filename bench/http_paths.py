"""Cached paths over HTTP against functions-framework's own floor (issue #15).

Three servers, each ``python -m functions_framework`` (gunicorn, THREADS=8) pinned to core 0 with ``taskset``:
hello (bench/hello, a small JSON), datasets and queries. A load client in another process, pinned to core 1,
keeps CLIENTS keep-alive connections busy for SECONDS and records every request's latency; any answer but
200 (or a broken connection) fails the run. Measured, at 8 and at 32 clients:

- cached dataset listing: ``GET /shop`` after a request that filled the cache;
- cached repeated question: ``POST /`` with the same body (``use_cache`` left true, offline planner, no
  ``session_id``: every request opens a new session) after a request that filled the result cache;

each interleaved with hello runs (hello, listing, hello, question, ...), ROUNDS times; ratio = median req/s
over median hello req/s at the same client count. p50/p99 latency of the cached question at 32 clients.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import requests

from bench.stack import local_stack, percentile

REPO = Path(__file__).resolve().parents[1]
CLIENT_COUNTS = (8, 32)
SECONDS = 4
ROUNDS = 2
USER = "bench"
QUESTION = {"domain": "shop", "prompt": "total revenue by region"}
GOAL_LISTING_RATIO, GOAL_QUESTION_RATIO, GOAL_QUESTION_P99_MS = 0.8, 0.6, 50
LOAD = r"""
import http.client, json, sys, threading, time
port, clients, seconds, method, path, body, user = sys.argv[1:]
clients, seconds = int(clients), float(seconds)
headers, payload = {"X-User-Id": user, "Content-Type": "application/json"}, body.encode() or None
latencies, errors = [[] for _ in range(clients)], []
start = time.perf_counter()
def run(i):
    conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=30)
    try:
        while time.perf_counter() - start < seconds:
            sent = time.perf_counter()
            conn.request(method, path, body=payload, headers=headers)
            resp = conn.getresponse(); data = resp.read()
            if resp.status == 200: latencies[i].append((time.perf_counter() - sent) * 1000)
            else: errors.append(f"{resp.status} {data[:300]!r}")
    except Exception as exc:
        errors.append(repr(exc))
threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
[t.start() for t in threads]; [t.join() for t in threads]
elapsed = time.perf_counter() - start
print(json.dumps({"ok": sum(map(len, latencies)), "seconds": elapsed, "errors": len(errors), "first_errors": errors[:3],
                  "latencies_ms": [round(x, 3) for one in latencies for x in one]}))
sys.exit(1 if errors else 0)
"""


def _pins() -> tuple[list[str], list[str]]:
    if shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        return ["taskset", "-c", "0"], ["taskset", "-c", "1"]
    return [], []


def _serve(target: str, port: int) -> subprocess.Popen:
    source = REPO / "bench" / "hello" / "main.py" if target == "hello" else REPO / "functions" / target / "main.py"
    env = {**os.environ, "THREADS": "8", "LOG_LEVEL": "WARNING"}
    return subprocess.Popen([*_pins()[0], sys.executable, "-m", "functions_framework", "--target", target,
                             "--source", str(source), "--port", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _ready(port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            requests.get(f"http://127.0.0.1:{port}/openapi.json", timeout=5)
            return
        except requests.RequestException:
            time.sleep(0.05)
    raise RuntimeError(f"no server on port {port}")


def _load(port: int, clients: int, method: str, path: str, body: dict | None = None) -> dict:
    done = subprocess.run([*_pins()[1], sys.executable, "-c", LOAD, str(port), str(clients), str(SECONDS), method,
                           path, json.dumps(body) if body is not None else "", USER],
                          capture_output=True, text=True, timeout=SECONDS + 60)
    if done.returncode != 0:
        raise RuntimeError(f"load {method} {path} at {clients} clients failed: {done.stdout[:2000]} "
                           f"{done.stderr[-2000:]}")
    result = json.loads(done.stdout)
    return {"req_per_s": result["ok"] / result["seconds"], "latencies_ms": result["latencies_ms"]}


def _prepare(datasets_port: int, queries_port: int) -> None:
    from tests.conftest import function_client
    from tests.support.data import SALES_CSV

    headers = {"X-User-Id": USER}
    up = function_client("datasets").post("/shop", headers=headers,
                                          data={"file": (io.BytesIO(SALES_CSV.read_bytes()), "sales.csv")})
    assert up.status_code == 201, up.get_json()
    for _ in range(2):  # the first fills the cache, the second must be answered from it
        listing = requests.get(f"http://127.0.0.1:{datasets_port}/shop", headers=headers, timeout=30)
        answer = requests.post(f"http://127.0.0.1:{queries_port}/", headers=headers, json=QUESTION, timeout=60)
        assert listing.status_code == 200 and answer.status_code == 200, (listing.text, answer.text)
    assert answer.json()["usage"].get("cache_hits") == 1, answer.json()


def run() -> dict:
    from local_emulator.backing import free_port

    with local_stack():
        ports = {name: free_port() for name in ("hello", "datasets", "queries")}
        servers = [_serve(name, port) for name, port in ports.items()]
        try:
            for port in ports.values():
                _ready(port)
            _prepare(ports["datasets"], ports["queries"])
            result: dict = {"server_cores": 1 if _pins()[0] else os.cpu_count(), "seconds_per_run": SECONDS,
                            "rounds": ROUNDS}
            for clients in CLIENT_COUNTS:
                hello, listing, question, latencies = [], [], [], []
                for _ in range(ROUNDS):
                    hello.append(_load(ports["hello"], clients, "GET", "/")["req_per_s"])
                    listing.append(_load(ports["datasets"], clients, "GET", "/shop")["req_per_s"])
                    hello.append(_load(ports["hello"], clients, "GET", "/")["req_per_s"])
                    asked = _load(ports["queries"], clients, "POST", "/", QUESTION)
                    question.append(asked["req_per_s"])
                    latencies += asked["latencies_ms"]
                base = statistics.median(hello)
                result.update({
                    f"hello_req_per_s_{clients}": round(base),
                    f"cached_listing_req_per_s_{clients}": round(statistics.median(listing)),
                    f"cached_question_req_per_s_{clients}": round(statistics.median(question)),
                    f"cached_listing_over_hello_{clients}": round(statistics.median(listing) / base, 2),
                    f"cached_question_over_hello_{clients}": round(statistics.median(question) / base, 2),
                    f"cached_question_ms_p50_{clients}": round(percentile(latencies, 50), 2),
                    f"cached_question_ms_p99_{clients}": round(percentile(latencies, 99), 2),
                })
        finally:
            for server in servers:
                server.terminate()
            for server in servers:
                server.wait(timeout=30)
    listing_ratio = min(result[f"cached_listing_over_hello_{c}"] for c in CLIENT_COUNTS)
    question_ratio = min(result[f"cached_question_over_hello_{c}"] for c in CLIENT_COUNTS)
    p99 = result[f"cached_question_ms_p99_{max(CLIENT_COUNTS)}"]
    return {**result, "errors": 0,  # any error fails the run
            "goal_cached_listing_over_hello": GOAL_LISTING_RATIO,
            "at_goal_cached_listing": listing_ratio >= GOAL_LISTING_RATIO,
            "goal_cached_question_over_hello": GOAL_QUESTION_RATIO,
            "at_goal_cached_question": question_ratio >= GOAL_QUESTION_RATIO,
            "goal_cached_question_ms_p99_32": GOAL_QUESTION_P99_MS,
            "at_goal_cached_question_p99": p99 <= GOAL_QUESTION_P99_MS}
