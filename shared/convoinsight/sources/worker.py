"""The PostgreSQL worker: runs a tenant's SQL on their database and receives its result, in a worker process.

``run`` is the task of a supervised pool (``convoinsight.workers.pool``), so a result too large for
memory ends one question (the worker's address-space limit) instead of the serving process. Two
operations:

- ``query``: one checked SELECT in a ``READ ONLY`` transaction with ``SET LOCAL`` statement_timeout
  and search_path; only the rows the answer keeps (plus one) cross the network, and a larger result
  is counted on the server.
- ``pull``: the columns and rows of one linked table a federated question needs, written as a
  Parquet file the SQL engine then reads; more than ``cap`` rows is a clear error.

Connections are kept per worker for a short while (their password is dropped after sign-in) so a
question does not pay a TCP + TLS + SCRAM sign-in each time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from decimal import Decimal
from typing import Any

from pg8000.exceptions import DatabaseError, InterfaceError

from convoinsight.errors import ConvoInsightError
from convoinsight.sources import postgres
from convoinsight.sql.values import ResultEncoder, iso_duration

WRAPPER = "convoinsight_result"
FETCH_ROWS = 2048
IDLE_SECONDS = 60.0
MAX_KEPT = 8

# PostgreSQL type OIDs -> the answer's column_types (convoinsight.sql.values); anything else is "string".
_TYPES = {16: "boolean", 17: "binary", 20: "integer", 21: "integer", 23: "integer", 26: "integer",
          700: "float", 701: "float", 1700: "decimal", 1082: "date", 1114: "datetime", 1184: "datetime",
          1083: "time", 1266: "time", 1186: "interval", 114: "object", 3802: "object"}
_ARRAYS = {1000, 1001, 1005, 1007, 1016, 1021, 1022, 1231, 1009, 1015, 1014, 1182, 1115, 1185, 199, 3807, 2951}


class WorkerError(Exception):
    """Reported to the parent as TaskFailed with these details."""

    def __init__(self, code: str, message: str, stage: str = "execute", status: int = 422,
                 retry_after: int | None = None):
        super().__init__(message)
        self.details = {"code": code, "stage": stage, "status": status, "retry_after": retry_after}


class _Kept:
    def __init__(self) -> None:
        self.connections: dict[str, tuple[Any, float]] = {}

    @staticmethod
    def key(target: dict[str, Any]) -> str:
        return hashlib.sha256(json.dumps(target, sort_keys=True).encode()).hexdigest()

    def take(self, target: dict[str, Any], timeout_s: float):
        now = time.monotonic()
        for key, (_conn, used) in list(self.connections.items()):
            if now - used > IDLE_SECONDS:
                postgres.close_quietly(self.connections.pop(key)[0])
        kept = self.connections.pop(self.key(target), None)
        if kept is not None:
            return kept[0]
        return postgres.connect(postgres.Target.from_task(target), timeout_s)

    def give_back(self, target: dict[str, Any], conn) -> None:
        if len(self.connections) >= MAX_KEPT:
            oldest = min(self.connections, key=lambda k: self.connections[k][1])
            postgres.close_quietly(self.connections.pop(oldest)[0])
        self.connections[self.key(target)] = (conn, time.monotonic())


_KEPT = _Kept()


def column_type(oid: int) -> str:
    return "list" if oid in _ARRAYS else _TYPES.get(oid, "string")


def plain(value: Any) -> Any:
    """pg8000 values the encoder does not know as such: months-long intervals, ranges."""
    if value is None or isinstance(value, (str, int, float, bool, Decimal, dt.date, dt.time, dt.timedelta,
                                           bytes, list, dict)):
        return value
    if hasattr(value, "months") and hasattr(value, "microseconds"):  # pg8000 PGInterval
        months = sum((getattr(value, unit, None) or 0) * factor for unit, factor in
                     (("millennia", 12000), ("centuries", 1200), ("decades", 120), ("years", 12), ("months", 1)))
        days = (value.weeks or 0) * 7 + (value.days or 0)
        seconds = (value.hours or 0) * 3600 + (value.minutes or 0) * 60 + (value.seconds or 0)
        return ("interval", months, days, int((seconds * 1_000_000 + (value.microseconds or 0)) * 1000))
    return str(value)


class _RowEncoder(ResultEncoder):
    """ResultEncoder over rows of Python values (pg8000's) instead of Arrow batches."""

    def add_rows(self, rows: list[list[Any]]) -> None:
        self.add(_Rows([[_interval(plain(v)) for v in row] for row in rows]))


def _interval(value: Any) -> Any:
    if isinstance(value, tuple) and value and value[0] == "interval":
        return iso_duration(value[1], value[2], value[3])
    return value


class _Column:
    def __init__(self, values: list[Any]):
        self.values = values

    def to_pylist(self) -> list[Any]:
        return self.values


class _Rows:
    """The little of an Arrow batch ResultEncoder.add uses: num_rows, slice, columns."""

    def __init__(self, rows: list[list[Any]]):
        self.rows = rows
        self.num_rows = len(rows)

    def slice(self, start: int, length: int) -> _Rows:
        return _Rows(self.rows[start:start + length])

    @property
    def columns(self) -> list[_Column]:
        return [_Column(list(col)) for col in zip(*self.rows, strict=True)] if self.rows else []


def _execute(conn, statement: str):
    """One statement over the extended protocol: never split on ';', no placeholder rewriting."""
    return conn.execute_unnamed(statement)


def _query(conn, task: dict[str, Any]) -> dict[str, Any]:
    """The checked SELECT, at most ``max_rows + 1`` rows of it sent back; the full count only when it has more.

    Not a cursor (nor an Execute with a row limit): PostgreSQL plans those without parallel workers, which
    made large scans 1.2-1.5x slower than the same SQL sent directly."""
    limits = task["limits"]
    max_rows = int(limits["max_rows"])
    encoder = _RowEncoder(max_rows, int(limits["max_bytes"]), int(limits["max_cell_chars"]))
    # The SELECT was checked by the guard and generated by sqlglot; the wrapper is ours and fixed.
    context = _execute(conn, f"SELECT * FROM ({task['sql']}) AS {WRAPPER} LIMIT {max_rows + 1}")  # noqa: S608
    names = [c["name"] for c in context.columns or []]
    types = [column_type(c["type_oid"]) for c in context.columns or []]
    rows = context.rows or []
    for start in range(0, len(rows), FETCH_ROWS):
        encoder.add_rows(rows[start:start + FETCH_ROWS])
    if len(rows) > max_rows:  # more rows than an answer keeps: count them where they are
        counted = _execute(conn, f"SELECT count(*) FROM ({task['sql']}) AS {WRAPPER}")  # noqa: S608
        encoder.row_count = int(counted.rows[0][0])
    return {"columns": names, "column_types": types, **encoder.result()}


def _pull(conn, task: dict[str, Any]) -> dict[str, Any]:
    import polars as pl

    cap = int(task["cap"])
    context = _execute(conn, task["sql"])  # SELECT cols FROM table WHERE pushed LIMIT cap + 1
    rows = context.rows or []
    if len(rows) > cap:
        raise WorkerError("source_pull_too_large",
                          f"the question needs more than {cap:,} rows of the PostgreSQL table {task['table']!r} "
                          "(SOURCE_PULL_MAX_ROWS) to join it with uploaded data; filter that table further, or "
                          "ask over the database's tables alone so the query runs there", "limit")
    names = [c["name"] for c in context.columns]
    oids = [c["type_oid"] for c in context.columns]
    columns = {}
    for index, (name, oid) in enumerate(zip(names, oids, strict=True)):
        values = [_pull_value(row[index], oid) for row in rows]
        columns[name] = pl.Series(name, values, dtype=_polars_type(oid), strict=False)
    pl.DataFrame(columns).write_parquet(task["path"])
    return {"rows": len(rows), "path": task["path"]}


def _polars_type(oid: int):
    import polars as pl

    return {16: pl.Boolean, 20: pl.Int64, 21: pl.Int16, 23: pl.Int32, 700: pl.Float32, 701: pl.Float64,
            1700: pl.Decimal(38, 10), 1082: pl.Date, 1114: pl.Datetime("us"), 1184: pl.Datetime("us", "UTC"),
            1083: pl.Time, 1186: pl.Duration("us"), 17: pl.Binary}.get(oid, pl.String)


def _pull_value(value: Any, oid: int) -> Any:
    if value is None:
        return None
    if oid == 1700 and isinstance(value, Decimal):
        return value.quantize(Decimal("1e-10")) if value.is_finite() else None
    if oid == 1042 and isinstance(value, str):
        return value.rstrip(" ")  # char(n): PostgreSQL ignores the padding in comparisons; so must the engine
    if oid == 1186 and not isinstance(value, dt.timedelta):
        return None  # a months-long interval has no fixed length
    if oid in _TYPES or oid in (17,):
        return value
    if isinstance(value, (list, dict)):
        return json.dumps(value, default=str)
    return str(value)


OPERATIONS = {"query": _query, "pull": _pull}


def run(task: dict[str, Any]) -> dict[str, Any]:
    target = task["target"]
    kept = _KEPT.connections.get(_KEPT.key(target)) is not None
    try:
        return _run_once(task)
    except WorkerError as exc:
        if not (kept and exc.details["code"] == "source_unavailable"):
            raise
    return _run_once(task)  # a kept connection the server closed meanwhile (read-only: safe to run again)


def _run_once(task: dict[str, Any]) -> dict[str, Any]:
    op = OPERATIONS[task["op"]]
    target, timeout_s = task["target"], float(task["timeout_s"])
    try:
        conn = _KEPT.take(target, timeout_s)
    except ConvoInsightError as exc:
        raise WorkerError(exc.code, exc.message, "connect", exc.status, exc.retry_after) from None
    healthy = False
    try:
        with postgres.transaction(conn, read_only=True, timeout_s=timeout_s, search_path=task.get("search_path")):
            out = op(conn, task)
        healthy = True
        return out
    except WorkerError:
        healthy = True
        raise
    except DatabaseError as exc:
        healthy = True  # the statement failed; the connection is fine (the transaction was rolled back)
        state = postgres.sqlstate(exc)
        if state == "57014":
            raise WorkerError("sql_timeout", f"the query ran past the {timeout_s:g} s limit and was stopped by "
                              "PostgreSQL", "timeout") from None
        if state == "25006":
            raise WorkerError("sql_read_only", "PostgreSQL refused a write inside a read-only transaction",
                              "execute") from None
        raise WorkerError("sql_execution_error", f"PostgreSQL: {postgres.server_message(exc)}", "execute") from None
    except MemoryError:
        raise WorkerError("sql_memory_limit", "the result needed more memory than a PostgreSQL worker may use "
                          "(SOURCE_WORKER_MEMORY_MB)", "limit") from None
    except (InterfaceError, OSError) as exc:
        raise WorkerError("source_unavailable", f"the connection to PostgreSQL was lost ({exc})", "execute", 503,
                          postgres.RETRY_AFTER_SECONDS) from None
    finally:
        if healthy:
            _KEPT.give_back(target, conn)
        else:
            postgres.close_quietly(conn)
