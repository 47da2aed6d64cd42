"""The synchronous runner: chains the stages in-process.

router -> orchestrator -> manipulator -> (visualizer || analyzer) -> compiler.
A chat question goes from the router straight to the compiler. Each stage is
``(state, deps) -> update``; the runner applies updates and times stages.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

from convoinsight.observability import metrics
from convoinsight.pipeline.agents import analyzer, compiler, manipulator, orchestrator, router, visualizer
from convoinsight.pipeline.deps import StageDeps
from convoinsight.pipeline.state import JobState

# Threads for the visualizer of concurrent questions (the analyzer runs in the question's own thread); more
# questions at once than this wait for a thread, never for each other's stages.
BRANCH_THREADS = 32
Stage = Callable[[JobState, StageDeps], dict[str, Any]]
STAGE_FUNCTIONS: dict[str, Stage] = {
    "router": router.run,
    "orchestrator": orchestrator.run,
    "manipulator": manipulator.run,
    "visualizer": visualizer.run,
    "analyzer": analyzer.run,
    "compiler": compiler.run,
}


_BRANCHES: ThreadPoolExecutor | None = None
_BRANCHES_LOCK = threading.Lock()


def _branches() -> ThreadPoolExecutor:
    """One pool per process for the visualizer beside the analyzer: its threads are made once, not per question."""
    global _BRANCHES
    with _BRANCHES_LOCK:
        if _BRANCHES is None:
            _BRANCHES = ThreadPoolExecutor(max_workers=BRANCH_THREADS, thread_name_prefix="stage")
        return _BRANCHES


def _timed(name: str, state: JobState, deps: StageDeps) -> tuple[dict[str, Any], float]:
    started = time.perf_counter()
    update = STAGE_FUNCTIONS[name](state, deps)
    metrics.stage(name, time.perf_counter() - started)
    return update, round((time.perf_counter() - started) * 1000, 1)


def _apply(state: JobState, name: str, update: dict[str, Any], ms: float) -> JobState:
    return state.model_copy(update={**update, "timings": {**state.timings, name: ms}})


def run_sync(state: JobState, deps: StageDeps, on_stage: Callable[[JobState], None] | None = None) -> JobState:
    """The final state. ``on_stage`` sees the state after each stage (the two branches together)."""
    def done(new: JobState) -> JobState:
        if on_stage is not None:
            on_stage(new)
        return new

    for name in ("router",):
        state = done(_apply(state, name, *_timed(name, state, deps)))
    if (state.route or {}).get("route") == "data":
        for name in ("orchestrator", "manipulator"):
            state = done(_apply(state, name, *_timed(name, state, deps)))
        if state.sql_status == "ok":
            # The two read the same table and write disjoint fields: run them side by side, the visualizer on a
            # pool thread in a copy of this request's context (its log lines keep the request id).
            visual = _branches().submit(contextvars.copy_context().run, _timed, "visualizer", state, deps)
            try:
                analysis = _timed("analyzer", state, deps)
            finally:
                wait([visual])  # the visualizer never outlives its question
            results = {"visualizer": visual.result(), "analyzer": analysis}
            for name, (update, ms) in results.items():
                state = _apply(state, name, update, ms)
            state = done(state)
    return done(_apply(state, "compiler", *_timed("compiler", state, deps)))
