"""What a tenant's PostgreSQL holds: tables of a schema, their profiles for prompts, pages of their rows.

Every function takes an open ``pg8000.native.Connection`` inside the caller's transaction (which also
set statement_timeout) and only reads. The catalog is read in a fixed number of statements however
many tables the schema has (relations, columns, keys: three), so a schema of 2,000 tables costs the
same round trips as one of two. Profiles come from what ANALYZE already stored (``pg_stats``,
``pg_class.reltuples``), never from scanning the table: a linked table may be far larger than what we
would load. Names only ever reach SQL as quoted identifiers of a sqlglot tree, values as parameters.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pg8000.types import PGInterval
from sqlglot import exp
from sqlglot.dialects.postgres import Postgres

from convoinsight.errors import BadRequest, NotFound
from convoinsight.sql.values import encode, iso_duration

KINDS = {"r": "table", "v": "view", "m": "materialized_view", "p": "partitioned_table", "f": "foreign_table"}
TOP_VALUES = 10
SAMPLE_ROWS = 5
PROFILE_TEXT_CHARS = 80
READ_CELL_CHARS = 2000  # MAX_CELL_CHARS' default: a page of rows cuts cells like a query answer does
UNANALYSED_COUNT_CAP = 1000  # a table without statistics is counted up to this many rows, no further

_INTEGER = {"int2", "int4", "int8"}
_FLOAT = {"float4", "float8", "numeric"}
_STRING = {"text", "varchar", "bpchar", "char", "name", "uuid", "citext"}
_DATETIME = {"timestamp", "timestamptz"}
# Result type OIDs -> the ``column_types`` of a query answer (as sources.worker names them).
_RESULT_TYPES = {16: "boolean", 17: "binary", 20: "integer", 21: "integer", 23: "integer", 26: "integer",
                 700: "float", 701: "float", 1700: "decimal", 1082: "date", 1114: "datetime", 1184: "datetime",
                 1083: "time", 1266: "time", 1186: "interval", 114: "object", 3802: "object"}
_ARRAYS = {1000, 1001, 1005, 1007, 1016, 1021, 1022, 1231, 1009, 1015, 1014, 1182, 1115, 1185, 199, 3807, 2951}

# The relations of one schema this role may read; partitions are left out (their parent stands for them).
_RELS = ("SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
         "WHERE n.nspname = :schema AND c.relkind IN ('r', 'v', 'm', 'p', 'f') AND NOT c.relispartition "
         "AND has_table_privilege(c.oid, 'SELECT')")
# Constant SQL built from constant fragments (ruff S608 cannot tell); every value is a parameter.
_RELATIONS_SQL = f"""
SELECT c.oid::int8, c.relname::text, c.relkind::text, c.reltuples::float8,
       CASE WHEN c.reltuples < 0 AND c.relkind IN ('r', 'm') THEN pg_relation_size(c.oid) END,
       CASE WHEN c.reltuples < 0 AND c.relkind = 'p' THEN
         (SELECT sum(p.reltuples)::float8 FROM pg_inherits h JOIN pg_class p ON p.oid = h.inhrelid
          WHERE h.inhparent = c.oid AND p.reltuples >= 0) END
FROM pg_class c WHERE c.oid IN ({_RELS}) ORDER BY c.relname"""  # noqa: S608
_COLUMNS_SQL = f"""
SELECT a.attrelid::int8, a.attname::text, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull,
       b.typname::text, b.typtype::text, b.typcategory::text
FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
JOIN pg_type b ON b.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
WHERE a.attrelid IN ({_RELS}) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attrelid, a.attnum"""  # noqa: S608
_NAMES = ("ARRAY(SELECT a.attname::text FROM unnest({keys}) WITH ORDINALITY k(num, pos) JOIN pg_attribute a "
          "ON a.attrelid = {rel} AND a.attnum = k.num {extra} ORDER BY k.pos)")
_KEYS_SQL = f"""
SELECT con.conrelid::int8, con.contype::text, con.conname::text,
       {_NAMES.format(keys="con.conkey", rel="con.conrelid", extra="")},
       fn.nspname::text, fc.relname::text, {_NAMES.format(keys="con.confkey", rel="con.confrelid", extra="")}
FROM pg_constraint con LEFT JOIN pg_class fc ON fc.oid = con.confrelid
LEFT JOIN pg_namespace fn ON fn.oid = fc.relnamespace
WHERE con.conrelid IN ({_RELS}) AND con.contype IN ('p', 'u', 'f')
UNION ALL
SELECT i.indrelid::int8, 'i', ic.relname::text,
       {_NAMES.format(keys="i.indkey::int2[]", rel="i.indrelid", extra="AND k.pos <= i.indnkeyatts")},
       NULL, NULL, NULL
FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
WHERE i.indrelid IN ({_RELS}) AND i.indisunique AND NOT i.indisprimary AND i.indpred IS NULL
  AND i.indexprs IS NULL AND NOT EXISTS (SELECT 1 FROM pg_constraint x WHERE x.conindid = i.indexrelid
                                         AND x.conrelid = i.indrelid AND x.contype IN ('p', 'u'))
ORDER BY 1, 2, 3"""  # noqa: S608
_STATS_SQL = """
SELECT attname::text, null_frac::float8, n_distinct::float8, most_common_vals::text::text[],
       most_common_freqs::float8[], histogram_bounds::text::text[]
FROM pg_stats WHERE schemaname = :schema AND tablename = :table ORDER BY inherited"""


class _Generator(Postgres.Generator):
    """PostgreSQL as sqlglot writes it, with ``:name`` placeholders (pg8000.native's parameter style)."""

    TRANSFORMS: ClassVar = {**Postgres.Generator.TRANSFORMS, exp.Placeholder: lambda self, e: f":{e.name}"}


def sql_text(expression: exp.Expression) -> str:
    return _Generator(dialect="postgres").generate(expression, copy=False)


def ident(name: str) -> exp.Identifier:
    return exp.to_identifier(name, quoted=True)


def table_ref(schema: str, name: str) -> exp.Table:
    return exp.Table(this=ident(name), db=ident(schema))


def dtype_of(typname: str, typtype: str = "b", category: str = "") -> str:
    """Our column kind (the dataset profile's) of a PostgreSQL base type."""
    if category == "A":
        return "other"
    if typtype == "e" or typname in _STRING:
        return "string"
    if typname in _INTEGER:
        return "integer"
    if typname in _FLOAT:
        return "float"
    if typname in _DATETIME:
        return "datetime"
    return {"bool": "boolean", "date": "date"}.get(typname, "other")


def schemas(conn) -> list[str]:
    """Schemas this role may use, without PostgreSQL's own (pg_*, information_schema)."""
    rows = conn.run("SELECT nspname::text FROM pg_namespace WHERE has_schema_privilege(oid, 'USAGE') "
                    "AND nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema' ORDER BY nspname")
    return [r[0] for r in rows]


def _estimate(reltuples: float, size: int | None, children: float | None) -> int | None:
    if reltuples >= 0:
        return int(reltuples)
    if size == 0:  # never analysed, but empty on disk
        return 0
    if children is not None:  # a partitioned table: what its analysed partitions hold
        return int(children)
    return None  # never analysed (or a view / foreign table): unknown


def list_tables(conn, schema: str) -> list[dict[str, Any]]:
    """The readable relations of ``schema`` with columns, keys and row estimates, in three statements."""
    tables: dict[int, dict[str, Any]] = {}
    for oid, name, relkind, reltuples, size, children in conn.run(_RELATIONS_SQL, schema=schema):
        tables[oid] = {"schema": schema, "name": name, "kind": KINDS[relkind], "columns": [], "primary_key": [],
                       "unique": [], "foreign_keys": [],
                       "row_estimate": _estimate(reltuples, size, children)}
    if not tables:
        return []
    for oid, name, type_text, nullable, typname, typtype, category in conn.run(_COLUMNS_SQL, schema=schema):
        if oid in tables:
            tables[oid]["columns"].append({"name": name, "type": type_text,
                                           "dtype": dtype_of(typname, typtype, category), "nullable": nullable})
    for oid, kind, name, columns, ref_schema, ref_table, ref_columns in conn.run(_KEYS_SQL, schema=schema):
        table = tables.get(oid)
        if table is None:
            continue
        if kind == "p":
            table["primary_key"] = list(columns)
        elif kind in ("u", "i"):
            if list(columns) not in table["unique"]:
                table["unique"].append(list(columns))
        else:
            table["foreign_keys"].append({"name": name, "columns": list(columns), "references": {
                "schema": ref_schema, "table": ref_table, "columns": list(ref_columns)}})
    return list(tables.values())


def find_table(tables: list[dict[str, Any]], name: str) -> dict[str, Any]:
    """The table called exactly ``name``, else the only one whose name matches ignoring case."""
    for table in tables:
        if table["name"] == name:
            return table
    folded = [t for t in tables if t["name"].casefold() == str(name).casefold()]
    if len(folded) == 1:
        return folded[0]
    if folded:
        raise NotFound(f"several tables match {name!r} ignoring case ({', '.join(t['name'] for t in folded)}); "
                       "give the exact name", code="table_not_found")
    raise NotFound(f"no readable table or view {name!r} in this schema", code="table_not_found")


def cell(value: Any, max_chars: int) -> Any:
    """A value as JSON (the query answers' encoding: ISO dates, numbers for numerics, ``\\x`` hex for bytes,
    intervals as ISO 8601 durations)."""
    if isinstance(value, PGInterval):  # pg8000's interval with months (without, it is a timedelta)
        part = {k: getattr(value, k) or 0 for k in ("millennia", "centuries", "decades", "years", "months",
                                                   "weeks", "days", "hours", "minutes", "seconds", "microseconds")}
        months = ((part["millennia"] * 10 + part["centuries"]) * 10 + part["decades"]) * 120 + part["years"] * 12
        seconds = (part["hours"] * 60 + part["minutes"]) * 60 + part["seconds"]
        return iso_duration(months + part["months"], part["weeks"] * 7 + part["days"],
                            round(seconds * 1_000_000_000) + part["microseconds"] * 1000)
    return encode(value, max_chars)[0]


def _select(schema: str, meta: dict[str, Any]) -> exp.Select:
    return exp.select(*[exp.column(ident(c["name"])) for c in meta["columns"]]).from_(table_ref(schema, meta["name"]))


def _order_columns(meta: dict[str, Any]) -> list[str]:
    """A key to page by: the primary key, else a unique key of NOT NULL columns, else none."""
    if meta.get("primary_key"):
        return list(meta["primary_key"])
    not_null = {c["name"] for c in meta["columns"] if not c.get("nullable", True)}
    for key in meta.get("unique", []):
        if key and set(key) <= not_null:
            return list(key)
    return []


def read_rows(conn, schema: str, meta: dict[str, Any], limit: int, offset: int, *,
              max_chars: int = READ_CELL_CHARS) -> dict[str, Any]:
    """One page of a table, in key order when it has one (pages then neither overlap nor skip rows)."""
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise BadRequest("limit must be a whole number >= 0", code="invalid_parameter")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
        raise BadRequest("offset must be a whole number >= 0", code="invalid_parameter")
    names = [c["name"] for c in meta["columns"]]
    if not names:
        return {"columns": [], "column_types": [], "rows": [], "limit": limit, "offset": offset}
    query = _select(schema, meta)
    order = _order_columns(meta)
    if order:
        query = query.order_by(*[exp.Ordered(this=exp.column(ident(c)), nulls_first=False) for c in order])
    query = query.limit(exp.Placeholder(this="limit")).offset(exp.Placeholder(this="offset"))
    rows = conn.run(sql_text(query), limit=limit, offset=offset)
    types = [_result_type(c.get("type_oid")) for c in (conn.columns or [])] or ["string"] * len(names)
    return {"columns": names, "column_types": types,
            "rows": [[cell(v, max_chars) for v in row] for row in rows], "limit": limit, "offset": offset}


def _result_type(oid: int | None) -> str:
    if oid in _ARRAYS:
        return "list"
    return _RESULT_TYPES.get(oid, "string")


def _number(text: str, kind: str) -> Any:
    try:
        return int(text) if kind == "integer" else float(text)
    except (TypeError, ValueError):
        return None


def _bounds(kind: str, values: list[str]) -> tuple[Any, Any]:
    """(min, max) of what the statistics saw: histogram bounds and most common values together (the
    histogram leaves the common values out, so its ends alone can miss the true extremes)."""
    if kind in ("integer", "float"):
        numbers = [n for n in (_number(v, kind) for v in values) if n is not None and n == n]
        return (min(numbers), max(numbers)) if numbers else (None, None)
    texts = [v for v in values if v and not v.lstrip("-").startswith("infinity")]
    if not texts:
        return None, None
    low, high = min(texts), max(texts)
    if kind == "datetime":  # PostgreSQL's "2024-01-01 10:00:00" as ISO 8601's "2024-01-01T10:00:00"
        low, high = low.replace(" ", "T", 1), high.replace(" ", "T", 1)
    return low, high


def _top(kind: str, values: list[str] | None, freqs: list[float] | None, rows: int) -> list[dict[str, Any]]:
    if kind not in ("string", "boolean") or not values or not freqs:
        return []
    top = []
    for value, freq in list(zip(values, freqs, strict=False))[:TOP_VALUES]:
        shown: Any = {"t": True, "f": False}.get(value) if kind == "boolean" else cell(value, PROFILE_TEXT_CHARS)
        top.append({"value": shown, "count": round(freq * rows)})
    return top


def table_profile(conn, schema: str, meta: dict[str, Any]) -> dict[str, Any]:
    """The dataset-profile shape from ANALYZE's statistics plus five sample rows (estimates throughout).

    A table never analysed has no statistics: its columns get zeros and None, and its row count is
    counted, but only up to ``UNANALYSED_COUNT_CAP`` rows."""
    names = [c["name"] for c in meta["columns"]]
    samples: list[list[Any]] = []
    if names:
        query = _select(schema, meta).limit(exp.Literal.number(SAMPLE_ROWS))
        samples = [[cell(v, PROFILE_TEXT_CHARS) for v in row] for row in conn.run(sql_text(query))]
    rows = meta.get("row_estimate")
    if rows is None:
        if len(samples) < SAMPLE_ROWS:
            rows = len(samples)
        else:
            inner = exp.select(exp.Literal.number(1)).from_(table_ref(schema, meta["name"])).limit(
                exp.Literal.number(UNANALYSED_COUNT_CAP))
            counted = exp.select(exp.func("count", exp.Star())).from_(inner.subquery("capped"))
            rows = int(conn.run(sql_text(counted))[0][0])
    stats: dict[str, tuple] = {}
    for name, null_frac, n_distinct, mcv, mcf, histogram in conn.run(_STATS_SQL, schema=schema,
                                                                     table=meta["name"]):
        stats[name] = (null_frac, n_distinct, mcv, mcf, histogram)  # inherited (whole tree) rows come last
    columns = []
    for column in meta["columns"]:
        name, kind = column["name"], column["dtype"]
        null_frac, n_distinct, mcv, mcf, histogram = stats.get(name, (0.0, 0.0, None, None, None))
        low = high = None
        if kind in ("integer", "float", "date", "datetime"):
            low, high = _bounds(kind, [*(histogram or []), *(mcv or [])])
        distinct = n_distinct if n_distinct >= 0 else -n_distinct * rows
        columns.append({"name": name, "label": name, "dtype": kind, "nulls": round((null_frac or 0) * rows),
                        "distinct": round(distinct or 0), "min": low, "max": high, "mean": None,
                        "top_values": _top(kind, mcv, mcf, rows)})
    return {"rows": int(rows), "distinct_is_estimate": True, "columns": columns, "sample_rows": samples}
