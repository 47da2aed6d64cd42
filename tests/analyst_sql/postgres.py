"""Load a corpus schema into PostgreSQL exactly, and run gold SQL there.

Databases are created with the C.UTF-8 collation (codepoint order, as DuckDB sorts by default), so that ORDER BY on
text does not depend on the server's locale: 'Zeta' sorts before 'apple'.
"""

from __future__ import annotations

import datetime as dt
import io
import random
from decimal import Decimal
from types import ModuleType
from typing import Literal
from urllib.parse import unquote, urlsplit, urlunsplit

import pg8000.native

from tests.analyst_sql.compare import parse_pg_interval

INTERVAL_OID = 1186
SESSION = ("SET TimeZone = 'UTC'", "SET DateStyle = 'ISO'", "SET IntervalStyle = 'postgres'",
           "SET statement_timeout = '120s'")


def connect(url: str) -> pg8000.native.Connection:
    """A connection configured as gold queries run: UTC, ISO dates, intervals parsed exactly (see compare.Interval)."""
    parts = urlsplit(url)
    conn = pg8000.native.Connection(user=unquote(parts.username or "postgres"), host=parts.hostname or "127.0.0.1",
                                    port=parts.port or 5432, database=parts.path.lstrip("/") or "postgres",
                                    password=unquote(parts.password) if parts.password else None)
    conn.register_in_adapter(INTERVAL_OID, parse_pg_interval)
    for statement in SESSION:
        conn.run(statement)
    return conn


def database_url(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


def _csv_cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, str):
        return '"' + value.replace('"', '""') + '"'  # quoted: '' stays an empty string, not NULL
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, int | Decimal | dt.date):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    raise TypeError(f"cannot load {type(value).__name__} into PostgreSQL: {value!r}")


def copy_rows(conn: pg8000.native.Connection, table: str, columns: list[str], rows: list[tuple]) -> None:
    text = "".join(",".join(_csv_cell(v) for v in row) + "\n" for row in rows)
    conn.run(f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv)", stream=io.StringIO(text))


RowOrder = Literal["natural", "reversed", "shuffled"]


def load_schema(url: str, schema: ModuleType, *, database: str | None = None, row_order: RowOrder = "natural") -> str:
    """Create a fresh database (named after the schema unless told) on the server at `url`, create its tables and
    load every frame exactly; return the new database's URL. `row_order` other than "natural" inserts each table's
    rows last to first, or in a seeded shuffle: other physical orders, for the gold self-check."""
    name = database or schema.NAME
    admin = connect(url)
    try:
        admin.run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.run(f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8' "
                  "LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8'")
    finally:
        admin.close()
    db_url = database_url(url, name)
    conn = connect(db_url)
    try:
        conn.run("SET session_replication_role = replica")  # foreign keys unchecked while rows arrive in any order
        for table in schema.TABLES.values():
            conn.run(table.ddl)
        for table_name, table in schema.TABLES.items():
            rows = table.frame.rows()
            if row_order == "reversed":
                rows.reverse()
            elif row_order == "shuffled":
                random.Random(f"{schema.NAME}.{table_name}").shuffle(rows)
            copy_rows(conn, table_name, table.frame.columns, rows)
        conn.run("SET session_replication_role = origin")
        conn.run("ANALYZE")
    finally:
        conn.close()
    return db_url


def run_on(conn: pg8000.native.Connection, sql: str) -> tuple[list[str], list[list]]:
    rows = conn.run(sql)
    return [column["name"] for column in conn.columns or []], [list(row) for row in rows or []]


def run_gold(db_url: str, sql: str) -> tuple[list[str], list[list]]:
    """Column names and rows (Python values from pg8000; intervals as compare.Interval) of `sql` in PostgreSQL."""
    conn = connect(db_url)
    try:
        return run_on(conn, sql)
    finally:
        conn.close()
