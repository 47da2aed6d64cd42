"""Compiler: the final markdown answer and 2 to 4 follow-up questions."""

from __future__ import annotations

from typing import Any

from convoinsight.analysis.grounding import check_grounding
from convoinsight.analysis.whole_result import prompt_view
from convoinsight.llm.offline import planner
from convoinsight.pipeline.context import dataset_view, history_view, result_sample
from convoinsight.pipeline.deps import StageDeps
from convoinsight.pipeline.draft import AnswerDraft
from convoinsight.pipeline.state import JobState


def run(state: JobState, deps: StageDeps) -> dict[str, Any]:
    table = state.table or {}
    context = {
        "question": state.question,
        "route": (state.route or {}).get("route", "data"),
        "instruction": (state.plan or {}).get("compiler_instruction", ""),
        "history": history_view(state),
        "datasets": [dataset_view(d, state.question) for d in state.routed_datasets()],
        "sql": state.sql,
        "sql_status": state.sql_status,
        "sql_error": state.sql_error,
        "explanation": state.explanation,
        "row_count": table.get("row_count", 0),
        "table_preview": {"columns": table.get("columns", []), "rows": result_sample(table, 10) if table else []},
        "analysis": state.analysis,
        "result_stats": prompt_view(state.result_stats) if state.result_stats else None,
        "chart_title": (state.chart or {}).get("title"),
    }
    notice = status_notice(state)
    # With a token sink the markdown streams as it is written: a draft preview (pipeline/draft.py); the
    # checks below still decide the final text, which the draft ends on.
    draft = AnswerDraft(deps.tokens, f"{notice}\n\n" if notice else "") if deps.tokens is not None else None
    out = deps.ask("compiler", context, state, draft=draft)
    follow_ups = [str(f).strip() for f in out.get("follow_ups", []) if str(f).strip()][:4]
    if len(follow_ups) < 2 and state.datasets:
        # Always offer at least two next questions: top up with ones the offline planner can answer.
        seen = {f.lower() for f in follow_ups}
        extra = [f for f in planner.follow_ups(state.question, state.routed_datasets(), None) if f.lower() not in seen]
        follow_ups += extra[: 2 - len(follow_ups)]
    answer = str(out["answer"]).strip()
    verified = None
    if table:
        # The final prose is checked too, against the same whole-result statistics as the analysis; here
        # figures are flagged rather than cut out of the markdown. ``verified`` is true only when every
        # number of both is a cell or a whole-result aggregate (README, "What `verified` promises").
        checked = check_grounding(answer, [], table["columns"], table["column_types"], table["rows"],
                                  table["row_count"], complete=not table["truncated"], question=state.question,
                                  stats=state.result_stats)
        analysis_ok = (state.analysis or {}).get("verified", True)
        verified = checked.verified and analysis_ok
        if not checked.verified:
            answer += ("\n\n_Not found in the result table, so not verified: "
                       + ", ".join(checked.unsupported) + "._")
        elif not analysis_ok:
            answer += "\n\n_Some figures from the analysis could not be verified against the result table " \
                      "and were left out._"
    final = f"{notice}\n\n{answer}" if notice else answer
    if draft is not None:
        draft.finish(final)
    return {"answer": final, "follow_ups": follow_ups, "verified": verified}


def status_notice(state: JobState) -> str:
    """What happened to the SQL, stated by the server: the model's prose cannot hide a refusal or failure."""
    if (state.route or {}).get("route") != "data" or state.sql_status == "ok":
        return ""
    reason = (state.sql_error or {}).get("message") or state.explanation or "no reason given"
    if state.sql_status == "refused":
        return f"**The generated SQL was refused by the safety check and was not run:** {reason}"
    if state.sql_status == "failed":
        return (f"**The query could not be run after {state.sql_attempts} attempts.** "
                f"Last error: {reason}")
    return f"**This question could not be answered from the data:** {reason}"
