"""Manipulator: SQL from the question, compiled (guard + PostgreSQL semantics), run in the engine's workers.

An execution error is fed back for another try (up to ``SQL_MAX_ATTEMPTS``). A refusal is fed back
once with its reason, since models often reach for a construct we do not allow when an allowed one
would do; a second refusal ends the question (the guard stays fail-closed).

Before the first try, the question's words that no profile knows are looked up in the data (``value_hints``,
see pipeline/value_hints.py), so a filter on a value outside the profile's top values is written as stored.
"""

from __future__ import annotations

import time
from typing import Any

from convoinsight.errors import SqlExecutionError, SqlRefused
from convoinsight.pipeline import value_hints
from convoinsight.pipeline.context import dataset_view, history_view
from convoinsight.pipeline.deps import StageDeps
from convoinsight.pipeline.state import JobState
from convoinsight.sources.federate import compile_context
from convoinsight.sql.compile import compile_select

MAX_REFUSALS = 2


def sql_error(code: str, message: str, stage: str) -> dict[str, str]:
    return {"code": code, "message": message, "stage": stage}


def run(state: JobState, deps: StageDeps) -> dict[str, Any]:
    tables, columns = compile_context(state.datasets)
    context: dict[str, Any] = {
        "question": state.question,
        "instruction": (state.plan or {}).get("manipulator_prompt", state.question),
        "history": history_view(state),
        "datasets": [dataset_view(d, state.question) for d in state.routed_datasets()],
        "error": None,
    }
    hints, lookup_ms = value_hints.find(state.question, state.routed_datasets(), deps)
    if hints:
        context["value_hints"] = hints
    update: dict[str, Any] = {"sql_status": "failed", "sql_error": None, "table": None, "lookup_ms": lookup_ms}
    refusals = 0
    for attempt in range(1, deps.settings.sql_max_attempts + 1):
        out = deps.ask("manipulator", context, state)
        sql = out.get("sql", "").strip()
        update.update(sql=sql or None, explanation=out.get("explanation", ""), sql_attempts=attempt)
        if not sql:
            reason = out.get("explanation") or "the model wrote no SQL"
            update.update(sql_status="unanswerable", sql_error=sql_error("sql_unanswerable", reason, "guard"))
            break
        started = time.perf_counter()
        try:
            compiled = compile_select(sql, tables)
        except SqlRefused as exc:
            deps.reject("manipulator", context, state)
            refusals += 1
            update.update(sql_status="refused", sql_error=sql_error(exc.code, exc.message, "guard"))
            if refusals >= MAX_REFUSALS or attempt == deps.settings.sql_max_attempts:
                break
            context = {**context, "error": {"sql": sql, "message": f"refused by the safety check: {exc.message}"}}
            continue
        try:
            result = deps.run_sql(compiled, columns)
        except SqlExecutionError as exc:
            deps.reject("manipulator", context, state)
            stage = exc.details.get("stage", "execute")
            update.update(sql_status="failed", sql_error=sql_error(exc.details.get("code", exc.code), exc.message,
                                                                   stage))
            code = str(exc.details.get("code", ""))
            if stage in ("timeout", "limit") or code == "sql_engine_crashed" or code.startswith("source_"):
                break  # a limit or an unreachable database is not a typo: the same query would meet it again
            context = {**context, "error": {"sql": sql, "message": exc.message}}
            continue
        update.update(sql_status="ok", sql_error=None, table=result.as_dict(),
                      sql_ms=round((time.perf_counter() - started) * 1000, 2))
        break
    return update
