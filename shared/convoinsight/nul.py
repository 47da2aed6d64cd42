"""NUL characters (U+0000): found, refused or stripped by one policy.

PostgreSQL text and JSONB cannot hold U+0000, so a NUL that reached the
document store used to fail the write (a 500) halfway through a request. The
policy, per source (README, "Text and NUL characters"):

- client input is refused with 400 ``invalid_characters`` at the HTTP edge
  (path segments, query parameters, JSON keys and values, multipart file names
  and fields), so nothing is written;
- model output and the answer built on it (its result table included) have
  NUL removed before the answer is stored and returned, and so do stage
  outputs of async jobs and dataset records (column labels, profiles); the
  uploaded data files themselves keep the user's bytes (preview, downloads, SQL);
- the document stores refuse a NUL anywhere in a write (``ValueError``, nothing
  written), on PostgreSQL and Firestore alike: a last line, never the policy.
"""

from __future__ import annotations

import json
from typing import Any

NUL = "\x00"


def may_hold(value: Any) -> bool:
    """False when ``value`` surely holds no NUL: one scan of its JSON in C instead of a walk of every string
    (JSON writes U+0000 as ``\\u0000``; a text that merely holds those six characters says True, and ``find``
    then says where, or that there is none)."""
    try:
        return "\\u0000" in json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):  # not JSON (a datetime, bytes): walk it
        return True


def find(value: Any, path: str = "") -> str | None:
    """Where the first NUL of a JSON-like value is (``"agents.analyzer.instructions"``, ``"[2]"``), or None."""
    if isinstance(value, str):
        return (path or "(value)") if NUL in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and NUL in key:
                return where.replace(NUL, "\\u0000")
            found = find(item, where)
            if found:
                return found
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found = find(item, f"{path}[{index}]")
            if found:
                return found
    return None


def strip(value: Any) -> Any:
    """The value with every NUL removed from its strings and keys (other values unchanged)."""
    if isinstance(value, str):
        return value.replace(NUL, "") if NUL in value else value
    if isinstance(value, dict):
        return {strip(k): strip(v) for k, v in value.items()}
    if isinstance(value, list):
        return [strip(item) for item in value]
    if isinstance(value, tuple):
        return tuple(strip(item) for item in value)
    return value
