"""Worker entries with a warm-up (workers/pool.py runs ``warm_up`` before the worker says it is ready)."""

from __future__ import annotations

import os
import time

WARMED: dict[str, float] = {}


def warm_up() -> None:
    WARMED["at"] = time.time()


def run(task: dict):
    return {"pid": os.getpid(), "warmed_at": WARMED.get("at"), "received_at": time.time()}
