"""Tasks for the worker-pool tests: each misbehaves the way untrusted work can."""

from __future__ import annotations

import ctypes
import os
import time


def run(task: dict):
    kind = task["kind"]
    if kind == "echo":
        return {"pid": os.getpid(), "value": task.get("value")}
    if kind == "raise":
        raise ValueError("bad input")
    if kind == "segfault":
        ctypes.string_at(0)  # reads address 0: SIGSEGV
    if kind == "hang":
        time.sleep(3600)
    if kind == "hog":
        blocks = []
        while True:
            blocks.append(bytearray(64 * 1024 * 1024))
    if kind == "panic":
        raise SystemExit("a BaseException from native code")
    raise AssertionError(kind)
