"""Ingest worker tasks that die the ways a reader can die on a hostile file (fault injection at the boundary).

Each is a drop-in ``entry`` for the ingest pool: it takes the real task payload and, instead of reading
the file, crashes, aborts, hangs or runs out of memory.
"""

from __future__ import annotations

import ctypes
import os
import signal
import time


def segfault(task: dict):
    ctypes.string_at(0)  # reads address 0: SIGSEGV, as a reader overflowing its stack does


def abort(task: dict):
    os.kill(os.getpid(), signal.SIGABRT)  # what Rust does when an allocation fails
    time.sleep(10)


def hang(task: dict):
    time.sleep(3600)


def memory_error(task: dict):
    raise MemoryError


def half_written(task: dict):
    """Writes part of the output, then dies: nothing of it may be registered."""
    with open(task["out"], "wb") as out:
        out.write(b"PAR1" + bytes(1000))
    ctypes.string_at(0)
