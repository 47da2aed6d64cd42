"""Visualizer: a Vega-Lite spec from the model, checked, with the result data bound by the server."""

from __future__ import annotations

import logging
from typing import Any

from convoinsight.charts.bind import bind, check_spec
from convoinsight.charts.measures import combine_rules
from convoinsight.charts.suggest import suggest_spec
from convoinsight.pipeline.context import result_columns, result_sample, result_stats
from convoinsight.pipeline.deps import StageDeps
from convoinsight.pipeline.state import JobState

log = logging.getLogger("convoinsight.visualizer")


def run(state: JobState, deps: StageDeps) -> dict[str, Any]:
    table = state.table
    chart_type = (state.route or {}).get("chart", "auto")
    if not table or table["row_count"] == 0 or chart_type == "none":
        return {"chart": None}
    columns = result_columns(state)
    context = {
        "question": state.question,
        "instruction": (state.plan or {}).get("visualizer_prompt", ""),
        "chart": chart_type,
        "columns": columns,
        "row_count": table["row_count"],
        "rows_sample": result_sample(table, 5),
        "column_stats": result_stats(table),
    }
    out = deps.ask("visualizer", context, state)
    spec, title = out.get("spec"), str(out.get("title") or "")[:200]
    if spec is not None:
        try:
            spec = check_spec(spec, {c["name"] for c in columns})
        except ValueError as exc:
            # An unusable spec from the model is replaced, not trusted: pick one from the column types.
            log.info("visualizer spec replaced by a suggested one: %s", exc)
            spec = suggest_spec(columns, chart_type, table["row_count"], title)
    if spec is None:
        return {"chart": None}
    bound, truncated = bind(spec, table, combine=combine_rules(state.sql))
    chart: dict[str, Any] = {"spec": bound, "title": title}
    if truncated:
        chart["truncated"] = truncated  # beside the spec, not in it: Vega-Lite has no place for it
    return {"chart": chart}
