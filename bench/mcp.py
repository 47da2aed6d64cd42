"""The mcp function as an MCP client sees it (issue #17).

The local stack (``python -m local_emulator`` over our own PostgreSQL and Redis, caches off so every question
runs the pipeline) with the sample sales uploaded and an API key issued. The official SDK's client
(``mcp.Client`` over ``streamable_http_client``, one connection, the initialize handshake) times CALLS calls of
``list_datasets`` and of ``ask`` (the offline planner), each against the same API call made directly with the
same key (``requests``, one keep-alive session): median and p90 in ms, so the MCP layer's own cost shows (the
key's check ``GET /auth/me`` per MCP request, the SDK's transport per request, the tool's API call).
The SDK's first request in the emulator process (its import) is outside the timings: one warm-up call each.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import requests

from bench.stack import local_stack, percentile
from local_emulator.backing import free_port

REPO = Path(__file__).resolve().parents[1]
CALLS = 20
QUESTION = "What is the total revenue by region?"


def _ms(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values) * 1000, 1), "p90": round(percentile(values, 90) * 1000, 1)}


def _timed(fn, n: int) -> list[float]:
    times = []
    for _ in range(n):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return times


async def _mcp_timings(url: str, key: str) -> dict[str, list[float]]:
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=120)
    out: dict[str, list[float]] = {"list_datasets": [], "ask": []}
    async with http, Client(streamable_http_client(url, http_client=http), mode="legacy") as client:
        calls = {"list_datasets": {"domain": "shop"},
                 "ask": {"question": QUESTION, "domain": "shop", "model": "offline"}}
        for name, args in calls.items():
            result = await client.call_tool(name, args)  # warm-up
            assert not result.is_error, result
            for _ in range(CALLS):
                started = time.perf_counter()
                result = await client.call_tool(name, args)
                out[name].append(time.perf_counter() - started)
                assert not result.is_error, result
    return out


def run() -> dict:
    import anyio

    with local_stack() as root:
        port = free_port()
        env = {**os.environ, "PORT": str(port), "LOCAL_STATE_DIR": str(root / "emulator"), "CACHE_ENABLED": "false"}
        proc = subprocess.Popen([sys.executable, "-m", "local_emulator"], cwd=REPO, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}/api/v1"
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    if requests.get(f"{base}/health/ready", timeout=2).status_code == 200:
                        break
                except requests.RequestException:
                    time.sleep(0.1)
            user = {"X-User-Id": "bench-mcp"}
            sales = (REPO / "local_emulator" / "sample_data" / "sales.csv").read_bytes()
            assert requests.post(f"{base}/datasets/shop", headers=user, files={"file": ("sales.csv", sales)},
                                 timeout=60).status_code == 201
            key = requests.post(f"{base}/auth/keys", headers=user, json={"name": "bench"}, timeout=30).json()["key"]
            mcp = anyio.run(_mcp_timings, f"{base}/mcp/", key)
            session = requests.Session()
            session.headers["Authorization"] = f"Bearer {key}"
            session.get(f"{base}/datasets/shop", timeout=30)
            direct_list = _timed(lambda: session.get(f"{base}/datasets/shop", timeout=30).raise_for_status(), CALLS)
            body = {"domain": "shop", "prompt": QUESTION, "model": "offline"}
            direct_ask = _timed(lambda: session.post(f"{base}/queries/", json=body, timeout=120).raise_for_status(),
                                CALLS)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    return {"calls": CALLS,
            **{f"mcp_list_datasets_ms_{k}": v for k, v in _ms(mcp["list_datasets"]).items()},
            **{f"api_list_datasets_ms_{k}": v for k, v in _ms(direct_list).items()},
            **{f"mcp_ask_offline_ms_{k}": v for k, v in _ms(mcp["ask"]).items()},
            **{f"api_ask_offline_ms_{k}": v for k, v in _ms(direct_ask).items()}}


if __name__ == "__main__":
    print(run())
