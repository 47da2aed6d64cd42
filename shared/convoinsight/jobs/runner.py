"""Runs one pipeline stage of one job per delivered task, safely under at-least-once delivery.

Per task: skip when the job has an outcome or the stage's output exists
(resuming whatever the previous delivery may not have finished); take the
stage's lease (a busy lease answers "retry later"); rebuild the state from the
job's input and stored outputs; run the very same stage function the sync
runner uses; store the output (first writer wins); then hand on: the next
stage, or after the visualizer/analyzer pair, the compiler (decided once, by
an atomic claim), or for the compiler, settle the outcome and keep the answer.
Returns an HTTP-like status: 2xx done or permanently failed, 5xx retry.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from convoinsight.errors import ConvoInsightError
from convoinsight.jobs import store
from convoinsight.jobs.queue import StageTask
from convoinsight.observability import logs, metrics
from convoinsight.pipeline.runner import STAGE_FUNCTIONS
from convoinsight.pipeline.state import STAGES, JobState

log = logging.getLogger("convoinsight.jobs")
BRANCHES = ("visualizer", "analyzer")
_OWNER = uuid.uuid4().hex[:12]  # this process, as a lease owner


def successors(stage: str, state: JobState) -> list[str]:
    if stage == "router":
        return ["orchestrator"] if (state.route or {}).get("route") == "data" else ["compiler"]
    if stage == "orchestrator":
        return ["manipulator"]
    if stage == "manipulator":
        return list(BRANCHES) if state.sql_status == "ok" else ["compiler"]
    return []


def planned_stages(state: JobState | None) -> list[str]:
    """The stages this job will run, as far as known (for progress bars)."""
    if state is None or state.route is None:
        return list(STAGES)
    if state.route.get("route") != "data":
        return ["router", "compiler"]
    if state.sql_status is not None and state.sql_status != "ok":
        return ["router", "orchestrator", "manipulator", "compiler"]
    return list(STAGES)


def rebuild(job: dict[str, Any], outputs: dict[str, dict[str, Any]]) -> JobState:
    state = JobState.model_validate(job["state"])
    for stage in STAGES:
        if stage in outputs:
            out = outputs[stage]
            state = state.model_copy(update={**out["update"], "timings": {**state.timings, stage: out["ms"]}})
    return state


def run_task(ctx, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """``ctx`` provides services, settings, deps(job, meter) and finalize(job, state, outputs)."""
    user_id, job_id, stage = str(body.get("user_id", "")), str(body.get("job_id", "")), str(body.get("stage", ""))
    if stage not in STAGES:
        return 200, {"outcome": "ignored", "reason": "unknown stage"}
    docs = ctx.services.documents
    try:
        job = store.get_job(docs, user_id, job_id)
    except ConvoInsightError as exc:
        if exc.retryable:
            return 503, {"outcome": "retry", "reason": exc.code}
        return 200, {"outcome": "ignored", "reason": "unknown job"}
    token = logs.bind(job_id=job_id, stage=stage, user=user_id)
    try:
        return _run(ctx, job, stage)
    except ConvoInsightError as exc:  # a backend failed around the stage itself: let the platform retry
        if exc.retryable:
            return 503, {"outcome": "retry", "reason": exc.code}
        raise
    finally:
        logs.reset(token)


def _run(ctx, job: dict[str, Any], stage: str) -> tuple[int, dict[str, Any]]:
    docs, user_id, job_id = ctx.services.documents, job["user_id"], job["id"]
    settled = store.outcome(docs, user_id, job_id)
    if settled:
        if settled["status"] == "succeeded" and stage == "compiler":
            ctx.finalize(job, rebuild(job, store.outputs(docs, user_id, job_id)))  # idempotent: resume
        return 200, {"outcome": "skipped", "status": settled["status"]}
    outputs = store.outputs(docs, user_id, job_id)
    if stage in outputs:
        _hand_on(ctx, job, stage, rebuild(job, outputs), outputs, resumed=True)
        return 200, {"outcome": "skipped", "status": "done"}

    settings = ctx.services.settings
    epoch = store.take_lease(docs, user_id, job_id, stage, _OWNER, settings.stage_lease_seconds)
    if epoch is None:
        return 503, {"outcome": "busy"}
    if epoch > settings.job_max_attempts:
        store.settle(docs, user_id, job_id, "failed", stage=stage,
                     reason=f"the {stage} stage did not finish after {settings.job_max_attempts} attempts")
        return 200, {"outcome": "failed"}

    state = rebuild(job, outputs)
    deps, meter = ctx.deps(job)
    started = time.perf_counter()
    try:
        update = STAGE_FUNCTIONS[stage](state, deps)
    except ConvoInsightError as exc:
        if exc.retryable and epoch < settings.job_max_attempts:
            store.release_lease(docs, user_id, job_id, stage, epoch, _OWNER)
            return 503, {"outcome": "retry", "reason": exc.code}
        store.settle(docs, user_id, job_id, "failed", stage=stage, reason=exc.message, code=exc.code)
        return 200, {"outcome": "failed", "code": exc.code}
    except Exception:
        log.exception("stage %s crashed", stage)
        store.release_lease(docs, user_id, job_id, stage, epoch, _OWNER)
        return 500, {"outcome": "retry", "reason": "crash"}
    ms = round((time.perf_counter() - started) * 1000, 1)
    metrics.stage(stage, ms / 1000)
    if store.outcome(docs, user_id, job_id):  # cancelled (or failed) while the stage ran: keep nothing
        return 200, {"outcome": "skipped", "status": "cancelled"}
    if not store.exists(docs, user_id, job_id):  # its session was deleted while the stage ran
        store.purge(docs, user_id, job_id)  # the lease this stage took
        return 200, {"outcome": "ignored", "reason": "job deleted"}
    stored = store.store_output(docs, user_id, job_id, stage, {"update": _jsonable(update), "ms": ms,
                                                               "usage": meter.summary(), "attempt": epoch})
    if not store.exists(docs, user_id, job_id):  # deleted between the check and the write: take it back
        store.purge(docs, user_id, job_id)
        return 200, {"outcome": "ignored", "reason": "job deleted"}
    outputs = store.outputs(docs, user_id, job_id)
    _hand_on(ctx, job, stage, rebuild(job, outputs), outputs, resumed=not stored)
    return 200, {"outcome": "done", "ms": ms}


def _hand_on(ctx, job: dict[str, Any], stage: str, state: JobState, outputs: dict, *, resumed: bool) -> None:
    docs, user_id, job_id = ctx.services.documents, job["user_id"], job["id"]
    if stage == "compiler":
        won = store.settle(docs, user_id, job_id, "succeeded")
        if won["status"] == "succeeded":
            ctx.finalize(job, state)
        return
    if stage in BRANCHES:
        if all(b in outputs for b in BRANCHES):
            # Both branches are done: exactly one of the finishers (or a redelivery) enqueues the compiler.
            if store.claim_once(docs, user_id, job_id, "compiler"):
                ctx.queue.enqueue(StageTask(user_id, job_id, "compiler"))
            elif resumed and "compiler" not in outputs:
                claim = store.claimed(docs, user_id, job_id, "compiler") or {"at": 0}
                if time.time() - claim["at"] > ctx.services.settings.stage_lease_seconds:
                    ctx.queue.enqueue(StageTask(user_id, job_id, "compiler"))  # the winner died before enqueue
        return
    for nxt in successors(stage, state):
        if not resumed or nxt not in outputs:
            ctx.queue.enqueue(StageTask(user_id, job_id, nxt))


def _jsonable(update: dict[str, Any]) -> dict[str, Any]:
    import json

    return json.loads(json.dumps(update, default=str))
