"""The cloud's shape on one machine: each function bundle served on its own as Cloud Functions serves it,
behind a stand-in for the global load balancer.

- ``terraform/package.sh`` builds the zips Terraform deploys; each is unpacked into its own folder and run by
  ``functions-framework --target <name>`` from there, with only that folder first on ``PYTHONPATH`` and no
  ``PROMPTS_DIR``: a hand deploy's defaults must resolve inside the bundle.
- The stand-in routes by path prefix exactly as the URL map does (``convoinsight.web.gateway``), passes the
  path whole, streams the responses (server-sent events pass through as they come) and adds the
  ``X-Forwarded-For`` / ``X-Forwarded-Proto`` Google's front end adds.
- ``/_storage`` is the bucket: signed PUTs land in the blob folder, and the finalize event is delivered to
  the ``ingest`` bundle over HTTP as a CloudEvent, as Eventarc would.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
import zipfile
from pathlib import Path

import requests
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from convoinsight.settings import SETTINGS, Settings, load_settings
from convoinsight.web.gateway import function_for
from local_emulator.backing import free_port
from local_emulator.storage import LocalStorage

REPO = Path(__file__).resolve().parents[2]
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-authorization",
              "proxy-authenticate", "content-length", "host"}


def build_bundles(out: Path) -> Path:
    zips = out / "zips"
    subprocess.run(["bash", str(REPO / "terraform" / "package.sh"), str(zips)], check=True, capture_output=True,
                   timeout=180, env={**os.environ, "PYTHON": sys.executable})
    return zips


class FunctionProcess:
    """One unpacked bundle under functions-framework on a free port."""

    def __init__(self, name: str, zips: Path, root: Path, env: dict[str, str]):
        self.name, self.port = name, free_port()
        self.folder = root / name
        with zipfile.ZipFile(zips / f"{name}.zip") as zf:
            zf.extractall(self.folder)
        self.log_path = root / f"{name}.log"
        clean = {k: v for k, v in env.items() if k != "PROMPTS_DIR"}
        self.env = {**clean, "PYTHONPATH": str(self.folder), "PORT": str(self.port)}
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FunctionProcess:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "functions_framework", "--target", self.name, "--source", "main.py",
             "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=self.folder, env=self.env, stdout=self.log_path.open("wb"), stderr=subprocess.STDOUT)
        return self

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log_path.read_text()[-3000:]}")
            try:
                requests.get(f"{self.url}/", timeout=2)
                return
            except requests.RequestException:
                time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not start in {timeout}s: {self.log_path.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


class _IngestOverHttp:
    """What LocalStorage delivers finalize events to: the ingest bundle's own URL, as Eventarc would."""

    def __init__(self, url: str):
        self.url = url

    def test_client(self):
        return self

    def post(self, path: str, data: str, headers: dict[str, str]):
        return requests.post(f"{self.url}{path}", data=data, headers=headers, timeout=60)


class LoadBalancer:
    """The URL map's stand-in in front of the function processes; one origin for every returned URL."""

    def __init__(self, functions: dict[str, FunctionProcess], listener: socket.socket, settings: Settings):
        self.functions, self.port = functions, listener.getsockname()[1]
        # The bucket signs and stores with the bundles' settings, not this process's own.
        self.storage = LocalStorage(_IngestOverHttp(functions["ingest"].url), lambda: settings) \
            if "ingest" in functions else None
        public = tuple(name for name in functions if name not in ("ingest", "pipeline"))
        self.public = public
        self.seen: list[tuple[str, str, int]] = []  # (method, path, status) of every request routed
        self.server = make_server("127.0.0.1", self.port, self, threaded=True, fd=listener.fileno())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True, name="load-balancer")

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LoadBalancer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __call__(self, environ, start_response):
        request = Request(environ)
        path = request.path
        if self.storage is not None and (path == "/_storage" or path.startswith("/_storage/")):
            environ["PATH_INFO"] = path[len("/_storage"):]
            return self.storage(environ, start_response)
        name = function_for(path, self.public)
        if name is None:
            body = json.dumps({"error": {"code": "route_not_found", "message": "no backend for this path",
                                         "request_id": uuid.uuid4().hex}})
            return Response(body, 404, mimetype="application/json")(environ, start_response)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        headers["X-Forwarded-For"] = request.remote_addr or "127.0.0.1"
        headers["X-Forwarded-Proto"] = "http"
        query = environ.get("QUERY_STRING", "")
        target = f"{self.functions[name].url}{environ.get('PATH_INFO', path)}" + (f"?{query}" if query else "")
        upstream = requests.request(request.method, target, headers=headers, data=request.get_data(),
                                    stream=True, allow_redirects=False, timeout=(5, 900))
        self.seen.append((request.method, path, upstream.status_code))
        out_headers = [(k, v) for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP
                       and k.lower() != "content-encoding"]

        def body():  # as the bytes arrive: an event stream passes through event by event
            try:
                yield from upstream.iter_content(chunk_size=None)
            finally:
                upstream.close()

        return Response(body(), status=upstream.status_code, headers=out_headers,
                        direct_passthrough=True)(environ, start_response)


class CloudStack:
    """Bundles + load balancer, started together; ``functions`` are the ones run (ingest is always one)."""

    def __init__(self, root: Path, env: dict[str, str], functions: tuple[str, ...]):
        self.root = root
        # Bound and listening from here on: the bundles' PUBLIC_BASE_URL names this port while the function
        # processes start, and none of them (nor anything else in the session) can take it in between.
        self.lb_listener = socket.create_server(("127.0.0.1", 0))
        self.lb_port = self.lb_listener.getsockname()[1]
        base = f"http://127.0.0.1:{self.lb_port}"
        self.env = {**env, "PUBLIC_BASE_URL": base, "TRUSTED_PROXY_HOPS": "1", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
        zips = build_bundles(root)
        self.functions = {name: FunctionProcess(name, zips, root / "bundles", self.env)
                          for name in sorted({*functions, "ingest"})}
        self.lb: LoadBalancer | None = None

    def start(self) -> CloudStack:
        for fn in self.functions.values():
            fn.start()
        for fn in self.functions.values():
            fn.wait_ready()
        settings = load_settings({k: v for k, v in self.env.items() if k in {s.name for s in SETTINGS}})
        self.lb = LoadBalancer(self.functions, self.lb_listener, settings).start()
        return self

    def stop(self) -> None:
        if self.lb:
            self.lb.stop()
        self.lb_listener.close()
        for fn in self.functions.values():
            fn.stop()

    @property
    def base(self) -> str:
        return self.lb.base
