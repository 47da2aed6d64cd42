"""Timestamps as documents store them: ISO 8601 in UTC to the second. A module of its own, so that code
which only needs the time (sessions, prompts) does not import the data stack (polars, pyarrow)."""

from __future__ import annotations

import time


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
