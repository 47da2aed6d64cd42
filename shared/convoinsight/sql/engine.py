"""The SQL engine: DuckDB over exactly the Parquet files of one question, sandboxed and bounded.

This module runs inside a worker process (see ``convoinsight.workers.pool``), never in the
serving process: ``run`` is the worker's task. Each question gets its own in-memory database
that can read nothing but the files named in the task (``allowed_paths``), with external
access off, no extension loading, and its configuration locked before the SQL is bound. A
watchdog interrupts the statement at its time limit; DuckDB's ``memory_limit`` bounds the
engine and the worker's address-space limit bounds everything else.

The SQL arrives already checked by the guard and transpiled by ``convoinsight.sql.dialect``;
this module never writes SQL of its own except the fixed view and settings statements.
"""

from __future__ import annotations

import atexit
import os
import tempfile
import threading
from typing import Any

import duckdb
import pyarrow  # noqa: F401 - results leave through Arrow; imported here, so the forkserver has it for every worker

from convoinsight.sql.values import ResultEncoder, column_type

BATCH_ROWS = 2048


class EngineError(Exception):
    """A failure the caller reports as ``sql_error``: ``code``, message and ``stage``."""

    def __init__(self, code: str, message: str, stage: str):
        super().__init__(message)
        self.details = {"code": code, "stage": stage}


class _Spare:
    """One configured, still-open database prepared while the worker is idle (a connect costs ~10 ms)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ready: dict[tuple, duckdb.DuckDBPyConnection] = {}
        self._thread: threading.Thread | None = None

    def take(self, config: tuple) -> duckdb.DuckDBPyConnection:
        if self._thread is not None:
            self._thread.join()
        with self._lock:
            con = self._ready.pop(config, None)
        return con if con is not None else _connect(config)

    def prepare(self, config: tuple, used: duckdb.DuckDBPyConnection | None = None) -> None:
        """Close ``used`` and open the next database in the background (a close costs ~5 ms too)."""
        def make() -> None:
            if used is not None:
                used.close()
            con = _connect(config)
            with self._lock:
                self._ready[config] = con

        self._thread = threading.Thread(target=make, daemon=True, name="duckdb-spare")
        self._thread.start()


    def close(self) -> None:
        """At exit: a DuckDB database still being opened or closed by a thread aborts the interpreter."""
        if self._thread is not None:
            self._thread.join()
        with self._lock:
            for con in self._ready.values():
                con.close()
            self._ready.clear()


_SPARE = _Spare()
atexit.register(_SPARE.close)


def _connect(config: tuple) -> duckdb.DuckDBPyConnection:
    memory_mb, threads, spill_mb, temp_dir = config
    return duckdb.connect(config={
        "memory_limit": f"{memory_mb}MB",
        "threads": threads,
        "temp_directory": temp_dir,
        "max_temp_directory_size": f"{spill_mb}MB",
        "autoload_known_extensions": False,
        "autoinstall_known_extensions": False,
        # PostgreSQL semantics: int / int is integer division. (NULL ordering is explicit in the
        # transpiled SQL: sqlglot writes PostgreSQL's defaults out.)
        "integer_division": True,
    })


def _sandbox(con: duckdb.DuckDBPyConnection, tables: dict[str, str | dict]) -> None:
    """Allow exactly these files, then shut every other door and lock the configuration.

    A source is a local Parquet path, or ``{"bucket", "object", ...}`` for a Cloud Storage object
    read with ranged requests (``gcs_source``)."""
    paths: dict[str, str] = {}
    for name, source in tables.items():
        if isinstance(source, dict):
            from convoinsight.sql import gcs_source

            # The external file cache shares one file handle between DuckDB's threads (a seek and a read
            # are not atomic across them) and keeps every byte read; the metadata cache lets the query
            # reuse the footer its view's binding just read.
            con.execute("SET enable_external_file_cache = false")
            con.execute("SET parquet_metadata_cache = true")
            paths[name] = gcs_source.register(con, source)
        else:
            paths[name] = source
    con.execute(f"SET allowed_paths = [{', '.join(_literal(p) for p in paths.values())}]")
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    for name, path in paths.items():
        # Our own fixed statement: the name is a validated dataset name, the path ours, both quoted.
        con.execute(f"CREATE TEMP VIEW {_identifier(name)} AS SELECT * FROM read_parquet({_literal(path)})")  # noqa: S608


def warm_up() -> None:
    """A worker's first statement costs about 3x the next (DuckDB's first bind, plan and Arrow export): run one
    on a throwaway in-memory database before the worker takes its first task (workers/pool.py)."""
    con = duckdb.connect(":memory:")
    try:
        reader = con.sql("SELECT v.k, SUM(v.n) AS n FROM (VALUES ('a', 1), ('b', 2)) AS v(k, n) GROUP BY v.k "
                         "ORDER BY v.k").to_arrow_reader(BATCH_ROWS)
        for _ in reader:
            continue
    finally:
        con.close()


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def run(task: dict[str, Any]) -> dict[str, Any]:
    """Run ``task["sql"]`` over ``task["tables"]`` ({name: parquet path}) within ``task["limits"]``."""
    limits = task["limits"]
    temp_dir = limits.get("temp_dir") or os.path.join(tempfile.gettempdir(), f"convoinsight-sql-{os.getpid()}")
    config = (int(limits["memory_mb"]), int(limits["threads"]), int(limits["spill_mb"]), temp_dir)
    con = _SPARE.take(config)
    watchdog = threading.Timer(float(limits["timeout_s"]), con.interrupt)
    try:
        _sandbox(con, task["tables"])
        watchdog.start()
        relation = con.sql(task["sql"])
        if relation is None:
            raise EngineError("sql_not_a_query", "the statement returned no result", "execute")
        names = list(relation.columns)
        types = [column_type(str(t)) for t in relation.types]
        encoder = ResultEncoder(int(limits["max_rows"]), int(limits["max_bytes"]),
                                int(limits["max_cell_chars"]))
        reader = relation.to_arrow_reader(BATCH_ROWS)
        for batch in reader:
            encoder.add(batch)
        return {"columns": names, "column_types": types, **encoder.result()}
    except duckdb.InterruptException:
        raise EngineError("sql_timeout", f"the query ran past the {limits['timeout_s']:g} s limit and was "
                          "stopped", "timeout") from None
    except duckdb.OutOfMemoryException:
        raise EngineError("sql_memory_limit", f"the query needed more than the {limits['memory_mb']} MB memory "
                          "limit", "limit") from None
    except duckdb.Error as exc:
        raise EngineError("sql_execution_error", _message(exc), "execute") from None
    except FileNotFoundError as exc:
        raise EngineError("sql_execution_error", f"a table's data could not be found ({exc})", "execute") from None
    except MemoryError:
        raise EngineError("sql_memory_limit", f"the query needed more than the worker's memory limit "
                          f"({limits['memory_mb']} MB for the engine)", "limit") from None
    finally:
        watchdog.cancel()
        _SPARE.prepare(config, used=con)


def _message(exc: Exception) -> str:
    """DuckDB's first line, without the transpiled-SQL excerpt that would not match what the model wrote."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    return first[:500]
