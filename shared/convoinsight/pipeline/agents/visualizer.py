"""Visualizer: a Vega-Lite spec from the model, checked, with the result data bound by the server, then presented.

Presentation (charts/presentation.py) runs on every spec, the model's or the suggested one, after
binding: axis and legend titles from the datasets' labels and the SQL's aggregates, number formats,
sizes, order, palette, a title that reads as one. It is checked again and left out if that fails.
"""

from __future__ import annotations

import logging
from typing import Any

from convoinsight.charts import presentation
from convoinsight.charts.bind import bind, check_spec
from convoinsight.charts.labels import column_titles
from convoinsight.charts.measures import combine_rules
from convoinsight.charts.suggest import suggest_spec
from convoinsight.charts.titles import clean_title
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
        # What the user asked for ("auto" unless they hinted a type): the chart above may be the router's choice.
        "chart_hint": state.chart_hint,
        "columns": columns,
        "row_count": table["row_count"],
        "rows_sample": result_sample(table, 5),
        "column_stats": result_stats(table),
    }
    out = deps.ask("visualizer", context, state)
    spec, title = out.get("spec"), clean_title(str(out.get("title") or "")[:200])
    if spec is not None:
        try:
            spec = check_spec(spec, {c["name"] for c in columns})
        except ValueError as exc:
            # An unusable spec from the model is replaced, not trusted: pick one from the column types.
            log.info("visualizer spec replaced by a suggested one: %s", exc)
            spec = suggest_spec(columns, chart_type, table["row_count"], title)
    if spec is None:
        return {"chart": None}
    if title and not spec.get("title"):
        spec["title"] = title  # drawn in the image too, and the truncation note becomes its subtitle
    bound, truncated = bind(spec, table, combine=combine_rules(state.sql))
    titles = column_titles(table["columns"], state.sql, state.routed_datasets())
    bound = presentation.apply(bound, titles, currency=deps.settings.chart_currency, truncated=truncated)
    chart: dict[str, Any] = {"spec": bound, "title": title}
    if truncated:
        chart["truncated"] = truncated  # beside the spec, not in it: Vega-Lite has no place for it
    return {"chart": chart}
