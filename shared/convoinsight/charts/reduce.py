"""Fewer points than the table has, chosen deterministically, when a chart cannot usefully show them all.

* A nominal axis (bar, arc) with more than ``MAX_CATEGORIES`` categories keeps the top ones by the
  measure; the rest become one "Other" category whose value is exactly the sum (or min/max) of the
  rest, or are dropped when the measure cannot be combined (averages, ratios: see measures.py).
* Any other chart with more than ``MAX_CHART_POINTS`` rows is sampled per series along its x axis
  with min/max buckets: first and last points, and each bucket's lowest and highest value, so
  peaks, troughs and the overall shape survive. Bars and areas stack the rows that share an x, so
  they keep whole x positions (chosen the same way by their totals): every stack drawn is exact.
  Arcs and aggregating specs are never sampled: sampling the input of a sum, aggregate or window
  would change its numbers (and an aggregating spec draws fewer marks than it has rows).

2,000 points is more than two per pixel column of a default-width chart (so min/max buckets are
visually lossless for lines), and keeps a stored chart far below Firestore's 1 MiB document limit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from convoinsight.charts import view

MAX_CHART_POINTS = 2000
MAX_CATEGORIES = 50
OTHER = "Other"

_SERIES_CHANNELS = ("color", "detail", "strokeDash", "shape", "row", "column", "facet", "xOffset", "yOffset")
# Keys whose presence means the spec computes over many rows (encoding options or transforms).
_AGGREGATING = {"aggregate", "joinaggregate", "window", "bin", "timeUnit", "regression", "loess", "density",
                "quantile", "pivot", "stack", "extent"}
_RANKABLE = {"sum", "mean", "average", "min", "max", "count", "median"}


@dataclass
class Reduction:
    rows: list[dict[str, Any]]
    shown: int
    of: int
    method: str  # top_n | other | sample
    unit: str  # categories | points
    category: str | None = None
    measure: str | None = None
    other_label: str | None = None


def reduce_rows(spec: dict[str, Any], rows: list[dict[str, Any]], combine: dict[str, str | None],
                max_points: int = MAX_CHART_POINTS, max_categories: int = MAX_CATEGORIES) -> Reduction | None:
    """The reduced rows and what was done, or None when the rows are bound as they are."""
    mark, encoding = view.primary_view(spec)
    has_transform = "transform" in spec or any(
        isinstance(layer, dict) and "transform" in layer for layer in spec.get("layer") or [])
    if mark in ("bar", "arc") and not has_transform:
        reduced = _top_categories(rows, mark, encoding, combine, max_categories)
        if reduced is not None:
            return reduced
    if len(rows) > max_points and not any(key in _AGGREGATING and item for key, item in view.walk(spec)):
        return _sample(rows, mark, encoding, max_points)
    return None


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _total(values: list[Any]) -> int | float:
    # Python ints add exactly; fsum is the correctly rounded sum of floats, independent of their order.
    return sum(values) if all(isinstance(v, int) for v in values) else math.fsum(values)


def _top_categories(rows, mark, encoding, combine, limit) -> Reduction | None:
    cat_channel, measure_channel = ("color", "theta") if mark == "arc" else next(
        ((c, m) for c, m in (("x", "y"), ("y", "x")) if view.kind(encoding, c) == "nominal"), (None, None))
    if cat_channel is None:
        return None
    category, measure = view.field(encoding, cat_channel), view.channel(encoding, measure_channel)
    measure_field = measure.get("field") if isinstance(measure.get("field"), str) else None
    aggregate = measure.get("aggregate")
    if category is None or view.kind(encoding, cat_channel) != "nominal" or measure.get("bin"):
        return None
    if aggregate is None and (measure_field is None or view.kind(encoding, measure_channel) != "quantitative"):
        return None
    if aggregate is not None and not (isinstance(aggregate, str) and aggregate in _RANKABLE):
        return None  # argmin/argmax objects, distinct, variance...: no sensible ranking
    groups: dict[Any, list[int]] = {}
    for i, row in enumerate(rows):
        groups.setdefault(row.get(category), []).append(i)
    if len(groups) <= limit:
        return None

    def score(indexes: list[int]) -> float | None:
        values = [rows[i].get(measure_field) for i in indexes] if measure_field else []
        numbers = [v for v in values if _number(v)]
        if aggregate == "count":
            return float(len(indexes))
        if not numbers:
            return None
        if aggregate in ("mean", "average"):
            return math.fsum(numbers) / len(numbers)
        if aggregate == "min":
            return min(numbers)
        if aggregate == "max":
            return max(numbers)
        if aggregate == "median":
            return sorted(numbers)[len(numbers) // 2]
        return math.fsum(numbers)  # no aggregate: bars and arcs stack the rows of a category

    scores = {key: score(indexes) for key, indexes in groups.items()}
    ranked = sorted(groups, key=lambda k: (scores[k] is None, -(scores[k] or 0.0), str(k)))
    keep = set(ranked[:limit])
    label = OTHER if OTHER not in keep else f"{OTHER} (rest)"
    kept = [row for row in rows if row.get(category) in keep]
    rest = [row for row in rows if row.get(category) not in keep]
    common = {"of": len(groups), "unit": "categories", "category": category, "measure": measure_field or "count"}
    if aggregate is not None:
        # The spec aggregates: relabelled rows let Vega-Lite compute "Other" with the same aggregate, exactly.
        values = [row if row.get(category) in keep else {**row, category: label} for row in rows]
        return Reduction(values, limit, method="other", other_label=label, **common)
    rule = combine.get(measure_field, "sum")
    if rule is None:
        return Reduction(kept, limit, method="top_n", **common)
    series = [f for c in _SERIES_CHANNELS if (f := view.field(encoding, c)) and f not in (category, measure_field)]
    buckets: dict[tuple, list[Any]] = {}
    for row in rest:
        buckets.setdefault(tuple(row.get(f) for f in series), []).append(row.get(measure_field))
    others = []
    for key, values in buckets.items():
        numbers = [v for v in values if _number(v)]
        value = (None if not numbers else _total(numbers) if rule == "sum" else min(numbers) if rule == "min"
                 else max(numbers))
        others.append({category: label, **dict(zip(series, key, strict=True)), measure_field: value})
    return Reduction(kept + others, limit, method="other", other_label=label, **common)


def _sample(rows: list[dict[str, Any]], mark: str | None, encoding: dict[str, Any], limit: int) -> Reduction | None:
    x_channel = "x" if view.field(encoding, "x") else "y"
    order = view.field(encoding, x_channel)
    value_channel = "y" if x_channel == "x" else "x"
    value = view.field(encoding, value_channel) if view.kind(encoding, value_channel) == "quantitative" else None
    if mark == "arc":
        return None  # no axis to sample along, and every row is part of a slice's sum
    if mark in ("bar", "area") and order:
        return _sample_positions(rows, order, value, limit)
    series = [f for c in _SERIES_CHANNELS if (f := view.field(encoding, c)) and view.kind(encoding, c) in
              ("nominal", "ordinal")]
    groups: dict[tuple, list[int]] = {}
    for i, row in enumerate(rows):
        groups.setdefault(tuple(row.get(f) for f in series), []).append(i)
    if len(groups) > limit // 2:  # too many series to keep two points of each: sample them as one
        groups = {(): list(range(len(rows)))}
    values = [row.get(value) for row in rows] if value else None
    keep: list[int] = []
    for indexes, budget in zip(groups.values(), _budgets([len(g) for g in groups.values()], limit), strict=True):
        ordered = sorted(indexes, key=lambda i: (_sort_key(rows[i].get(order)), i)) if order else indexes
        keep.extend(_min_max(ordered, budget, values))
    keep.sort()
    return Reduction([rows[i] for i in keep], len(keep), len(rows), method="sample", unit="points")


def _sample_positions(rows: list[dict[str, Any]], order: str, value: str | None, limit: int) -> Reduction:
    """Bars and areas stack the rows that share an x: keep whole x positions, so every kept stack is exact."""
    positions: dict[Any, list[int]] = {}
    for i, row in enumerate(rows):
        positions.setdefault(row.get(order), []).append(i)
    keys = sorted(positions, key=_sort_key)
    totals = [_total([v for i in positions[k] if _number(v := rows[i].get(value))] or [0]) if value else None
              for k in keys]
    budget = max(2, limit * len(keys) // len(rows))
    chosen = _min_max(list(range(len(keys))), budget, totals if value else None)
    keep = sorted(i for k in chosen for i in positions[keys[k]])
    return Reduction([rows[i] for i in keep], len(keep), len(rows), method="sample", unit="points")


def _sort_key(v: Any) -> tuple:
    # Nulls last; numbers before text so that a mixed column never compares a str with a float.
    return (v is None, isinstance(v, str), v if v is not None else 0)


def _budgets(sizes: list[int], limit: int) -> list[int]:
    """Points per series: two each (first and last) and the rest of ``limit`` in proportion to size."""
    base = [min(size, 2) for size in sizes]
    spare, extra = max(0, limit - sum(base)), sum(sizes) - sum(base)
    return [b + (spare * (size - b) // extra if extra else 0) for size, b in zip(sizes, base, strict=True)]


def _min_max(ordered: list[int], budget: int, values: list[Any] | None) -> list[int]:
    """First, last, and the lowest and highest value of each of (budget - 2) / 2 equal buckets between."""
    if len(ordered) <= budget:
        return list(ordered)
    chosen = {ordered[0], ordered[-1]}
    inner, buckets = ordered[1:-1], (budget - 2) // 2
    for b in range(buckets):
        bucket = inner[b * len(inner) // buckets:(b + 1) * len(inner) // buckets]
        numbers = [(values[i], i) for i in bucket if _number(values[i])] if values is not None else []
        if numbers:
            chosen.update((min(numbers)[1], max(numbers)[1]))
        elif bucket:
            chosen.update((bucket[0], bucket[-1]))
    return sorted(chosen)
