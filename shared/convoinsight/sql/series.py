"""How many rows a ``generate_series`` with constant arguments makes (None when not constant).

Calendars (``generate_series(date '2024-01-01', date '2024-12-01', interval '1 month')``) and
small number ranges are ordinary analytics; an unbounded or enormous series is a way to burn
the engine. The guard lets a series through only when this count is known and small. Months
count as 28 days, so the estimate of a month-stepped calendar errs on the high side.
"""

from __future__ import annotations

import datetime as dt
import re

from sqlglot import exp

_UNIT_SECONDS = {
    "microsecond": 1e-6, "millisecond": 1e-3, "second": 1, "minute": 60, "hour": 3600, "day": 86400,
    "week": 7 * 86400, "month": 28 * 86400, "quarter": 3 * 28 * 86400, "year": 365 * 86400,
    "decade": 3650 * 86400,
}
_INTERVAL_PART = re.compile(r"(-?\d+(?:\.\d+)?)\s*([a-z]+)")


def series_length(node: exp.Expr) -> int | None:
    start, end, step = node.args.get("start"), node.args.get("end"), node.args.get("step")
    low, high = _number(start), _number(end)
    if low is not None and high is not None:
        by = 1.0 if step is None else _number(step)
        return _count(low, high, by)
    low, high = _moment(start), _moment(end)
    if low is None or high is None or step is None:
        return None
    return _count(low.timestamp(), high.timestamp(), _interval_seconds(step))


def _count(low: float, high: float, step: float | None) -> int | None:
    if step is None or step == 0:
        return None
    if (high - low) * step < 0:
        return 0
    return int((high - low) / step) + 1


def _number(node: exp.Expr | None) -> float | None:
    if isinstance(node, exp.Neg):
        inner = _number(node.this)
        return None if inner is None else -inner
    if isinstance(node, exp.Paren):
        return _number(node.this)
    if isinstance(node, exp.Literal) and not node.is_string:
        try:
            return float(node.this)
        except ValueError:
            return None
    return None


def _moment(node: exp.Expr | None) -> dt.datetime | None:
    if isinstance(node, exp.Cast) and isinstance(node.this, exp.Literal) and node.this.is_string:
        try:
            return dt.datetime.fromisoformat(node.this.this.strip())
        except ValueError:
            return None
    return None


def _interval_seconds(node: exp.Expr) -> float | None:
    if isinstance(node, exp.Interval):
        text = f"{node.this.name if node.this else ''} {node.unit.name if node.unit else ''}"
    elif isinstance(node, exp.Cast) and isinstance(node.this, exp.Literal) and node.this.is_string:
        text = node.this.this
    else:
        return None
    total = 0.0
    parts = _INTERVAL_PART.findall(text.lower())
    if not parts:
        return None
    for amount, unit in parts:
        unit = unit.rstrip("s") if unit not in ("s",) else "second"
        unit = {"min": "minute", "sec": "second", "mon": "month", "yr": "year", "hr": "hour", "ms": "millisecond",
                "us": "microsecond", "d": "day", "h": "hour", "m": "minute", "y": "year", "w": "week"}.get(unit,
                                                                                                        unit)
        if unit not in _UNIT_SECONDS:
            return None
        total += float(amount) * _UNIT_SECONDS[unit]
    return total
