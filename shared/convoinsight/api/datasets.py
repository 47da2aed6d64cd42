"""Routes of the ``datasets`` function: upload, signed uploads, list, record + preview, download, delete."""

from __future__ import annotations

from typing import Literal

from flask import Response
from pydantic import BaseModel, ConfigDict, Field
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.formparser import FormDataParser

from convoinsight.datasets import service, uploads
from convoinsight.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType
from convoinsight.observability import audit
from convoinsight.sources import links
from convoinsight.web.app import FunctionApp, RequestContext, bounded_stream, json_body, refuse_nul

app = FunctionApp("datasets")
MAX_PREVIEW_ROWS = 1000
MULTIPART_OVERHEAD = 64 * 1024  # boundaries, part headers and the small fields beside the file
MAX_FORM_PARTS = 16
MAX_FORM_FIELD_BYTES = 500_000  # one text field (Flask's default); also werkzeug's buffer of parsed input


@app.route("GET", "/", limit="dataset_ops")
def domains(ctx: RequestContext):
    return {"domains": service.list_domains(ctx.services, ctx.user_id)}


@app.route("POST", "/<domain>", limit="upload")
def upload(ctx: RequestContext, domain: str):
    request = ctx.request
    limit = ctx.settings.max_upload_bytes
    form, files = _multipart(request, limit)
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


@app.route("POST", "/<domain>/uploads", limit="upload")
def create_upload(ctx: RequestContext, domain: str):
    return uploads.create_upload(ctx.services, ctx.user_id, domain, json_body(ctx.request)), 201


@app.route("GET", "/<domain>/uploads/<upload_id>", limit="dataset_ops")
def upload_status(ctx: RequestContext, domain: str, upload_id: str):
    return uploads.get_upload(ctx.services, ctx.user_id, domain, upload_id)


@app.route("GET", "/<domain>", limit="dataset_ops")
def datasets(ctx: RequestContext, domain: str):
    listed = service.list_datasets(ctx.services, ctx.user_id, domain)
    # Linked PostgreSQL tables sit beside the uploaded datasets: questions read both (see the sources function).
    linked = [links.summary(link) for link in links.domain_links(ctx.services, ctx.user_id, domain)]
    return {"domain": domain, "datasets": listed, "linked": linked}


@app.route("DELETE", "/<domain>", limit="dataset_ops")
def delete_domain(ctx: RequestContext, domain: str):
    result = service.delete_domain(ctx.services, ctx.user_id, domain)
    audit.record(ctx.services, ctx.user_id, "domain.delete", domain, **result["deleted"])
    return result


class RecordQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(20, ge=0, le=MAX_PREVIEW_ROWS)
    offset: int = Field(0, ge=0)
    format: Literal["csv", "parquet"] | None = None


@app.route("GET", "/<domain>/<name>", query=RecordQuery, limit="dataset_ops")
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
    return body


@app.route("DELETE", "/<domain>/<name>", limit="dataset_ops")
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
