"""The in-process stage queue (local mode): worker threads with Cloud Tasks' delivery semantics.

At least once, retried with exponential backoff on a 5xx answer up to a
bounded number of deliveries, no de-duplication of task names: the same
contract the job runner must honour with the real service.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from convoinsight.jobs.queue import StageTask

log = logging.getLogger("convoinsight.jobs")
Handler = Callable[[dict[str, Any], int], int]  # (task body, retry count) -> HTTP-like status
MAX_DELIVERIES = 30


class InProcessQueue:
    def __init__(self, handler: Handler, *, workers: int = 8, backoff: float = 0.05, max_backoff: float = 2.0):
        self.handler = handler
        self.backoff, self.max_backoff = backoff, max_backoff
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="stage-worker")
        self._timers: set[threading.Timer] = set()
        self._lock = threading.Lock()

    def enqueue(self, task: StageTask, *, delay_seconds: float = 0) -> None:
        self._schedule(task.body(), 0, delay_seconds)

    def _schedule(self, body: dict[str, Any], retry: int, delay: float) -> None:
        if delay <= 0:
            self._pool.submit(self._deliver, body, retry)
            return
        timer = threading.Timer(delay, self._fire, args=(body, retry))
        timer.daemon = True
        with self._lock:
            self._timers.add(timer)
        timer.start()

    def _fire(self, body: dict[str, Any], retry: int) -> None:
        with self._lock:
            self._timers = {t for t in self._timers if t.is_alive() and t is not threading.current_thread()}
        self._pool.submit(self._deliver, body, retry)

    def _deliver(self, body: dict[str, Any], retry: int) -> None:
        try:
            status = self.handler(body, retry)
        except Exception:  # a crashing handler is a 500, as the platform would see it
            log.exception("stage task crashed")
            status = 500
        if status >= 500:
            if retry + 1 >= MAX_DELIVERIES:
                log.error("stage task %s/%s dropped after %d deliveries", body.get("job_id"), body.get("stage"),
                          MAX_DELIVERIES)
                return
            self._schedule(body, retry + 1, min(self.max_backoff, self.backoff * 2**retry))
