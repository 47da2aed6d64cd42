"""Dataset use cases: register a file as a new version, list, read, preview, download, delete.

A registration writes in an order that never leaves a half-written dataset:
claim the version number (a create that fails on a duplicate), write the
blobs, store the version record, then move the dataset's pointer forward
(``put_if_newer``: racing uploads can never move it backwards). Any failure
undoes what was written before it. Every write bumps the cache generations
of the tenant's domain list and of the domain.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, BinaryIO

from convoinsight import cache, nul
from convoinsight.clock import now_iso
from convoinsight.datasets import ingest, paths
from convoinsight.datasets.naming import check_dataset_name, check_domain, table_name
from convoinsight.errors import BadRequest, Conflict, NotFound, PayloadTooLarge
from convoinsight.services import Services

if TYPE_CHECKING:
    import polars as pl

_CLAIM_TRIES = 20
_SPOOL_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Upload:
    """An uploaded file: its content comes from exactly one of ``data``, ``path`` (a local file, e.g. a signed
    upload's object) or ``stream`` (an HTTP body part, spooled to a temporary file, never read whole)."""

    data: bytes | None
    filename: str
    name: str | None = None
    sheet: str | None = None
    path: Path | None = None
    stream: BinaryIO | None = None


def dataset_name_for(filename: str, name: str | None) -> str:
    if name:
        return check_dataset_name(name)
    stem = PurePosixPath(filename.replace("\\", "/")).name.rsplit(".", 1)[0]
    return table_name(stem)


def upload_dataset(services: Services, user_id: str, domain: str, upload: Upload) -> dict[str, Any]:
    """An upload over HTTP: the HTTP size limit, then registration."""
    return register(services, user_id, domain, upload, max_bytes=services.settings.max_upload_bytes)


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"the file is larger than the {limit:,}-byte upload limit; "
                           "use a signed upload URL (POST /{domain}/uploads) for large files", code="file_too_large")


def _spool(upload: Upload, target: Path, max_bytes: int | None) -> Path:
    """The upload's content as a local file: its own path, or ``target`` written chunk by chunk."""
    if upload.path is not None:
        if max_bytes is not None and upload.path.stat().st_size > max_bytes:
            raise _too_large(max_bytes)
        return upload.path
    stream = upload.stream if upload.stream is not None else io.BytesIO(upload.data or b"")
    written = 0
    with open(target, "wb") as out:
        while chunk := stream.read(_SPOOL_CHUNK):
            written += len(chunk)
            if max_bytes is not None and written > max_bytes:
                raise _too_large(max_bytes)
            out.write(chunk)
    return target


def register(services: Services, user_id: str, domain: str, upload: Upload, *,
             source_blob: str | None = None, max_bytes: int | None = None) -> dict[str, Any]:
    """Read, normalise, profile and store a file as the next version of a dataset.

    The file is read in an ingest worker (``convoinsight.datasets.ingest``) before anything is
    claimed or written: a file it refuses, or that kills it, leaves no trace.

    ``source_blob``: the file already sits in the blob store (a signed upload); it is moved into
    place as the version's original instead of being written again, and moved back on failure.
    ``max_bytes``: the largest file accepted (the HTTP upload limit).
    """
    from convoinsight.datasets.readers import detect_format  # polars and the format readers: on first upload

    check_domain(domain)
    fmt = detect_format(upload.filename)
    name = dataset_name_for(upload.filename, upload.name)
    if services.documents.get(paths.links(user_id, domain), name) is not None:
        raise Conflict(f"domain {domain!r} links a PostgreSQL table as {name!r}; upload the file under another "
                       "`name`", code="dataset_name_taken")
    with ingest.workspace() as work:
        source = _spool(upload, work / f"upload.{fmt}", max_bytes)
        read = ingest.convert(services.settings, source, fmt, upload.sheet, work)
        return _store(services, user_id, domain, name, fmt, upload, source, read, source_blob)


def _store(services: Services, user_id: str, domain: str, name: str, fmt: str, upload: Upload, source: Path,
           read: ingest.Ingested, source_blob: str | None) -> dict[str, Any]:
    profile = read.profile
    docs, blobs = services.documents, services.blobs
    current = docs.get(paths.datasets(user_id, domain), name)
    version = _claim_version(services, user_id, domain, name, (current or {}).get("version", 0) + 1)
    prefix = paths.version_prefix(user_id, domain, name, version)
    ext = fmt if fmt != "ndjson" else "ndjson"
    now = now_iso()
    record = {
        "name": name,
        "domain": domain,
        "version": version,
        "format": fmt,
        "filename": upload.filename[-255:],
        "size_bytes": source.stat().st_size,
        "rows": read.rows,
        "columns": [{"name": c["name"], "label": c["label"], "dtype": c["dtype"]} for c in profile["columns"]],
        "profile": profile,
        "blobs": {"original": f"{prefix}/original.{ext}", "parquet": f"{prefix}/data.parquet"},
        "created_at": (current or {}).get("created_at", now),
        "updated_at": now,
    }
    # Headers and cells may hold NUL (Parquet, JSON): the data keeps them, the record cannot (convoinsight.nul).
    record = nul.strip(record)
    moved = False
    try:
        if source_blob:
            blobs.move(source_blob, record["blobs"]["original"])
            moved = True
        else:
            blobs.put_file(record["blobs"]["original"], source)
        blobs.put_file(record["blobs"]["parquet"], read.parquet, "application/vnd.apache.parquet")
        docs.put(paths.versions(user_id, domain, name), f"v{version}", {**record, "status": "ready"})
        docs.put_if_newer(paths.datasets(user_id, domain), name, record, "version")
        existing = docs.get(paths.domains(user_id), domain)
        if existing is None:
            docs.put(paths.domains(user_id), domain, {"name": domain, "created_at": now})
    except BaseException:
        if moved:
            blobs.move(record["blobs"]["original"], source_blob)  # a redelivered event must find it again
        blobs.delete_prefix(prefix)
        docs.delete(paths.versions(user_id, domain, name), f"v{version}")
        raise
    finally:
        services.cache.invalidate(user_id, paths.DOMAINS_SCOPE, paths.domain_scope(domain))
    return public_record(record)


def _claim_version(services: Services, user_id: str, domain: str, name: str, version: int) -> int:
    for attempt in range(_CLAIM_TRIES):
        try:
            services.documents.create(paths.versions(user_id, domain, name), f"v{version + attempt}",
                                      {"version": version + attempt, "status": "writing", "claimed_at": now_iso()})
            return version + attempt
        except Conflict:
            continue
    raise Conflict("too many concurrent uploads of this dataset; try again", code="upload_conflict")


def public_record(record: dict[str, Any]) -> dict[str, Any]:
    """What clients see: the record without internal storage paths."""
    return {k: v for k, v in record.items() if k not in ("blobs", "status")}


def _summary(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in public_record(record).items() if k != "profile"}


def list_domains(services: Services, user_id: str) -> list[dict[str, Any]]:
    def compute() -> list[dict[str, Any]]:
        docs = services.documents
        result = []
        for domain in docs.list(paths.domains(user_id), order_by="name"):
            count = len(docs.list(paths.datasets(user_id, domain["name"])))
            linked = len(docs.list(paths.links(user_id, domain["name"])))
            result.append({**domain, "dataset_count": count, "linked_count": linked})
        return result

    return services.cache.cached(user_id, paths.DOMAINS_SCOPE, "listing", ("domains",), compute)


def _require_domain(services: Services, user_id: str, domain: str) -> None:
    check_domain(domain)
    if services.documents.get(paths.domains(user_id), domain) is None:
        raise NotFound(f"domain {domain!r} not found", code="domain_not_found")


_DATASETS_LISTING = ("listing", ("datasets",))  # (kind, parts) of a domain's cached dataset listing


def list_datasets(services: Services, user_id: str, domain: str) -> list[dict[str, Any]]:
    check_domain(domain)

    def compute() -> list[dict[str, Any]] | None:
        if services.documents.get(paths.domains(user_id), domain) is None:
            return None
        return [_summary(r) for r in services.documents.list(paths.datasets(user_id, domain), order_by="name")]

    kind, parts = _DATASETS_LISTING
    listed = services.cache.cached(user_id, paths.domain_scope(domain), kind, parts, compute)
    if listed is None:
        raise NotFound(f"domain {domain!r} not found", code="domain_not_found")
    return listed


def listing_refs(user_id: str, domain: str) -> list[cache.Ref]:
    """The cache entries ``GET /{domain}`` reads (its datasets and its linked tables), for the web layer to
    fetch with the rate limit in one round trip (``RouteOptions.prefetch``)."""
    from convoinsight.sources import links

    check_domain(domain)
    kind, parts = _DATASETS_LISTING
    return [cache.ref(user_id, paths.domain_scope(domain), kind, *parts), links.links_ref(user_id, domain)]


def listing_prefetch(ctx, params: dict[str, Any]) -> list[cache.Ref]:
    """``RouteOptions.prefetch`` of ``GET /{domain}``."""
    return listing_refs(ctx.user_id, params["domain"])


def get_record(services: Services, user_id: str, domain: str, name: str) -> dict[str, Any]:
    """The current version's record (internal: with blob paths); cached per domain generation."""
    check_domain(domain)
    key = name.lower()

    def compute() -> dict[str, Any] | None:
        return services.documents.get(paths.datasets(user_id, domain), key)

    record = services.cache.cached(user_id, paths.domain_scope(domain), "profile", ("record", key), compute)
    if record is None:
        raise NotFound(f"dataset {name!r} not found in domain {domain!r}", code="dataset_not_found")
    return record


def domain_records(services: Services, user_id: str, domain: str) -> list[dict[str, Any]]:
    """Every current dataset record of a domain (internal: with blob paths), or 404 for an unknown domain."""
    check_domain(domain)

    def compute() -> list[dict[str, Any]]:
        return services.documents.list(paths.datasets(user_id, domain), order_by="name")

    records = services.cache.cached(user_id, paths.domain_scope(domain), "profile", ("records",), compute)
    if not records:
        raise NotFound(f"domain {domain!r} not found or has no datasets", code="domain_not_found")
    return records


def scan(services: Services, record: dict[str, Any]) -> pl.LazyFrame:
    """A lazy scan of the dataset's canonical Parquet (only this version's file)."""
    import polars as pl  # ~160 MB, not at cold start (issue #15)

    path = record["blobs"]["parquet"]
    local = services.blobs.local_path(path)
    if local is not None:
        return pl.scan_parquet(local)
    return pl.read_parquet(io.BytesIO(services.blobs.get(path))).lazy()


def engine_source(services: Services, parquet_path: str) -> str:
    """Where the SQL engine reads a canonical Parquet object: the file itself (local blobs), or a
    location its workers read with ranged requests (cloud blobs)."""
    local = services.blobs.local_path(parquet_path)
    if local is not None:
        return str(local)
    return services.blobs.engine_location(parquet_path)


def preview(services: Services, record: dict[str, Any], limit: int, offset: int) -> dict[str, Any]:
    from convoinsight.datasets.profile import jsonable

    frame = scan(services, record).slice(offset, limit).collect()
    return {
        "columns": frame.columns,
        "rows": [[jsonable(v) for v in row] for row in frame.iter_rows()],
        "limit": limit,
        "offset": offset,
        "total_rows": record["rows"],
    }


def download(services: Services, record: dict[str, Any], fmt: str) -> tuple[bytes, str, str]:
    """(bytes, media type, file name) of the current version as CSV or canonical Parquet."""
    if fmt == "parquet":
        return services.blobs.get(record["blobs"]["parquet"]), "application/vnd.apache.parquet", \
            f"{record['name']}.parquet"
    if fmt == "csv":
        return neutralise_formulas(scan(services, record).collect()).write_csv().encode(), \
            "text/csv; charset=utf-8", f"{record['name']}.csv"
    raise BadRequest("format must be csv or parquet", code="invalid_parameter")


# OWASP "CSV injection": a spreadsheet runs a cell that starts with one of these as a formula.
FORMULA_START = r"^[=+\-@\t\r]"


def neutralise_formulas(frame: pl.DataFrame) -> pl.DataFrame:
    """Text cells that a spreadsheet would run as a formula get a leading single quote (``'=1+1``);
    numbers, dates and other typed columns are untouched, so ``-5`` in a number column stays a number."""
    import polars as pl

    text = [name for name, dtype in frame.schema.items()
            if dtype == pl.String or isinstance(dtype, pl.Categorical | pl.Enum)]
    if not text:
        return frame
    return frame.with_columns(
        pl.when(pl.col(name).cast(pl.String).str.contains(FORMULA_START))
        .then(pl.lit("'") + pl.col(name).cast(pl.String))
        .otherwise(pl.col(name).cast(pl.String))
        .alias(name)
        for name in text
    )


def delete_dataset(services: Services, user_id: str, domain: str, name: str) -> dict[str, Any]:
    record = get_record(services, user_id, domain, name)
    name = record["name"]
    docs = services.documents
    try:
        # Pointer first: once it is gone no reader can reach the blobs being deleted.
        docs.delete(paths.datasets(user_id, domain), name)
        docs.delete_tree(paths.dataset_tree(user_id, domain, name))
        blobs = services.blobs.delete_prefix(paths.dataset_tree(user_id, domain, name))
    finally:
        services.cache.invalidate(user_id, paths.DOMAINS_SCOPE, paths.domain_scope(domain))
    return {"deleted": {"domain": domain, "name": name, "versions": record["version"], "blobs": blobs}}


def delete_domain(services: Services, user_id: str, domain: str) -> dict[str, Any]:
    _require_domain(services, user_id, domain)
    docs = services.documents
    try:
        count = len(docs.list(paths.datasets(user_id, domain)))
        docs.delete(paths.domains(user_id), domain)
        documents = docs.delete_tree(paths.domain_tree(user_id, domain))
        blobs = services.blobs.delete_prefix(paths.domain_tree(user_id, domain))
    finally:
        services.cache.invalidate(user_id, paths.DOMAINS_SCOPE, paths.domain_scope(domain))
    return {"deleted": {"domain": domain, "datasets": count, "documents": documents, "blobs": blobs}}
