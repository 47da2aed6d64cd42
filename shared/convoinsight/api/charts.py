"""Routes of the ``charts`` function: list, read, image (PNG/SVG), image URL, delete."""

from __future__ import annotations

from flask import Response

from convoinsight.charts import render, service
from convoinsight.errors import BadRequest
from convoinsight.web.app import FunctionApp, RequestContext, int_arg

app = FunctionApp("charts")
MAX_LIST = 200


@app.route("GET", "/")
def charts(ctx: RequestContext):
    limit = int_arg(ctx.request, "limit", 50, 1, MAX_LIST)
    return {"charts": service.list_charts(ctx.services, ctx.user_id, limit)}


@app.route("GET", "/<chart_id>")
def chart(ctx: RequestContext, chart_id: str):
    return service.public_chart(service.get_chart(ctx.services, ctx.user_id, chart_id))


@app.route("DELETE", "/<chart_id>")
def delete_chart(ctx: RequestContext, chart_id: str):
    return service.delete_chart(ctx.services, ctx.user_id, chart_id)


@app.route("GET", "/<chart_id>/image")
def image(ctx: RequestContext, chart_id: str):
    fmt, scale = _image_args(ctx)
    data = service.chart_image(ctx.services, ctx.user_id, chart_id, fmt, scale)
    suffix = f"@{scale}x" if fmt == "png" and scale != 1 else ""
    return Response(data, mimetype=render.CONTENT_TYPES[fmt], headers={
        "Content-Disposition": f'inline; filename="chart-{chart_id}{suffix}.{fmt}"',
        # A chart never changes once stored; private: it is one tenant's data.
        "Cache-Control": "private, max-age=3600",
        # An SVG opened directly is a document: let it run nothing and load nothing.
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
        "X-Content-Type-Options": "nosniff",
    })


@app.route("GET", "/<chart_id>/url")
def image_url(ctx: RequestContext, chart_id: str):
    fmt, scale = _image_args(ctx)
    service.get_chart(ctx.services, ctx.user_id, chart_id)
    # The BlobStore interface can only sign uploads today, so this is the (authenticated) image route,
    # relative to the API root, with no expiry. Signed download URLs come with the storage interface change.
    query = f"format={fmt}" + (f"&scale={scale}" if fmt == "png" and scale != 1 else "")
    return {"url": f"/api/v1/charts/{chart_id}/image?{query}", "expires_at": None}


def _image_args(ctx: RequestContext) -> tuple[str, int]:
    fmt = ctx.request.args.get("format", "png")
    if fmt not in render.CONTENT_TYPES:
        raise BadRequest("format must be png or svg", code="invalid_parameter")
    # Validated for both formats so that a typo is never silent; an SVG has no pixels to scale.
    scale = int_arg(ctx.request, "scale", 1, render.SCALES.start, render.SCALES.stop - 1)
    return fmt, scale
