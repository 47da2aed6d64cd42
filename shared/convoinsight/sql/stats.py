"""Summary statistics of a query's WHOLE result, in one statement that wraps the query as a subquery.

A result is capped for display (``MAX_RESULT_ROWS``), so anything computed from the rows a caller
holds describes a prefix. These figures come from the database instead, over every row the query
returns: the row count; per measure its total, minimum and maximum (with the label of the row that
holds each), mean, median and its largest groups (for shares of the total); for a result ordered in
time its first and last values and least-squares slope; distinct counts of the dimensions.

The statement is PostgreSQL text built here from column positions only (never from model text): the
checked query becomes ``WITH "_ci_result"("c0", "c1", ...) AS MATERIALIZED (<query>)``, so odd or
duplicate output names cannot matter, and the query runs once however many scalar subqueries read
it. The caller compiles it like any model SQL (the same guard, rewrite and engine or pushdown), so
it runs under the same limits and timeout as the query itself. No database access here.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

RESULT = '"_ci_result"'
NUMERIC = ("integer", "float", "decimal")
TEMPORAL = ("date", "datetime")
DIMENSION_TYPES = ("string", "date", "datetime", "boolean", "time")
# Numbers that name rows rather than measure them: calendar parts and identifiers ("month", "customer_id").
CALENDAR = {"year", "quarter", "month", "week", "day", "weekday", "dow", "hour", "minute", "yr", "mon"}
_ID = re.compile(r"(?:^|_)(?:id|code|key|zip|number|no)$", re.I)
# Measures whose totals mean nothing (an average of averages is not a share of anything).
NON_ADDITIVE = re.compile(r"(?:^|_)(?:avg|average|mean|median|min|max|minimum|maximum|rate|ratio|pct|percent|"
                          r"share|distinct|std|stddev|var)(?:_|$)", re.I)
# A fitted change under this fraction of the mean level over the whole span reads as flat.
FLAT_TREND = 0.05


def _q(i: int) -> str:
    return f'"c{i}"'


@dataclass
class StatsPlan:
    """Which result columns are measures, dimensions, the label and the time axis; and the statement."""

    columns: list[str]
    types: list[str]
    measures: list[int]
    dimensions: list[int]
    label: list[int]  # the columns that name a row (one, or two joined with " / ")
    time: int | None
    top: int
    sql: str = ""
    layout: list[tuple[str, int, int]] = field(default_factory=list)  # (stat, column, k) per statement column


def _is_dimension(name: str, typ: str) -> bool:
    if typ in DIMENSION_TYPES:
        return True
    return typ in NUMERIC and (name.lower() in CALENDAR or bool(_ID.search(name)))


def plan_stats(checked_sql: str, columns: list[str], types: list[str], *, top: int, max_columns: int) -> StatsPlan:
    """The statistics statement of ``checked_sql`` (its result has ``columns`` of ``types``).

    At most ``max_columns`` measures and as many dimensions are described, and the ``top`` largest groups
    of the first two measures: the statement stays small and its cost bounded whatever the width."""
    dims = [i for i, (n, t) in enumerate(zip(columns, types, strict=True)) if _is_dimension(n, t)]
    measures = [i for i, t in enumerate(types) if t in NUMERIC and i not in dims][:max_columns]
    # A result ordered in time leads with its time axis ("day, revenue"; "month, region, units"); a date
    # further right describes a group ("region, last order date") and orders nothing.
    lead = dims[0] if dims else None
    time = lead if lead is not None and (types[lead] in TEMPORAL or (types[lead] in NUMERIC and
                                                                      columns[lead].lower() in CALENDAR)) else None
    # Rows are named by their text columns (one, or two joined); by a date or a number only without any.
    label = [i for i in dims if types[i] == "string"][:2] or [i for i in dims if types[i] != "boolean"][:1]
    plan = StatsPlan(list(columns), list(types), measures, dims[:max_columns], label, time, top)
    select: list[str] = []

    def add(expr: str, stat: str, col: int = -1, k: int = 0) -> None:
        select.append(f"{expr} AS \"s{len(select)}\"")
        plan.layout.append((stat, col, k))

    if len(label) == 1:
        label_sql = _q(label[0])
    elif label:
        label_sql = "CONCAT_WS(' / ', " + ", ".join(f"CAST({_q(i)} AS TEXT)" for i in label) + ")"
    else:
        label_sql = ""
    order_label = ", ".join(f"{_q(i)} ASC" for i in label)
    x_sql = ""
    if time is not None:
        x = _q(time)
        x_sql = f"CAST(EXTRACT(EPOCH FROM {x}) AS DOUBLE PRECISION)" if types[time] in TEMPORAL else \
            f"CAST({x} AS DOUBLE PRECISION)"
    add("COUNT(*)", "rows")
    for i in plan.dimensions:
        add(f"COUNT(DISTINCT {_q(i)})", "distinct", i)
    for rank, i in enumerate(measures):
        c = _q(i)
        add(f"COUNT({c})", "non_null", i)
        add(f"SUM({c})", "total", i)
        add(f"MIN({c})", "min", i)
        add(f"MAX({c})", "max", i)
        add(f"AVG({c})", "mean", i)
        add(f"PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY {c})", "median", i)
        if label_sql:
            tie = f", {order_label}" if order_label else ""
            for stat, way in (("max_at", "DESC"), ("min_at", "ASC")):
                add(f"(SELECT {label_sql} FROM {RESULT} WHERE {c} IS NOT NULL ORDER BY {c} {way}{tie} LIMIT 1)",  # noqa: S608 - positions, not text
                    stat, i)
            if rank < 2:
                for k in range(top):
                    page = f"WHERE {c} IS NOT NULL ORDER BY {c} DESC{tie} LIMIT 1 OFFSET {k}"
                    add(f"(SELECT {label_sql} FROM {RESULT} {page})", "top_label", i, k)  # noqa: S608 - positions, not text
                    add(f"(SELECT {c} FROM {RESULT} {page})", "top_value", i, k)  # noqa: S608 - positions, not text
        if time is not None:
            t = _q(time)
            for stat, way in (("first", "ASC"), ("last", "DESC")):
                add(f"(SELECT {c} FROM {RESULT} WHERE {c} IS NOT NULL AND {t} IS NOT NULL ORDER BY {t} {way} "  # noqa: S608 - positions, not text
                    "LIMIT 1)", stat, i)
            add(f"MIN({t}) FILTER (WHERE {c} IS NOT NULL)", "first_at", i)
            add(f"MAX({t}) FILTER (WHERE {c} IS NOT NULL)", "last_at", i)
            add(f"COVAR_POP(CAST({c} AS DOUBLE PRECISION), {x_sql}) / NULLIF(VAR_POP({x_sql}), 0)", "slope", i)
            add(f"MIN({x_sql}) FILTER (WHERE {c} IS NOT NULL)", "x_min", i)
            add(f"MAX({x_sql}) FILTER (WHERE {c} IS NOT NULL)", "x_max", i)
    if time is not None:
        add(f"COUNT(DISTINCT {_q(time)})", "time_distinct", time)
    names = ", ".join(_q(i) for i in range(len(columns)))
    # The newline keeps a trailing line comment of the query from swallowing the closing parenthesis.
    plan.sql = (f"WITH {RESULT} ({names}) AS MATERIALIZED (\n{checked_sql}\n)\n"
                f"SELECT {', '.join(select)}\nFROM {RESULT}")
    return plan


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _tidy(value: float | None) -> float | int | None:
    """Integers print as integers; other figures keep 6 decimals, finer than anyone writes them."""
    if value is None:
        return None
    if abs(value - round(value)) < 1e-9 and abs(value) < 2**53:
        return round(value)
    return round(value, 6)


def read_stats(plan: StatsPlan, row: list[Any]) -> dict[str, Any]:
    """The statement's one row as the JSON the analyzer is given and the grounding check reads."""
    by: dict[tuple[str, int], Any] = {}
    tops: dict[int, dict[int, dict[str, Any]]] = {}
    for (stat, col, k), value in zip(plan.layout, row, strict=True):
        if stat in ("top_label", "top_value"):
            tops.setdefault(col, {}).setdefault(k, {})["label" if stat == "top_label" else "value"] = value
        else:
            by[(stat, col)] = value
    rows = int(by[("rows", -1)] or 0)
    time_unique = plan.time is not None and int(by.get(("time_distinct", plan.time)) or 0) == rows
    out: dict[str, Any] = {
        "row_count": rows,
        "label": " / ".join(plan.columns[i] for i in plan.label) or None,
        "time": plan.columns[plan.time] if time_unique else None,
        "measures": [],
        "dimensions": [{"index": i, "name": plan.columns[i], "distinct": int(by[("distinct", i)] or 0)}
                       for i in plan.dimensions],
    }
    for i in plan.measures:
        entry: dict[str, Any] = {"index": i, "name": plan.columns[i], "non_null": int(by[("non_null", i)] or 0)}
        for stat in ("total", "min", "max", "mean", "median"):
            entry[stat] = _tidy(_number(by[(stat, i)]))
        if plan.label:
            entry["max_at"], entry["min_at"] = by[("max_at", i)], by[("min_at", i)]
        total, low = entry["total"], entry["min"]
        shares = bool(total) and total > 0 and low is not None and low >= 0 and not NON_ADDITIVE.search(plan.columns[i])
        if i in tops:
            top = []
            for k in sorted(tops[i]):
                value = _number(tops[i][k].get("value"))
                if value is None:
                    break
                group = {"label": tops[i][k].get("label"), "value": _tidy(value)}
                if shares:
                    group["share_pct"] = round(100 * value / total, 2)
                top.append(group)
            entry["top"] = top
        if NON_ADDITIVE.search(plan.columns[i]):
            del entry["total"]  # a sum of averages or rates is no figure anyone should quote
        if time_unique and by.get(("first", i)) is not None:
            first, last = _number(by[("first", i)]), _number(by[("last", i)])
            entry["first"] = {"at": by[("first_at", i)], "value": _tidy(first)}
            entry["last"] = {"at": by[("last_at", i)], "value": _tidy(last)}
            if first is not None and last is not None:
                entry["change"] = _tidy(last - first)
                if first:
                    entry["change_pct"] = round(100 * (last - first) / abs(first), 2)
            entry["trend"] = _trend(_number(by[("slope", i)]), _number(by[("x_min", i)]), _number(by[("x_max", i)]),
                                    _number(by[("mean", i)]))
        out["measures"].append(entry)
    return out


def _trend(slope: float | None, x_min: float | None, x_max: float | None, mean: float | None) -> str:
    """Rising, falling or flat: the least-squares line's change over the span, against the mean level."""
    if slope is None or x_min is None or x_max is None or x_max <= x_min:
        return "flat"
    fitted = slope * (x_max - x_min)
    scale = abs(mean) if mean else 0.0
    if scale == 0.0 or abs(fitted) < FLAT_TREND * scale:
        return "flat"
    return "rising" if fitted > 0 else "falling"
