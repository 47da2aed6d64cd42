"""Cloud Function `ingest`: a thin adapter; the logic lives in convoinsight.datasets.uploads."""

import functions_framework

from convoinsight.api.ingest import handle_event
from convoinsight.web.framework import start_function

start_function()  # at cold start: refuse bad settings; Flask's own errors in the JSON error shape


@functions_framework.cloud_event
def ingest(event):
    handle_event(event["type"], event.data, event["id"])
