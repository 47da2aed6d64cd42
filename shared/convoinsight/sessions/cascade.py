"""Deleting a session and everything of it: messages, charts and their images, memory, async jobs.

Order matters twice. A tombstone is written first, so a turn or a job stage still in flight sees that its
session is gone and keeps nothing (``queries.answers.respond`` and ``jobs.runner`` check it before and after
they write). The session document goes last, so a delete that fails half-way leaves a session the caller can
see and delete again; every step is idempotent.
"""

from __future__ import annotations

import time
from typing import Any

from convoinsight.charts import render
from convoinsight.jobs import store as job_store
from convoinsight.services import Services
from convoinsight.sessions import memory, store


def delete_session(services: Services, user_id: str, session_id: str) -> dict[str, Any]:
    """Delete one session of ``user_id`` (404 when it is not theirs); what was removed, counted."""
    store.get_session(services.documents, user_id, session_id)
    services.documents.put(store.deleted(user_id), session_id, {"id": session_id, "at": time.time()})
    counts = purge_documents(services.documents, user_id, session_id, blobs=services.blobs)
    counts["memory"] = memory.forget(services.redis, user_id, session_id)
    return {"deleted": True, "id": session_id, **counts}


def purge_documents(docs, user_id: str, session_id: str, *, blobs=None) -> dict[str, int]:
    """Remove what a session left in the stores: its jobs, its charts (with their images when ``blobs`` is
    given), its messages and the session document itself."""
    jobs = docs.list(job_store.jobs(user_id), where={"session_id": session_id})
    for job in jobs:
        job_store.purge(docs, user_id, job["id"])
    charts = docs.list(store.charts(user_id), where={"session_id": session_id})
    images = 0
    for chart in charts:
        if blobs is not None:  # images first: a chart document without images re-renders, the reverse leaks
            images += sum(1 for path in render.all_paths(user_id, chart["id"]) if blobs.delete(path))
        docs.delete(store.charts(user_id), chart["id"])
    messages = docs.delete_tree(store.messages(user_id, session_id))
    docs.delete(store.sessions(user_id), session_id)
    return {"messages": messages, "charts": len(charts), "images": images, "jobs": len(jobs)}
