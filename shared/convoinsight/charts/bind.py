"""Check a model's Vega-Lite spec and bind the result data on the server.

The spec is untrusted: it must not load anything (no ``url`` anywhere; a
remote ``data.url`` would also render empty), it must use only the result's
columns, it must ask the renderer for nothing unbounded and run no code (the
rendering policy, policy.py), it must be a valid Vega-Lite spec (the official
JSON schema), and whatever data it carries is replaced by the real rows,
reduced when there are more than a chart can usefully show (see reduce.py;
the chart then says so).
"""

from __future__ import annotations

import copy
from typing import Any

from convoinsight.charts import notes, policy, view
from convoinsight.charts.policy import MAX_SIZE_PX
from convoinsight.charts.reduce import MAX_CATEGORIES, MAX_CHART_POINTS, reduce_rows
from convoinsight.charts.schema import SCHEMA_URL, validate_spec

_MARKS = {"bar", "line", "area", "point", "circle", "square", "tick", "rect", "arc", "rule", "text", "trail", "boxplot"}
__all__ = ["MAX_SIZE_PX", "bind", "bind_data", "check_spec"]


def check_spec(spec: Any, columns: set[str]) -> dict[str, Any]:
    """Return a clean copy of ``spec`` without data, or raise ValueError saying what is wrong."""
    if not isinstance(spec, dict):
        raise ValueError("the spec must be an object")
    for key, item in view.walk(spec):
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
    if any(key in ("data", "datasets") for key, _ in view.walk(clean)):
        # A layer or lookup with its own values would draw numbers that are not in the result.
        raise ValueError("only the top level may have data, and the server binds it")
    # Sizes, counts, transforms and expressions: what the renderer would be asked to do (policy.py).
    policy.check(clean)
    # The cheap checks first: the schema check costs about a millisecond, and its messages are vaguer.
    validate_spec(clean)
    # Say which Vega-Lite the spec was checked against, and is rendered with (the model may claim v5).
    clean["$schema"] = SCHEMA_URL
    return clean


def bind(spec: dict[str, Any], table: dict[str, Any], *, combine: dict[str, str | None] | None = None,
         max_points: int = MAX_CHART_POINTS, max_categories: int = MAX_CATEGORIES,
         ) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The spec with the result rows as inline ``data.values``, and the ``truncated`` record (or None).

    ``combine`` tells how each measure column may be combined into "Other" (measures.combine_rules).
    """
    columns = table["columns"]
    rows = [dict(zip(columns, row, strict=True)) for row in table["rows"]]
    reduction = reduce_rows({k: v for k, v in spec.items() if k != "data"}, rows, combine or {}, max_points,
                            max_categories)
    truncated = notes.record(reduction, len(rows), table.get("row_count", len(rows)), table.get("truncated", False))
    bound = copy.deepcopy(spec)
    bound["data"] = {"values": reduction.rows if reduction else rows}
    if truncated:
        notes.add_subtitle(bound, notes.describe(truncated, reduction))
    return bound, truncated


def bind_data(spec: dict[str, Any], table: dict[str, Any]) -> dict[str, Any]:
    """The bound spec alone (see ``bind``)."""
    return bind(spec, table)[0]
