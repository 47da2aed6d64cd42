"""Routes of the ``datasets`` function: upload, signed uploads, list, record + preview, download, delete."""

from __future__ import annotations

import logging
from typing import ClassVar, Literal

from flask import Response
from pydantic import BaseModel, ConfigDict, Field
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.formparser import FormDataParser

from convoinsight.api import public_urls
from convoinsight.datasets import service, uploads
from convoinsight.errors import BadRequest, ConvoInsightError, PayloadTooLarge, UnsupportedMediaType
from convoinsight.observability import audit
from convoinsight.sources import links
from convoinsight.validation import validated
from convoinsight.web.app import FunctionApp, RequestContext, bounded_stream, compat_headers, json_body, refuse_nul
from convoinsight.web.responses import error_response, json_response

app = FunctionApp("datasets")
log = logging.getLogger("convoinsight.web")
MAX_PREVIEW_ROWS = 1000
MULTIPART_OVERHEAD = 64 * 1024  # boundaries, part headers and the small fields beside the file
MAX_FORM_PARTS = 16
MAX_FORM_FIELD_BYTES = 500_000  # one text field (Flask's default); also werkzeug's buffer of parsed input


class UploadForm(BaseModel):
    """The multipart form of ``POST /{domain}``, for the OpenAPI document (``_multipart`` reads it)."""

    media_types: ClassVar[tuple[str, ...]] = ("multipart/form-data",)

    file: bytes = Field(description="the dataset: CSV, TSV, XLSX, Parquet, JSON or NDJSON, with its file name")
    name: str = Field("", description="the dataset's (SQL table) name; made from the file name when left out")
    sheet: str = Field("", description="the XLSX sheet to read; the first otherwise")


class SqlBody(BaseModel):
    """Custom SQL over a domain's tables: one SELECT in PostgreSQL dialect, checked like the model's."""

    model_config = ConfigDict(extra="forbid")

    sql: str = Field(..., min_length=1, description="one SELECT (PostgreSQL dialect) over the domain's datasets and "
                                                    "linked tables, by their names")
    limit: int | None = Field(None, ge=1, description="most rows returned (at most MAX_RESULT_ROWS, the default)")


class DomainsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # The original API's ``GET /api/v1/datasets?domain=<d>``: answered as ``GET /{domain}``, deprecated.
    domain: str | None = Field(None, description="Deprecated: use `GET /api/v1/datasets/{domain}`")


@app.route("GET", "/", query=DomainsQuery, limit="dataset_ops", summary="Your domains")
def domains(ctx: RequestContext):
    if ctx.query.domain is not None:
        return _legacy_domain_query(ctx, ctx.query.domain)
    return _domain_list(ctx)


def _domain_list(ctx: RequestContext):
    return {"domains": service.list_domains(ctx.services, ctx.user_id)}


@app.route("POST", "/<domain>", limit="upload", body=UploadForm, summary="Upload a dataset into a domain",
           responses={201: "application/json"})
def upload(ctx: RequestContext, domain: str):
    form, files = _multipart(ctx.request, ctx.settings.max_upload_bytes)
    return _upload_form(ctx, domain, form, files)


def _upload_form(ctx: RequestContext, domain: str, form, files):
    """An upload's parsed form stored into ``domain`` (also the original API's ``POST /upload-datasets``)."""
    file = files.get("file")
    if file is None or not file.filename:
        raise BadRequest("send the dataset as multipart/form-data in the field 'file'", code="missing_file")
    refuse_nul({**{key: form.getlist(key) for key in form},
                **{f"{key}.filename": [f.filename or "" for f in files.getlist(key)] for key in files}}, "the form")
    name = (form.get("name") or "").strip() or None
    sheet = (form.get("sheet") or "").strip() or None
    # the part's stream (werkzeug spools large parts to disk): copied to the upload's own file, never read whole
    record = service.upload_dataset(ctx.services, ctx.user_id, domain,
                                    service.Upload(None, file.filename, name, sheet, stream=file.stream))
    return record, 201


@app.route("POST", "/<domain>/uploads", limit="upload", body=uploads.UploadRequest,
           summary="A signed upload URL for a large file", responses={201: "application/json"})
def create_upload(ctx: RequestContext, domain: str):
    created = uploads.create_upload(ctx.services, ctx.user_id, domain, json_body(ctx.request))
    status = public_urls.upload_status_url(ctx.settings, domain, created["upload_id"])
    return {**created, "status_url": status}, 201


@app.route("GET", "/<domain>/uploads/<upload_id>", limit="dataset_ops", summary="The status of a signed upload")
def upload_status(ctx: RequestContext, domain: str, upload_id: str):
    return uploads.get_upload(ctx.services, ctx.user_id, domain, upload_id)


@app.route("GET", "/<domain>", limit="dataset_ops", summary="A domain's datasets and linked tables",
           prefetch=service.listing_prefetch)
def datasets(ctx: RequestContext, domain: str):
    listed = service.list_datasets(ctx.services, ctx.user_id, domain)
    # Linked PostgreSQL tables sit beside the uploaded datasets: questions read both (see the sources function).
    linked = [links.summary(link) for link in links.domain_links(ctx.services, ctx.user_id, domain)]
    return {"domain": domain, "datasets": listed, "linked": linked}


@app.route("POST", "/<domain>/query", limit="query", body=SqlBody,
           summary="Run one guarded SELECT over the domain's tables")
def query(ctx: RequestContext, domain: str):
    from convoinsight.datasets import custom_sql

    raw = json_body(ctx.request)
    if not isinstance(raw.get("sql"), str) or not raw["sql"].strip():
        raise BadRequest('send one SELECT as {"sql": "SELECT ..."}', code="missing_sql")
    body = validated(SqlBody, raw, code="invalid_sql_request")
    return custom_sql.run(ctx.services, ctx.user_id, domain, body.sql, body.limit)


@app.route("DELETE", "/<domain>", limit="dataset_ops", summary="Delete a domain and everything in it")
def delete_domain(ctx: RequestContext, domain: str):
    result = service.delete_domain(ctx.services, ctx.user_id, domain)
    audit.record(ctx.services, ctx.user_id, "domain.delete", domain, **result["deleted"])
    return result


class RecordQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(20, ge=0, le=MAX_PREVIEW_ROWS)
    offset: int = Field(0, ge=0, le=10**12)  # unbounded, a 35-digit offset overflowed the engine's slice (500)
    format: Literal["csv", "parquet"] | None = None


@app.route("GET", public_urls.DATASET_PATH, query=RecordQuery, limit="dataset_ops", link=True,
           summary="A dataset's record and preview, or (?format=) its download",
           responses={200: ("application/json", "text/csv", "application/vnd.apache.parquet")})
def record(ctx: RequestContext, domain: str, name: str):
    rec = service.get_record(ctx.services, ctx.user_id, domain, name)
    fmt = ctx.query.format
    if fmt is not None:
        data, media_type, filename = service.download(ctx.services, rec, fmt)
        audit.record(ctx.services, ctx.user_id, "dataset.export", f"{domain}/{rec['name']}", format=fmt,
                     version=rec["version"])
        # content_type, not mimetype: the media type already names its charset (mimetype would add a second).
        return Response(data, content_type=media_type,
                        headers={"Content-Disposition": f'attachment; filename="{filename}"'})
    body = service.public_record(rec)
    body["preview"] = service.preview(ctx.services, rec, ctx.query.limit, ctx.query.offset)
    # Links a browser can download from without headers (<a href download>), signed for this caller.
    body["download_urls"] = public_urls.dataset_downloads(ctx.settings, ctx.user_id, domain, rec["name"])
    return body


@app.route("DELETE", "/<domain>/<name>", limit="dataset_ops", summary="Delete a dataset, every version of it")
def delete_dataset(ctx: RequestContext, domain: str, name: str):
    result = service.delete_dataset(ctx.services, ctx.user_id, domain, name)
    audit.record(ctx.services, ctx.user_id, "dataset.delete", f"{domain}/{name}", **result["deleted"])
    return result


def _multipart(request, limit: int):
    """Parse the form strictly: werkzeug's default silently drops a part it cannot decode (a file name
    that is not UTF-8, a broken boundary), which would surface as a confusing 'missing file'.

    The body is read through a bounded stream: a chunked upload has no Content-Length to refuse up front,
    and is cut off (413) as soon as it passes the limit instead of being spooled to disk whole."""
    if request.mimetype != "multipart/form-data":
        raise UnsupportedMediaType("send the dataset as multipart/form-data", code="unsupported_content_type")

    def too_large() -> PayloadTooLarge:
        return PayloadTooLarge(f"the upload is larger than the {limit:,}-byte limit; use a signed upload URL "
                               "(POST /{domain}/uploads) for large files", code="file_too_large")

    stream = bounded_stream(request, limit + MULTIPART_OVERHEAD, too_large)
    parser = FormDataParser(silent=False, max_form_memory_size=MAX_FORM_FIELD_BYTES, max_form_parts=MAX_FORM_PARTS)
    try:
        _, form, files = parser.parse(stream, request.mimetype, request.content_length, request.mimetype_params)
    except ValueError:
        raise BadRequest("the multipart body could not be read; file names and field headers must be UTF-8",
                         code="invalid_multipart") from None
    except RequestEntityTooLarge:
        raise PayloadTooLarge(f"a form may have at most {MAX_FORM_PARTS} parts, each text field at most "
                              f"{MAX_FORM_FIELD_BYTES:,} bytes", code="form_too_large") from None
    return form, files


# --- Compatibility with the original API (issue #14) ----------------------------------------------------------
# Its routes, answered by their successors' own handlers: same status, body, errors and rate-limit class, plus
# Deprecation, Sunset and Link: <successor> (web/app.py compat_headers) until LEGACY_SUNSET. The load balancer and
# the emulator send the root paths here whole (gateway.EXTRA_ROUTES); under /api/v1/datasets they arrive as the
# same inner paths. Their static paths would shadow a domain of that name: naming.RESERVED_DOMAINS refuses them.

class LegacyUploadForm(BaseModel):
    """The multipart form of the original API's ``POST /upload-datasets``, for the OpenAPI document."""

    media_types: ClassVar[tuple[str, ...]] = ("multipart/form-data",)

    file: bytes = Field(description="the dataset, as in `POST /api/v1/datasets/{domain}`")
    domain: str = Field(description="the domain to upload into")
    name: str = Field("", description="the dataset's (SQL table) name; made from the file name when left out")
    sheet: str = Field("", description="the XLSX sheet to read; the first otherwise")
    user_id: str = Field("", alias="userId", description="ignored: the identity comes from authentication")


@app.route("POST", "/upload-datasets", limit="upload", body=LegacyUploadForm, successor=f"{app.prefix}/{{domain}}",
           summary="The original API's upload: POST /api/v1/datasets/{domain}", responses={201: "application/json"})
def legacy_upload(ctx: RequestContext):
    form, files = _multipart(ctx.request, ctx.settings.max_upload_bytes)
    domain = (form.get("domain") or "").strip()
    if not domain:
        raise BadRequest("send the domain in the form field 'domain' (or use POST /api/v1/datasets/{domain})",
                         code="missing_domain")
    # userId, if sent, is never read: whose data it is comes from authentication alone.
    return _upload_form(ctx, domain, form, files)


@app.route("GET", "/list-domains", limit="dataset_ops", successor=f"{app.prefix}/",
           summary="The original API's domain list: GET /api/v1/datasets/")
def legacy_domains(ctx: RequestContext):
    return _domain_list(ctx)


@app.route("GET", "/domain/<domain>/datasets", limit="dataset_ops", successor=f"{app.prefix}/{{domain}}",
           summary="The original API's dataset list: GET /api/v1/datasets/{domain}")
def legacy_datasets(ctx: RequestContext, domain: str):
    return datasets(ctx, domain)


def _legacy_domain_query(ctx: RequestContext, domain: str) -> Response:
    """``GET /?domain=<d>``: ``GET /{domain}``'s answer, errors included, with the compatibility headers (which
    the route's options cannot carry: without ``domain`` it is the current domain list)."""
    try:
        response = json_response(datasets(ctx, domain))
    except ConvoInsightError as exc:
        if exc.status >= 500:
            log.warning("request failed: %s (%s)", exc.code, exc.message)
        response = error_response(exc, ctx.request_id)
    response.headers.update(compat_headers(f"{app.prefix}/{{domain}}", {"domain": domain}))
    return response
