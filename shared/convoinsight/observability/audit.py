"""Audit records of sensitive operations (deletes, exports, key and prompt changes), kept per tenant.

Each record is a document under ``tenants/<uid>/audit`` (ids sort by time) and a
structured log event. Writing it must not undo the operation it records: a
failure to persist is logged as an error, loudly, instead.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from convoinsight.observability import logs

log = logging.getLogger("convoinsight.audit")


def collection(user_id: str) -> str:
    return f"tenants/{user_id}/audit"


def record(services, user_id: str, action: str, target: str, **details: Any) -> None:
    now = time.time()
    doc_id = f"{int(now * 1000):013d}-{uuid.uuid4().hex[:8]}"
    entry = {"id": doc_id, "action": action, "target": target, "user_id": user_id,
             "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)), "details": details,
             "request_id": logs.current("request_id")}
    logs.event(log, "audit", f"{action} {target}", action=action, target=target)
    try:
        services.documents.put(collection(user_id), doc_id, entry)
    except Exception:
        log.exception("audit record for %s %s could not be stored", action, target)


def recent(services, user_id: str, limit: int = 100) -> list[dict[str, Any]]:
    return services.documents.list(collection(user_id), order_by="id", descending=True, limit=limit)
