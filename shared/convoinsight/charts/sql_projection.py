"""The outermost SELECT of the manipulator's SQL, which the chart rules read (labels, "Other" buckets)."""

from __future__ import annotations

from typing import Any


def outer_select(sql: str | None) -> Any | None:
    """sqlglot's outermost ``Select`` of ``sql``; None when there is no SQL or it cannot be read."""
    if not sql:
        return None
    # Imported here: only the visualizer needs sqlglot, and the SQL already passed the guard.
    from sqlglot import exp, parse_one

    try:
        tree = parse_one(sql, read="postgres")
    except Exception:  # sqlglot raises several error types; an unreadable SQL just means "unknown"
        return None
    return tree if isinstance(tree, exp.Select) else tree.find(exp.Select)
