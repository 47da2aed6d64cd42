"""The local stand-in for GCS signed uploads and their finalize notifications.

``PUT /_storage/upload?path=..&expires=..&signature=..`` checks the HMAC the
local blob store signed, stores the object, then (like GCS -> Eventarc)
delivers a ``google.cloud.storage.object.v1.finalized`` CloudEvent to the
``ingest`` function in the background, redelivering on 5xx a few times.
"""

from __future__ import annotations

import json
import logging
import tempfile
import threading
import time
import uuid
from pathlib import Path

from werkzeug.wrappers import Request, Response

from convoinsight.services import get_services
from convoinsight.settings import get_settings
from convoinsight.storage.local_signing import signing_key, verify
from convoinsight.web.responses import bucket_cors_headers

log = logging.getLogger("local_emulator.storage")
FINALIZED = "google.cloud.storage.object.v1.finalized"
_REDELIVERIES = 5
_CHUNK = 1024 * 1024


def _error(status: int, code: str, message: str) -> Response:
    body = {"error": {"code": code, "message": message, "request_id": ""}}
    return Response(json.dumps(body), status=status, mimetype="application/json")


class LocalStorage:
    def __init__(self, ingest_app, settings_provider=get_settings):
        self.ingest = ingest_app
        self.settings = settings_provider  # the emulator's own settings; a test stand-in may give others

    def __call__(self, environ, start_response):
        request = Request(environ)
        cors = bucket_cors_headers(request.headers.get("Origin"), self.settings().cors_origins)
        if request.method == "OPTIONS":  # a browser's preflight, answered as the bucket's CORS answers it
            response = Response(status=200 if cors else 403)
        else:
            response = self.handle(request)
        response.headers.update(cors)
        return response(environ, start_response)

    def handle(self, request: Request) -> Response:
        if request.path.rstrip("/") != "/upload":
            return _error(404, "route_not_found", "no such storage route")
        if request.method != "PUT":
            return _error(405, "method_not_allowed", "use PUT")
        settings = self.settings()
        path = request.args.get("path", "")
        try:
            expires = int(request.args.get("expires", "0"))
        except ValueError:
            expires = 0
        content_type = request.headers.get("Content-Type", "")
        if not verify(signing_key(settings.local_state_dir), path, content_type, expires,
                      request.args.get("signature", "")):
            return _error(403, "invalid_signature", "the signed URL is invalid or expired, or the Content-Type "
                                                    "differs from the signed one")
        if (request.content_length or 0) > settings.max_signed_upload_bytes:
            return _error(413, "file_too_large", f"the limit is {settings.max_signed_upload_bytes:,} bytes")
        # Streamed to a temporary file, then into the store: a 1 GB upload is never held in memory.
        limit = settings.max_signed_upload_bytes
        with tempfile.TemporaryDirectory(prefix="convoinsight-put-") as folder:
            spooled, size = Path(folder) / "object", 0
            with open(spooled, "wb") as out:
                while chunk := request.stream.read(_CHUNK):
                    size += len(chunk)
                    if size > limit:
                        return _error(413, "file_too_large", f"the limit is {limit:,} bytes")
                    out.write(chunk)
            get_services(settings).blobs.put_file(path, spooled, content_type)
        event = {"bucket": "local", "name": path, "size": str(size), "contentType": content_type,
                 "generation": str(time.time_ns())}
        threading.Thread(target=self._deliver, args=(event,), daemon=True, name="finalize-event").start()
        return Response(status=200)

    def _deliver(self, data: dict) -> None:
        client = self.ingest.test_client()
        headers = {"ce-specversion": "1.0", "ce-type": FINALIZED, "ce-id": uuid.uuid4().hex,
                   "ce-source": "//storage.googleapis.com/projects/_/buckets/local",
                   "ce-subject": f"objects/{data['name']}", "Content-Type": "application/json"}
        for attempt in range(_REDELIVERIES):
            resp = client.post("/", data=json.dumps(data), headers=headers)
            if resp.status_code < 500:
                return
            time.sleep(0.2 * 2**attempt)
        log.error("finalize event for %s was not accepted after %d deliveries", data["name"], _REDELIVERIES)
