"""The in-process stage queue (local mode): worker threads with Cloud Tasks' delivery semantics.

At least once, retried with exponential backoff on a 5xx answer, no de-duplication of task
names: the same contract the job runner must honour with the real service. Like Cloud Tasks,
queued tasks are durable: each is journaled in the document store when it is enqueued and
removed once delivered for good, and a queue started after a crash or restart of the local stack
replays what was left. A task is retried for as long as a stage may take (``max_age`` seconds, past
every lease a dead worker could hold), then dropped and its job settled as failed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from convoinsight.jobs.queue import StageTask

log = logging.getLogger("convoinsight.jobs")
Handler = Callable[[dict[str, Any], int], int]  # (task body, retry count) -> HTTP-like status
JOURNAL = "system/queue/{stack}/tasks"  # one journal per local stack (its state folder)


def task_id(body: dict[str, Any]) -> str:
    return f"{body['user_id']}.{body['job_id']}.{body['stage']}"


class InProcessQueue:
    def __init__(self, handler: Handler, *, workers: int = 8, backoff: float = 0.05, max_backoff: float = 2.0,
                 journal=None, stack: str = "default", max_age: float = 1800.0,
                 on_drop: Callable[[dict[str, Any]], None] | None = None):
        self.handler = handler
        self.collection = JOURNAL.format(stack=stack)
        self.backoff, self.max_backoff = backoff, max_backoff
        self.journal, self.max_age, self.on_drop = journal, max_age, on_drop
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="stage-worker")
        self._timers: set[threading.Timer] = set()
        self._lock = threading.Lock()

    def enqueue(self, task: StageTask, *, delay_seconds: float = 0) -> None:
        body, now = task.body(), time.time()
        if self.journal is not None:
            # Before it can run: a crash from here on leaves the task to replay.
            self.journal.put(self.collection, task_id(body), {"body": body, "enqueued_at": now})
        self._schedule(body, 0, delay_seconds, now)

    def recover(self) -> int:
        """Schedule every journaled task again (after a restart); returns how many."""
        if self.journal is None:
            return 0
        entries = self.journal.list(self.collection)
        for entry in entries:
            self._schedule(entry["body"], 0, 0, float(entry.get("enqueued_at") or time.time()))
        if entries:
            log.info("replaying %d queued stage tasks", len(entries))
        return len(entries)

    def _schedule(self, body: dict[str, Any], retry: int, delay: float, first: float) -> None:
        if delay <= 0:
            self._pool.submit(self._deliver, body, retry, first)
            return
        timer = threading.Timer(delay, self._fire, args=(body, retry, first))
        timer.daemon = True
        with self._lock:
            self._timers.add(timer)
        timer.start()

    def _fire(self, body: dict[str, Any], retry: int, first: float) -> None:
        with self._lock:
            self._timers = {t for t in self._timers if t.is_alive() and t is not threading.current_thread()}
        self._pool.submit(self._deliver, body, retry, first)

    def _deliver(self, body: dict[str, Any], retry: int, first: float) -> None:
        try:
            status = self.handler(body, retry)
        except Exception:  # a crashing handler is a 500, as the platform would see it
            log.exception("stage task crashed")
            status = 500
        if status >= 500:
            if time.time() - first > self.max_age:
                log.error("stage task %s/%s dropped after %d deliveries in %.0f s", body.get("job_id"),
                          body.get("stage"), retry + 1, time.time() - first)
                self._done(body)
                if self.on_drop is not None:
                    self.on_drop(body)
                return
            self._schedule(body, retry + 1, min(self.max_backoff, self.backoff * 2**retry), first)
            return
        self._done(body)

    def _done(self, body: dict[str, Any]) -> None:
        if self.journal is None:
            return
        try:
            self.journal.delete(self.collection, task_id(body))
        except Exception as exc:  # a leftover entry only replays a task the runner will skip as done
            log.warning("queue journal entry not removed: %s", type(exc).__name__)
