"""PNG and SVG images of a stored chart, rendered with vl-convert at most once and kept in the blob store.

A chart never changes after it is stored, so its images are cached for good under the tenant:
``tenants/<uid>/charts/<chart_id>.svg``, ``<chart_id>.png`` (scale 1) and ``<chart_id>@<n>x.png``.
The SVG is rendered first and every PNG is rasterised from it (``svg_to_png`` gives the same bytes
as ``vegalite_to_png``, measured): a PNG at another scale then costs no Vega run, and the SVG's size
lets us refuse a PNG too large to hold in memory before allocating it.

Text needs no system fonts: vl-convert ships Liberation Sans and maps ``sans-serif`` (Vega's
default) to it, so images are the same on every machine. vl-convert is imported lazily (cold starts):
its first render in a process starts a JavaScript runtime (~450 ms), later ones take 15-40 ms.
Two concurrent first requests may both render; both store the same bytes.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from typing import Any

from convoinsight.charts import view
from convoinsight.charts.schema import VEGA_LITE_VERSION
from convoinsight.errors import NotFound, Unprocessable
from convoinsight.sessions import store
from convoinsight.storage.blobs import BlobStore

CONTENT_TYPES = {"png": "image/png", "svg": "image/svg+xml"}
SCALES = range(1, 5)
MAX_PNG_PIXELS = 25_000_000  # 100 MB of RGBA at most while rasterising
_SVG_SIZE = re.compile(r'<svg[^>]*?\swidth="([\d.]+)"[^>]*?\sheight="([\d.]+)"')

_lock = threading.Lock()
_counts: Counter[str] = Counter()


def render_counts() -> dict[str, int]:
    """Images rendered by this process, per format (what the cache saves is visible here)."""
    with _lock:
        return dict(_counts)


def blob_path(user_id: str, chart_id: str, fmt: str, scale: int = 1) -> str:
    suffix = f"@{scale}x" if fmt == "png" and scale != 1 else ""
    return f"{store.charts(user_id)}/{chart_id}{suffix}.{fmt}"


def all_paths(user_id: str, chart_id: str) -> list[str]:
    return [blob_path(user_id, chart_id, "svg")] + [blob_path(user_id, chart_id, "png", s) for s in SCALES]


def image(blobs: BlobStore, user_id: str, chart: dict[str, Any], fmt: str, scale: int = 1) -> bytes:
    """The chart's image in ``fmt`` (png at ``scale``), from the blob store or rendered once and stored."""
    path = blob_path(user_id, chart["id"], fmt, scale)
    cached = _get(blobs, path)
    if cached is not None:
        return cached
    svg_path = blob_path(user_id, chart["id"], "svg")
    svg = _get(blobs, svg_path) if fmt == "png" else None
    if svg is None:
        svg = _render_svg(chart["spec"])
        blobs.put(svg_path, svg, CONTENT_TYPES["svg"])
    if fmt == "svg":
        return svg
    png = _rasterise(svg.decode(), scale)
    blobs.put(path, png, CONTENT_TYPES["png"])
    return png


def _get(blobs: BlobStore, path: str) -> bytes | None:
    try:
        return blobs.get(path)  # one round trip on a hit; exists() + get() would be two
    except NotFound:
        return None


def _render_svg(spec: dict[str, Any]) -> bytes:
    # Stored specs passed check_spec; this re-check and allowed_base_urls=[] make sure nothing is fetched.
    # The bound rows are skipped: a result column may well be called "url".
    data = spec.get("data") if isinstance(spec.get("data"), dict) else {}
    if "url" in data or any(key == "url" for key, _ in view.walk({k: v for k, v in spec.items() if k != "data"})):
        raise Unprocessable("this chart loads remote content and is not rendered", code="chart_not_renderable")
    import vl_convert

    try:
        svg = vl_convert.vegalite_to_svg(spec, vl_version=VEGA_LITE_VERSION, allowed_base_urls=[])
    except ValueError as exc:
        raise Unprocessable(f"the chart could not be rendered: {str(exc).splitlines()[0][:200]}",
                            code="chart_render_failed") from None
    _count("svg")
    return svg.encode()


def _rasterise(svg: str, scale: int) -> bytes:
    size = _SVG_SIZE.search(svg[:2000])
    if size is None:
        raise Unprocessable("the chart's SVG has no size", code="chart_render_failed")
    width, height = float(size.group(1)) * scale, float(size.group(2)) * scale
    if width * height > MAX_PNG_PIXELS:
        raise Unprocessable(f"a {width:.0f}x{height:.0f} PNG is too large; ask for format=svg or a smaller scale",
                            code="chart_too_large")
    import vl_convert

    png = vl_convert.svg_to_png(svg, scale=scale)
    _count("png")
    return png


def _count(fmt: str) -> None:
    with _lock:
        _counts[fmt] += 1
