"""The HTTP edge through real function entry points: NUL characters, body limits, CSV downloads, client
addresses behind proxies, errors Flask answers itself, and what a function refuses to start with."""

from __future__ import annotations

import io
import ipaddress
import json
import os
import time
import uuid

import polars as pl
import pytest

from convoinsight.errors import ConfigError
from convoinsight.llm import overrides
from convoinsight.services import get_services
from convoinsight.sessions import store
from convoinsight.settings import get_settings
from tests.conftest import function_client
from tests.support.data import SALES_CSV
from tests.support.http import assert_error

NUL = "\x00"


def docs():
    return get_services(get_settings()).documents


def configure(**env: str) -> None:
    os.environ.update(env)
    get_settings.cache_clear()


def upload(client, user: str, domain: str, filename: str, data: bytes, **form):
    return client.post(f"/{domain}", headers={"X-User-Id": user},
                       data={"file": (io.BytesIO(data), filename), **form})


@pytest.fixture
def shop(datasets_client, user_id) -> str:
    assert upload(datasets_client, user_id, "shop", "sales.csv", SALES_CSV.read_bytes()).status_code == 201
    return user_id


def nothing_conversational_stored(user: str) -> bool:
    sessions = docs().list(store.sessions(user))
    return sessions == [] and docs().list(store.charts(user)) == []


# --- 1. NUL characters: refused in client input, stripped from what the service produces ----------------------

@pytest.mark.parametrize(("function", "method", "path", "kwargs"), [
    ("queries", "post", "/", {"json": {"domain": "shop", "prompt": "total revenue\x00 by region"}}),
    ("queries", "post", "/", {"json": {"domain": "shop", "prompt": "total revenue", "agents\x00": {}}}),
    ("queries", "post", "/", {"json": {"domain": "shop", "prompt": "total revenue",
                                       "agents": {"analyzer": {"instructions": "be\x00brief"}}}}),
    ("prompts", "put", "/overrides", {"json": {"agents": {"analyzer": {"instructions": "be\x00 brief"}}}}),
    ("prompts", "put", "/overrides/shop", {"json": {"agents": {"compiler\x00": {"temperature": 0.1}}}}),
    ("auth", "post", "/keys", {"json": {"name": "laptop\x00"}}),
    ("datasets", "get", "/shop/sal%00es", {}),
    ("datasets", "get", "/shop/sales?limit=5%00", {}),
    ("datasets", "delete", "/sh%00op", {}),
])
def test_nul_in_client_input_is_a_400_and_stores_nothing(shop, function, method, path, kwargs):
    resp = getattr(function_client(function), method)(path, headers={"X-User-Id": shop}, **kwargs)
    assert_error(resp, 400, "invalid_characters")
    assert nothing_conversational_stored(shop)
    assert docs().get(*overrides.user_location(shop)) is None and docs().get(*overrides.domain_location(shop, "shop")) \
        is None
    assert function_client("datasets").get("/shop/sales", headers={"X-User-Id": shop}).status_code == 200


@pytest.mark.parametrize(("filename", "form"), [
    ("a\x00b.csv", {}),
    ("t.csv", {"name": "sales\x00x"}),
    ("t.csv", {"sheet": "Sheet\x001"}),
])
def test_nul_in_a_multipart_file_name_or_field_is_a_400_and_stores_nothing(datasets_client, user_id, filename,
                                                                            form):
    resp = upload(datasets_client, user_id, "lab", filename, b"a,b\n1,2\n", **form)
    error = assert_error(resp, 400, "invalid_characters")
    assert "NUL" in error["message"]
    assert datasets_client.get("/", headers={"X-User-Id": user_id}).get_json()["domains"] == []


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_nul_in_model_output_is_removed_and_the_turn_is_stored_whole(use_stub_model, shop, mode):
    stub = use_stub_model
    stub.script("router", json.dumps({"route": "data", "datasets": ["sales"], "chart": "bar", "analysis": True}))
    stub.script("orchestrator", json.dumps({"manipulator_prompt": "sum\u0000", "visualizer_prompt": "bar",
                                            "analyzer_prompt": "a", "compiler_instruction": "brief"}))
    stub.script("manipulator", json.dumps({"sql": 'SELECT "region", SUM("revenue") AS total FROM sales '
                                                  'GROUP BY "region" ORDER BY "region"', "explanation": "x\u0000"}))
    stub.script("visualizer", json.dumps({"spec": {"mark": "bar", "encoding": {
        "x": {"field": "region", "type": "nominal"}, "y": {"field": "total", "type": "quantitative"}}},
        "title": "Revenue\u0000 by region"}))
    stub.script("analyzer", json.dumps({"summary": "North\u0000 leads.", "insights": ["North\u0000 leads."]}))
    stub.script("compiler", json.dumps({"answer": "Revenue\u0000 by region.", "follow_ups": ["Why\u0000?", "When?"]}))
    queries, me = function_client("queries"), {"X-User-Id": shop}
    resp = queries.post("/", headers=me, json={"domain": "shop", "prompt": "total revenue by region", "mode": mode})
    assert resp.status_code == (200 if mode == "sync" else 202), resp.get_json()
    body = resp.get_json()
    if mode == "async":  # stage outputs are documents too: each is stored, then the same answer
        deadline = time.monotonic() + 30
        while (job := queries.get(f"/{body['job_id']}", headers=me).get_json())["status"] in ("queued", "running"):
            assert time.monotonic() < deadline, job
            time.sleep(0.05)
        assert job["status"] == "succeeded", job
        body = {**job["result"], "session_id": body["session_id"]}
    assert NUL not in json.dumps(body, ensure_ascii=False)
    assert body["answer"].startswith("Revenue by region") and body["follow_ups"][0] == "Why?"
    (session,) = docs().list(store.sessions(shop))
    assert session["id"] == body["session_id"] and session["message_count"] == 2
    messages = docs().list(store.messages(shop, body["session_id"]), order_by="seq")
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert messages[1]["content"] == body["answer"]
    assert docs().get(store.charts(shop), body["chart"]["id"])["title"] == "Revenue by region"


def test_a_turn_is_written_whole_or_not_at_all(local_env, user_id):
    # A payload the store cannot hold (here a NUL that got past the edges) must not leave the question behind.
    with pytest.raises(ValueError, match="NUL"):
        store.record_turn(docs(), user_id, None, session_id="s1", domain="shop", question="q?", answer="a",
                          payload={"sql": "SELECT 1\x00"})
    assert docs().list(store.messages(user_id, "s1")) == [] and docs().list(store.sessions(user_id)) == []
    chart = store.chart_write(user_id, {"spec": {"mark": "bar"}, "title": "t"}, session_id="s1", chart_id="c1")
    with pytest.raises(ValueError, match="NUL"):
        store.record_turn(docs(), user_id, None, session_id="s1", domain="shop", question="q?\x00", answer="a",
                          payload={}, also=[chart])
    assert docs().get(store.charts(user_id), "c1") is None and docs().list(store.messages(user_id, "s1")) == []
    message_id = store.record_turn(docs(), user_id, None, session_id="s1", domain="shop", question="q?",
                                   answer="a", payload={}, also=[chart])
    assert [m["id"] for m in docs().list(store.messages(user_id, "s1"), order_by="seq")] == [f"{message_id}-q",
                                                                                           message_id]
    assert docs().get(store.charts(user_id), "c1")["title"] == "t"
    assert docs().get(store.sessions(user_id), "s1")["message_count"] == 2
    for _ in range(2):  # a replayed async turn (ids given) is stored, and counted, once
        store.record_turn(docs(), user_id, None, session_id="s2", domain="shop", question="q?", answer="a",
                          payload={}, message_id="job1a", seq=10, also=[chart])
    assert docs().get(store.sessions(user_id), "s2")["message_count"] == 2


def test_nul_in_uploaded_data_stays_in_the_data_and_out_of_the_record(datasets_client, user_id):
    buffer = io.BytesIO()
    pl.DataFrame({"Re\x00gion": ["No\x00rth", "South"], "n": [1, 2]}).write_parquet(buffer)
    resp = upload(datasets_client, user_id, "lab", "nul.parquet", buffer.getvalue())
    assert resp.status_code == 201, resp.get_json()
    record = resp.get_json()
    assert NUL not in json.dumps(record, ensure_ascii=False)
    assert record["columns"][0]["label"] == "Region"
    preview = datasets_client.get("/lab/nul", headers={"X-User-Id": user_id}).get_json()["preview"]
    assert preview["rows"][0][0] == "No\x00rth"  # the data itself is the user's, unchanged


# --- 2. CSV downloads ------------------------------------------------------------------------------------------

def test_csv_downloads_neutralise_formulas_and_name_the_charset_once(datasets_client, user_id):
    frame = pl.DataFrame({
        "cell": ["=CMD|' /C calc'!A0", "+SUM(1+1)", "@SUM(A1)", "-2+3", "\tx", "\r=1", "plain", "a=b", None],
        "n": [-1, 2, 3, 4, 5, 6, 7, 8, 9],
        "x": [-1.5, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0],
    })
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    assert upload(datasets_client, user_id, "lab", "cells.parquet", buffer.getvalue()).status_code == 201
    resp = datasets_client.get("/lab/cells?format=csv", headers={"X-User-Id": user_id})
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "text/csv; charset=utf-8"
    back = pl.read_csv(io.BytesIO(resp.data))
    assert back["cell"].to_list() == ["'=CMD|' /C calc'!A0", "'+SUM(1+1)", "'@SUM(A1)", "'-2+3", "'\tx", "'\r=1",
                                      "plain", "a=b", None]
    assert back["n"].to_list() == [-1, 2, 3, 4, 5, 6, 7, 8, 9]  # numbers stay numbers
    assert back["x"].to_list()[0] == -1.5
    assert resp.data.decode().splitlines()[1].endswith(",-1,-1.5")


# --- 3. Body limits, however the body is sent -----------------------------------------------------------------

class CountingStream(io.RawIOBase):
    """A request body of ``size`` bytes (``head``, then ``fill`` repeated) that counts how much of it was read."""

    def __init__(self, head: bytes, size: int, fill: bytes = b" "):
        self.head, self.size, self.fill, self.read_bytes = head, size, fill, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = min(len(buffer), self.size - self.read_bytes)
        if n <= 0:
            return 0
        start, chunk = self.read_bytes, b""
        if start < len(self.head):
            chunk = self.head[start:start + n]
        offset = (start + len(chunk) - len(self.head)) % len(self.fill)
        repeated = self.fill * ((n - len(chunk)) // len(self.fill) + 2)
        chunk += repeated[offset:offset + n - len(chunk)]
        buffer[:n] = chunk
        self.read_bytes += n
        return n


def chunked(client, path: str, user: str, stream, content_type: str, method: str = "POST",
            length: int | None = None):
    """A body sent with Transfer-Encoding: chunked, as a WSGI server hands it over: no CONTENT_LENGTH, and
    ``wsgi.input_terminated`` (the server ends the stream itself). The test client would measure the stream
    and add a length. With ``length``: an ordinary body that announces it."""
    from werkzeug.test import EnvironBuilder
    from werkzeug.wrappers import Request

    headers = {"X-User-Id": user, "Content-Type": content_type}
    if length is None:
        headers["Transfer-Encoding"] = "chunked"
    environ = EnvironBuilder(path=path, method=method, headers=headers).get_environ()
    environ.pop("CONTENT_LENGTH", None)
    environ.update({"wsgi.input": stream, "CONTENT_TYPE": content_type})  # the builder sets its own boundary
    if length is None:
        environ["wsgi.input_terminated"] = True
    else:
        environ["CONTENT_LENGTH"] = str(length)
    return client.open(Request(environ))


@pytest.mark.parametrize(("function", "path", "small", "status"), [
    ("queries", "/", {"domain": "nowhere", "prompt": "x"}, 404),
    ("prompts", "/overrides", {"agents": {}}, 200),
    ("datasets", "/shop/uploads", {"filename": "a.csv"}, 201),
    ("auth", "/keys", {"name": "laptop"}, 201),
])
def test_a_chunked_json_body_is_cut_off_at_the_limit(local_env, user_id, function, path, small, status):
    client, method = function_client(function), "PUT" if function == "prompts" else "POST"
    body = CountingStream(b'{"domain": "shop", "prompt": "', 20 * 1024 * 1024, b"x")
    resp = chunked(client, path, user_id, body, "application/json", method)
    assert_error(resp, 413, "body_too_large")
    assert resp.headers["Connection"] == "close"
    assert body.read_bytes <= 3 * 1024 * 1024  # the limit, some buffering and the bounded drain: never 20 MB
    # A chunked body within the limit is read whole and used.
    resp = chunked(client, path, user_id, io.BytesIO(json.dumps(small).encode()), "application/json", method)
    assert resp.status_code == status, resp.get_json()


def test_a_chunked_multipart_upload_is_cut_off_at_the_limit(local_env, user_id):
    configure(MAX_UPLOAD_BYTES=str(1024 * 1024))
    head = (b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.csv\"\r\n"
            b"Content-Type: text/csv\r\n\r\na,b\n")
    body = CountingStream(head, 50 * 1024 * 1024, b"1,2\n")
    resp = chunked(function_client("datasets"), "/lab", user_id, body, "multipart/form-data; boundary=b")
    assert_error(resp, 413, "file_too_large")
    assert body.read_bytes <= 4 * 1024 * 1024
    assert function_client("datasets").get("/", headers={"X-User-Id": user_id}).get_json()["domains"] == []


def test_an_announced_oversized_body_is_not_read_into_memory(local_env, user_id):
    body = CountingStream(b"{", 20 * 1024 * 1024, b" ")
    resp = chunked(function_client("queries"), "/", user_id, body, "application/json", length=20 * 1024 * 1024)
    assert_error(resp, 413, "body_too_large")
    # functions-framework reads what is left of a body after the response; a refused one is not handed to it.
    assert body.read_bytes <= 2 * 1024 * 1024


@pytest.mark.parametrize("body", [b'{"domain": NaN, "prompt": "x"}', b'{"domain": "shop", "prompt": Infinity}',
                                  b'{"agents": ' + b"[" * 5000 + b"]" * 5000 + b"}"])  # deeper than the stack
def test_json_bodies_are_strict_json(local_env, user_id, body):
    resp = function_client("queries").post("/", headers={"X-User-Id": user_id}, data=body,
                                           content_type="application/json")
    assert_error(resp, 400, "invalid_json")


# --- 4. Client addresses behind proxies -------------------------------------------------------------------------

def an_address() -> str:
    return f"2001:db8::{uuid.uuid4().hex[:4]}:{uuid.uuid4().hex[:4]}"  # documentation range, new per call


def test_made_up_forwarded_addresses_do_not_escape_the_sign_in_throttle(local_env):
    configure(RATE_LIMITS="auth=10/minute")
    client, peer = function_client("datasets"), an_address()
    statuses = [client.get("/", headers={"X-User-Id": "", "X-Forwarded-For": an_address()},
                           environ_base={"REMOTE_ADDR": peer}).status_code for _ in range(30)]
    assert statuses == [401] * 10 + [429] * 20


def test_with_one_trusted_hop_only_the_address_it_appended_counts(local_env):
    configure(RATE_LIMITS="auth=3/minute,default=1000/hour", TRUSTED_PROXY_HOPS="1")
    client, caller, peer = function_client("datasets"), an_address(), an_address()

    def sign_in(forwarded: str) -> int:
        return client.get("/", headers={"X-Forwarded-For": forwarded}, environ_base={"REMOTE_ADDR": peer}).status_code

    # Whatever the client writes to the left of the front end's entry changes nothing.
    assert [sign_in(f"{an_address()}, {caller}") for _ in range(5)] == [401, 401, 401, 429, 429]
    assert sign_in(an_address()) == 401  # another caller (the front end's entry differs): its own budget
    redis = get_services(get_settings()).redis
    assert redis.zcard(f"ci:v1:rl:auth:ip:{ipaddress.ip_address(caller)}") == 3  # keyed in canonical form


@pytest.mark.parametrize(("hops", "forwarded", "expected"), [
    (0, "198.51.100.7", "peer"),
    (1, "203.0.113.9, 198.51.100.7", "198.51.100.7"),
    (2, "203.0.113.9, 198.51.100.7, 192.0.2.1", "198.51.100.7"),
    (2, "198.51.100.7", "peer"),  # fewer entries than trusted proxies: not from them
    (1, "not-an-address", "peer"),
    (1, "", "peer"),
])
def test_the_keyed_address_is_the_trusted_hop(hops, forwarded, expected):
    from werkzeug.test import EnvironBuilder

    from convoinsight.web.app import client_ip

    request = EnvironBuilder(headers={"X-Forwarded-For": forwarded} if forwarded else {},
                             environ_base={"REMOTE_ADDR": "192.0.2.50"}).get_request()
    assert client_ip(request, hops) == ("192.0.2.50" if expected == "peer" else expected)


# --- 5. Errors Flask or functions-framework answer themselves ---------------------------------------------------

@pytest.mark.parametrize(("function", "method", "path", "status", "code"), [
    ("health", "GET", "/live%0A", 404, "route_not_found"),
    ("datasets", "GET", "/a%0Ab", 404, "route_not_found"),
    ("health", "GET", "/robots.txt", 404, "route_not_found"),
    ("health", "GET", "/favicon.ico", 404, "route_not_found"),
    ("ingest", "GET", "/", 405, "method_not_allowed"),
    ("ingest", "POST", "/", 415, "unsupported_content_type"),
    ("ingest", "POST", "/?json", 400, "bad_request"),  # JSON, but neither a CloudEvent nor a background event
])
def test_framework_errors_have_the_json_shape(local_env, function, method, path, status, code):
    body = {"json": {"hello": "world"}} if path.endswith("?json") else {}
    resp = function_client(function).open(path.removesuffix("?json"), method=method,
                                          headers={"X-Request-Id": "req-edge-0001"}, **body)
    error = assert_error(resp, status, code)
    assert error["request_id"] == "req-edge-0001" and resp.mimetype == "application/json"


def test_static_is_an_ordinary_path(datasets_client, user_id):
    # Flask's own /static/<path> route used to answer (HTML 404) before the function saw the request.
    assert upload(datasets_client, user_id, "static", "t.csv", b"a\n1\n").status_code == 201
    resp = datasets_client.get("/static/t", headers={"X-User-Id": user_id})
    assert resp.status_code == 200 and resp.get_json()["name"] == "t"


# --- 6. Unsafe start-up defaults --------------------------------------------------------------------------------

@pytest.mark.parametrize("unset", [("DEPLOYMENT_MODE", "AUTH_MODE"), ("AUTH_MODE",), ("DEPLOYMENT_MODE",)])
def test_a_function_on_cloud_run_refuses_to_start_with_local_defaults(local_env, unset):
    os.environ["K_SERVICE"] = "convoinsight-datasets"
    os.environ.update({"DEPLOYMENT_MODE": "local", "AUTH_MODE": "dev"})
    for name in unset:
        os.environ.pop(name)
    get_settings.cache_clear()
    with pytest.raises(ConfigError) as caught:
        function_client("datasets")
    assert all(name in caught.value.message for name in unset) and "K_SERVICE" in caught.value.message
