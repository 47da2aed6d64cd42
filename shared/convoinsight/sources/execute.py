"""Running SQL on a tenant's PostgreSQL through the PostgreSQL workers, and mapping their failures.

Questions over linked tables come here from ``sources.federate``; the ``query`` route directly.
Every failure that the manipulator can act on is a ``SqlExecutionError`` with ``details``
``{"code", "stage"}``, like the engine's; an unreachable server is a 503 with Retry-After.
"""

from __future__ import annotations

from typing import Any

from convoinsight.errors import ConvoInsightError, SqlExecutionError, Unprocessable
from convoinsight.observability import metrics
from convoinsight.settings import Settings
from convoinsight.sources.postgres import SourceUnavailable, Target
from convoinsight.sql.execute import KILL_GRACE_SECONDS, ResultTable, SqlLimits
from convoinsight.workers.pool import TaskFailed, WorkerBusy, WorkerCrashed, WorkerPool, WorkerTimeout, shared_pool

SOURCE_ENTRY = "convoinsight.sources.worker:run"
SQL_CODES = {"sql_timeout", "sql_execution_error", "sql_read_only", "sql_memory_limit", "source_pull_too_large"}


def source_pool(settings: Settings) -> WorkerPool:
    """The process's PostgreSQL workers, started on first use."""
    return shared_pool(SOURCE_ENTRY, settings.source_workers,
                       memory_bytes=settings.source_worker_memory_mb * 1024 * 1024)


def _run(pool: WorkerPool, task: dict[str, Any], timeout_s: float) -> dict[str, Any]:
    try:
        return pool.run(task, timeout_s + task["target"]["connect_timeout"] + KILL_GRACE_SECONDS)
    except TaskFailed as failed:
        raise error_of(failed) from None
    except WorkerTimeout:
        raise SqlExecutionError(f"PostgreSQL did not answer within {timeout_s:g} s; the query was stopped",
                                details={"code": "sql_timeout", "stage": "timeout"}) from None
    except WorkerCrashed as crashed:
        raise SqlExecutionError(f"the PostgreSQL worker failed while receiving this result ({crashed}); nothing "
                                "else was affected", details={"code": "sql_engine_crashed", "stage": "execute"}) \
            from None
    except WorkerBusy:
        raise SqlExecutionError("every PostgreSQL worker stayed busy past the time limit; try again",
                                details={"code": "sql_busy", "stage": "limit"}) from None


def error_of(failed: TaskFailed) -> ConvoInsightError:
    details = failed.details or {}
    code = details.get("code") or "sql_execution_error"
    if code in SQL_CODES:
        return SqlExecutionError(failed.message, details={"code": code, "stage": details.get("stage", "execute")})
    if code == "source_unavailable" or details.get("status") == 503:
        return SourceUnavailable(failed.message)
    if details.get("status") == 422 or code.startswith("source_"):
        return Unprocessable(failed.message, code=code)
    return SqlExecutionError(failed.message, details={"code": "sql_execution_error", "stage": "execute"})


@metrics.counts_engine_limits("postgres")
def query(pool: WorkerPool, target: Target, sql: str, search_path: str, limits: SqlLimits,
          timeout_s: float) -> ResultTable:
    """One checked SELECT (PostgreSQL text) read-only on ``target``; the answer's table shape."""
    task = {"op": "query", "target": target.as_task(), "sql": sql, "search_path": search_path,
            "timeout_s": timeout_s, "limits": limits.as_task()}
    out = _run(pool, task, timeout_s)
    return ResultTable(columns=out["columns"], column_types=out["column_types"], rows=out["rows"],
                       row_count=out["row_count"], truncated=out["truncated"], limits=out.get("limits", []))


@metrics.counts_engine_limits("postgres")
def pull(pool: WorkerPool, target: Target, sql: str, table: str, cap: int, path: str, timeout_s: float) -> int:
    """Rows of one linked table written to ``path`` (Parquet); raises ``source_pull_too_large`` past ``cap``."""
    task = {"op": "pull", "target": target.as_task(), "sql": sql, "table": table, "cap": cap, "path": path,
            "timeout_s": timeout_s}
    return int(_run(pool, task, timeout_s)["rows"])
