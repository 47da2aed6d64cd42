"""An async job's answer draft in transit: a Redis Stream per job, written by the compiler, read by its events route.

The compiler stage runs wherever the queue delivers it (a Cloud Tasks call to the ``pipeline``
function), rarely in the instance that serves the job's ``/events`` stream, so the token events
pass through Redis: ``ci:v1:<tenant>:tokens:<job_id>``, one entry per batch of text (the deltas of
about ``FLUSH_SECONDS``, so a fast model costs a few writes a second, not one per token), capped
at about ``MAX_ENTRIES`` and expiring ``TTL_SECONDS`` after the last write. Entry ids are the SSE
``id:`` of the token events, so a reconnecting client (``Last-Event-ID``) gets what it missed.

Entries: ``{"t": "token", "text": ...}`` or ``{"t": "reset", "reason": ...}``. A compiler attempt
that finds entries of an earlier attempt of the same job (a redelivered task) writes a reset
first. Redis down or unset: nothing is written or read; the job still answers and its event
stream still ends with the final progress that carries the answer.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

log = logging.getLogger("convoinsight.jobs")
FLUSH_SECONDS = 0.05
MAX_ENTRIES = 5000
TTL_SECONDS = 3600
READ_COUNT = 500
_ENTRY_ID = re.compile(r"^\d{1,20}-\d{1,20}$")
START = "0-0"


def key(user_id: str, job_id: str) -> str:
    return f"ci:v1:{user_id}:tokens:{job_id}"


def cursor(last_event_id: str | None) -> str:
    """Where a stream resumes: after the client's ``Last-Event-ID`` when it is one of ours, else the start."""
    value = (last_event_id or "").strip()
    return value if _ENTRY_ID.match(value) else START


class RedisTokenSink:
    """Token events of one compiler attempt into the job's stream, batched; safe to call from one thread
    while its timer flushes from another."""

    def __init__(self, redis_client, user_id: str, job_id: str, flush_seconds: float = FLUSH_SECONDS):
        self.redis, self.key, self.flush_seconds = redis_client, key(user_id, job_id), flush_seconds
        self._lock = threading.Lock()
        self._buffer: list[str] = []
        self._timer: threading.Timer | None = None
        self._started = False  # this attempt has written (or checked for an earlier attempt's entries)

    def token(self, text: str) -> None:
        if self.redis is None or not text:
            return
        with self._lock:
            self._buffer.append(text)
            if self._timer is None:
                self._timer = threading.Timer(self.flush_seconds, self.flush)
                self._timer.daemon = True
                self._timer.start()

    def reset(self, reason: str) -> None:
        if self.redis is None:
            return
        with self._lock:
            self._write_locked({"t": "reset", "reason": reason})

    def flush(self) -> None:
        if self.redis is None:
            return
        with self._lock:
            self._write_locked(None)

    def _write_locked(self, extra: dict[str, str] | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        entries = []
        if not self._started:
            self._started = True
            if self._safe(lambda: self.redis.xlen(self.key)):  # an earlier attempt's draft: void it
                entries.append({"t": "reset", "reason": "retry"})
        if self._buffer:
            entries.append({"t": "token", "text": "".join(self._buffer)})
            self._buffer = []
        if extra:
            entries.append(extra)
        if not entries:
            return

        def write():
            pipe = self.redis.pipeline(transaction=False)
            for entry in entries:
                pipe.xadd(self.key, entry, maxlen=MAX_ENTRIES, approximate=True)
            pipe.expire(self.key, TTL_SECONDS)
            pipe.execute()

        self._safe(write)

    def _safe(self, call) -> Any:
        try:
            return call()
        except Exception as exc:  # a preview only: the answer is stored and served whatever happens here
            log.warning("answer draft not written to Redis: %s", type(exc).__name__)
            return None


def read(redis_client, user_id: str, job_id: str, after: str, block_ms: int | None = None
         ) -> list[tuple[str, dict[str, str]]] | None:
    """Entries after ``after`` as (id, fields), waiting up to ``block_ms`` for the first; None when Redis
    cannot be read (the caller then waits on its own)."""
    if redis_client is None:
        return None
    try:
        found = redis_client.xread({key(user_id, job_id): after}, count=READ_COUNT, block=block_ms)
    except Exception as exc:
        log.warning("answer draft not read from Redis: %s", type(exc).__name__)
        return None
    entries = []
    for _stream, items in found or []:
        for entry_id, fields in items:
            entries.append((_text(entry_id), {_text(k): _text(v) for k, v in fields.items()}))
    return entries


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
