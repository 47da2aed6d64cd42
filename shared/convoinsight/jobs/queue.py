"""The stage queue: what carries one pipeline stage of one job to the ``pipeline`` function.

Delivery is at least once everywhere (Cloud Tasks, and the in-process queue
that mimics it), so handlers must be idempotent; task names come from a hash
of (job, stage, attempt) so the real service can drop duplicates, but nothing
relies on it (the emulator accepts duplicate names).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class StageTask:
    user_id: str
    job_id: str
    stage: str
    attempt: int = 0  # bumped when a stage is re-enqueued on purpose (not for platform retries)

    def name(self) -> str:
        return hashlib.sha256(f"{self.job_id}:{self.stage}:{self.attempt}".encode()).hexdigest()[:40]

    def body(self) -> dict[str, Any]:
        return {"user_id": self.user_id, "job_id": self.job_id, "stage": self.stage, "attempt": self.attempt}


class StageQueue(Protocol):
    def enqueue(self, task: StageTask, *, delay_seconds: float = 0) -> None: ...
