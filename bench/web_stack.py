"""The platform's per-request cost.

- Middleware (dev auth + rate limit + cache lookup) on a cached ``GET /{domain}``, against the same
  handler answering the same body with no auth, no limit and no cache: p50 difference in-process.
- Cached ``GET /api/v1/datasets/{domain}`` over HTTP on loopback: the real server
  (``functions-framework``, gunicorn threads) pinned to ONE core with ``taskset``, 32 concurrent
  keep-alive clients in another process on the other core; requests per second.
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

from bench.stack import local_stack, percentile

REPO = Path(__file__).resolve().parents[1]
CLIENTS = 32
SECONDS = 8
LOAD = r"""
import http.client, json, sys, threading, time
port, clients, seconds, user = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
counts, errors = [0] * clients, [0] * clients
start = time.perf_counter()
def run(i):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    while time.perf_counter() - start < seconds:
        conn.request("GET", "/d", headers={"X-User-Id": user})
        resp = conn.getresponse(); resp.read()
        if resp.status == 200: counts[i] += 1
        else: errors[i] += 1
threads = [threading.Thread(target=run, args=(i,)) for i in range(clients)]
[t.start() for t in threads]; [t.join() for t in threads]
print(json.dumps({"ok": sum(counts), "errors": sum(errors), "seconds": time.perf_counter() - start}))
"""


def _request(path: str, user: str | None):
    from werkzeug.test import EnvironBuilder
    from werkzeug.wrappers import Request

    headers = {"X-User-Id": user} if user else {}
    return Request(EnvironBuilder(path=path, headers=headers).get_environ())


def middleware() -> dict:
    from convoinsight.api.datasets import app as datasets_app
    from convoinsight.web.app import FunctionApp
    from tests.conftest import function_client

    client = function_client("datasets")
    client.post("/d", headers={"X-User-Id": "bench"}, data={"file": (io.BytesIO(b"a,b\n1,2\n"), "t.csv")})
    body = client.get("/d", headers={"X-User-Id": "bench"}).get_json()  # fills the cache
    bare = FunctionApp("bare")
    bare.route("GET", "/<domain>", auth=False, limit=None)(lambda ctx, domain: body)
    full_ms, bare_ms = [], []
    for _ in range(2000):
        started = time.perf_counter()
        datasets_app(_request("/d", "bench"))
        full_ms.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        bare(_request("/d", None))
        bare_ms.append((time.perf_counter() - started) * 1000)
    return {"full_stack_ms_p50": round(percentile(full_ms, 50), 3), "bare_ms_p50": round(percentile(bare_ms, 50), 3),
            "middleware_ms_p50": round(percentile(full_ms, 50) - percentile(bare_ms, 50), 3)}


def throughput() -> dict:
    from local_emulator.backing import free_port

    port = free_port()
    env = {**os.environ, "THREADS": "8", "LOG_LEVEL": "WARNING"}
    pin_server = ["taskset", "-c", "0"] if shutil.which("taskset") and (os.cpu_count() or 1) > 1 else []
    pin_client = ["taskset", "-c", "1"] if pin_server else []
    server = subprocess.Popen([*pin_server, sys.executable, "-m", "functions_framework", "--target", "datasets",
                               "--source", str(REPO / "functions" / "datasets" / "main.py"), "--port", str(port)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        import requests

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if requests.get(f"http://127.0.0.1:{port}/d", headers={"X-User-Id": "bench"}, timeout=1).ok:
                    break
            except requests.RequestException:
                time.sleep(0.1)
        runs = []
        for _ in range(2):
            done = subprocess.run([*pin_client, sys.executable, "-c", LOAD, str(port), str(CLIENTS), str(SECONDS),
                                   "bench"], capture_output=True, text=True, timeout=SECONDS + 60)
            result = json.loads(done.stdout)
            runs.append(result["ok"] / result["seconds"])
        return {"clients": CLIENTS, "server_cores": 1 if pin_server else os.cpu_count(),
                "cached_listing_req_per_s_median": round(statistics.median(runs)), "errors": result["errors"]}
    finally:
        server.terminate()
        server.wait(timeout=30)


def run() -> dict:
    with local_stack():
        return {**middleware(), **throughput()}
