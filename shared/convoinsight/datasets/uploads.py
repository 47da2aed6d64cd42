"""Large files: a signed upload URL, then the storage finalize event registers the object.

Delivery of the event is at least once, so registration is idempotent: the
upload document says whether it is pending, ready or failed, and a claim
document keyed by (bucket, object, generation) admits one worker at a time;
a claim older than its lease can be taken over (``put_if_newer`` on the
claim's epoch lets exactly one of several racing takers win).
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from convoinsight.clock import now_iso
from convoinsight.datasets import ingest, paths
from convoinsight.datasets.naming import check_domain, to_identifier
from convoinsight.datasets.service import Upload, dataset_name_for, register
from convoinsight.errors import Conflict, ConvoInsightError, NotFound, PayloadTooLarge
from convoinsight.services import Services
from convoinsight.validation import validated
from convoinsight.web.auth import USER_ID

log = logging.getLogger("convoinsight.ingest")
LEASE_SECONDS = 600
_OBJECT = re.compile(r"^incoming/([^/]+)/([0-9a-f]{32})/([^/]+)$")
_CONTENT_TYPES = {
    "csv": "text/csv", "tsv": "text/tab-separated-values", "parquet": "application/vnd.apache.parquet",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "json": "application/json", "ndjson": "application/x-ndjson",
}


class UploadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    filename: str = Field(min_length=1, max_length=255, pattern=r"^[^\x00]+$")
    name: str | None = Field(default=None, max_length=63)
    size: int | None = Field(default=None, ge=0, strict=True)
    sheet: str | None = Field(default=None, max_length=100)


def create_upload(services: Services, user_id: str, domain: str, body: dict[str, Any]) -> dict[str, Any]:
    from convoinsight.datasets.readers import FORMATS, detect_format  # polars and the readers: not at cold start

    check_domain(domain)
    req = validated(UploadRequest, body)
    filename, size, sheet = req.filename, req.size, req.sheet
    fmt = detect_format(filename)
    name = dataset_name_for(filename, req.name)
    limit = services.settings.max_signed_upload_bytes
    if size is not None and size > limit:
        raise PayloadTooLarge(f"the file is larger than the {limit:,}-byte limit for signed uploads",
                              code="file_too_large")

    upload_id = uuid.uuid4().hex
    suffix = next(ext for ext, f in FORMATS.items() if f == fmt and filename.lower().endswith(ext))
    object_path = paths.incoming(user_id, upload_id, to_identifier(filename[: -len(suffix)], "file") + suffix)
    content_type = _CONTENT_TYPES[fmt]
    signed = services.blobs.signed_upload_url(object_path, content_type, services.settings.signed_url_seconds)
    doc = {"id": upload_id, "domain": domain, "name": name, "filename": filename, "sheet": sheet,
           "object": object_path, "status": "pending", "created_at": now_iso()}
    services.documents.create(paths.uploads(user_id), upload_id, doc)
    return {"upload_id": upload_id, "name": name, "object": object_path, "status": "pending", **signed}


def get_upload(services: Services, user_id: str, domain: str, upload_id: str) -> dict[str, Any]:
    check_domain(domain)
    doc = services.documents.get(paths.uploads(user_id), upload_id) if re.fullmatch(r"[0-9a-f]{32}", upload_id) \
        else None
    if doc is None or doc["domain"] != domain:
        raise NotFound(f"upload {upload_id!r} not found", code="upload_not_found")
    return {k: v for k, v in doc.items() if k != "object"}


def _claim(services: Services, user_id: str, key: str) -> bool:
    """Take the right to process this object: a new claim, or one whose lease expired."""
    docs, now = services.documents, time.time()
    try:
        docs.create(paths.ingest_claims(user_id), key, {"epoch": 1, "expires": now + LEASE_SECONDS})
        return True
    except Conflict:
        held = docs.get(paths.ingest_claims(user_id), key) or {"epoch": 0, "expires": 0}
        if held["expires"] > now:
            return False
        return docs.put_if_newer(paths.ingest_claims(user_id), key,
                                 {"epoch": held["epoch"] + 1, "expires": now + LEASE_SECONDS}, "epoch")


def handle_finalized(services: Services, data: dict[str, Any]) -> dict[str, Any]:
    """Register an object from a storage finalize event. Returns what happened; raises only retryable errors."""
    name = str(data.get("name") or "")
    match = _OBJECT.match(name)
    if not match or not USER_ID.match(match.group(1)):
        return {"outcome": "ignored", "reason": "not an upload object"}
    user_id, upload_id = match.group(1), match.group(2)
    docs = services.documents
    upload = docs.get(paths.uploads(user_id), upload_id)
    if upload is None or upload["object"] != name:
        return {"outcome": "ignored", "reason": "unknown upload"}
    if upload["status"] != "pending":
        return {"outcome": "duplicate", "status": upload["status"]}
    key = hashlib.sha256(f"{data.get('bucket')}/{name}#{data.get('generation')}".encode()).hexdigest()[:40]
    if not _claim(services, user_id, key):
        return {"outcome": "duplicate", "status": "in_progress"}

    try:
        size = int(data.get("size") or 0)
        limit = services.settings.max_signed_upload_bytes
        if size > limit:
            raise PayloadTooLarge(f"the file is larger than the {limit:,}-byte limit for signed uploads",
                                  code="file_too_large")
        with ingest.workspace() as work:
            # Streamed to a local file (a local store's object is that file already), never held in memory.
            local = services.blobs.local_path(name)
            if local is None:
                local = work / "upload"
                services.blobs.get_file(name, local)
            if local.stat().st_size > limit:  # the event's size is the object's, but the object is what counts
                raise PayloadTooLarge(f"the file is larger than the {limit:,}-byte limit for signed uploads",
                                      code="file_too_large")
            record = register(services, user_id, upload["domain"],
                              Upload(None, upload["filename"], upload["name"], upload.get("sheet"), path=local),
                              source_blob=name)
    except ConvoInsightError as exc:
        if exc.retryable:
            docs.delete(paths.ingest_claims(user_id), key)  # let the redelivery try again at once
            raise
        docs.put(paths.uploads(user_id), upload_id, {**upload, "status": "failed", "finished_at": now_iso(),
                                                      "error": {"code": exc.code, "message": exc.message,
                                                                "status": exc.status}})
        services.blobs.delete(name)
        log.info("upload %s failed: %s", upload_id, exc.code)
        return {"outcome": "failed", "code": exc.code}
    docs.put(paths.uploads(user_id), upload_id, {**upload, "status": "ready", "finished_at": now_iso(),
                                                  "version": record["version"], "rows": record["rows"]})
    return {"outcome": "registered", "name": record["name"], "version": record["version"]}
