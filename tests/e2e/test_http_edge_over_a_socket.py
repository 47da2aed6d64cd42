"""The local stack over a real socket: what no test client can send (oversized header lines, raw paths, a bare
function prefix, chunked bodies) still gets the one JSON error shape, or the route itself instead of a redirect."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from local_emulator.backing import free_port

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def gunicorn_health(tmp_path_factory):
    """The health function served as Cloud Functions serves it: functions-framework's CLI, which runs gunicorn."""
    port = free_port()
    log = (tmp_path_factory.mktemp("gunicorn") / "server.log").open("wb")
    env = {**os.environ, "DEPLOYMENT_MODE": "local", "RATE_LIMIT_ENABLED": "false", "LOG_LEVEL": "WARNING"}
    proc = subprocess.Popen([sys.executable, "-m", "functions_framework", "--target", "health", "--source",
                             str(REPO / "functions" / "health" / "main.py"), "--host", "127.0.0.1", "--port",
                             str(port)], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            assert proc.poll() is None, "functions-framework exited"
            time.sleep(0.1)
    yield SimpleNamespace(port=port)
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def exchange(emulator, request: bytes, body_chunks=(), timeout: float = 20) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes, read the reply until the server closes; ``(status, headers, body)``."""
    with socket.create_connection(("127.0.0.1", emulator.port), timeout=timeout) as sock:
        sock.sendall(request)
        for chunk in body_chunks:
            sock.sendall(chunk)
        received = bytearray()
        while data := sock.recv(65536):
            received += data
    head, _, body = bytes(received).partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


def get(path: str, *extra: str) -> bytes:
    return "\r\n".join([f"GET {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close", *extra, "", ""]).encode()


def assert_json_error(status: int, headers: dict[str, str], body: bytes, expected: int, code: str) -> dict:
    assert status == expected, body[:300]
    assert headers["content-type"].startswith("application/json"), body[:300]
    error = json.loads(body)["error"]
    assert set(error) == {"code", "message", "request_id"} and error["code"] == code and error["message"]
    assert len(error["request_id"]) >= 8 and headers["x-request-id"] == error["request_id"]
    return error


@pytest.mark.parametrize(("request_bytes", "status", "code"), [
    (get("/api/v1/health/live", "X-Big: " + "a" * 70_000), 431, "headers_too_large"),
    (get("/api/v1/health/live", *(f"X-H{i}: v" for i in range(150))), 431, "headers_too_large"),
    (get("/api/v1/health/live?" + "q" * 70_000), 414, "uri_too_long"),
    (b"GET /api/v1/health/live extra HTTP/1.1\r\nConnection: close\r\n\r\n", 400, "bad_request"),
    (get("/api/v1/health/live%0A"), 404, "route_not_found"),
    (get("/api/v1/datasets/a%0Ab/c", "X-User-Id: u1"), 404, "route_not_found"),
    (get("/api/v1/no-such-function/"), 404, "route_not_found"),
])
def test_errors_the_server_or_the_framework_answer_are_json(emulator, request_bytes, status, code):
    assert_json_error(*exchange(emulator, request_bytes), status, code)


@pytest.mark.parametrize("function", ["health", "datasets"])
def test_a_function_prefix_answers_with_or_without_its_trailing_slash(emulator, function):
    answers = []
    for path in (f"/api/v1/{function}", f"/api/v1/{function}/"):
        status, headers, body = exchange(emulator, get(path, "X-User-Id: edge-slash"))
        assert status == 200 and "location" not in headers, body[:300]  # the route itself, not a 308 redirect
        assert headers["content-type"].startswith("application/json")
        answers.append(json.loads(body))
    assert answers[0] == answers[1]


def test_a_chunked_json_body_past_the_limit_is_a_413_over_the_wire(emulator):
    head = (b"POST /api/v1/queries/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-User-Id: edge-chunked\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
    piece = b'{"domain": "shop", "prompt": "' + b"x" * (64 * 1024 - 30)
    chunks = [b"%x\r\n%s\r\n" % (len(piece), piece)]
    filler = b"x" * 64 * 1024
    chunks += [b"%x\r\n%s\r\n" % (len(filler), filler)] * 23  # 1.5 MB in all: past the 1 MB limit
    chunks.append(b"0\r\n\r\n")
    status, headers, body = exchange(emulator, head, chunks)
    assert_json_error(status, headers, body, 413, "body_too_large")


@pytest.mark.parametrize(("request_bytes", "status", "code"), [
    (get("/live", "X-Big: " + "a" * 10_000), 431, "headers_too_large"),  # gunicorn: 8190 bytes per field
    (get("/live", *(f"X-H{i}: v" for i in range(150))), 431, "headers_too_large"),  # at most 100 fields
    (b"GET /live HTTP/1.1\r\nHost: 127.0.0.1\r\nBad Header\r\nConnection: close\r\n\r\n", 400, "bad_request"),
    (get("/live%0A"), 404, "route_not_found"),
])
def test_errors_gunicorn_answers_in_the_cloud_are_json_too(gunicorn_health, request_bytes, status, code):
    assert_json_error(*exchange(gunicorn_health, request_bytes), status, code)
    status, _, body = exchange(gunicorn_health, get("/live"))
    assert status == 200 and json.loads(body) == {"status": "alive"}
