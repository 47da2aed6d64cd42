"""Router: chat or data, which datasets matter, which chart."""

from __future__ import annotations

from typing import Any

from convoinsight.pipeline.context import dataset_view, history_view
from convoinsight.pipeline.deps import StageDeps
from convoinsight.pipeline.state import JobState


def run(state: JobState, deps: StageDeps) -> dict[str, Any]:
    context = {
        "question": state.question,
        "chart_hint": state.chart_hint,
        "history": history_view(state),
        "datasets": [dataset_view(d, state.question) for d in state.datasets],
    }
    route = deps.ask("router", context, state)
    known = {d["name"] for d in state.datasets}
    # Model output is untrusted: keep only datasets that exist in this domain.
    route["datasets"] = [n for n in route.get("datasets", []) if n in known]
    if state.chart_hint != "auto":
        route["chart"] = state.chart_hint
    return {"route": route}
