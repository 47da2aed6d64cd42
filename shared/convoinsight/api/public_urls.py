"""The URLs the API hands out: absolute on PUBLIC_BASE_URL, and signed where a browser follows them bare.

The routes a link token opens are named here once, so a link and the route it points at cannot drift
apart (the web layer checks a token against the route's own template and parameters).
Links are made per response, never stored: an answer read again tomorrow gets fresh links.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from convoinsight.security import signed_links
from convoinsight.settings import Settings
from convoinsight.web.gateway import function_prefix

JOB_PATH = "/<job_id>"
EVENTS_PATH = "/<job_id>/events"  # queries: EventSource
CHART_IMAGE_PATH = "/<chart_id>/image"  # charts: <img src>
DATASET_PATH = "/<domain>/<name>"  # datasets: ?format=csv|parquet downloads
DOWNLOAD_FORMATS = ("csv", "parquet")


def job_links(settings: Settings, user_id: str, job_id: str) -> dict[str, Any]:
    """``status_url`` (fetch with headers) and ``events_url`` (signed: EventSource sends none)."""
    events, expires = signed_links.link(settings, user_id, "queries", f"GET {EVENTS_PATH}", {"job_id": job_id})
    return {"status_url": signed_links.public_url(settings, f"{function_prefix('queries')}/{job_id}"),
            "events_url": events, "links_expire_at": _iso(expires)}


def upload_status_url(settings: Settings, domain: str, upload_id: str) -> str:
    """Where a signed upload's progress is read (with headers: fetch)."""
    return signed_links.public_url(settings, f"{function_prefix('datasets')}/{quote(domain, safe='')}/uploads/"
                                             f"{upload_id}")


def chart_image_url(settings: Settings, user_id: str, chart_id: str, fmt: str = "png",
                    scale: int = 1) -> tuple[str, int]:
    query = {"format": fmt, **({"scale": str(scale)} if fmt == "png" and scale != 1 else {})}
    return signed_links.link(settings, user_id, "charts", f"GET {CHART_IMAGE_PATH}", {"chart_id": chart_id}, query)


def with_chart_link(settings: Settings, user_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """An answer (or a turn) whose chart gains ``image_url``, a PNG link an ``<img>`` can show."""
    chart = body.get("chart")
    if isinstance(chart, dict) and chart.get("id") and not chart.get("deleted"):
        url, _ = chart_image_url(settings, user_id, chart["id"])
        body = {**body, "chart": {**chart, "image_url": url}}
    return body


def dataset_downloads(settings: Settings, user_id: str, domain: str, name: str) -> dict[str, Any]:
    """Signed download links of a dataset, one per format, and when they expire."""
    urls, expires = {}, 0
    for fmt in DOWNLOAD_FORMATS:
        urls[fmt], expires = signed_links.link(settings, user_id, "datasets", f"GET {DATASET_PATH}",
                                               {"domain": domain, "name": name}, {"format": fmt})
    return {**urls, "expires_at": _iso(expires)}


def _iso(epoch: int) -> str:
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
