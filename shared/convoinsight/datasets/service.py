"""Dataset use cases: upload (read, normalise, profile, store as a new version), list, read, preview.

An upload writes in an order that never leaves a half-written dataset: claim
the version number (a create that fails on a duplicate), write the blobs,
then publish the record. Any failure undoes what was written before it.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass
from typing import Any

import polars as pl

from convoinsight.datasets import paths
from convoinsight.datasets.naming import check_dataset_name, check_domain, to_identifier, unique_identifiers
from convoinsight.datasets.profile import jsonable, profile_table
from convoinsight.datasets.readers import detect_format, read_table
from convoinsight.errors import Conflict, NotFound, PayloadTooLarge
from convoinsight.services import Services

_CLAIM_TRIES = 5


@dataclass(frozen=True)
class Upload:
    data: bytes
    filename: str
    name: str | None = None


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def upload_dataset(services: Services, user_id: str, domain: str, upload: Upload) -> dict[str, Any]:
    settings = services.settings
    check_domain(domain)
    if len(upload.data) > settings.max_upload_bytes:
        raise PayloadTooLarge(f"the file is larger than the {settings.max_upload_bytes:,}-byte upload limit",
                              code="file_too_large")
    fmt = detect_format(upload.filename)
    stem = upload.filename.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    name = check_dataset_name(upload.name) if upload.name else to_identifier(stem, fallback="dataset")

    frame = read_table(upload.data, fmt)
    labels = [str(c) for c in frame.columns]
    idents = unique_identifiers(labels)
    frame = frame.rename(dict(zip(frame.columns, idents, strict=True)))
    label_of = dict(zip(idents, labels, strict=True))
    profile = profile_table(frame, label_of)
    parquet = io.BytesIO()
    frame.write_parquet(parquet)

    docs, blobs = services.documents, services.blobs
    current = docs.get(paths.datasets(user_id, domain), name)
    version = _claim_version(services, user_id, domain, name, (current or {}).get("version", 0) + 1)
    prefix = paths.version_prefix(user_id, domain, name, version)
    ext = upload.filename.rsplit(".", 1)[-1].lower()
    record = {
        "name": name,
        "domain": domain,
        "version": version,
        "format": fmt,
        "filename": upload.filename[-255:],
        "size_bytes": len(upload.data),
        "rows": frame.height,
        "columns": [{"name": c["name"], "label": c["label"], "dtype": c["dtype"]} for c in profile["columns"]],
        "profile": profile,
        "blobs": {"original": f"{prefix}/original.{ext}", "parquet": f"{prefix}/data.parquet"},
        "created_at": (current or {}).get("created_at", now_iso()),
        "updated_at": now_iso(),
    }
    try:
        blobs.put(record["blobs"]["original"], upload.data)
        blobs.put(record["blobs"]["parquet"], parquet.getvalue(), "application/vnd.apache.parquet")
        docs.put(paths.datasets(user_id, domain), name, record)
        _touch_domain(services, user_id, domain)
    except BaseException:
        blobs.delete_prefix(prefix)
        docs.delete(paths.versions(user_id, domain, name), f"v{version}")
        raise
    return public_record(record)


def _claim_version(services: Services, user_id: str, domain: str, name: str, version: int) -> int:
    for attempt in range(_CLAIM_TRIES):
        try:
            services.documents.create(paths.versions(user_id, domain, name), f"v{version + attempt}",
                                      {"version": version + attempt, "claimed_at": now_iso()})
            return version + attempt
        except Conflict:
            continue
    raise Conflict("another upload of this dataset is in progress; try again", code="upload_conflict")


def _touch_domain(services: Services, user_id: str, domain: str) -> None:
    count = len(services.documents.list(paths.datasets(user_id, domain)))
    existing = services.documents.get(paths.domains(user_id), domain) or {"created_at": now_iso()}
    services.documents.put(paths.domains(user_id), domain, {
        "name": domain, "dataset_count": count, "created_at": existing["created_at"], "updated_at": now_iso(),
    })


def public_record(record: dict[str, Any]) -> dict[str, Any]:
    """What clients see: the record without internal storage paths."""
    return {k: v for k, v in record.items() if k != "blobs"}


def list_domains(services: Services, user_id: str) -> list[dict[str, Any]]:
    return services.documents.list(paths.domains(user_id), order_by="name")


def list_datasets(services: Services, user_id: str, domain: str) -> list[dict[str, Any]]:
    check_domain(domain)
    if services.documents.get(paths.domains(user_id), domain) is None:
        raise NotFound(f"domain {domain!r} not found", code="domain_not_found")
    records = services.documents.list(paths.datasets(user_id, domain), order_by="name")
    return [{k: v for k, v in public_record(r).items() if k != "profile"} for r in records]


def get_record(services: Services, user_id: str, domain: str, name: str) -> dict[str, Any]:
    check_domain(domain)
    record = services.documents.get(paths.datasets(user_id, domain), name.lower())
    if record is None:
        raise NotFound(f"dataset {name!r} not found in domain {domain!r}", code="dataset_not_found")
    return record


def domain_records(services: Services, user_id: str, domain: str) -> list[dict[str, Any]]:
    """Every dataset record of a domain (internal: with blob paths), or 404 for an unknown domain."""
    check_domain(domain)
    records = services.documents.list(paths.datasets(user_id, domain), order_by="name")
    if not records:
        raise NotFound(f"domain {domain!r} not found or has no datasets", code="domain_not_found")
    return records


def scan(services: Services, record: dict[str, Any]) -> pl.LazyFrame:
    """A lazy scan of the dataset's canonical Parquet (only this version's file)."""
    path = record["blobs"]["parquet"]
    local = services.blobs.local_path(path)
    if local is not None:
        return pl.scan_parquet(local)
    return pl.read_parquet(io.BytesIO(services.blobs.get(path))).lazy()


def preview(services: Services, record: dict[str, Any], limit: int, offset: int) -> dict[str, Any]:
    frame = scan(services, record).slice(offset, limit).collect()
    return {
        "columns": frame.columns,
        "rows": [[jsonable(v) for v in row] for row in frame.iter_rows()],
        "limit": limit,
        "offset": offset,
        "total_rows": record["rows"],
    }
