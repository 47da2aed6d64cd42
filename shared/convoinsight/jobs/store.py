"""Where a job lives: one document for its input, one per stage output, lease and terminal outcome.

Nothing is read-modify-written by two writers: stage outputs and the outcome
are ``create``s (the first writer wins), leases move forward with
``put_if_newer`` on an epoch. So concurrent stages, duplicate deliveries and a
cancel racing the compiler cannot overwrite each other, on PostgreSQL or
Firestore alike. Progress is derived from these documents, never stored twice.

Every document of a job has a known id (outputs and leases are named by their stage), so what a stage
task or a progress read needs is one ``snapshot``: a single ``get_many`` round trip (issue #15).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
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


@dataclass
class Snapshot:
    """What ``snapshot`` read of one job: ``job`` and ``outcome`` (None when absent), and the outputs, leases
    and claims asked for that exist, by name."""

    job: dict[str, Any] | None
    outcome: dict[str, Any] | None
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    leases: dict[str, dict[str, Any]] = field(default_factory=dict)
    claims: dict[str, dict[str, Any]] = field(default_factory=dict)


def snapshot(docs, user_id: str, job_id: str, *, outputs: Iterable[str] = (), leases: Iterable[str] = (),
             claims: Iterable[str] = (), job: bool = True) -> Snapshot:
    """The job, its outcome and the named outputs, leases and claims, in one round trip (``get_many``).

    An id that is not alphanumeric names no job: nothing is read, as ``get_job`` does."""
    if not job_id.isalnum():
        return Snapshot(None, None)
    named = [(kind, name) for kind, names in (("outputs", outputs), ("leases", leases), ("claims", claims))
             for name in names]
    refs = [(jobs(user_id), job_id)] if job else []
    refs += [(_sub(user_id, job_id, "outcome"), "final")] + [(_sub(user_id, job_id, k), n) for k, n in named]
    found = docs.get_many(refs)
    head, found = (found[0], found[1:]) if job else (None, found)
    snap = Snapshot(head, found[0])
    for (kind, name), doc in zip(named, found[1:], strict=True):
        if doc is not None:
            getattr(snap, kind)[name] = doc
    return snap


def output_record(stage: str, output: dict[str, Any]) -> dict[str, Any]:
    """The document a stage's output is stored as (model output may hold NUL: removed, as
    ``queries.answers.respond`` removes it from the answer)."""
    return nul.strip({"stage": stage, **output})


def store_output(docs, user_id: str, job_id: str, stage: str, output: dict[str, Any]) -> bool:
    """True when this writer stored the stage's output first."""
    return store_record(docs, user_id, job_id, output_record(stage, output))


def store_record(docs, user_id: str, job_id: str, record: dict[str, Any]) -> bool:
    """``store_output`` of a record made by ``output_record``: True when this writer stored it first."""
    try:
        docs.create(_sub(user_id, job_id, "outputs"), record["stage"], record)
        return True
    except Conflict:
        return False


def drop_output(docs, user_id: str, job_id: str, stage: str) -> None:
    """Take back an output this writer stored (its job was settled, e.g. cancelled, while the stage ran)."""
    docs.delete(_sub(user_id, job_id, "outputs"), stage)


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


_UNREAD: Any = object()


def take_lease(docs, user_id: str, job_id: str, stage: str, owner: str, seconds: float, *,
               held: dict[str, Any] | None = _UNREAD) -> int | None:
    """The lease's epoch (= attempts so far) when taken, None while another worker holds it.

    ``held``: the lease as a snapshot just read it (None: there was none), which spares reading it again;
    the write decides all the same (a create, or ``put_if_newer`` on the epoch), so a stale one is safe."""
    collection, now = _sub(user_id, job_id, "leases"), time.time()
    if held is _UNREAD or held is None:
        try:
            docs.create(collection, stage, {"stage": stage, "epoch": 1, "owner": owner, "expires": now + seconds})
            return 1
        except Conflict:
            held = docs.get(collection, stage)
    held = held or {"epoch": 0, "expires": 0}
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
