"""Creating, filling and dropping tables in a tenant's PostgreSQL, when the connection allows writes.

Column types come from an allow-list checked on sqlglot's parse of the given text, and the SQL sent
is sqlglot's rendering of that tree, never the text itself: ``integer; DROP TABLE x`` cannot reach
the server. Every statement is a sqlglot tree with quoted identifiers, so a column may be called
``"; DROP TABLE x; --`` and is created with exactly that name. Values travel as COPY FROM STDIN data
in PostgreSQL's text format: for 100k rows that took 0.3 s (4 columns) to 1.2 s (8, with jsonb), where
prepared multi-row INSERTs with parameters took 0.7-5 s and unprepared ones 13-65 s (pg8000 parses the
statement text for every call). Each batch is checked and encoded before its COPY starts, so a bad
row never leaves the connection in the middle of a COPY.

Functions run inside the caller's transaction and never commit or roll back: a failing batch aborts
the transaction, and the caller's rollback undoes the whole write (CREATE, TRUNCATE and all).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import polars as pl
import sqlglot
from pg8000.exceptions import DatabaseError
from sqlglot import exp

from convoinsight.errors import BadRequest, Conflict, Forbidden, NotFound, Unprocessable
from convoinsight.sources import postgres
from convoinsight.sources.catalog import ident, sql_text, table_ref

DT = exp.DataType.Type
MAX_NAME_BYTES = 63  # NAMEDATALEN - 1: PostgreSQL would silently cut a longer name
MAX_COLUMNS = 1600
MAX_TYPE_CHARS = 64
COPY_BYTES = 8 * 1024 * 1024  # COPY data sent by one statement (at least one batch)
# Allowed types -> (our kind, how many integer parameters they may take).
_ALLOWED: dict[DT, tuple[str, int]] = {
    DT.SMALLINT: ("integer", 0), DT.INT: ("integer", 0), DT.BIGINT: ("integer", 0), DT.DECIMAL: ("float", 2),
    DT.FLOAT: ("float", 0), DT.DOUBLE: ("float", 0), DT.TEXT: ("string", 0), DT.VARCHAR: ("string", 1),
    DT.CHAR: ("string", 1), DT.BOOLEAN: ("boolean", 0), DT.DATE: ("date", 0), DT.TIMESTAMP: ("datetime", 1),
    DT.TIMESTAMPTZ: ("datetime", 1), DT.TIME: ("other", 1), DT.INTERVAL: ("other", 0), DT.UUID: ("string", 0),
    DT.JSONB: ("other", 0), DT.JSON: ("other", 0), DT.VARBINARY: ("other", 0),
}
_LIMITS = {DT.DECIMAL: 1000, DT.VARCHAR: 10_485_760, DT.CHAR: 10_485_760, DT.TIMESTAMP: 6, DT.TIMESTAMPTZ: 6,
           DT.TIME: 6}
# Words, optionally one "(n)" or "(p, s)", optionally more words ("timestamp(3) with time zone"): no
# dots, brackets, quotes, semicolons or comments get as far as the parser.
_TYPE_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9_ ]*(\(\s*\d+\s*(,\s*\d+\s*)?\))?[A-Za-z ]*")


@dataclass(frozen=True)
class Column:
    name: str
    type_sql: str  # sqlglot's PostgreSQL rendering of an allow-listed type, e.g. "DECIMAL(10, 2)"
    kind: str  # integer | float | boolean | date | datetime | string | other

    @property
    def is_json(self) -> bool:
        return self.type_sql in ("JSON", "JSONB")


def check_name(name: Any, what: str = "column") -> str:
    if not isinstance(name, str) or not name:
        raise Unprocessable(f"a {what} name must be non-empty text", code=f"invalid_{what}_name")
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        raise Unprocessable(f"{what} name {name!r} is not valid Unicode", code=f"invalid_{what}_name") from None
    if "\x00" in name or size > MAX_NAME_BYTES:
        raise Unprocessable(f"{what} name {name[:80]!r} must be 1-{MAX_NAME_BYTES} bytes without NUL",
                            code=f"invalid_{what}_name")
    return name


def _data_type(text: Any) -> exp.DataType:
    refused = Unprocessable(f"column type {str(text)[:80]!r} is not one of: smallint, integer, bigint, "
                            "numeric(p,s), real, double precision, text, varchar(n), char(n), boolean, date, "
                            "timestamp, timestamptz, time, interval, uuid, jsonb, json, bytea",
                            code="invalid_column_type")
    if not isinstance(text, str) or len(text) > MAX_TYPE_CHARS or not _TYPE_TEXT.fullmatch(text.strip()):
        raise refused
    try:
        parsed = exp.DataType.build(text.strip(), dialect="postgres")
        # DataType.build stops at the first token that is no longer a type ("integer primary key" is INT):
        # inside a CAST every token must belong to the type, or the parse fails.
        whole = sqlglot.parse_one(f"CAST(x AS {text.strip()})", read="postgres")
    except Exception:  # sqlglot raises ParseError, or worse, on text that is no type
        raise refused from None
    if type(parsed) is not exp.DataType or parsed.this not in _ALLOWED or not isinstance(whole, exp.Cast) \
            or whole.args.get("to") != parsed \
            or any(v not in (None, False) for k, v in whole.args.items() if k not in ("this", "to")):
        raise refused
    extra = {k for k, v in parsed.args.items() if v not in (None, False, []) and k not in ("this", "expressions")}
    params = parsed.expressions
    if extra or len(params) > _ALLOWED[parsed.this][1]:
        raise refused
    numbers = []
    for param in params:
        literal = param.this if isinstance(param, exp.DataTypeParam) else None
        if not isinstance(literal, exp.Literal) or literal.is_string or not literal.this.isdigit():
            raise refused
        numbers.append(int(literal.this))
    low = 0 if parsed.this in (DT.TIMESTAMP, DT.TIMESTAMPTZ, DT.TIME) else 1
    if numbers and not low <= numbers[0] <= _LIMITS[parsed.this]:
        raise refused
    if len(numbers) == 2 and numbers[1] > numbers[0]:  # numeric(p, s) needs 0 <= s <= p
        raise refused
    return parsed


def _column(name: str, data_type: exp.DataType) -> Column:
    return Column(name, data_type.sql(dialect="postgres", comments=False), _ALLOWED[data_type.this][0])


def _unique(columns: list[Column]) -> list[Column]:
    if not columns:
        raise Unprocessable("a table needs at least one column", code="invalid_columns")
    if len(columns) > MAX_COLUMNS:
        raise Unprocessable(f"at most {MAX_COLUMNS} columns", code="invalid_columns")
    seen: set[str] = set()
    for column in columns:
        check_name(column.name)
        folded = column.name.casefold()
        if folded in seen:
            raise Unprocessable(f"column {column.name!r} is given twice (names are compared ignoring case)",
                                code="duplicate_column")
        seen.add(folded)
    return columns


def parse_columns(spec: Any) -> list[Column]:
    """``[{"name": ..., "type": ...}, ...]`` as checked columns (types from the allow-list only)."""
    if not isinstance(spec, list):
        raise Unprocessable("`columns` is a list of {\"name\", \"type\"}", code="invalid_columns")
    columns = []
    for item in spec:
        if not isinstance(item, dict) or set(item) != {"name", "type"}:
            raise Unprocessable("each column is {\"name\": ..., \"type\": ...}", code="invalid_columns")
        columns.append(_column(check_name(item["name"]), _data_type(item["type"])))
    return _unique(columns)


def _frame_type(dtype: pl.DataType) -> str:
    if dtype in (pl.Int8, pl.Int16, pl.UInt8):
        return "smallint"
    if dtype in (pl.Int32, pl.UInt16):
        return "integer"
    if dtype in (pl.Int64, pl.UInt32):
        return "bigint"
    if dtype == pl.UInt64:
        return "numeric(20, 0)"
    if dtype.is_integer():  # Int128 / UInt128
        return "numeric(39, 0)"
    if dtype == pl.Float64:
        return "double precision"
    if dtype.is_float():
        return "real"
    if isinstance(dtype, pl.Decimal):
        precision = dtype.precision
        return f"numeric({precision}, {dtype.scale or 0})" if precision else "numeric"
    if dtype in (pl.String, pl.Categorical, pl.Null) or isinstance(dtype, (pl.Enum, pl.Categorical)):
        return "text"
    if isinstance(dtype, pl.Datetime):
        return "timestamptz" if dtype.time_zone else "timestamp"
    if isinstance(dtype, pl.Duration):
        return "interval"
    simple = {pl.Boolean: "boolean", pl.Date: "date", pl.Time: "time", pl.Binary: "bytea"}
    for known, name in simple.items():
        if dtype == known:
            return name
    if isinstance(dtype, (pl.List, pl.Array, pl.Struct)):
        return "jsonb"
    raise Unprocessable(f"a column of type {dtype} cannot be written to PostgreSQL", code="invalid_column_type")


def columns_of_frame(schema: pl.Schema) -> list[Column]:
    """The PostgreSQL columns that hold a dataset of this Polars schema."""
    return _unique([_column(check_name(name), exp.DataType.build(_frame_type(dtype), dialect="postgres"))
                    for name, dtype in schema.items()])


def rows_from_json(columns: Sequence[Column], rows: Any) -> list[list[Any]]:
    """JSON rows (lists in column order, or objects by column name; a missing key is NULL) as lists."""
    if not isinstance(rows, list):
        raise BadRequest("`rows` is a list of rows (lists or objects)", code="invalid_rows")
    names = [c.name for c in columns]
    position = {name: i for i, name in enumerate(names)}
    out = []
    for number, row in enumerate(rows):
        if isinstance(row, list):
            out.append(row)
        elif isinstance(row, dict):
            unknown = [k for k in row if k not in position]
            if unknown:
                raise BadRequest(f"row {number}: no column {unknown[0]!r}", code="unknown_column",
                                 details={"row": number, "column": str(unknown[0])[:100]})
            out.append([row.get(name) for name in names])
        else:
            raise BadRequest(f"row {number} is neither a list nor an object", code="invalid_rows",
                             details={"row": number})
    return out


def write_error(exc: DatabaseError) -> Exception:
    """PostgreSQL's refusal of a write, as the service's error (the caller then rolls back)."""
    state = postgres.sqlstate(exc)
    message = postgres.server_message(exc)
    if state == "42501":
        return Forbidden(f"PostgreSQL: {message}", code="source_permission_denied", details={"sqlstate": state})
    if state == "42P07":
        return Conflict(f"PostgreSQL: {message}", code="table_exists", details={"sqlstate": state})
    return Unprocessable(message, code="source_write_failed", details={"sqlstate": state})


def _run(call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``conn.run(...)`` (or a prepared statement's ``run``) with PostgreSQL's errors mapped."""
    try:
        return call(*args, **kwargs)
    except DatabaseError as exc:
        raise write_error(exc) from None


def _relation(conn, schema: str, name: str) -> tuple[str, bool, bool] | None:
    """(relkind, may TRUNCATE, is referenced by a foreign key) of ``schema.name``, or None."""
    rows = _run(conn.run, "SELECT c.relkind::text, has_table_privilege(c.oid, 'TRUNCATE'), EXISTS (SELECT 1 FROM "
                "pg_constraint f WHERE f.confrelid = c.oid AND f.contype = 'f') FROM pg_class c JOIN "
                "pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = :schema AND c.relname = :name",
                schema=schema, name=name)
    return tuple(rows[0]) if rows else None


# ------------------------------------------------------------------ values


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value) if value.is_finite() else None
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "\\x" + bytes(value).hex()
    if isinstance(value, (set, frozenset)):
        return list(value)
    return str(value)  # UUID, timedelta


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None  # JSON has no NaN
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return [_finite(v) for v in value] if isinstance(value, (list, tuple)) else value


def json_text(value: Any) -> str:
    """A json/jsonb value (lists, objects, scalars; Polars' List and Struct cells) as JSON text. A Python
    text becomes a JSON string: it is a value, not JSON to parse."""
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False, default=_json_default)
    except ValueError:
        return json.dumps(_finite(value), ensure_ascii=False, allow_nan=False, default=_json_default)


def _rows(batch: Any, columns: Sequence[Column], start: int) -> list[list[Any]]:
    """A batch checked (every row as long as the columns) with its JSON values as JSON text."""
    if not isinstance(batch, (list, tuple)):
        raise BadRequest("each batch is a list of rows", code="invalid_rows")
    width, json_at = len(columns), [i for i, c in enumerate(columns) if c.is_json]
    out = []
    for number, row in enumerate(batch, start):
        if not isinstance(row, (list, tuple)) or len(row) != width:
            got = f"{len(row)} values" if isinstance(row, (list, tuple)) else "no list"
            raise BadRequest(f"row {number} has {got}; the columns are {width}", code="invalid_rows",
                             details={"row": number})
        row = list(row)
        for i in json_at:
            if row[i] is not None:
                row[i] = json_text(row[i])
        out.append(row)
    return out


_CONTAINERS = (list, tuple, dict, set, frozenset)


class _NotScalar(Exception):
    """A list or an object where one value belongs (found while encoding; reported with its row)."""


def _float(value: float) -> str:
    if math.isfinite(value):
        return repr(value)
    return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")


# Values as PostgreSQL's input functions read them (the text pg8000 would send as parameters); none of
# these texts holds a tab, newline or backslash, so only strings need COPY's escaping.
_TEXT: dict[type, Callable[[Any], str]] = {
    int: str, Decimal: str, uuid.UUID: str, float: _float, bool: lambda v: "true" if v else "false",
    dt.datetime: dt.datetime.isoformat, dt.date: dt.date.isoformat, dt.time: dt.time.isoformat,
    dt.timedelta: lambda v: f"{v.days} days {v.seconds} seconds {v.microseconds} microseconds",
    bytes: lambda v: "\\\\x" + v.hex(), bytearray: lambda v: "\\\\x" + v.hex(),
    memoryview: lambda v: "\\\\x" + v.hex(),
}
_ESCAPES = str.maketrans({"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"})


def _escaped(text: str) -> str:
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        return text.translate(_ESCAPES)
    return text


def _copy_value(value: Any) -> str:
    kind = type(value)
    if kind is str:
        return _escaped(value)
    if value is None:
        return "\\N"
    if kind in _TEXT:
        return _TEXT[kind](value)
    if isinstance(value, _CONTAINERS):
        raise _NotScalar
    for known, text in _TEXT.items():  # subclasses (IntEnum, pandas' Timestamp, ...)
        if isinstance(value, known):
            return _escaped(text(value))
    return _escaped(str(value))


def _copy_data(rows: list[list[Any]], columns: Sequence[Column], start: int) -> bytes:
    """COPY's text format: tab-separated, \\N for NULL, backslash escapes (invalid UTF-8 is left for
    PostgreSQL to refuse)."""
    try:
        lines = ["\t".join([_copy_value(v) for v in row]) for row in rows]
    except _NotScalar:
        number, column = next((start + r, columns[c]) for r, row in enumerate(rows) for c, v in enumerate(row)
                              if isinstance(v, _CONTAINERS))
        raise BadRequest(f"row {number}: column {column.name!r} ({column.type_sql}) takes one value, not a list "
                         "or an object", code="invalid_rows", details={"row": number}) from None
    return ("\n".join(lines) + "\n").encode("utf-8", "surrogatepass")


def _insert_rows(conn, schema: str, table: str, columns: Sequence[Column], batches: Iterable[Any]) -> int:
    """Every batch checked and encoded, then sent by COPY FROM STDIN, several batches to a COPY (up to
    ``COPY_BYTES``): each statement ends with a short write that waits out the server's delayed ACK
    (about 40 ms without TCP_NODELAY), so fewer, larger COPYs are faster."""
    target = exp.Schema(this=table_ref(schema, table), expressions=[ident(c.name) for c in columns])
    copy_sql = sql_text(exp.Copy(this=target, kind=True, files=[exp.Var(this="STDIN")]))
    pending: list[bytes] = []
    size = written = 0
    for batch in batches:
        rows = _rows(batch, columns, written)
        if rows:
            pending.append(_copy_data(rows, columns, written))
            size += len(pending[-1])
            written += len(rows)
        if size >= COPY_BYTES:
            _run(conn.run, copy_sql, stream=pending)
            pending, size = [], 0
    if pending:
        _run(conn.run, copy_sql, stream=pending)
    return written


# ------------------------------------------------------------------ the three writes


def create_table(conn, schema: str, name: str, columns: Sequence[Column], batches: Iterable[Any]) -> int:
    """A new table ``schema.name`` with these columns and rows; Conflict if the name is taken."""
    check_name(schema, "schema")
    check_name(name, "table")
    _unique(list(columns))
    if _relation(conn, schema, name) is not None:
        raise Conflict(f"{schema}.{name} already exists; write to it with mode replace or append",
                       code="table_exists")
    definition = exp.Schema(this=table_ref(schema, name), expressions=[
        exp.ColumnDef(this=ident(c.name), kind=_data_type_of(c)) for c in columns])
    _run(conn.run, sql_text(exp.Create(kind="TABLE", this=definition)))
    return _insert_rows(conn, schema, name, columns, batches)


def _data_type_of(column: Column) -> exp.DataType:
    """The column's type as a tree again, through the allow-list once more (a Column may be built by hand)."""
    return _data_type(column.type_sql)


def _resolve(meta: dict[str, Any], columns: Sequence[Column]) -> list[Column]:
    """The given columns named as the table names them (exact, else the one match ignoring case)."""
    existing = [c["name"] for c in meta.get("columns", [])]
    resolved = []
    for column in columns:
        if column.name in existing:
            resolved.append(column)
            continue
        folded = [n for n in existing if n.casefold() == column.name.casefold()]
        if len(folded) != 1:
            raise BadRequest(f"table {meta['name']!r} has no column {column.name!r}", code="unknown_column",
                             details={"column": column.name})
        resolved.append(Column(folded[0], column.type_sql, column.kind))
    return resolved


def write_rows(conn, schema: str, table: dict[str, Any] | str, mode: str, columns: Sequence[Column],
               batches: Iterable[Any]) -> int:
    """Rows into an existing table: ``append`` adds them; ``replace`` empties the table first and keeps it
    (its grants, constraints, indexes, dependent views). TRUNCATE when the role may and no foreign key
    points at the table, else DELETE, which checks those keys row by row."""
    if mode not in ("replace", "append"):
        raise BadRequest("mode is replace or append", code="invalid_mode")
    name = table["name"] if isinstance(table, dict) else table
    check_name(name, "table")
    columns = _unique(_resolve(table, columns) if isinstance(table, dict) else list(columns))
    relation = _relation(conn, schema, name)
    if relation is None:
        raise NotFound(f"no table {name!r} in schema {schema!r}", code="table_not_found")
    if mode == "replace":
        kind, may_truncate, referenced = relation
        target = table_ref(schema, name)
        empty = (exp.TruncateTable(expressions=[target]) if kind in ("r", "p") and may_truncate and not referenced
                 else exp.delete(target))
        _run(conn.run, sql_text(empty))
    return _insert_rows(conn, schema, name, columns, batches)


def drop_table(conn, schema: str, name: str) -> None:
    """DROP TABLE (no CASCADE: a view or key that depends on it makes PostgreSQL refuse, and say why)."""
    check_name(name, "table")
    relation = _relation(conn, schema, name)
    if relation is None:
        raise NotFound(f"no table {name!r} in schema {schema!r}", code="table_not_found")
    if relation[0] not in ("r", "p"):
        raise Unprocessable(f"{schema}.{name} is not a table (views and foreign tables are not dropped here)",
                            code="not_a_table")
    _run(conn.run, sql_text(exp.Drop(kind="TABLE", tables=[table_ref(schema, name)])))
