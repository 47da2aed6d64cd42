"""The ``ingest`` function: registers objects uploaded through signed URLs (storage finalize events)."""

from __future__ import annotations

import logging
from typing import Any

from convoinsight.datasets.uploads import handle_finalized
from convoinsight.services import get_services
from convoinsight.settings import get_settings

log = logging.getLogger("convoinsight.ingest")
FINALIZED = "google.cloud.storage.object.v1.finalized"


def handle_event(event_type: str, data: Any) -> dict[str, Any]:
    """Returns the outcome; a retryable error propagates so the platform redelivers the event."""
    if event_type != FINALIZED or not isinstance(data, dict):
        log.info("ignoring event of type %s", event_type)
        return {"outcome": "ignored", "reason": f"event type {event_type}"}
    outcome = handle_finalized(get_services(get_settings()), data)
    log.info("ingest %s: %s", data.get("name"), outcome)
    return outcome
