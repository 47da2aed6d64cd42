"""gcloud-tasks-emulator (0.6.2, installed with --no-deps by `make setup`) on a free port, for the contract tests.

It runs as a subprocess in its own process group rather than in-process: its
delivery threads are not daemons and only stop on a flag, and its root-logger
set-up and blocking deliveries (no timeout) would otherwise live in the test
process. What it does differently from the real service, found by reading and
running it:

- it accepts duplicate task names (no ~1 h dedupe) and never answers ALREADY_EXISTS;
- it sends no OIDC token, enforces no dispatch deadline (it waits on the target forever, one task at a time per
  queue) and ``X-CloudTasks-QueueName`` is the full queue path, not the short id;
- on 4xx as well as 5xx it retries every ~0.1 s, forever unless ``--max-retries=N`` (then N+1 attempts in all);
- GetTask is not implemented (UNIMPLEMENTED): read tasks back with ListTasks, which also lists delayed ones;
- GetQueue and ListTasks on a missing queue answer UNKNOWN (a KeyError inside), CreateTask FAILED_PRECONDITION;
- it listens on ``[::]`` (every interface) whatever host is asked for, and is ready ~1 s after the process starts.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from local_emulator.backing import free_port


class TasksEmulator:
    def __init__(self, port: int | None = None, *, max_retries: int = 3):
        self.port = port or free_port()
        self.host = f"127.0.0.1:{self.port}"
        # Bounded so that a task whose test target is gone stops being sent within half a second.
        self.max_retries = max_retries
        self.proc: subprocess.Popen | None = None
        self._log = Path(tempfile.mkstemp(prefix="tasks-emulator-", suffix=".log")[1])

    def start(self, timeout: float = 30) -> TasksEmulator:
        import grpc

        with self._log.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-W", "ignore::FutureWarning", "-m", "gcloud_tasks_emulator", "start",
                 f"--port={self.port}", f"--max-retries={self.max_retries}"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            )
        # The server thread starts listening a moment after the process is up: wait for the channel itself.
        channel = grpc.insecure_channel(self.host)
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"Cloud Tasks emulator exited: {self.log_tail()}")
                try:
                    grpc.channel_ready_future(channel).result(timeout=0.2)
                    return self
                except grpc.FutureTimeoutError:
                    continue
        finally:
            channel.close()
        self.stop()
        raise RuntimeError(f"Cloud Tasks emulator did not listen on {self.host} within {timeout}s")

    def log_tail(self, chars: int = 2000) -> str:
        return self._log.read_text(errors="replace")[-chars:] if self._log.exists() else ""

    def stop(self) -> None:
        if self.proc is None:
            return
        # SIGTERM ends it at once (it only handles KeyboardInterrupt); the group kill is for anything left behind.
        _killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            _killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)
        self.proc = None
        self._log.unlink(missing_ok=True)


def _killpg(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass
