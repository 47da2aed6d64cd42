"""The Google Cloud emulators the cloud-mode contract tests run against, started by the test session.

Both listen on a free port of their own, never a default one, so a developer's
running emulator (or a parallel test run) is never touched.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from local_emulator.backing import free_port


class FirestoreEmulator:
    """``gcloud emulators firestore start``: a Java server behind a Python wrapper."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self._log = Path(tempfile.mkstemp(prefix="firestore-emulator-", suffix=".log")[1])

    def start(self, timeout: float = 60) -> FirestoreEmulator:
        # Its own session (process group): stop() must reach the Java child, which outlives the gcloud wrapper.
        with self._log.open("wb") as log:
            self.proc = subprocess.Popen(
                ["gcloud", "emulators", "firestore", "start", f"--host-port={self.host}", "--quiet"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                env={**os.environ, "CLOUDSDK_CORE_DISABLE_PROMPTS": "1"},
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Firestore emulator exited: {self._log.read_text(errors='replace')[-2000:]}")
            try:
                # The emulator answers a plain GET on its root with "Ok" once it serves requests.
                with urllib.request.urlopen(f"http://{self.host}/", timeout=1) as resp:
                    if resp.read().strip() == b"Ok":
                        return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"Firestore emulator did not answer on {self.host} within {timeout}s")

    def stop(self) -> None:
        if self.proc is None:
            return
        # Terminate the children (the launcher script and Java) before the wrapper, so each parent is still
        # there to reap its child: an orphan is left to PID 1, which in some containers never reaps zombies.
        for pid in _group_members(self.proc.pid):
            if pid != self.proc.pid:
                _signal(pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            _signal(-self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        # Whatever of the group is still alive (Java outlives the wrapper) goes now.
        _signal(-self.proc.pid, signal.SIGKILL)
        self.proc = None
        self._log.unlink(missing_ok=True)


def _group_members(pgid: int) -> list[int]:
    """Processes of one process group (Linux /proc); empty elsewhere, where stop() falls back to killpg."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # The command name (field 2) may hold spaces; the fields after its closing parenthesis do not.
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid:  # state, ppid, pgrp
            members.append(int(stat.parent.name))
    return members


def _signal(pid: int, sig: int) -> None:
    """os.kill for a pid, or a whole process group when negative; a process already gone is fine."""
    try:
        if pid < 0:
            os.killpg(-pid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        pass


SERVED = {"get_bytes": 0, "gets": 0}  # across the process's emulators; tests read differences
SERVED_LOCK = threading.Lock()


def _api_thread_class():
    """The emulator's API thread with a threaded server and a deep listen queue.

    Stock, it is a single-threaded HTTP/1.0 server with a listen queue of 5: the SQL engine's parallel
    ranged reads overflow it and each overflow costs the client a 1 s connect retry."""
    from functools import partial
    from http.server import ThreadingHTTPServer

    from gcp_storage_emulator import server as emulator_server

    class Server(ThreadingHTTPServer):
        request_queue_size = 128
        daemon_threads = True

    class CountingHandler(emulator_server.RequestHandler):
        """Counts the body bytes served for GETs (what a reader downloaded)."""

        def do_GET(self):
            sent = 0
            write = self.wfile.write

            def counting(data):
                nonlocal sent
                sent += len(data)
                return write(data)

            self.wfile.write = counting
            try:
                super().do_GET()
            finally:
                with SERVED_LOCK:
                    SERVED["get_bytes"] += sent
                    SERVED["gets"] += 1

    class ConcurrentApiThread(emulator_server.APIThread):
        def run(self) -> None:
            self._httpd = Server((self._host, self._port), partial(CountingHandler, self._storage))
            self.is_running.set()
            self._httpd.serve_forever()

    return ConcurrentApiThread


def _ConcurrentApiThread(host: str, port: int, storage):
    return _api_thread_class()(host, port, storage)


class GcsEmulator:
    """gcp-storage-emulator in this process (a thread), keeping objects in memory."""

    def __init__(self, port: int | None = None, default_bucket: str = "convoinsight-test"):
        self.port = port or free_port()
        self.host = f"http://127.0.0.1:{self.port}"
        self.default_bucket = default_bucket
        self._server = None

    def start(self) -> GcsEmulator:
        from gcp_storage_emulator.server import create_server

        self._server = create_server("127.0.0.1", self.port, in_memory=True, default_bucket=self.default_bucket)
        self._server._api = _ConcurrentApiThread("127.0.0.1", self.port, self._server._storage)
        self._server.start()
        return self

    def client(self):
        """A storage client bound to this emulator explicitly (no environment variable needed)."""
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        return storage.Client(project="convoinsight-test", credentials=AnonymousCredentials(),
                              client_options={"api_endpoint": self.host})

    def create_bucket(self, name: str) -> str:
        self.client().create_bucket(name)
        return name

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
