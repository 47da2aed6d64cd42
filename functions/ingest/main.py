"""Cloud Function `ingest`: a thin adapter; the logic lives in convoinsight.datasets.uploads."""

import functions_framework

from convoinsight.api.ingest import handle_event


@functions_framework.cloud_event
def ingest(event):
    handle_event(event["type"], event.data)
