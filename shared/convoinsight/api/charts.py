"""Routes of the ``charts`` function: list, read, image (PNG/SVG), image URL, delete."""

from __future__ import annotations

from typing import Literal

from flask import Response
from pydantic import BaseModel, ConfigDict, Field

from convoinsight.charts import render, service
from convoinsight.observability import audit
from convoinsight.web.app import FunctionApp, RequestContext

app = FunctionApp("charts")
MAX_LIST = 200


class ListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(50, ge=1, le=MAX_LIST)


class ImageQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: Literal["png", "svg"] = "png"
    # Validated for both formats so that a typo is never silent; an SVG has no pixels to scale.
    scale: int = Field(1, ge=render.SCALES.start, le=render.SCALES.stop - 1)


@app.route("GET", "/", query=ListQuery, limit="dataset_ops")
def charts(ctx: RequestContext):
    return {"charts": service.list_charts(ctx.services, ctx.user_id, ctx.query.limit)}


@app.route("GET", "/<chart_id>", limit="dataset_ops")
def chart(ctx: RequestContext, chart_id: str):
    return service.public_chart(service.get_chart(ctx.services, ctx.user_id, chart_id))


@app.route("DELETE", "/<chart_id>", limit="dataset_ops")
def delete_chart(ctx: RequestContext, chart_id: str):
    result = service.delete_chart(ctx.services, ctx.user_id, chart_id)
    audit.record(ctx.services, ctx.user_id, "chart.delete", chart_id)
    return result


@app.route("GET", "/<chart_id>/image", query=ImageQuery, limit="dataset_ops")
def image(ctx: RequestContext, chart_id: str):
    fmt, scale = ctx.query.format, ctx.query.scale
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


@app.route("GET", "/<chart_id>/url", query=ImageQuery, limit="dataset_ops")
def image_url(ctx: RequestContext, chart_id: str):
    fmt, scale = ctx.query.format, ctx.query.scale
    service.get_chart(ctx.services, ctx.user_id, chart_id)
    # The BlobStore interface can only sign uploads today, so this is the (authenticated) image route,
    # relative to the API root, with no expiry. Signed download URLs come with the storage interface change.
    query = f"format={fmt}" + (f"&scale={scale}" if fmt == "png" and scale != 1 else "")
    return {"url": f"/api/v1/charts/{chart_id}/image?{query}", "expires_at": None}
