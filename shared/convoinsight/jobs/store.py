"""Where a job lives: one document for its input, one per stage output, lease and terminal outcome.

Nothing is read-modify-written by two writers: stage outputs and the outcome
are ``create``s (the first writer wins), leases move forward with
``put_if_newer`` on an epoch. So concurrent stages, duplicate deliveries and a
cancel racing the compiler cannot overwrite each other, on PostgreSQL or
Firestore alike. Progress is derived from these documents, never stored twice.
"""

from __future__ import annotations

import time
from typing import Any

from convoinsight import nul
from convoinsight.errors import Conflict, NotFound

TERMINAL = ("succeeded", "failed", "cancelled")


def jobs(user_id: str) -> str:
    return f"tenants/{user_id}/jobs"


def _sub(user_id: str, job_id: str, name: str) -> str:
    return f"tenants/{user_id}/jobs/{job_id}/{name}"


def create_job(docs, user_id: str, job: dict[str, Any]) -> None:
    docs.create(jobs(user_id), job["id"], job)


def get_job(docs, user_id: str, job_id: str) -> dict[str, Any]:
    job = docs.get(jobs(user_id), job_id) if job_id.isalnum() else None
    if job is None:
        raise NotFound(f"job {job_id!r} not found", code="job_not_found")
    return job


def exists(docs, user_id: str, job_id: str) -> bool:
    return docs.get(jobs(user_id), job_id) is not None


def purge(docs, user_id: str, job_id: str) -> int:
    """Delete a job and everything under it (outputs, leases, claims, outcome); how many documents went."""
    removed = docs.delete_tree(f"tenants/{user_id}/jobs/{job_id}")
    return removed + int(docs.delete(jobs(user_id), job_id))


def outputs(docs, user_id: str, job_id: str) -> dict[str, dict[str, Any]]:
    return {o["stage"]: o for o in docs.list(_sub(user_id, job_id, "outputs"))}


def store_output(docs, user_id: str, job_id: str, stage: str, output: dict[str, Any]) -> bool:
    """True when this writer stored the stage's output first (model output may hold NUL: removed, as
    ``queries.answers.respond`` removes it from the answer)."""
    try:
        docs.create(_sub(user_id, job_id, "outputs"), stage, nul.strip({"stage": stage, **output}))
        return True
    except Conflict:
        return False


def outcome(docs, user_id: str, job_id: str) -> dict[str, Any] | None:
    return docs.get(_sub(user_id, job_id, "outcome"), "final")


def settle(docs, user_id: str, job_id: str, status: str, **fields: Any) -> dict[str, Any]:
    """Record the terminal outcome once; returns the outcome that won (maybe another writer's)."""
    record = nul.strip({"status": status, "at": time.time(), **fields})  # a reason may quote model output
    try:
        docs.create(_sub(user_id, job_id, "outcome"), "final", record)
        return record
    except Conflict:
        return outcome(docs, user_id, job_id) or record


def claim_once(docs, user_id: str, job_id: str, name: str) -> bool:
    """An atomic once-only decision (e.g. which finished branch enqueues the compiler)."""
    try:
        docs.create(_sub(user_id, job_id, "claims"), name, {"at": time.time()})
        return True
    except Conflict:
        return False


def claimed(docs, user_id: str, job_id: str, name: str) -> dict[str, Any] | None:
    return docs.get(_sub(user_id, job_id, "claims"), name)


def take_lease(docs, user_id: str, job_id: str, stage: str, owner: str, seconds: float) -> int | None:
    """The lease's epoch (= attempts so far) when taken, None while another worker holds it."""
    collection, now = _sub(user_id, job_id, "leases"), time.time()
    try:
        docs.create(collection, stage, {"stage": stage, "epoch": 1, "owner": owner, "expires": now + seconds})
        return 1
    except Conflict:
        held = docs.get(collection, stage) or {"epoch": 0, "expires": 0}
        if held["expires"] > now:
            return None
        epoch = held["epoch"] + 1
        won = docs.put_if_newer(collection, stage, {"stage": stage, "epoch": epoch, "owner": owner,
                                                    "expires": now + seconds}, "epoch")
        return epoch if won else None


def release_lease(docs, user_id: str, job_id: str, stage: str, epoch: int, owner: str) -> None:
    """Let the next delivery take over at once (after a retryable failure)."""
    docs.put(_sub(user_id, job_id, "leases"), stage, {"stage": stage, "epoch": epoch, "owner": owner, "expires": 0})


def leases(docs, user_id: str, job_id: str) -> dict[str, dict[str, Any]]:
    return {lease["stage"]: lease for lease in docs.list(_sub(user_id, job_id, "leases"))}


def recent_session_jobs(docs, user_id: str, session_id: str, since: float, *, page: int = 50,
                        most: int = 1000) -> list[dict[str, Any]]:
    """A session's jobs created at ``since`` (epoch seconds) or later, newest first, at most ``most``.

    Read a page at a time by ``seq`` (Firestore: the composite index jobs ``session_id`` ASC, ``seq`` DESC in
    terraform/modules/firestore), stopping at the first older job: bounded however long the session is."""
    found: list[dict[str, Any]] = []
    after = None
    while len(found) < most:
        want = min(page, most - len(found))
        batch = docs.list(jobs(user_id), where={"session_id": session_id}, order_by="seq", descending=True,
                          limit=want, after=after)
        for job in batch:
            if float(job.get("created_at") or 0) < since:
                return found
            found.append(job)
        if len(batch) < want:
            break
        after = (batch[-1]["seq"], batch[-1]["id"])
    return found
