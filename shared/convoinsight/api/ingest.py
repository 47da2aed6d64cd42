"""The ``ingest`` function: registers objects uploaded through signed URLs (storage finalize events)."""

from __future__ import annotations

import logging
import time
from typing import Any

from convoinsight.datasets.uploads import handle_finalized
from convoinsight.observability import logs
from convoinsight.services import get_services
from convoinsight.settings import get_settings

log = logging.getLogger("convoinsight.ingest")
FINALIZED = "google.cloud.storage.object.v1.finalized"


def handle_event(event_type: str, data: Any, event_id: str | None = None) -> dict[str, Any]:
    """Returns the outcome; a retryable error propagates so the platform redelivers the event.

    Every event writes one ``ingest`` log entry (Cloud Logging's JSON shape, like the HTTP functions'
    ``request`` entries), and a failure its traceback."""
    token = logs.bind(function="ingest", event_id=event_id, object=(data or {}).get("name")
                      if isinstance(data, dict) else None)
    started = time.perf_counter()
    try:
        if event_type != FINALIZED or not isinstance(data, dict):
            logs.event(log, "ingest", f"ignoring event of type {event_type}", logging.INFO, outcome="ignored")
            return {"outcome": "ignored", "reason": f"event type {event_type}"}
        try:
            outcome = handle_finalized(get_services(get_settings()), data)
        except Exception:
            log.exception("ingest of %s failed; the platform redelivers it", data.get("name"))
            raise
        logs.event(log, "ingest", f"ingest {data.get('name')}: {outcome.get('outcome', outcome)}", logging.INFO,
                   latency_ms=round((time.perf_counter() - started) * 1000, 1),
                   **{("dataset" if k == "name" else k): v for k, v in outcome.items()
                      if isinstance(v, str | int | float | bool)})
        return outcome
    finally:
        logs.reset(token)
