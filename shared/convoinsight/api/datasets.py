"""Routes of the ``datasets`` function: upload, list domains and datasets, record + preview."""

from __future__ import annotations

from convoinsight.datasets import service
from convoinsight.errors import BadRequest, PayloadTooLarge
from convoinsight.web.app import FunctionApp, RequestContext

app = FunctionApp("datasets")
MAX_PREVIEW_ROWS = 1000


@app.route("GET", "/")
def domains(ctx: RequestContext):
    return {"domains": service.list_domains(ctx.services, ctx.user_id)}


@app.route("POST", "/<domain>")
def upload(ctx: RequestContext, domain: str):
    request = ctx.request
    limit = ctx.settings.max_upload_bytes
    # Refuse before reading the body when the client announces its size.
    if request.content_length and request.content_length > limit + 64 * 1024:
        raise PayloadTooLarge(f"the upload is larger than the {limit:,}-byte limit", code="file_too_large")
    file = request.files.get("file")
    if file is None or not file.filename:
        raise BadRequest("send the dataset as multipart/form-data in the field 'file'", code="missing_file")
    data = file.read(limit + 1)
    name = (request.form.get("name") or "").strip() or None
    record = service.upload_dataset(ctx.services, ctx.user_id, domain, service.Upload(data, file.filename, name))
    return record, 201


@app.route("GET", "/<domain>")
def datasets(ctx: RequestContext, domain: str):
    return {"domain": domain, "datasets": service.list_datasets(ctx.services, ctx.user_id, domain)}


@app.route("GET", "/<domain>/<name>")
def record(ctx: RequestContext, domain: str, name: str):
    rec = service.get_record(ctx.services, ctx.user_id, domain, name)
    limit = _int_arg(ctx, "limit", 20, 0, MAX_PREVIEW_ROWS)
    offset = _int_arg(ctx, "offset", 0, 0, 10**12)
    body = service.public_record(rec)
    body["preview"] = service.preview(ctx.services, rec, limit, offset)
    return body


def _int_arg(ctx: RequestContext, name: str, default: int, low: int, high: int) -> int:
    raw = ctx.request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number", code="invalid_parameter") from None
    if not low <= value <= high:
        raise BadRequest(f"{name} must be between {low} and {high}", code="invalid_parameter")
    return value
