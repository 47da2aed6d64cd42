"""Run compiled SQL in the engine's worker pool, under the configured limits.

The serving process never runs the engine: a question's SQL goes to one worker of a
supervised pool (``convoinsight.workers.pool``). A panic, a segfault or an out-of-memory
kill there ends that question with ``sql_error`` and a fresh worker takes its place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from convoinsight.errors import SqlExecutionError
from convoinsight.observability import metrics
from convoinsight.settings import Settings
from convoinsight.workers.pool import (
    TaskFailed,
    WorkerBusy,
    WorkerCrashed,
    WorkerPool,
    WorkerTimeout,
    shared_pool,
)

if TYPE_CHECKING:
    from convoinsight.sql.compile import CompiledSql  # sqlglot: not needed to run compiled SQL

ENGINE_ENTRY = "convoinsight.sql.engine:run"
# Past the statement limit the worker interrupts the query itself; this much later the parent kills it.
KILL_GRACE_SECONDS = 3.0


@dataclass(frozen=True)
class SqlLimits:
    timeout_s: float
    memory_mb: int
    threads: int
    spill_mb: int
    max_rows: int
    max_bytes: int
    max_cell_chars: int

    @classmethod
    def from_settings(cls, settings: Settings) -> SqlLimits:
        return cls(timeout_s=settings.sql_timeout_seconds, memory_mb=settings.sql_memory_mb,
                   threads=settings.sql_threads, spill_mb=settings.sql_spill_mb, max_rows=settings.max_result_rows,
                   max_bytes=settings.max_result_bytes, max_cell_chars=settings.max_cell_chars)

    def as_task(self) -> dict[str, Any]:
        return {"timeout_s": self.timeout_s, "memory_mb": self.memory_mb, "threads": self.threads,
                "spill_mb": self.spill_mb, "max_rows": self.max_rows, "max_bytes": self.max_bytes,
                "max_cell_chars": self.max_cell_chars}


@dataclass(frozen=True)
class ResultTable:
    columns: list[str]
    column_types: list[str]
    rows: list[list[Any]]
    row_count: int
    truncated: bool
    limits: list[str] = field(default_factory=list)  # the limits that shaped the table: rows, bytes, cells

    def as_dict(self) -> dict[str, Any]:
        return {"columns": self.columns, "column_types": self.column_types, "rows": self.rows,
                "row_count": self.row_count, "truncated": self.truncated, "limits": self.limits}


def engine_pool(settings: Settings) -> WorkerPool:
    """The process's engine workers, started on the first query."""
    return shared_pool(ENGINE_ENTRY, settings.sql_workers, memory_bytes=settings.sql_worker_memory_mb * 1024 * 1024)


@metrics.counts_engine_limits("duckdb")
def run_select(compiled: CompiledSql, sources: dict[str, str], limits: SqlLimits, pool: WorkerPool) -> ResultTable:
    """Run ``compiled`` over ``sources`` ({table: Parquet path}); raises SqlExecutionError with ``details``
    ``{"code", "stage"}`` (stage ``execute``, ``timeout`` or ``limit``)."""
    missing = sorted(compiled.tables - sources.keys())
    if missing:
        raise SqlExecutionError(f"table {missing[0]!r} has no data", details={"code": "sql_execution_error",
                                                                           "stage": "execute"})
    task = {"sql": compiled.engine_sql, "tables": {name: sources[name] for name in sorted(compiled.tables)},
            "limits": limits.as_task()}
    try:
        out = pool.run(task, limits.timeout_s + KILL_GRACE_SECONDS)
    except TaskFailed as failed:
        details = failed.details if failed.details.get("code") else {"code": "sql_execution_error",
                                                                     "stage": "execute"}
        raise SqlExecutionError(failed.message, details=details) from None
    except WorkerTimeout:
        raise SqlExecutionError(f"the query ran past the {limits.timeout_s:g} s limit and was stopped",
                                details={"code": "sql_timeout", "stage": "timeout"}) from None
    except WorkerCrashed as crashed:
        raise SqlExecutionError(f"the SQL engine failed while running this query ({crashed}); nothing else was "
                                "affected", details={"code": "sql_engine_crashed", "stage": "execute"}) from None
    except WorkerBusy:
        raise SqlExecutionError("every SQL worker stayed busy past the time limit; try again",
                                details={"code": "sql_busy", "stage": "limit"}) from None
    return ResultTable(columns=out["columns"], column_types=out["column_types"], rows=out["rows"],
                       row_count=out["row_count"], truncated=out["truncated"], limits=out.get("limits", []))
