"""Routes of the ``charts`` function: list, read, image (PNG/SVG), image URL, delete."""

from __future__ import annotations

import time
from typing import Literal

from flask import Response
from pydantic import BaseModel, ConfigDict, Field

from convoinsight.api import public_urls
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


@app.route("GET", "/", query=ListQuery, limit="dataset_ops", summary="Your charts, newest first")
def charts(ctx: RequestContext):
    return {"charts": service.list_charts(ctx.services, ctx.user_id, ctx.query.limit)}


@app.route("GET", "/<chart_id>", limit="dataset_ops", summary="A chart: its Vega-Lite spec with the data bound")
def chart(ctx: RequestContext, chart_id: str):
    return service.public_chart(service.get_chart(ctx.services, ctx.user_id, chart_id))


@app.route("DELETE", "/<chart_id>", limit="dataset_ops", summary="Delete a chart and its images")
def delete_chart(ctx: RequestContext, chart_id: str):
    result = service.delete_chart(ctx.services, ctx.user_id, chart_id)
    audit.record(ctx.services, ctx.user_id, "chart.delete", chart_id)
    return result


@app.route("GET", public_urls.CHART_IMAGE_PATH, query=ImageQuery, limit="dataset_ops", link=True,
           summary="The chart rendered as PNG or SVG", responses={200: tuple(render.CONTENT_TYPES.values())})
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
    """A URL of the chart's image that needs no headers: V4-signed on GCS, a signed link to the image route
    otherwise; either expires within LINK_TOKEN_SECONDS."""
    fmt, scale = ctx.query.format, ctx.query.scale
    scale = scale if fmt == "png" else 1
    service.chart_image(ctx.services, ctx.user_id, chart_id, fmt, scale)  # stored, so the bucket can serve it
    suffix = f"@{scale}x" if scale != 1 else ""
    signed = ctx.services.blobs.signed_download_url(render.blob_path(ctx.user_id, chart_id, fmt, scale),
                                                    ctx.settings.link_token_seconds,
                                                    filename=f"chart-{chart_id}{suffix}.{fmt}")
    if signed is not None:
        return signed
    url, expires = public_urls.chart_image_url(ctx.settings, ctx.user_id, chart_id, fmt, scale)
    return {"url": url, "expires_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expires))}


# --- Compatibility with the original API (issue #14) ----------------------------------------------------------
# Its /api/v1/storage/charts routes (gateway.EXTRA_ROUTES sends /api/v1/storage here, path whole), answered by
# their successors' handlers plus Deprecation, Sunset and Link headers (web/app.py compat_headers).

@app.route("GET", "/api/v1/storage/charts", query=ListQuery, limit="dataset_ops", successor=f"{app.prefix}/",
           summary="The original API's chart list: GET /api/v1/charts/")
def legacy_charts(ctx: RequestContext):
    return charts(ctx)


@app.route("GET", "/api/v1/storage/charts/<chart_id>", limit="dataset_ops",
           successor=f"{app.prefix}/{{chart_id}}", summary="The original API's chart: GET /api/v1/charts/{chart_id}")
def legacy_chart(ctx: RequestContext, chart_id: str):
    return chart(ctx, chart_id)
