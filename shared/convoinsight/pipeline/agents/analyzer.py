"""Analyzer: a short summary and insights of the result table, every number checked against it."""

from __future__ import annotations

from typing import Any

from convoinsight.analysis.grounding import check_grounding
from convoinsight.pipeline.context import result_columns, result_sample, result_stats
from convoinsight.pipeline.deps import StageDeps
from convoinsight.pipeline.state import JobState


def run(state: JobState, deps: StageDeps) -> dict[str, Any]:
    table = state.table
    if not table or not (state.route or {}).get("analysis", True):
        return {"analysis": None}
    context = {
        "question": state.question,
        "instruction": (state.plan or {}).get("analyzer_prompt", ""),
        "sql": state.sql,
        "columns": result_columns(state),
        "rows": result_sample(table),
        "row_count": table["row_count"],
        "column_stats": result_stats(table),
    }
    out = deps.ask("analyzer", context, state)
    # The model's prose is untrusted like its SQL: numbers the table does not support are removed.
    checked = check_grounding(out["summary"], [str(i) for i in out.get("insights", [])][:6], table["columns"],
                              table["column_types"], table["rows"], table["row_count"],
                              complete=not table["truncated"], question=state.question)
    return {"analysis": {"summary": checked.summary, "insights": checked.insights, "verified": checked.verified,
                         "removed": checked.unsupported}}
