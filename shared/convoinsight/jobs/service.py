"""Async questions: submit a job, run its stages from tasks, report progress, cancel.

``JobContext`` is what a stage task needs besides the job: the services, a model
client per job, the job's pinned datasets, the queue, and the finalize step
that keeps the answer (shared with the sync path, with ids derived from the job).
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from convoinsight.errors import NotFound
from convoinsight.jobs import store
from convoinsight.jobs.queue import StageTask
from convoinsight.jobs.runner import planned_stages, rebuild, run_task
from convoinsight.jobs.tokens import RedisTokenSink
from convoinsight.llm import keys
from convoinsight.llm.client import LLMClient
from convoinsight.llm.prompts import PromptStore
from convoinsight.llm.usage import UsageMeter
from convoinsight.pipeline.deps import StageDeps
from convoinsight.pipeline.state import STAGES, JobState
from convoinsight.queries.answers import answer_of, respond, timings_of
from convoinsight.sessions import memory
from convoinsight.sessions import store as sessions
from convoinsight.sources.federate import resolve_sources, sources_for
from convoinsight.sql.execute import engine_pool

log = logging.getLogger("convoinsight.jobs")


class JobContext:
    def __init__(self, services, prompts: PromptStore):
        self.services, self.prompts = services, prompts

    @property
    def queue(self):
        return self.services.queue

    def deps(self, job: dict[str, Any]) -> tuple[StageDeps, UsageMeter]:
        services, user_id = self.services, job["user_id"]
        llm = LLMClient(services.settings, self.prompts, redis=services.redis, tenant=user_id,
                        cache=services.cache, documents=services.documents,
                        credentials=keys.credentials(services, user_id))  # read per stage: a rotation applies
        sources = job["sources"]

        def tables(names: set[str]) -> dict[str, Any]:
            # The versions pinned when the job was accepted, of this tenant's domain only.
            return resolve_sources(services, user_id, sources, names)

        meter = UsageMeter()
        # The compiler's draft goes to the job's Redis Stream, for its events route wherever that is served.
        return StageDeps(services.settings, llm, meter, tables, job.get("overrides") or {},
                         engine=engine_pool(services.settings),
                         tokens=RedisTokenSink(services.redis, user_id, job["id"])), meter

    def finalize(self, job: dict[str, Any], state: JobState, outputs: dict[str, dict[str, Any]] | None = None) -> None:
        """Keep the answer; ``outputs``: every stored output of the job, as the runner has them (else read)."""
        docs, user_id = self.services.documents, job["user_id"]
        if outputs is None:
            outputs = store.outputs(docs, user_id, job["id"])
        usage = _sum_usage([o.get("usage") or {} for o in outputs.values()])
        session = docs.get(sessions.sessions(user_id), job["session_id"])
        try:
            respond(docs, user_id, session, job["session_id"], job["domain"], job["question"], answer_of(state),
                    usage, timings_of(state), message_id=f"{job['id']}a", chart_id=f"{job['id']}c", seq=job["seq"])
        except NotFound:  # the session was deleted while the job ran: nothing of it is kept
            store.purge(docs, user_id, job["id"])
            return
        memory.remember(self.services.redis, user_id, job["session_id"],
                        memory.compact_turn(job["question"], state.sql, state.answer))


def _sum_usage(parts: list[dict[str, Any]]) -> dict[str, Any]:
    total = UsageMeter().summary()
    for part in parts:
        for key, value in part.items():
            if isinstance(value, dict):  # paid_by: calls per key owner
                merged = dict(total.get(key) or {})
                for owner, calls in value.items():
                    merged[owner] = merged.get(owner, 0) + calls
                total[key] = merged
            elif isinstance(value, float):
                total[key] = round(total.get(key, 0) + value, 6)
            else:
                total[key] = total.get(key, 0) + value
    return total


def submit(services, user_id: str, state: JobState, records: list[dict[str, Any]],
           overrides: dict[str, Any], linked: list[dict[str, Any]] = ()) -> dict[str, Any]:
    job_id = state.job_id
    job = {
        "id": job_id, "user_id": user_id, "domain": state.domain, "question": state.question,
        "session_id": state.session_id, "created_at": time.time(), "seq": time.time_ns() // 1000,
        "state": state.model_dump(mode="json"), "overrides": overrides,
        "sources": sources_for(records, linked),
    }
    store.create_job(services.documents, user_id, job)
    services.queue.enqueue(StageTask(user_id, job_id, "router"))
    # The HTTP layer adds status_url and events_url (api/links.py): absolute, and the latter signed.
    return {"job_id": job_id, "status": "queued", "session_id": state.session_id}


def progress(services, user_id: str, job_id: str) -> dict[str, Any]:
    docs = services.documents
    # The job, its outcome, outputs and leases in one read (one snapshot in PostgreSQL).
    snap = store.snapshot(docs, user_id, job_id, outputs=STAGES, leases=STAGES)
    job, settled, outputs, leases = snap.job, snap.outcome, snap.outputs, snap.leases
    if job is None:
        raise NotFound(f"job {job_id!r} not found", code="job_not_found")
    answered = None
    if settled and settled["status"] == "succeeded":
        answered = docs.get(sessions.messages(user_id, job["session_id"]), f"{job_id}a")
        if "compiler" not in outputs:  # the compiler's output is stored before the outcome: read it again
            outputs = store.outputs(docs, user_id, job_id)
    state = rebuild(job, outputs) if outputs else None
    planned = planned_stages(state)
    now = time.time()
    stages = {}
    for stage in planned:
        lease = leases.get(stage)
        status = "done" if stage in outputs else "running" if lease and lease["expires"] > now else \
            "retrying" if lease else "pending"
        stages[stage] = {"status": status, "attempts": (lease or {}).get("epoch", 0),
                         "ms": (outputs.get(stage) or {}).get("ms")}
    if not settled and now - float(job.get("created_at") or now) > services.settings.job_timeout_seconds \
            and not any(lease["expires"] > now for lease in leases.values()):
        # No worker holds a stage and the job is past its time limit: whatever delivered it gave up.
        settled = store.settle(docs, user_id, job_id, "failed", stage=next(
            (s for s in planned if s not in outputs), None), code="job_timed_out",
            reason=f"the job did not finish within {services.settings.job_timeout_seconds} s")
    message = None
    if settled and settled["status"] == "succeeded":
        message = answered
        if message is None:  # settled, answer not yet written (finalize runs just after the claim): still running
            settled = None
    status = settled["status"] if settled else "running" if outputs or leases else "queued"
    current = next((s for s in planned if stages[s]["status"] != "done"), None) if not settled else None
    body = {"job_id": job_id, "status": status, "session_id": job["session_id"],
            "stages_done": sum(1 for s in stages.values() if s["status"] == "done"), "stages_total": len(planned),
            "current_stage": current, "stages": stages}
    if settled and settled["status"] == "failed":
        body["error"] = {"stage": settled.get("stage"), "code": settled.get("code", "job_failed"),
                         "message": settled.get("reason", "")}
    if settled and settled["status"] == "succeeded":
        if message:  # the answer exactly as a sync call returns it
            chart = docs.get(sessions.charts(user_id), f"{job_id}c") if message["payload"].get("chart") else None
            body["result"] = {**{k: v for k, v in message["payload"].items() if k != "question"},
                              "chart": {k: chart[k] for k in ("id", "title", "spec") if k in chart} if chart else None,
                              "session_id": job["session_id"], "message_id": message["id"]}
    return body


def cancel(services, user_id: str, job_id: str) -> dict[str, Any]:
    store.get_job(services.documents, user_id, job_id)
    store.settle(services.documents, user_id, job_id, "cancelled")
    return progress(services, user_id, job_id)


def cancel_session(services, user_id: str, session_id: str) -> dict[str, Any]:
    """Cancel every job of a session still queued or running (the original API's ``POST /{session_id}/cancel``),
    each as ``cancel`` does; 404 when ``user_id`` has neither that session nor a job of it (a new session's first
    question is a job before the session exists).

    Only jobs younger than twice the job time limit are looked at: an older one has settled, or is settled as
    timed out when read (``progress``)."""
    docs = services.documents
    since = time.time() - 2 * services.settings.job_timeout_seconds
    found = store.recent_session_jobs(docs, user_id, session_id, since) if session_id.isalnum() else []
    if not found:
        sessions.get_session(docs, user_id, session_id)
    cancelled = []
    for job in found:
        if store.outcome(docs, user_id, job["id"]) is not None:
            continue
        if progress(services, user_id, job["id"])["status"] in store.TERMINAL:  # settled as timed out just now
            continue
        if store.settle(docs, user_id, job["id"], "cancelled")["status"] == "cancelled":  # not finished meanwhile
            cancelled.append(progress(services, user_id, job["id"]))
    return {"session_id": session_id, "cancelled": cancelled}


def drop_task(services, body: dict[str, Any]) -> None:
    """A stage the queue gave up on: its job fails (instead of showing "running" for ever)."""
    try:
        store.settle(services.documents, body["user_id"], body["job_id"], "failed", stage=body.get("stage"),
                     code="stage_not_run", reason="the stage could not be run before the job's time limit")
    except Exception:  # the job's record is unreachable too: nothing more to do than the log line
        log.exception("could not settle a dropped job")


def handle_task(services, prompts: PromptStore, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return run_task(JobContext(services, prompts), body)


def new_job_id() -> str:
    return uuid.uuid4().hex
