"""A supervised pool of worker processes for untrusted work (model SQL, model charts, uploaded files).

What runs in a worker may panic, segfault, run out of memory or never return. The parent never
shares its fate: each task goes to one idle worker over a pipe, with a deadline. A worker that
dies or misses its deadline is killed and replaced, and the caller gets ``WorkerCrashed`` or
``WorkerTimeout``; every other request, and every other tenant, goes on being served.

Workers are forked from a clean ``forkserver`` process (never from the serving process, whose
threads and sockets must not be duplicated), import their task module once, and then serve
tasks one at a time until they die or are replaced. An address-space limit (``RLIMIT_AS``)
bounds each worker's memory whatever the code inside it does.
"""

from __future__ import annotations

import importlib
import logging
import multiprocessing
import os
import queue
import resource
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

log = logging.getLogger(__name__)

# One forkserver for every pool of the process: it imports only this module and the task modules.
_CONTEXT = multiprocessing.get_context("forkserver")
_PRELOAD: set[str] = {__name__}
_PRELOAD_LOCK = threading.Lock()


class WorkerError(Exception):
    """Base of the pool's own failures (not the task's)."""


class WorkerCrashed(WorkerError):
    """The worker died while running the task (signal, out of memory, abort)."""

    def __init__(self, message: str, exitcode: int | None):
        super().__init__(message)
        self.exitcode = exitcode


class WorkerTimeout(WorkerError):
    """The task did not finish before its deadline; the worker was killed."""


class WorkerBusy(WorkerError):
    """No worker became free within the wait allowed."""


@dataclass(frozen=True)
class TaskFailed(Exception):
    """The task raised inside the worker: its class name and message (the worker survives)."""

    kind: str
    message: str
    details: dict

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"


def _serve(conn: Connection, entry: str, memory_bytes: int) -> None:
    """Worker main loop: run ``entry(payload)`` for each payload received, reply with the outcome."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in `make dev` is the parent's to handle
    if memory_bytes > 0:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    module, _, name = entry.partition(":")
    loaded = importlib.import_module(module)
    task: Callable[[Any], Any] = getattr(loaded, name)
    warm_up = getattr(loaded, "warm_up", None)
    if callable(warm_up):  # the entry's first-use costs, paid before the worker says it is ready, not by a task
        try:
            warm_up()
        except Exception as exc:  # a task would meet the same failure and report it; the worker still serves
            print(f"worker warm-up failed: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
    conn.send(("ready", os.getpid()))
    while True:
        try:
            payload = conn.recv()
        except (EOFError, OSError):
            return  # the parent went away
        try:
            outcome = ("ok", task(payload))
        except Exception as exc:  # the task's own failure: reported, the worker stays
            outcome = ("error", (type(exc).__name__, str(exc), getattr(exc, "details", {}) or {}))
        except BaseException as exc:  # e.g. a Rust panic surfacing as PanicException: report, then exit
            conn.send(("fatal", (type(exc).__name__, str(exc) or type(exc).__name__, {})))
            os._exit(70)
        try:
            conn.send(outcome)
        except (EOFError, OSError):
            return


class _Worker:
    def __init__(self, entry: str, memory_bytes: int):
        parent, child = _CONTEXT.Pipe(duplex=True)
        self.process = _CONTEXT.Process(target=_serve, args=(child, entry, memory_bytes), daemon=True,
                                        name=f"worker:{entry}")
        self.process.start()
        child.close()
        self.conn = parent
        self.ready = False
        self.tasks = 0

    def wait_ready(self, timeout: float) -> None:
        if self.ready:
            return
        if not self.conn.poll(timeout):
            raise WorkerTimeout("the worker did not start in time")
        kind, _ = self.conn.recv()
        if kind != "ready":
            raise WorkerCrashed("the worker failed to start", self.process.exitcode)
        self.ready = True

    def kill(self) -> None:
        try:
            if self.process.is_alive():
                self.process.kill()
            self.process.join(timeout=5)
        finally:
            self.conn.close()


class WorkerPool:
    """``size`` workers running ``entry`` ("module:function"), each limited to ``memory_bytes`` (0: none)."""

    def __init__(self, entry: str, size: int, *, memory_bytes: int = 0, start_timeout: float = 30.0,
                 replace_on_error: bool = False):
        """``replace_on_error``: a worker whose task raised is replaced too, for libraries that carry state
        from a failed call into the next one (vl-convert does)."""
        self.entry = entry
        self.replace_on_error = replace_on_error
        self.size = max(1, size)
        self.memory_bytes = memory_bytes
        self.start_timeout = start_timeout
        self._idle: queue.LifoQueue[_Worker] = queue.LifoQueue()
        self._lock = threading.Lock()
        self._started = 0
        self._closed = False
        self._busy: set[_Worker] = set()
        self._live: set[_Worker] = set()
        self.restarts = 0
        with _PRELOAD_LOCK:
            _PRELOAD.add(entry.partition(":")[0])
            # Only effective before the forkserver starts; later pools' modules are imported by the worker.
            _CONTEXT.set_forkserver_preload(sorted(_PRELOAD))

    def run(self, payload: Any, timeout: float, *, wait: float | None = None) -> Any:
        """The task's return value; ``TaskFailed`` if it raised, or a ``WorkerError`` if the worker failed.

        ``timeout`` bounds the task itself (the worker is killed past it); ``wait`` bounds how long
        to wait for a free worker (default: as long as the task may run).
        """
        worker = self._acquire(timeout if wait is None else wait)
        healthy = False
        try:
            worker.wait_ready(self.start_timeout)
            worker.conn.send(payload)
            if not worker.conn.poll(timeout):
                raise WorkerTimeout(f"the task ran past its {timeout:g} s limit")
            kind, value = worker.conn.recv()
            worker.tasks += 1
            if kind == "ok":
                healthy = True
                return value
            healthy = kind == "error" and not self.replace_on_error  # after "fatal" the worker exits
            raise TaskFailed(value[0], value[1], value[2])
        except (EOFError, OSError, ConnectionError):
            worker.process.join(timeout=1)
            raise WorkerCrashed(_death(worker.process.exitcode), worker.process.exitcode) from None
        finally:
            self._release(worker, healthy and worker.process.is_alive())

    def pids(self) -> list[int]:
        """Process ids of the workers alive now (for operators and tests)."""
        with self._lock:
            return sorted(w.process.pid for w in self._live if w.process.pid)

    def busy_pids(self) -> list[int]:
        """Process ids of the workers running a task now."""
        with self._lock:
            return sorted(w.process.pid for w in self._busy if w.process.pid)

    def warm(self) -> None:
        """Start every worker now (in the background of the caller's first request, say)."""
        workers = []
        for _ in range(self.size):
            try:
                workers.append(self._acquire(0))
            except WorkerBusy:
                break
        for worker in workers:
            try:
                worker.wait_ready(self.start_timeout)
            finally:
                self._release(worker, worker.process.is_alive())

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        with self._lock:
            self._closed = True
        while True:
            try:
                self._idle.get_nowait().kill()
            except queue.Empty:
                return

    def _acquire(self, wait: float) -> _Worker:
        worker = self._take(wait)
        with self._lock:
            self._busy.add(worker)
            self._live.add(worker)
        return worker

    def _take(self, wait: float) -> _Worker:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        with self._lock:
            if self._closed:
                raise WorkerError("the pool is closed")
            if self._started < self.size:
                self._started += 1
                spawn = True
            else:
                spawn = False
        if spawn:
            try:
                return _Worker(self.entry, self.memory_bytes)
            except BaseException:
                with self._lock:
                    self._started -= 1
                raise
        try:
            return self._idle.get(timeout=wait)
        except queue.Empty:
            raise WorkerBusy(f"no worker was free within {wait:g} s") from None

    def _release(self, worker: _Worker, healthy: bool) -> None:
        with self._lock:
            self._busy.discard(worker)
            if not healthy:
                self._live.discard(worker)
        if healthy:
            self._idle.put(worker)
            return
        worker.kill()
        with self._lock:
            self._started -= 1
            self.restarts += 1
        log.warning("worker replaced", extra={"event": "worker_replaced", "entry": self.entry,
                                              "exitcode": worker.process.exitcode})


def _death(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            return f"the worker was killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"the worker was killed by signal {-exitcode}"
    if exitcode == 70:
        return "the worker stopped after an engine panic"
    return f"the worker exited with status {exitcode}"


_SHARED: dict[tuple, WorkerPool] = {}
_SHARED_LOCK = threading.Lock()


def shared_pool(entry: str, size: int, *, memory_bytes: int = 0, replace_on_error: bool = False,
                variant: object = None) -> WorkerPool:
    """The process's pool for these arguments, created on first use (never at import: cold starts).

    ``variant`` tells apart pools whose workers limit themselves from their settings (a different
    limit needs different workers, since a process cannot raise its own limit back)."""
    key = (entry, size, memory_bytes, replace_on_error, variant)
    with _SHARED_LOCK:
        pool = _SHARED.get(key)
        if pool is None or pool.closed:  # closed by its user without close_shared: never hand that one out again
            pool = _SHARED[key] = WorkerPool(entry, size, memory_bytes=memory_bytes,
                                             replace_on_error=replace_on_error)
        return pool


def shared_pools(entry: str) -> list[WorkerPool]:
    with _SHARED_LOCK:
        return [pool for key, pool in _SHARED.items() if key[0] == entry]


def close_shared(entry: str | None = None, *, pool: WorkerPool | None = None) -> None:
    """Stop and forget the shared pools of ``entry`` (or just ``pool``); the next use starts new workers."""
    with _SHARED_LOCK:
        keys = [k for k, p in _SHARED.items() if (pool is None or p is pool) and (entry is None or k[0] == entry)]
        closing = [_SHARED.pop(k) for k in keys]
    for item in closing:
        item.close()
