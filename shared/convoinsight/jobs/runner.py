"""Runs one pipeline stage of one job per delivered task, safely under at-least-once delivery.

Per task: read the job's snapshot (job, outcome, outputs, this stage's lease: one round trip); skip when
the job has an outcome or the stage's output exists (resuming whatever the previous delivery may not have
finished); take the stage's lease (a busy lease answers "retry later"); rebuild the state from the job's
input and stored outputs; run the very same stage function the sync runner uses; store the output (first
writer wins), then read once whether the job was deleted or settled meanwhile (the output is then taken
back); then hand on: the next stage, or after the visualizer/analyzer pair, the compiler (decided once, by
an atomic claim), or for the compiler, settle the outcome and keep the answer.
Returns an HTTP-like status: 2xx done or permanently failed, 5xx retry.

Round trips per stage, in series (issue #15): snapshot, lease, output, check, and the hand-on (enqueue;
a claim after a branch; the outcome after the compiler). Nothing the runner read or wrote is read again.
"""

from __future__ import annotations

import gc
import logging
import sys
import threading
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
_FROZEN: set[bool] = set()  # heaps moved out of the collector's reach: without litellm, with it
_FREEZE_LOCK = threading.Lock()


def freeze_heap() -> None:
    """Move what the process has loaded so far (the pipeline's modules; litellm's, once a model call loaded
    it) out of the cyclic collector's reach, once each: a full collection walked all of it, 0.1-0.4 s with
    every thread stopped, every stage of every job in flight delayed by as much (issue #15). Only cyclic
    garbage alive at that moment is never collected; reference counting frees everything as before."""
    loaded = "litellm" in sys.modules
    if loaded in _FROZEN:
        return
    with _FREEZE_LOCK:
        if loaded not in _FROZEN:
            _FROZEN.add(loaded)
            gc.freeze()


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
    try:
        # The job, its outcome, every output and this stage's lease: one round trip.
        snap = store.snapshot(ctx.services.documents, user_id, job_id, outputs=STAGES, leases=(stage,))
    except ConvoInsightError as exc:
        if exc.retryable:
            return 503, {"outcome": "retry", "reason": exc.code}
        return 200, {"outcome": "ignored", "reason": "unknown job"}
    if snap.job is None:
        return 200, {"outcome": "ignored", "reason": "unknown job"}
    token = logs.bind(job_id=job_id, stage=stage, user=user_id)
    try:
        return _run(ctx, snap, stage)
    except ConvoInsightError as exc:  # a backend failed around the stage itself: let the platform retry
        if exc.retryable:
            return 503, {"outcome": "retry", "reason": exc.code}
        raise
    finally:
        logs.reset(token)


def _run(ctx, snap: store.Snapshot, stage: str) -> tuple[int, dict[str, Any]]:
    job, outputs = snap.job, snap.outputs
    docs, user_id, job_id = ctx.services.documents, job["user_id"], job["id"]
    if snap.outcome:
        if snap.outcome["status"] == "succeeded" and stage == "compiler":
            ctx.finalize(job, rebuild(job, outputs), outputs)  # idempotent: resume
        return 200, {"outcome": "skipped", "status": snap.outcome["status"]}
    if stage in outputs:
        _hand_on(ctx, job, stage, rebuild(job, outputs), outputs, resumed=True)
        return 200, {"outcome": "skipped", "status": "done"}

    settings = ctx.services.settings
    epoch = store.take_lease(docs, user_id, job_id, stage, _OWNER, settings.stage_lease_seconds,
                             held=snap.leases.get(stage))
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
    freeze_heap()
    record = store.output_record(stage, {"update": _jsonable(update), "ms": ms, "usage": meter.summary(),
                                         "attempt": epoch})
    stored = store.store_record(docs, user_id, job_id, record)
    # Written first, checked after, in one read: a delete or a cancel that came at any moment before this read
    # takes the output back. The read also brings what the hand-on needs that may have changed meanwhile: the
    # other branch's output, or every output when another delivery's won (first writer wins).
    wanted = STAGES if not stored else [b for b in BRANCHES if b != stage] if stage in BRANCHES else ()
    after = store.snapshot(docs, user_id, job_id, outputs=wanted)
    if after.job is None:  # its session was deleted while the stage ran: the output and lease it wrote go too
        store.purge(docs, user_id, job_id)
        return 200, {"outcome": "ignored", "reason": "job deleted"}
    if after.outcome:  # cancelled (or failed) while the stage ran: keep nothing
        if stored and after.outcome["status"] != "succeeded":
            store.drop_output(docs, user_id, job_id, stage)
        return 200, {"outcome": "skipped", "status": "cancelled"}
    outputs = after.outputs if not stored else {**outputs, **after.outputs, stage: record}
    _hand_on(ctx, job, stage, rebuild(job, outputs), outputs, resumed=not stored)
    return 200, {"outcome": "done", "ms": ms}


def _hand_on(ctx, job: dict[str, Any], stage: str, state: JobState, outputs: dict, *, resumed: bool) -> None:
    docs, user_id, job_id = ctx.services.documents, job["user_id"], job["id"]
    if stage == "compiler":
        won = store.settle(docs, user_id, job_id, "succeeded")
        if won["status"] == "succeeded":
            ctx.finalize(job, state, outputs)
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
