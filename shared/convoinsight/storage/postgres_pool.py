"""A small thread-safe pool of pg8000 native connections.

pg8000 connections are not thread-safe and Gen2 functions serve concurrent
requests, so each use borrows a connection. A connection that failed is
dropped rather than returned, so the pool heals once the server is back.
"""

from __future__ import annotations

import queue
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import unquote, urlsplit

import pg8000.native

from convoinsight.errors import ServiceUnavailable

CONNECT_ATTEMPTS = 3


def connection_args(url: str) -> dict:
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise ValueError("POSTGRES_URL must start with postgresql://")
    return {
        "user": unquote(parts.username or "postgres"),
        "password": unquote(parts.password) if parts.password else None,
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 5432,
        "database": (parts.path or "/").lstrip("/") or "postgres",
    }


class PostgresPool:
    def __init__(self, url: str, *, size: int = 8, timeout: float = 5.0):
        self._args = connection_args(url)
        self._timeout = timeout
        self._idle: queue.LifoQueue[pg8000.native.Connection] = queue.LifoQueue()
        self._slots = threading.BoundedSemaphore(size)

    def _connect(self) -> pg8000.native.Connection:
        last: Exception | None = None
        for attempt in range(CONNECT_ATTEMPTS):
            try:
                return pg8000.native.Connection(**self._args, timeout=self._timeout)
            except Exception as exc:  # socket errors, auth errors at start-up, DNS
                last = exc
                if attempt + 1 < CONNECT_ATTEMPTS:  # backoff with jitter (not a secret: S311 does not apply)
                    time.sleep(min(0.5, 0.1 * 2**attempt) * (0.5 + random.random()))  # noqa: S311
        raise ServiceUnavailable("the document database is unreachable", code="postgres_unavailable") from last

    @contextmanager
    def connection(self) -> Iterator[pg8000.native.Connection]:
        if not self._slots.acquire(timeout=self._timeout):
            raise ServiceUnavailable("the document database is busy", code="postgres_busy")
        conn = None
        try:
            try:
                conn = self._idle.get_nowait()
            except queue.Empty:
                conn = self._connect()
            try:
                # Statements run in autocommit mode; callers that open a transaction roll it back on error.
                yield conn
            except (pg8000.native.InterfaceError, OSError) as exc:
                _close(conn)
                conn = None
                self.close()  # after a server restart every idle connection is stale too
                raise ServiceUnavailable("the document database connection was lost",
                                         code="postgres_connection_lost") from exc
        finally:
            if conn is not None:
                self._idle.put(conn)
            self._slots.release()

    def close(self) -> None:
        while True:
            try:
                _close(self._idle.get_nowait())
            except queue.Empty:
                return


def _close(conn: pg8000.native.Connection) -> None:
    try:
        conn.close()
    except Exception:  # closing a broken socket: nothing left to release
        return
