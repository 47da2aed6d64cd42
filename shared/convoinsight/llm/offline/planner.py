"""Offline planner: a deterministic stand-in for the LLM when no model is configured.

``plan_query`` turns a question into one single-table aggregate SQL statement (Polars SQL,
postgres-like), ``summarize`` describes its result using only numbers found in the rows or in the
engine's statistics of the whole result (or their total, shares and differences, so the grounding
check passes), ``follow_ups`` proposes questions it
can itself answer, and ``capabilities`` says honestly what it can do. All pure functions.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime, time
from decimal import Decimal

from .question import NON_ADDITIVE, TEMPORAL, UNIT_WORDS, Col, Query, make_cols, parse, snake

_AGG_SQL = {"sum": "SUM", "avg": "AVG", "min": "MIN", "max": "MAX", "median": "MEDIAN"}
_ALIAS = {"sum": "total", "avg": "avg", "min": "min", "max": "max", "median": "median"}
_VERB = {"sum": "Total", "avg": "Average", "min": "Minimum", "max": "Maximum", "median": "Median"}
_ASC_Q = re.compile(r"\b(bottom|least|lowest|smallest|fewest|shortest|quietest|rarest|minimum|min)\b", re.I)


def qi(name: str) -> str:
    """Quote an identifier; doubling quotes keeps odd column names from breaking out."""
    return '"' + name.replace('"', '""') + '"'


def lit(value: object) -> str:
    """A SQL literal: integers bare, everything else a single-quoted string with quotes doubled."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def _bucket_expr(col: Col, unit: str) -> str:
    if unit == "day" and col.dtype == "date":
        return qi(col.name)
    expr = f"DATE_TRUNC('{unit}', {qi(col.name)})"
    # Polars returns a datetime from DATE_TRUNC; a DATE reads better for day-or-coarser buckets.
    return expr if unit == "hour" else f"CAST({expr} AS DATE)"


def _count_alias(q: Query) -> str:
    if q.count_noun:
        return snake(q.count_noun)
    return q.table if re.fullmatch(r"[a-z]+s", q.table) else "count"


def _select_parts(q: Query) -> tuple[list, list]:
    """(dimensions, measures) as [(sql expression, result alias)], aliases unique."""
    dims = []
    if q.bucket:
        expr = _bucket_expr(*q.bucket)
        dims.append((expr, snake(q.bucket[0].name) if expr == qi(q.bucket[0].name) else q.bucket[1]))
    dims += [(qi(g.name), snake(g.name)) for g in q.groups]
    if q.agg == "count":
        meas = [("COUNT(*)", _count_alias(q))]
    elif q.agg == "distinct":
        meas = [(f"COUNT(DISTINCT {qi(q.measures[0].name)})", "distinct_" + snake(q.measures[0].name))]
    else:
        meas = [(f"{_AGG_SQL[q.agg]}({qi(c.name)})", f"{_ALIAS[q.agg]}_{snake(c.name)}") for c in q.measures]
    seen: set = set()
    unique = []
    for expr, alias in dims + meas:  # e.g. a count named "day" next to a "day" bucket
        while alias in seen:
            alias += "_value"
        seen.add(alias)
        unique.append((expr, alias))
    return unique[: len(dims)], unique[len(dims):]


def _where(q: Query) -> list:
    conds = []
    for col, vals in q.filters:
        conds.append(f"{qi(col.name)} = {lit(vals[0])}" if len(vals) == 1
                     else f"{qi(col.name)} IN ({', '.join(lit(v) for v in vals)})")
    if q.year:
        col, year = q.year
        conds.append(f"{qi(col.name)} = {year}" if col.dtype == "integer"
                     else f"EXTRACT(YEAR FROM {qi(col.name)}) = {year}")
    # A null group is rarely what a business question means; drop it where the profile saw nulls.
    for c in ([q.bucket[0]] if q.bucket else []) + q.groups:
        if c.nulls:
            conds.append(f"{qi(c.name)} IS NOT NULL")
    return conds


def _is_time(q: Query) -> bool:
    return bool(q.bucket) or (bool(q.groups) and snake(q.groups[0].name) in UNIT_WORDS)


def _from(q: Query) -> str:
    if q.join is None:
        return qi(q.table)
    lookup, key = q.join
    return f"{qi(q.table)} JOIN {qi(lookup)} USING ({qi(key)})"


def build_sql(q: Query) -> tuple[str, str | None, str | None, str]:
    """SQL text plus the chart's x, y and type for a parsed query."""
    where = _where(q)
    tail = (" WHERE " + " AND ".join(where)) if where else ""
    if q.agg == "rows":
        m = q.measures[0]
        rest = ", ".join(f"{qi(c.name)} ASC" for c in q.columns if c is not m)
        order = f"{qi(m.name)} {q.order.upper()} NULLS LAST" + (", " + rest if rest else "")
        # Identifiers go through qi() and values through lit(), so the f-strings below are safe.
        sql = f"SELECT * FROM {_from(q)}{tail} ORDER BY {order} LIMIT {q.limit}"  # noqa: S608
        return sql, None, None, "table"
    dims, meas = _select_parts(q)
    select = ", ".join(e if e == qi(a) else f"{e} AS {qi(a)}" for e, a in dims + meas)
    sql = f"SELECT {select} FROM {_from(q)}{tail}"  # noqa: S608
    y = meas[0][1]
    if not dims:
        return sql, None, y, "table"
    sql += " GROUP BY " + ", ".join(e for e, _ in dims)
    dim_order = ", ".join(f"{qi(a)} ASC" for _, a in dims)
    if _is_time(q) and not q.order:
        sql += f" ORDER BY {dim_order}"
    else:
        sql += f" ORDER BY {qi(y)} {(q.order or 'desc').upper()} NULLS LAST, {dim_order}"
    if q.limit:
        sql += f" LIMIT {q.limit}"
    if len(dims) > 1:
        chart = "table"
    elif q.share:
        chart = "pie"
    else:
        chart = "line" if _is_time(q) and not q.order else "bar"
    return sql, dims[0][1], y, chart


def _label(c: Col) -> str:
    """Readable column name for sentences; profiles often carry the raw snake_case name as label."""
    return (c.label or c.name).replace("_", " ").lower()


def explain(q: Query) -> str:
    """One plain sentence of what the SQL computes, so the user can spot a misreading."""
    names = " and ".join(_label(c) for c in q.measures)
    if q.agg == "rows":
        word = "highest" if q.order == "desc" else "lowest"
        return f"Lists the {q.limit} rows of {q.table} with the {word} {names}."
    if q.agg == "count":
        text = f"Counts the rows of {q.table}"
    elif q.agg == "distinct":
        text = f"Counts the distinct {names} values"
    else:
        text = f"{_VERB[q.agg]} {names}"
    if q.bucket:
        text += f" per {q.bucket[1]} of {_label(q.bucket[0])}"
    for g in q.groups:
        text += f" for each {_label(g)}"
    if q.filters:
        text += ", where " + " and ".join(f"{_label(c)} is " + " or ".join(map(str, v)) for c, v in q.filters)
    if q.year:
        text += f", in {q.year[1]}"
    if q.groups or q.bucket:
        text += ", in time order" if _is_time(q) and not q.order else \
            f", {'highest' if q.order != 'asc' else 'lowest'} first"
        if q.limit:
            text += f", keeping the {'top' if q.order != 'asc' else 'bottom'} {q.limit}"
    return text + "."


def plan_query(question: str, datasets: list[dict]) -> dict | None:
    """Return {"table", "sql", "explanation", "chart", "x", "y"} or None when the question is
    beyond the planner (chat, "why", joins, conditions, nothing measurable recognised)."""
    q = parse(question, datasets or [])
    if q is None:
        q = _parse_over_lookup(question, datasets or [])
    if q is None:
        return None
    sql, x, y, chart = build_sql(q)
    tables = [q.table] + ([q.join[0]] if q.join else [])
    return {"table": q.table, "tables": tables, "sql": sql, "explanation": explain(q), "chart": chart, "x": x,
            "y": y}


def _is_key(column: dict, rows: int) -> bool:
    return bool(rows) and not column.get("nulls") and int(column.get("distinct") or 0) == rows


def _parse_over_lookup(question: str, datasets: list[dict]) -> Query | None:
    """A question that needs a second table: a fact table joined to a lookup table on a column both share
    by name, where it is the lookup table's key (sales.region -> regions.region, the region's manager).

    The question is parsed against the fact table's columns plus the lookup table's other columns; the
    join is kept only when the query really uses one of the lookup table's columns."""
    by_rows = sorted(datasets, key=lambda d: -int(d.get("rows") or 0))
    for fact in by_rows:
        fact_names = {c["name"] for c in fact.get("columns", [])}
        for lookup in datasets:
            if lookup is fact:
                continue
            keys = [c["name"] for c in lookup.get("columns", [])
                    if c["name"] in fact_names and _is_key(c, int(lookup.get("rows") or 0))]
            extra = [c for c in lookup.get("columns", []) if c["name"] not in fact_names]
            if len(keys) != 1 or not extra:
                continue
            virtual = {**fact, "columns": list(fact.get("columns", [])) + extra}
            q = parse(question, [virtual])
            if q is None:
                continue
            used = {c.name for c in q.measures + q.groups} | {c.name for c, _ in q.filters}
            if q.bucket:
                used.add(q.bucket[0].name)
            if used & {c["name"] for c in extra}:
                q.join = (lookup["name"], keys[0])
                return q
    return None


# --- summaries -----------------------------------------------------------------------------------

def fmt(value: object) -> str:
    """Readable numbers (thousands separators, at most 2 decimals) and ISO dates."""
    if isinstance(value, Decimal):
        value = float(value)
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        text = f"{value:,.2f}".rstrip("0").rstrip(".")
        return "0" if text == "-0" else text
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _num(value: object) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float, Decimal)):
        v = float(value)
        return v if math.isfinite(v) else None
    return None


def _coerce(value: object, numeric: bool) -> object:
    """Rows may arrive JSON-decoded: numbers of a numeric column can be strings ("66.6666667")."""
    if numeric and isinstance(value, str):
        try:
            return int(value) if re.fullmatch(r"-?\d+", value.strip()) else float(value)
        except ValueError:
            return value
    return float(value) if isinstance(value, Decimal) else value


def _dtype(col: dict) -> str:
    """Our dtype vocabulary, tolerating engine names such as Int64 or Datetime(time_unit='us')."""
    d = str(col.get("dtype") or "").lower()
    if d.startswith(("int", "uint")):
        return "integer"
    if d.startswith(("float", "decimal", "double", "numeric")):
        return "float"
    return "datetime" if d.startswith("datetime") else d


_PREFIX = {"avg": "average", "total": "total", "min": "minimum", "max": "maximum", "median": "median",
           "distinct": "number of distinct"}


def _words(name: str) -> str:
    """Result alias to words: avg_dep_delay -> "average dep delay"."""
    head, _, rest = name.partition("_")
    return f"{_PREFIX[head]} {rest.replace('_', ' ')}" if head in _PREFIX and rest else name.replace("_", " ")


def _cap(text: str) -> str:
    """Capitalise the first letter only; str.capitalize() would lower-case codes like JFK."""
    return text[:1].upper() + text[1:]


def _is_dim(col: dict, rows: list, i: int) -> bool:
    # Calendar parts (nycflights' integer month) are dimensions even though they are numbers.
    if col["dtype"] in TEMPORAL or col["name"] in UNIT_WORDS:
        return True
    return not any(_num(r[i]) is not None for r in rows)


def _ranking(question: str, label: str, pts: list, partial: bool, additive: bool,
             whole: dict | None = None) -> tuple[str, list]:
    values = [v for _, v in pts]
    hi, lo = max(pts, key=lambda p: p[1]), min(pts, key=lambda p: p[1])
    total = sum(values)
    if whole and whole.get("max") is not None and whole.get("min") is not None:
        # The engine's figures over every row: the leader and the range may lie beyond the rows shown.
        hi, lo = (whole.get("max_at"), whole["max"]), (whole.get("min_at"), whole["min"])
        total, partial = whole.get("total"), False
    if len(pts) == 1 and not whole:
        place = "last" if _ASC_Q.search(question or "") else "first"
        return f"{fmt(pts[0][0])} ranks {place} on {label} with {fmt(pts[0][1])}.", []
    ascending = values == sorted(values) and values != sorted(values, reverse=True)
    lead = lo if ascending else hi
    summary = f"{fmt(lead[0])} is {'lowest' if ascending else 'highest'} on {label} with {fmt(lead[1])}"
    if len(pts) > 1 and pts[0][1] == lead[1]:
        summary += f", followed by {fmt(pts[1][0])} ({fmt(pts[1][1])})"
    insights = []
    # A share of a partial result would be a share of an arbitrary subset, which the grounding check
    # (rightly) cannot verify against the result: state shares only of the whole result's total.
    if additive and total and total > 0 and lo[1] >= 0 and not partial:
        insights.append(f"{fmt(lead[0])} makes up {fmt(round(100 * lead[1] / total, 2))}% of the combined "
                        f"{label} in this result ({fmt(_tidy(total))}).")
    if hi[1] != lo[1]:
        insights.append(f"The gap between the highest ({fmt(hi[0])}, {fmt(hi[1])}) and the lowest "
                        f"({fmt(lo[0])}, {fmt(lo[1])}) is {fmt(_tidy(hi[1] - lo[1]))}.")
    return summary + ".", insights


_MONTH_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
                "November", "December")
_MIDNIGHT_ISO = re.compile(r"(\d{4}-\d{2}-\d{2})(?:[T ]00:00(?::00(?:\.0+)?)?(?:Z|[+-]00:?00)?)?")


def _as_day(value: object) -> date | None:
    """A calendar day, from a date, a midnight datetime or their ISO text; None for anything else."""
    if isinstance(value, datetime):
        return value.date() if value.time() == time(0) else None
    if isinstance(value, date):
        return value
    if isinstance(value, str) and (m := _MIDNIGHT_ISO.fullmatch(value.strip())):
        try:
            return date.fromisoformat(m[1])
        except ValueError:
            return None
    return None


def period_format(name: str, values: list):
    """How to name the periods of a time column whose name says its unit ("month", "order_year") and whose
    every value starts such a period: "March 2024", "Q2 2024", "2024", "the week of 2024-03-04". None when
    the name or any value disagrees: the dates are then written as dates."""
    words = set(re.split(r"[^a-z]+", name.lower()))
    unit = next((u for u in ("quarter", "month", "year", "week") if u in words), None)
    days = [_as_day(v) for v in values]
    if unit is None or not days or any(d is None for d in days):
        return None
    if unit != "week" and any(d.day != 1 for d in days):
        return None
    if (unit == "year" and any(d.month != 1 for d in days)) or \
            (unit == "quarter" and any(d.month not in (1, 4, 7, 10) for d in days)):
        return None
    names = {
        "month": lambda d: f"{_MONTH_NAMES[d.month - 1]} {d.year}",
        "quarter": lambda d: f"Q{(d.month - 1) // 3 + 1} {d.year}",
        "year": lambda d: str(d.year),
        "week": lambda d: f"the week of {d.isoformat()}",
    }[unit]

    def name_of(value: object) -> str:
        day = _as_day(value)
        return names(day) if day is not None else fmt(value)

    return name_of


def _trend(label: str, pts: list, partial: bool, additive: bool, whole: dict | None = None,
           when=fmt) -> tuple[str, list]:
    """``when`` names a point in time (``period_format``'s names, or the dates as they are)."""
    (t0, v0), (t1, v1) = pts[0], pts[-1]
    hi, lo = max(pts, key=lambda p: p[1]), min(pts, key=lambda p: p[1])
    total = _tidy(sum(v for _, v in pts))
    if whole and whole.get("first") and whole.get("last"):
        # First and last in time, extremes and total over the whole period, whatever part is displayed.
        (t0, v0), (t1, v1) = ((whole[e]["at"], whole[e]["value"]) for e in ("first", "last"))
        hi, lo = (whole.get("max_at"), whole["max"]), (whole.get("min_at"), whole["min"])
        total, partial = whole.get("total"), False
    elif len(pts) == 1:
        return f"{_cap(label)} in {when(t0)}: {fmt(v0)}.", []
    move = "unchanged" if v1 == v0 else f"{'up' if v1 > v0 else 'down'} {fmt(_tidy(abs(v1 - v0)))}"
    summary = f"{_cap(label)} went from {fmt(v0)} in {when(t0)} to {fmt(v1)} in {when(t1)} ({move})."
    insights = [f"The highest {label} was {fmt(hi[1])} in {when(hi[0])}.",
                f"The lowest {label} was {fmt(lo[1])} in {when(lo[0])}."]
    if whole and whole.get("trend") in ("rising", "falling"):
        insights.append(f"Over the whole period the trend is {whole['trend']}.")
    if additive and not partial and total is not None:
        insights.append(f"Summed over the whole period, {label} comes to {fmt(_tidy(total))}.")
    return summary, insights


def _tidy(value: float) -> float | int:
    """Sums of floats pick up binary noise; integers stay integers so they print without decimals."""
    return round(value) if abs(value - round(value)) < 1e-9 else value


def _whole(stats: dict | None, index: int) -> dict | None:
    """The engine's statistics of result column ``index`` over the whole result, if it computed them."""
    return next((m for m in (stats or {}).get("measures", []) if m.get("index") == index), None)


def summarize(question: str, columns: list[dict], rows: list[list], row_count: int,
              stats: dict | None = None) -> dict:
    """Describe a result using only numbers found in the rows, or the whole-result ``stats`` the engine
    computed (``sql/stats.py``): extremes, totals, shares and first-to-last changes of every row, not
    of the rows shown. Without them, figures of a partial result are limited to its cells."""
    if not rows or not columns:
        return {"summary": "The query returned no rows, so there is nothing to summarise.", "insights": []}
    columns = [{"name": str(c.get("name")), "dtype": _dtype(c)} for c in columns]
    numeric = [c["dtype"] in ("integer", "float", "decimal") for c in columns]
    rows = [[_coerce(v, numeric[i]) for i, v in enumerate(r[: len(columns)])] for r in rows]
    partial = (row_count or 0) > len(rows)
    note = ["Only part of the result is shown here, so the figures cover the rows shown."] if partial else []
    whole_note = [f"Figures cover all {fmt(row_count)} rows of the result, not only those shown."] if partial \
        else []
    dims = [i for i, c in enumerate(columns) if _is_dim(c, rows, i)]
    if len(rows) == 1 and (not dims or len(dims) == len(columns)):
        text = "; ".join(f"{_words(c['name'])}: {fmt(v)}" for c, v in zip(columns, rows[0], strict=False))
        return {"summary": _cap(text) + ".", "insights": []}
    if dims == [0] and len(columns) >= 2:
        name = columns[1]["name"]
        pts = [(r[0], v) for r in rows if (v := _num(r[1])) is not None]
        if not pts:
            return {"summary": f"No {_words(name)} values were returned.", "insights": note}
        additive = not re.match(r"(avg|mean|min|max|median|distinct)_", name)
        whole = _whole(stats, 1)
        if columns[0]["dtype"] in TEMPORAL or columns[0]["name"] in UNIT_WORDS:
            ends = [whole[e].get("at") for e in ("first", "last") if isinstance(whole.get(e), dict)] if whole else []
            extremes = [whole.get(e) for e in ("max_at", "min_at") if whole.get(e) is not None] if whole else []
            times = [t for t, _ in pts] + ends + extremes
            when = period_format(columns[0]["name"], times) or fmt
            summary, insights = _trend(_words(name), pts, partial, additive, whole, when)
        else:
            summary, insights = _ranking(question, _words(name), pts, partial, additive, whole)
        return {"summary": summary, "insights": insights + (whole_note if whole else note)}
    # Anything else (row listings, two groupings): describe the first row and each measure's range.
    first = ", ".join(f"{_words(c['name'])} {fmt(v)}" for c, v in zip(columns, rows[0], strict=False))
    insights, all_whole = [], True
    at = (lambda r: f" ({fmt(r[dims[0]])})") if dims else (lambda r: "")
    for i, c in enumerate(columns):
        vals = [(r, v) for r in rows if (v := _num(r[i])) is not None]
        if i in dims or len({v for _, v in vals}) < 2 or len(insights) >= 3:
            continue
        whole = _whole(stats, i)
        if whole and whole.get("min") is not None and whole.get("max") is not None:
            lo_at, hi_at = (f" ({fmt(whole[k])})" if whole.get(k) is not None else "" for k in ("min_at", "max_at"))
            insights.append(f"{_cap(_words(c['name']))} ranges from {fmt(whole['min'])}{lo_at}"
                            f" to {fmt(whole['max'])}{hi_at}.")
            continue
        all_whole = False
        (rh, vh), (rl, vl) = max(vals, key=lambda p: p[1]), min(vals, key=lambda p: p[1])
        insights.append(f"{_cap(_words(c['name']))} ranges from {fmt(vl)}{at(rl)} to {fmt(vh)}{at(rh)}.")
    return {"summary": f"The first result row has {first}.",
            "insights": insights + (whole_note if insights and all_whole else note)}


# --- follow-ups and capabilities -----------------------------------------------------------------

def _phrase(q: Query | None, ds: dict, cols: list) -> str:
    """Restate the user's measure so follow-ups keep their thread."""
    if q and q.agg in _VERB and q.measures and q.measures[0].numeric:
        return f"{_VERB[q.agg].lower()} {_label(q.measures[0])}"
    if q and q.agg == "count":
        return f"number of {q.count_noun or ds['name']}"
    nums = [c for c in cols if c.numeric and not c.groupable and not c.words & NON_ADDITIVE]
    return f"total {_label(nums[0])}" if nums else f"number of {ds['name']}"


def _plural(c: Col) -> str:
    label = _label(c)
    return label if label.endswith("s") else label + "s"


def follow_ups(question: str, datasets: list[dict], plan: dict | None) -> list[str]:
    """2 to 4 questions this planner can answer itself, each checked by planning it."""
    datasets = datasets or []
    if not datasets:
        return []
    ds = next((d for d in datasets if plan and d.get("name") == plan.get("table")), datasets[0])
    cols = make_cols(ds)
    q = parse(question, [ds]) if plan else None
    phrase = _phrase(q, ds, cols)
    grouped = {c.name for c in q.groups} if q else set()
    cats = [c for c in cols if c.dtype == "string" and c.top and c.name not in grouped]
    cands = []
    if q and q.groups:
        cands.append(f"Top 5 {_plural(q.groups[0])} by {phrase}")
    if not (q and q.bucket) and any(c.dtype in TEMPORAL for c in cols):
        cands.append(f"{phrase} over time")
    cands += [f"{phrase} by {_label(c)}" for c in cats[:2]]
    if cats:
        cands.append(f"{phrase} for {cats[0].top[0][0]}")
        cands.append(f"Top 5 {_plural(cats[0])} by {phrase}")
    nums = [c for c in cols if c.numeric and snake(c.name) not in UNIT_WORDS]
    cands += [f"number of {ds['name']}", "how many rows are there"]
    cands += [f"{verb} {_label(nums[0])}" for verb in ("average", "maximum") if nums]
    def same(sql: str) -> str:  # "number of m" and "how many rows" differ only in their alias
        return re.sub(r' AS "[^"]*"', "", sql)

    out, seen = [], {same((plan or {}).get("sql") or "")}
    for cand in cands:
        p = plan_query(cand, datasets)
        if p and same(p["sql"]) not in seen:
            seen.add(same(p["sql"]))
            out.append(_cap(cand) + "?")
        if len(out) == 4:
            break
    return out


def capabilities() -> str:
    """What can be asked while no language model is configured."""
    return (
        "Simple questions about one table at a time work, for example:\n"
        "- totals, averages, medians, minimums and maximums (\"total revenue\", \"average delay\")\n"
        "- counts and distinct counts (\"how many flights\", \"how many different carriers\")\n"
        "- breakdowns by a category (\"revenue by region\", \"which carrier has the most flights\")\n"
        "- trends by day, week, month, quarter or year (\"monthly revenue\", \"flights over time\")\n"
        "- top or bottom N (\"top 5 destinations by number of flights\", \"bottom 3 regions by revenue\")\n"
        "- filters on values that appear in the data (\"flights from JFK\", \"revenue in North\") "
        "and on a year (\"in 2024\")"
    )
