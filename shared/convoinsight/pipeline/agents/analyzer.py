"""Analyzer: a short summary and insights of the result, every number checked against the whole result.

The model is shown a bounded sample of rows and statistics the engine computed over every row
(``analysis/whole_result.py``), so that totals, extremes, shares and trends describe the result and
not the rows that happened to be displayed; its prose is then checked against both.
"""

from __future__ import annotations

from typing import Any

from convoinsight.analysis.grounding import check_grounding
from convoinsight.analysis.whole_result import prompt_view, whole_result_stats
from convoinsight.pipeline.context import result_columns, result_sample, result_stats
from convoinsight.pipeline.deps import StageDeps
from convoinsight.pipeline.state import JobState


def run(state: JobState, deps: StageDeps) -> dict[str, Any]:
    table = state.table
    if not table:
        return {"analysis": None, "result_stats": None}
    # Computed even without an analysis: the compiler's ``verified`` rests on them too.
    stats = whole_result_stats(state, deps)
    if not (state.route or {}).get("analysis", True):
        return {"analysis": None, "result_stats": stats}
    sample = result_sample(table)
    context = {
        "question": state.question,
        "instruction": (state.plan or {}).get("analyzer_prompt", ""),
        "sql": state.sql,
        "columns": result_columns(state),
        "rows": sample,
        "rows_shown": len(sample),
        "row_count": table["row_count"],
    }
    if stats is not None:
        context["result_stats"] = prompt_view(stats)
    else:  # no whole-result statistics: say plainly what the per-column figures cover
        context["column_stats"] = result_stats(table)
        context["column_stats_cover"] = "all rows" if not table["truncated"] else \
            f"only the first {len(table['rows'])} of {table['row_count']} rows"
    out = deps.ask("analyzer", context, state)
    # The model's prose is untrusted like its SQL: numbers the whole result does not support are removed.
    checked = check_grounding(out["summary"], [str(i) for i in out.get("insights", [])][:6], table["columns"],
                              table["column_types"], table["rows"], table["row_count"],
                              complete=not table["truncated"], question=state.question, stats=stats)
    return {"analysis": {"summary": checked.summary, "insights": checked.insights, "verified": checked.verified,
                         "removed": checked.unsupported}, "result_stats": stats}
