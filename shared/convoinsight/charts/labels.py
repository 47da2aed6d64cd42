"""Human titles for result columns: the dataset's own header labels, and what the SQL did to them.

A result column is an SQL output name (``total_revenue``, ``avg_arr_delay``), not what a reader calls
it. The dataset record keeps each column's original header as its ``label`` ("Revenue" for
``revenue``), so a title is built from the source column's label and the aggregate of the
manipulator's outermost projection: ``SUM("revenue") AS total_revenue`` reads "Total revenue",
``AVG("arr_delay")`` "Average arrival delay". A label that is itself a snake_case identifier (many
files have such headers) is humanised, with common abbreviations spelled out. Without SQL or a
source column the output name is humanised the same way.
"""

from __future__ import annotations

import re
from typing import Any

# Spelled out when a name is humanised: the abbreviations data people put in column names.
_WORDS = {
    "avg": "average", "mean": "average", "tot": "total", "sum": "total", "min": "minimum", "max": "maximum",
    "med": "median", "qty": "quantity", "amt": "amount", "num": "number", "cnt": "count", "pct": "percent",
    "perc": "percent", "arr": "arrival", "dep": "departure", "dist": "distance", "dt": "date", "yr": "year",
    "mo": "month", "wk": "week", "hr": "hour", "dow": "day of week", "desc": "description", "cat": "category",
    "rev": "revenue", "val": "value", "temp": "temperature", "precip": "precipitation", "n": "number",
}
_ACRONYMS = {"id", "usd", "eur", "gbp", "jpy", "kpi", "mrr", "roi", "sku", "url", "utc", "gdp", "yoy", "mom"}
# A prefix an SQL alias often carries, and the aggregate it stands for.
_ALIAS_PREFIX = re.compile(r"^(total|sum|avg|average|mean|min|minimum|max|maximum|median|count|num|n)_(.+)$")
_GENERIC_COUNTS = {"n", "count", "cnt", "count_star", "num_rows", "rows", "row_count", "total"}
_AGG_WORDS = {"sum": "Total", "avg": "Average", "min": "Minimum", "max": "Maximum", "median": "Median",
              "count": "Number of", "stddev": "Standard deviation of", "variance": "Variance of"}
_PREFIX_AGG = {"total": "sum", "sum": "sum", "avg": "avg", "average": "avg", "mean": "avg", "min": "min",
               "minimum": "min", "max": "max", "maximum": "max", "median": "median", "count": "count",
               "num": "count", "n": "count"}


def humanise(name: str) -> str:
    """``avg_arr_delay`` -> "Average arrival delay"; ``customer_id`` -> "Customer ID"."""
    parts = [p for p in re.split(r"[_\s]+", str(name).strip()) if p]
    if not parts:
        return str(name)
    # camelCase too: orderDate -> order date
    parts = [w for p in parts for w in re.sub(r"(?<=[a-z])(?=[A-Z])", " ", p).split()]
    words = []
    for i, part in enumerate(parts):
        low = part.lower()
        if low in _ACRONYMS:
            words.append(low.upper())
        elif low in _WORDS and (low != "n" or i == 0):
            words.append(_WORDS[low])
        else:
            words.append(low if part.islower() or part.istitle() else part)
    return _capital(" ".join(words))


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text


def _inner(label: str) -> str:
    """A label as the second part of a title: "Order Date" -> "order date", but "ARR" stays."""
    return " ".join(w if (len(w) > 1 and w.isupper()) or any(c.isdigit() for c in w) else w.lower()
                    for w in label.split(" "))


def source_labels(profiles: list[dict[str, Any]]) -> dict[str, str]:
    """``{column name: readable label}`` over the datasets (the first dataset naming a column wins)."""
    out: dict[str, str] = {}
    for profile in profiles:
        for column in profile.get("columns") or []:
            name = column.get("name")
            if not isinstance(name, str) or name in out:
                continue
            label = str(column.get("label") or name).strip()
            out[name] = humanise(label) if label == name or re.fullmatch(r"[a-z0-9_]+", label) else label
    return out


def column_titles(columns: list[str], sql: str | None, profiles: list[dict[str, Any]]) -> dict[str, str]:
    """A title per result column (see the module docstring)."""
    labels = source_labels(profiles)
    projection = _projection(sql)
    titles = {}
    for name in columns:
        agg, source = projection.get(name, (None, None))
        titles[name] = _title(name, agg, source, labels)
    return titles


def _title(name: str, agg: str | None, source: str | None, labels: dict[str, str]) -> str:
    if agg is None and source is None and name in labels:
        return labels[name]
    if agg is None and source is None:
        match = _ALIAS_PREFIX.match(name)
        if match and match.group(2) in labels:
            agg, source = _PREFIX_AGG[match.group(1)], match.group(2)
    if source is not None and agg is None:
        return labels.get(source, humanise(source)) if name == source else labels.get(name, humanise(name))
    if agg == "count" and source is None:
        if name.lower() in _GENERIC_COUNTS:
            return "Number of rows"
        match = _ALIAS_PREFIX.match(name)
        rest = match.group(2) if match and _PREFIX_AGG[match.group(1)] == "count" else name
        return f"Number of {_inner(humanise(rest))}"
    if agg in _AGG_WORDS and source is not None:
        base = labels.get(source, humanise(source))
        return f"{_AGG_WORDS[agg]} {_inner(base)}"
    return labels.get(name, humanise(name))


def _projection(sql: str | None) -> dict[str, tuple[str | None, str | None]]:
    """``{output name: (aggregate or None, source column or None)}`` from the outermost SELECT."""
    from convoinsight.charts.sql_projection import outer_select

    select = outer_select(sql)
    if select is None:
        return {}
    from sqlglot import exp  # loaded by outer_select already

    out: dict[str, tuple[str | None, str | None]] = {}
    aggs = {exp.Sum: "sum", exp.Avg: "avg", exp.Min: "min", exp.Max: "max", exp.Median: "median",
            exp.Count: "count", exp.Stddev: "stddev", exp.Variance: "variance"}
    for projection in select.expressions:
        name = projection.alias_or_name
        node = projection.unalias() if isinstance(projection, exp.Alias) else projection
        while isinstance(node, exp.Round | exp.Cast | exp.Paren | exp.Coalesce):
            node = node.this
        agg = next((word for cls, word in aggs.items() if isinstance(node, cls)), None)
        inner = node.this if agg else node
        if isinstance(inner, exp.Distinct):
            inner = inner.expressions[0] if inner.expressions else None
        column = inner if isinstance(inner, exp.Column) else None
        if agg is None and column is None:
            # DATE_TRUNC('month', "order_date") AS month and the like: titled by the output name
            out[name] = (None, None) if not isinstance(node, exp.Column) else (None, node.name)
            continue
        out[name] = (agg, column.name if column is not None else None)
    return out
