"""A sensible Vega-Lite spec for a result table, chosen from its column types.

Used by the offline planner's visualizer and whenever a model's spec has to
be replaced. Returns a spec without data (the server binds it) or None when
no chart helps (a single value, or no measure to plot). Its presentation (titles, formats, sizes,
order, palette) is added after binding by presentation.py, as for a model's spec.
"""

from __future__ import annotations

from typing import Any

from convoinsight.charts.schema import SCHEMA_URL

_NUMERIC = {"integer", "float", "decimal"}
_TEMPORAL = {"date", "datetime"}
MAX_GROUPED_BARS = 60  # bars side by side past this are too thin to read: they are stacked instead


def suggest_spec(columns: list[dict[str, str]], chart: str = "auto", row_count: int = 0,
                 title: str = "") -> dict[str, Any] | None:
    if chart in ("none", "table") or row_count < 2:
        return None
    measures = [c["name"] for c in columns if c["dtype"] in _NUMERIC]
    temporals = [c["name"] for c in columns if c["dtype"] in _TEMPORAL]
    categories = [c["name"] for c in columns if c["dtype"] not in _NUMERIC | _TEMPORAL]
    if not measures:
        return None
    y = measures[-1]
    if chart == "scatter" and len(measures) >= 2:
        return _spec("point", {"x": _q(measures[0]), "y": _q(measures[1])}, title)
    if temporals and chart in ("auto", "line", "area", "bar"):
        mark = chart if chart in ("line", "area", "bar") else "line"
        encoding = {"x": {"field": temporals[0], "type": "temporal"}, "y": _q(y)}
        if categories:
            encoding["color"] = {"field": categories[0], "type": "nominal"}
        return _spec(mark, encoding, title)
    x = categories[0] if categories else (measures[0] if len(measures) > 1 else None)
    if x is None:
        return None
    if chart == "pie":
        return _spec("arc", {"theta": _q(y), "color": {"field": x, "type": "nominal"}}, title)
    if chart in ("line", "area"):
        return _spec(chart, {"x": {"field": x, "type": "ordinal"}, "y": _q(y)}, title)
    if len(categories) >= 2 and chart in ("auto", "bar"):
        # Two dimensions, one measure: bars of the first, coloured by the second (with a legend), side by
        # side while that stays readable, stacked past it.
        encoding = {"x": {"field": x, "type": "nominal"}, "y": _q(y),
                    "color": {"field": categories[1], "type": "nominal"}}
        if row_count <= MAX_GROUPED_BARS:
            encoding["xOffset"] = {"field": categories[1], "type": "nominal"}
        return _spec("bar", encoding, title)
    return _spec("bar", {"x": {"field": x, "type": "nominal", "sort": "-y"}, "y": _q(y)}, title)


def _q(field: str) -> dict[str, str]:
    return {"field": field, "type": "quantitative"}


def _spec(mark: str, encoding: dict[str, Any], title: str) -> dict[str, Any]:
    spec: dict[str, Any] = {"$schema": SCHEMA_URL, "mark": {"type": mark, "tooltip": True}, "encoding": encoding}
    if title:
        spec["title"] = title
    return spec
