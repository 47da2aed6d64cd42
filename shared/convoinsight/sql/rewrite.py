"""Rewrites that make DuckDB compute what PostgreSQL would, applied to the checked tree.

Each pass is small and keyed to one PostgreSQL behaviour:

- identifiers fold to lower case unless quoted (``sbCustId`` is ``sbcustid``);
- ``to_char`` / ``to_date`` / ``to_timestamp`` templates are translated (``formats``);
- an unconstrained ``numeric`` keeps its digits (DuckDB's bare DECIMAL has 3 decimals);
- ``round(x, n)`` rounds the decimal value half away from zero, as ``round(numeric, int)`` does,
  not the nearest binary double;
- ``GROUP BY`` a table's key may select the table's other columns (functional dependency);
- unaliased select items get the column names PostgreSQL gives them (``count``, ``?column?``...).

Integer division and NULL ordering are engine settings (see ``engine``), not rewrites.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers

from convoinsight.sql import formats

WIDE_DECIMAL = "DECIMAL(38,10)"


@dataclass(frozen=True)
class TableInfo:
    """What the rewrites know of a dataset: its columns, and which are unique keys."""

    columns: frozenset[str]
    keys: frozenset[str] = frozenset()
    temporal: frozenset[str] = frozenset()  # date and timestamp columns (their differences are intervals)


def rewrite(tree: exp.Expr, tables: Mapping[str, TableInfo]) -> exp.Expr:
    tree = normalize_identifiers(tree, dialect="postgres")
    for select in list(tree.find_all(exp.Select)):
        _group_by_key(select, tables)
        _postgres_names(select)  # before the template pass, which replaces to_char(...) by its translation
    tree = tree.transform(_templates, copy=False)
    temporal = frozenset().union(*(info.temporal for info in tables.values())) if tables else frozenset()
    return tree.transform(lambda node: _numeric(node, temporal), copy=False)


# --------------------------------------------------------------------------- formats and numbers


def _templates(node: exp.Expr) -> exp.Expr:
    if type(node) is not exp.Anonymous:
        return node
    name = node.name.lower()
    args = node.expressions
    if name not in ("to_char", "to_date", "to_timestamp") or len(args) != 2:
        return node
    template = args[1]
    if not (isinstance(template, exp.Literal) and template.is_string):
        return node
    convert = {"to_char": formats.to_char, "to_date": formats.to_date, "to_timestamp": formats.to_timestamp}[name]
    return exp.Paren(this=convert(args[0], template.this))


def _temporal(node: exp.Expr, temporal: frozenset[str]) -> bool:
    """Whether ``node`` may be a date, timestamp or interval (then decimal casts would not apply)."""
    for sub in node.walk():
        if isinstance(sub, exp.Column) and sub.name in temporal:
            return True
        if isinstance(sub, (exp.Interval, exp.CurrentDate, exp.CurrentTimestamp, exp.TimestampTrunc, exp.DateTrunc)):
            return True
        if isinstance(sub, exp.Anonymous) and sub.name.lower() in ("age", "to_timestamp", "to_date", "make_date"):
            return True
        if isinstance(sub, exp.Cast) and sub.to.is_type(*exp.DataType.TEMPORAL_TYPES, exp.DataType.Type.INTERVAL):
            return True
    return False


# PostgreSQL's initcap: words are runs of letters and digits; each gets its first character upper-cased and
# the rest lower-cased. (sqlglot's own DuckDB translation re-parses its argument, which loses regexp flags.)
_INITCAP = sqlglot.parse_one(r"ARRAY_TO_STRING(LIST_TRANSFORM(REGEXP_EXTRACT_ALL(LOWER(__initcap__), "
                             r"'[\pL\pN]+|[^\pL\pN]+'), __w -> UPPER(LEFT(__w, 1)) || SUBSTRING(__w, 2)), '')",
                             read="duckdb")


def _initcap(value: exp.Expr) -> exp.Expr:
    out = _INITCAP.copy()
    for column in out.find_all(exp.Column):
        if column.name == "__initcap__":
            column.replace(value.copy())
    return out


def _numeric(node: exp.Expr, temporal: frozenset[str]) -> exp.Expr:
    if type(node) is exp.Initcap:  # PostgreSQL's initcap takes one argument (sqlglot adds its delimiters)
        return _initcap(node.this)
    if isinstance(node, exp.DataType) and node.this == exp.DataType.Type.DECIMAL and not node.expressions:
        return exp.DataType.build(WIDE_DECIMAL)
    if type(node) is exp.RegexpReplace:
        # PostgreSQL's 4th argument is the flags ('g', 'i', ...); DuckDB's regexp_replace takes them alike.
        flags = node.args.get("modifiers") or node.args.get("position")
        args = [node.this, node.expression, node.args.get("replacement")]
        return exp.Anonymous(this="REGEXP_REPLACE", expressions=[a for a in (*args, flags) if a is not None])
    if type(node) is exp.Window and type(node.this) is exp.Avg and not _temporal(node.this.this, temporal):
        return exp.Cast(this=node, to=exp.DataType.build(WIDE_DECIMAL))
    if (type(node) is exp.Avg and not _temporal(node.this, temporal)
            and not isinstance(node.parent, (exp.Cast, exp.Window, exp.Filter, exp.WithinGroup))):
        # avg(numeric) is exact in PostgreSQL; DuckDB's is a double. Rounding it to 10 decimals makes
        # "above its own average" comparisons and later rounding agree with PostgreSQL's numeric.
        return exp.Cast(this=node, to=exp.DataType.build(WIDE_DECIMAL))
    if type(node) is exp.Round and node.args.get("decimals") is not None:
        value = node.this
        if not (isinstance(value, exp.Cast) and value.to.this == exp.DataType.Type.DECIMAL):
            node.set("this", exp.Cast(this=value, to=exp.DataType.build(WIDE_DECIMAL)))
    return node


# --------------------------------------------------------------------------- GROUP BY a key


def _sources(select: exp.Select, tables: Mapping[str, TableInfo]) -> dict[str, TableInfo]:
    """Alias (or name) -> table info, for the real tables in this SELECT's own FROM and JOINs."""
    found: dict[str, TableInfo] = {}
    from_ = select.args.get("from_")
    candidates = ([from_.this] if from_ is not None else []) + [j.this for j in select.args.get("joins") or []]
    for source in candidates:
        if isinstance(source, exp.Table) and isinstance(source.this, exp.Identifier):
            info = tables.get(source.name)
            if info is not None:
                found[source.alias_or_name] = info
    return found


def _outside_aggregates(node: exp.Expr):
    """Columns of ``node`` that are not inside an aggregate, a window or a subquery."""
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, exp.Column):
            yield current
            continue
        if isinstance(current, (exp.AggFunc, exp.Window, exp.Subquery, exp.Select, exp.WithinGroup, exp.Filter)):
            continue
        stack.extend(current.iter_expressions())


def _owner(column: exp.Column, sources: dict[str, TableInfo]) -> str | None:
    if column.table:
        return column.table if column.table in sources else None
    owners = [alias for alias, info in sources.items() if column.name in info.columns]
    return owners[0] if len(owners) == 1 else None


def _group_by_key(select: exp.Select, tables: Mapping[str, TableInfo]) -> None:
    group = select.args.get("group")
    if group is None or group.args.get("rollup") or group.args.get("cube") or group.args.get("grouping_sets"):
        return
    sources = _sources(select, tables)
    if not sources:
        return
    grouped = {(c.table, c.name) for c in group.expressions if isinstance(c, exp.Column)}
    keyed: set[str] = set()
    for column in group.expressions:
        if isinstance(column, exp.Column):
            owner = _owner(column, sources)
            if owner is not None and column.name in sources[owner].keys:
                keyed.add(owner)
    if not keyed:
        return
    aliases = {e.alias for e in select.expressions if isinstance(e, exp.Alias)}
    extra: list[exp.Column] = []
    seen: set[tuple[str, str]] = set()
    places = [*select.expressions, select.args.get("having"), select.args.get("order")]
    for place in filter(None, places):
        for column in _outside_aggregates(place):
            owner = _owner(column, sources)
            if owner not in keyed or (not column.table and column.name in aliases and place is not None
                                      and place is select.args.get("order")):
                continue
            key = (owner, column.name)
            if key in seen or (column.table, column.name) in grouped or ("", column.name) in grouped:
                continue
            seen.add(key)
            extra.append(exp.column(column.name, table=owner))
    for column in extra:
        group.append("expressions", column)


# --------------------------------------------------------------------------- PostgreSQL's column names

_TYPE_NAMES = {
    "INT": "int4", "INTEGER": "int4", "BIGINT": "int8", "SMALLINT": "int2", "DECIMAL": "numeric", "FLOAT": "float4",
    "DOUBLE": "float8", "TEXT": "text", "VARCHAR": "varchar", "CHAR": "bpchar", "BOOLEAN": "bool", "DATE": "date",
    "TIMESTAMP": "timestamp", "TIMESTAMPTZ": "timestamptz", "TIME": "time", "INTERVAL": "interval",
}
_FUNCTION_NAMES = {
    exp.Count: "count", exp.Sum: "sum", exp.Avg: "avg", exp.Min: "min", exp.Max: "max", exp.Round: "round",
    exp.Coalesce: "coalesce", exp.Greatest: "greatest", exp.Least: "least", exp.Nullif: "nullif",
    exp.Case: "case", exp.Exists: "exists", exp.GroupConcat: "string_agg", exp.ArrayAgg: "array_agg",
    exp.Extract: "extract", exp.TimestampTrunc: "date_trunc", exp.DateTrunc: "date_trunc",
    exp.CurrentDate: "current_date", exp.CurrentTimestamp: "current_timestamp", exp.Substring: "substring",
    exp.StrPosition: "position", exp.Trim: "btrim", exp.Upper: "upper", exp.Lower: "lower", exp.Length: "length",
    exp.Concat: "concat", exp.ConcatWs: "concat_ws", exp.Abs: "abs", exp.Ceil: "ceil", exp.Floor: "floor",
    exp.Pow: "power", exp.Sqrt: "sqrt", exp.Mod: "mod", exp.LogicalAnd: "bool_and", exp.LogicalOr: "bool_or",
    exp.Stddev: "stddev", exp.StddevSamp: "stddev_samp", exp.StddevPop: "stddev_pop", exp.Variance: "variance",
    exp.RowNumber: "row_number", exp.Rank: "rank", exp.DenseRank: "dense_rank", exp.Ntile: "ntile",
    exp.Lag: "lag", exp.Lead: "lead", exp.FirstValue: "first_value", exp.LastValue: "last_value",
    exp.PercentRank: "percent_rank", exp.CumeDist: "cume_dist", exp.PercentileCont: "percentile_cont",
    exp.PercentileDisc: "percentile_disc", exp.Replace: "replace", exp.Left: "left", exp.Right: "right",
    exp.SplitPart: "split_part", exp.Initcap: "initcap", exp.RegexpReplace: "regexp_replace",
    exp.Pad: "lpad", exp.DateFromParts: "make_date", exp.Array: "array",
}


def _postgres_name(node: exp.Expr) -> str | None:
    """PostgreSQL's FigureColname for an unaliased select item (None: leave it to the engine)."""
    if isinstance(node, exp.Column):
        return node.name if not isinstance(node.this, exp.Star) else None
    if isinstance(node, exp.Paren):
        return _postgres_name(node.this)
    if isinstance(node, exp.Cast):
        inner = _postgres_name(node.this)
        if inner and inner != "?column?":
            return inner
        return _TYPE_NAMES.get(node.to.this.name, node.to.this.name.lower())
    if isinstance(node, (exp.Window, exp.WithinGroup, exp.Filter)):
        return _postgres_name(node.this)
    if isinstance(node, exp.Subquery) and isinstance(node.this, exp.Select) and node.this.expressions:
        first = node.this.expressions[0]
        return first.alias if isinstance(first, exp.Alias) else _postgres_name(first)
    if isinstance(node, exp.Pad):
        return "lpad" if node.args.get("is_left") else "rpad"
    if isinstance(node, exp.Anonymous):
        return node.name.lower()
    if isinstance(node, exp.Interval):
        return "interval"
    for kind, name in _FUNCTION_NAMES.items():
        if type(node) is kind:
            return name
    if isinstance(node, exp.Func):
        from convoinsight.sql.guard import written_name

        return written_name(node)
    return "?column?"


def _postgres_names(select: exp.Select) -> None:
    items = []
    for item in select.expressions:
        if isinstance(item, exp.Alias) or isinstance(item, exp.Star) or (
                isinstance(item, exp.Column) and isinstance(item.this, exp.Star)):
            items.append(item)
            continue
        name = _postgres_name(item)
        if isinstance(item, exp.Column) or name is None:
            items.append(item)  # a column keeps the name of the column it resolves to
            continue
        items.append(exp.alias_(item, exp.Identifier(this=name, quoted=True)))
    select.set("expressions", items)
