"""A local OpenAI-compatible chat-completions server that answers per agent.

Requests are told apart by the ``X-ConvoInsight-Agent`` header, exactly as a
gateway would. A test scripts replies per agent (a queue of raw strings, or a
function of the request), and reads back every request it received.

A request with ``"stream": true`` gets the same reply as OpenAI streams it: server-sent events
``data: {"choices": [{"delta": {"content": ...}}]}`` of ``stream_chunk_chars`` characters each
(``stream_chunk_delay`` seconds apart), a last chunk with ``usage`` when ``stream_options.include_usage``
asks for it, then ``data: [DONE]``. ``Cut(reply, after)`` streams the first ``after`` characters and then
drops the connection mid-body (a non-streaming request gets a 500 for it).

Replies can also be scripted per model, by the request's ``model`` field as the provider receives it
(``stub.script_model("deepseek-chat", Status(503))``): a model's own queue or default wins over its agent's,
so a test can make one model of a fallback chain fail one way and the next another. ``Slow(seconds, reply)``
answers ``reply`` after a delay (a model that times out). Every recorded request carries its ``model``.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Status(int):
    """A scripted HTTP failure: ``stub.script("router", Status(500), "{...}")``."""


class Cut:
    """A streamed reply that breaks off: the first ``after`` characters of ``reply``, then the connection drops."""

    def __init__(self, reply: str, after: int):
        self.reply, self.after = reply, after


class Slow:
    """A reply sent only after ``seconds`` (longer than the client's timeout: a model that times out)."""

    def __init__(self, seconds: float, reply: str | Status | Cut):
        self.seconds, self.reply = seconds, reply


Reply = str | Status | Cut | Slow | Callable[[dict[str, Any]], str]
USAGE = {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}


class StubLLM:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.queues: dict[str, deque[Reply]] = defaultdict(deque)
        self.defaults: dict[str, Reply] = {}
        self.model_queues: dict[str, deque[Reply]] = defaultdict(deque)
        self.model_defaults: dict[str, Reply] = {}
        self.requests: list[dict[str, Any]] = []
        self.latency = 0.0
        self.fail_status: int | None = None
        self.stream_chunk_chars = 6
        self.stream_chunk_delay = 0.0
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                return

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
                agent = self.headers.get("X-ConvoInsight-Agent", "")
                status, payload = stub._answer(agent, body, dict(self.headers))
                if status == 200 and body.get("stream"):
                    self._stream(body, payload)
                    return
                if isinstance(payload, Cut):  # a reply that breaks off, asked for without streaming
                    status, payload = 500, {"error": {"message": "scripted cut", "type": "server_error"}}
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (its timeout): nobody reads
                    return

            def _stream(self, body: dict[str, Any], payload: dict[str, Any] | Cut) -> None:
                """OpenAI's streaming answer: SSE chunks over chunked transfer encoding (HTTP/1.1)."""
                self.protocol_version, self.close_connection = "HTTP/1.1", True
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                # Said, not only done: a client that thinks the connection stays open puts it back in its pool,
                # and its next request (another model on the same stub) can go out on a socket already closed.
                self.send_header("Connection", "close")
                self.end_headers()
                cut = payload if isinstance(payload, Cut) else None
                content = cut.reply[:cut.after] if cut else payload["choices"][0]["message"]["content"]
                base = {"id": "chatcmpl-stub", "object": "chat.completion.chunk", "created": int(time.time()),
                        "model": body.get("model", "stub-model")}
                size = max(1, stub.stream_chunk_chars)
                pieces = [content[i:i + size] for i in range(0, len(content), size)]
                events = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                                "finish_reason": None}]}]
                events += [{**base, "choices": [{"index": 0, "delta": {"content": p}, "finish_reason": None}]}
                           for p in pieces]
                try:
                    for event in events:
                        self._chunk(f"data: {json.dumps(event)}\n\n")
                        if stub.stream_chunk_delay:
                            time.sleep(stub.stream_chunk_delay)
                    if cut:  # no finish, no [DONE], no last chunk: the body ends before its end
                        self.wfile.flush()
                        self.connection.shutdown(socket.SHUT_RDWR)
                        return
                    last = [{**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}]
                    if (body.get("stream_options") or {}).get("include_usage"):
                        last.append({**base, "choices": [], "usage": dict(USAGE)})
                    for event in last:
                        self._chunk(f"data: {json.dumps(event)}\n\n")
                    self._chunk("data: [DONE]\n\n")
                    self.wfile.write(b"0\r\n\r\n")
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):  # the client went away
                    return

            def _chunk(self, text: str) -> None:
                data = text.encode()
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> StubLLM:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def reset(self) -> None:
        with self._lock:
            self.queues.clear()
            self.defaults.clear()
            self.model_queues.clear()
            self.model_defaults.clear()
            self.requests.clear()
            self.latency = 0.0
            self.fail_status = None
            self.stream_chunk_chars = 6
            self.stream_chunk_delay = 0.0

    def script(self, agent: str, *replies: Reply) -> None:
        """Queue replies for an agent; each request takes the next one."""
        with self._lock:
            self.queues[agent].extend(replies)

    def always(self, agent: str, reply: Reply) -> None:
        with self._lock:
            self.defaults[agent] = reply

    def script_model(self, model: str, *replies: Reply) -> None:
        """Queue replies for requests whose ``model`` field is ``model`` (before any agent's replies)."""
        with self._lock:
            self.model_queues[model].extend(replies)

    def always_model(self, model: str, reply: Reply) -> None:
        with self._lock:
            self.model_defaults[model] = reply

    def models(self, agent: str | None = None) -> list[str]:
        """The ``model`` field of every request (of ``agent``), in the order they came."""
        return [r["model"] for r in self.calls(agent)]

    def calls(self, agent: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [r for r in self.requests if agent is None or r["agent"] == agent]

    def _answer(self, agent: str, body: dict[str, Any], headers: dict[str, str]) -> tuple[int, dict[str, Any] | Cut]:
        with self._lock:
            model = str(body.get("model", ""))
            self.requests.append({"agent": agent, "model": model, "body": body, "headers": headers,
                                  "at": time.monotonic()})
            if self.model_queues.get(model):
                reply = self.model_queues[model].popleft()
            elif model in self.model_defaults:
                reply = self.model_defaults[model]
            else:
                reply = self.queues[agent].popleft() if self.queues[agent] else self.defaults.get(agent)
            latency, fail = self.latency, self.fail_status
        if latency:
            time.sleep(latency)
        if isinstance(reply, Slow):
            time.sleep(reply.seconds)
            reply = reply.reply
        if fail:
            return fail, {"error": {"message": "scripted failure", "type": "server_error"}}
        if reply is None:
            return 500, {"error": {"message": f"no scripted reply for agent {agent!r}", "type": "server_error"}}
        if isinstance(reply, Status):
            return int(reply), {"error": {"message": f"scripted {int(reply)}", "type": "scripted_error"}}
        if isinstance(reply, Cut):
            return 200, reply
        content = reply(body) if callable(reply) else reply
        return 200, {
            "id": "chatcmpl-stub",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "stub-model"),
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": content}}],
            "usage": dict(USAGE),
        }


def context_of(body: dict[str, Any]) -> dict[str, Any]:
    """The JSON context our prompts put in the (first) user message."""
    text = next(m["content"] for m in body["messages"] if m["role"] == "user" and "```json" in m["content"])
    start, end = text.index("```json") + len("```json"), text.rindex("```")
    return json.loads(text[start:end])


def close_breakers(redis_url: str) -> None:
    """Delete every model's circuit-breaker state in the session's Redis.

    Breakers are shared by every test (and by the emulator process): a test whose stub failed five
    times in a minute would otherwise send the next tests' calls straight to the fallbacks."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        for key in client.scan_iter("ci:v1:breaker:*"):
            client.delete(key)
    finally:
        client.close()
