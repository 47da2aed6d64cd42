"""Manipulator: SQL from the question, checked by the guard, run in Polars; errors fed back."""

from __future__ import annotations

import time
from typing import Any

from convoinsight.errors import SqlExecutionError, SqlRefused
from convoinsight.pipeline.context import dataset_view, history_view
from convoinsight.pipeline.deps import StageDeps
from convoinsight.pipeline.state import JobState
from convoinsight.sql.execute import run_select
from convoinsight.sql.guard import check_select


def run(state: JobState, deps: StageDeps) -> dict[str, Any]:
    allowed = {d["name"] for d in state.datasets}
    context: dict[str, Any] = {
        "question": state.question,
        "instruction": (state.plan or {}).get("manipulator_prompt", state.question),
        "history": history_view(state),
        "datasets": [dataset_view(d, state.question) for d in state.routed_datasets()],
        "error": None,
    }
    update: dict[str, Any] = {"sql_status": "failed", "sql_error": None, "table": None}
    for attempt in range(1, deps.settings.sql_max_attempts + 1):
        out = deps.ask("manipulator", context, state)
        sql = out.get("sql", "").strip()
        update.update(sql=sql or None, explanation=out.get("explanation", ""), sql_attempts=attempt)
        if not sql:
            update.update(sql_status="unanswerable", sql_error=out.get("explanation") or None)
            break
        started = time.perf_counter()
        try:
            checked = check_select(sql, allowed)
        except SqlRefused as exc:
            # A refusal is final: hostile or out-of-domain SQL is never "repaired" into running.
            deps.reject("manipulator", context, state)
            update.update(sql_status="refused", sql_error=exc.message)
            break
        try:
            result = run_select(checked.sql, deps.frames(set(checked.tables)), deps.settings.max_result_rows)
        except SqlExecutionError as exc:
            deps.reject("manipulator", context, state)
            update["sql_error"] = exc.message
            context = {**context, "error": {"sql": sql, "message": exc.message}}
            continue
        update.update(sql_status="ok", sql_error=None, table=result.as_dict(),
                      sql_ms=round((time.perf_counter() - started) * 1000, 2))
        break
    return update
