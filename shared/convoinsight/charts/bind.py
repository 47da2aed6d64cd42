"""Check a model's Vega-Lite spec and bind the result data on the server.

The spec is untrusted: it must not load anything (no ``url`` anywhere; a
remote ``data.url`` would also render empty), it must use only the result's
columns, and whatever data it carries is replaced by the real rows.
"""

from __future__ import annotations

import copy
from typing import Any

_MARKS = {"bar", "line", "area", "point", "circle", "square", "tick", "rect", "arc", "rule", "text", "trail", "boxplot"}


def _walk(value: Any):
    if isinstance(value, dict):
        for key, item in value.items():
            yield key, item
            yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)


def check_spec(spec: Any, columns: set[str]) -> dict[str, Any]:
    """Return a clean copy of ``spec`` without data, or raise ValueError saying what is wrong."""
    if not isinstance(spec, dict):
        raise ValueError("the spec must be an object")
    for key, item in _walk(spec):
        if key == "url":
            raise ValueError("the spec may not load remote data or images")
        if key == "field" and isinstance(item, str) and item not in columns:
            raise ValueError(f"field {item!r} is not a column of the result")
    mark = spec.get("mark")
    mark_type = mark.get("type") if isinstance(mark, dict) else mark
    if "layer" not in spec and mark_type not in _MARKS:
        raise ValueError(f"unsupported mark {mark_type!r}")
    clean = copy.deepcopy(spec)
    clean.pop("data", None)
    clean.pop("datasets", None)
    return clean


def bind_data(spec: dict[str, Any], table: dict[str, Any]) -> dict[str, Any]:
    """The spec with the result rows as inline ``data.values`` (one object per row)."""
    bound = copy.deepcopy(spec)
    columns = table["columns"]
    bound["data"] = {"values": [dict(zip(columns, row, strict=True)) for row in table["rows"]]}
    return bound
