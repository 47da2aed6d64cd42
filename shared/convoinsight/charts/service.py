"""A tenant's stored charts: list, read, image, delete.

Charts are written by the ask use case with their turn (``sessions.store.chart_write``) in the tenant's collection
``tenants/<uid>/charts``; every call here names the tenant, so another tenant's chart id is simply
not found (404, never 403).
"""

from __future__ import annotations

import re
from typing import Any

from convoinsight.charts import render, view
from convoinsight.errors import NotFound
from convoinsight.services import Services
from convoinsight.sessions import store

_CHART_ID = re.compile(r"^[A-Za-z0-9]{1,64}$")


def get_chart(services: Services, user_id: str, chart_id: str) -> dict[str, Any]:
    # Ids are checked before use: they become document ids and blob paths.
    chart = services.documents.get(store.charts(user_id), chart_id) if _CHART_ID.match(chart_id) else None
    if chart is None:
        raise NotFound(f"chart {chart_id!r} not found", code="chart_not_found")
    return chart


def summary(chart: dict[str, Any]) -> dict[str, Any]:
    """What a listing shows: no data values."""
    spec = chart.get("spec") or {}
    values = (spec.get("data") or {}).get("values")
    out = {
        "id": chart["id"],
        "title": chart.get("title", ""),
        "session_id": chart.get("session_id"),
        "created_at": chart.get("created_at"),
        "mark": view.mark_summary(spec),
        "points": len(values) if isinstance(values, list) else 0,
    }
    if chart.get("truncated"):
        out["truncated"] = chart["truncated"]
    return out


def public_chart(chart: dict[str, Any]) -> dict[str, Any]:
    return {**summary(chart), "spec": chart["spec"]}


def list_charts(services: Services, user_id: str, limit: int) -> list[dict[str, Any]]:
    # Newest first; created_at has one-second resolution, ties come in id order.
    docs = services.documents.list(store.charts(user_id), order_by="created_at", descending=True, limit=limit)
    return [summary(chart) for chart in docs]


def chart_image(services: Services, user_id: str, chart_id: str, fmt: str, scale: int) -> bytes:
    return render.image(services.blobs, user_id, get_chart(services, user_id, chart_id), fmt, scale,
                        settings=services.settings)


def delete_chart(services: Services, user_id: str, chart_id: str) -> dict[str, Any]:
    get_chart(services, user_id, chart_id)
    # Images first: if the document delete then fails, the chart is still there and re-renders on demand;
    # the other order could leave images that nothing refers to.
    images = sum(1 for path in render.all_paths(user_id, chart_id) if services.blobs.delete(path))
    services.documents.delete(store.charts(user_id), chart_id)
    return {"deleted": True, "id": chart_id, "images": images}
