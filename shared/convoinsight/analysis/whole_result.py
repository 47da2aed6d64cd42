"""Statistics of an answer's whole result, computed by the engine that ran its SQL.

The displayed table is capped (``MAX_RESULT_ROWS``, ``MAX_RESULT_BYTES``); the analyzer and the
grounding check must not describe that prefix as if it were the result. ``whole_result_stats`` runs
the statement of ``sql/stats.py`` over the answer's own SQL, compiled like any model SQL (guard,
PostgreSQL semantics) and run where the query ran (the engine, the tenant's PostgreSQL, or both), so
it has the query's limits and timeout. A join of linked PostgreSQL tables with uploaded datasets gets
none (its statement would pull the linked tables again). Any failure (a timeout, a limit, an engine error, a refusal)
only means there are no statistics: the answer goes on, verified against what is known.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from convoinsight.errors import ConvoInsightError

if TYPE_CHECKING:  # the stage's types only: analysis/ sits below the pipeline
    from convoinsight.pipeline.deps import StageDeps
    from convoinsight.pipeline.state import JobState

log = logging.getLogger("convoinsight.analysis")


def whole_result_stats(state: JobState, deps: StageDeps) -> dict[str, Any] | None:
    """The statistics of ``state.table``'s whole result (``sql/stats.py``'s ``read_stats``), or None."""
    table, settings = state.table, deps.settings
    if not settings.result_stats or not table or not state.sql or not table.get("columns") or \
            not table.get("row_count"):
        return None
    from convoinsight.sources.federate import compile_context
    from convoinsight.sql.compile import compile_select  # sqlglot: only where SQL is compiled
    from convoinsight.sql.stats import plan_stats, read_stats

    started = time.perf_counter()
    try:
        tables, columns = compile_context(state.datasets)
        checked = compile_select(state.sql, tables)
        if _federated(deps.tables(set(checked.tables))):
            return None  # a join of live tables with uploads would pull every linked table a second time
        plan = plan_stats(checked.source, table["columns"], table["column_types"],
                          top=settings.result_stats_top_groups, max_columns=settings.result_stats_max_columns)
        result = deps.run_sql(compile_select(plan.sql, tables), columns)
        stats = read_stats(plan, result.rows[0])
    except (ConvoInsightError, ValueError, KeyError, IndexError, TypeError) as exc:
        code = (getattr(exc, "details", None) or {}).get("code") or type(exc).__name__
        log.warning("whole-result statistics unavailable (%s): %s", code, str(exc)[:300])
        return None
    stats["ms"] = round((time.perf_counter() - started) * 1000, 2)
    if stats["row_count"] != table["row_count"]:  # the data changed between the two statements
        log.warning("whole-result statistics dropped: %s rows, the table has %s", stats["row_count"],
                    table["row_count"])
        return None
    return stats


def _federated(sources: dict[str, Any]) -> bool:
    from convoinsight.sources.federate import is_linked

    kinds = {is_linked(source) for source in sources.values()}
    return kinds == {True, False}


def prompt_view(stats: dict[str, Any]) -> dict[str, Any]:
    """The statistics as a prompt shows them: what each figure covers said once, bookkeeping left out."""
    measures = [{k: v for k, v in m.items() if k != "index"} for m in stats.get("measures", [])]
    return {"covers": f"all {stats['row_count']} rows of the result", "row_count": stats["row_count"],
            "label": stats.get("label"), "time": stats.get("time"), "measures": measures,
            "dimensions": [{k: v for k, v in d.items() if k != "index"} for d in stats.get("dimensions", [])]}
