"""Saying that a chart shows less than the result: a ``truncated`` record beside the spec, a subtitle in it.

The record is for programs (``{"shown", "of", "method", "unit"}``, plus ``result`` when the query
result itself was cut at MAX_RESULT_ROWS before the chart saw it); the subtitle is for readers, so
an exported PNG still says what it leaves out.
"""

from __future__ import annotations

from typing import Any

from convoinsight.charts.reduce import Reduction


def record(reduction: Reduction | None, rows: int, row_count: int, result_truncated: bool) -> dict[str, Any] | None:
    """The ``truncated`` record of a chart, or None when it shows every row of the result."""
    cut = bool(result_truncated) or row_count > rows
    if reduction is None:
        return {"shown": rows, "of": row_count, "method": "limit", "unit": "rows"} if cut else None
    out: dict[str, Any] = {"shown": reduction.shown, "of": reduction.of, "method": reduction.method,
                           "unit": reduction.unit}
    if cut:
        out["result"] = {"shown": rows, "of": row_count}
    return out


def describe(truncated: dict[str, Any], reduction: Reduction | None) -> str:
    shown, of, method = truncated["shown"], truncated["of"], truncated["method"]
    if method == "limit":
        return f"First {shown:,} of {of:,} result rows"
    if method == "sample":
        text = f"{shown:,} of {of:,} points shown (sampled; first, last and extremes kept)"
    else:
        category, measure = (reduction.category, reduction.measure) if reduction else ("categories", "value")
        text = f"Top {shown:,} of {of:,} {category} by {measure}"
        if method == "other":
            label = reduction.other_label if reduction else "Other"
            text += f"; the other {of - shown:,} combined as \u201c{label}\u201d"
    if "result" in truncated:
        text += f" (from the first {truncated['result']['shown']:,} of {truncated['result']['of']:,} result rows)"
    return text


def add_subtitle(spec: dict[str, Any], note: str) -> None:
    """Append ``note`` to the spec's title as a subtitle, keeping whatever title the spec had."""
    title = spec.get("title")
    if isinstance(title, str | list) and title:
        spec["title"] = {"text": title, "subtitle": note}
    elif isinstance(title, dict) and title.get("text"):
        existing = title.get("subtitle")
        lines = existing if isinstance(existing, list) else [existing] if isinstance(existing, str) else []
        title["subtitle"] = [*lines, note] if lines else note
    else:
        # Vega draws no title block (subtitle included) for an empty text: the note becomes the title, set small.
        spec["title"] = {**(title if isinstance(title, dict) else {}), "text": note, "fontSize": 11,
                         "fontWeight": "normal"}
