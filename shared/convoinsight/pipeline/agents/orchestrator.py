"""Orchestrator: one precise instruction per downstream agent."""

from __future__ import annotations

from typing import Any

from convoinsight.pipeline.context import dataset_view, history_view
from convoinsight.pipeline.deps import StageDeps
from convoinsight.pipeline.state import JobState


def run(state: JobState, deps: StageDeps) -> dict[str, Any]:
    context = {
        "question": state.question,
        "route": state.route,
        "history": history_view(state),
        "datasets": [dataset_view(d, state.question) for d in state.routed_datasets()],
    }
    return {"plan": deps.ask("orchestrator", context, state)}
