"""PNG and SVG images of a stored chart, rendered at most once in a render worker and kept in the blob store.

A chart never changes after it is stored, so its images are cached for good under the tenant:
``tenants/<uid>/charts/<chart_id>.svg``, ``<chart_id>.png`` (scale 1) and ``<chart_id>@<n>x.png``.
The SVG is rendered first and every PNG is rasterised from it (``svg_to_png`` gives the same bytes
as ``vegalite_to_png``, measured): a PNG at another scale then costs no Vega run, and the SVG's size
lets us refuse a PNG too large to hold in memory before allocating it.

The spec is untrusted (the model wrote it; a stored one may predate today's checks), so it is
checked again here against the rendering policy (policy.py), and vl-convert never runs in the
serving process: each render goes to one process of a supervised pool (``workers.pool``, the task
in render_worker.py) under CHART_RENDER_TIMEOUT_SECONDS and CHART_RENDER_MEMORY_MB. A render that
runs past its limit, runs out of memory, crashes V8 or merely fails ends that request with a 422
(``chart_render_timeout``, ``chart_render_crashed``, ``chart_render_failed``) and its worker is
replaced, so nothing a failed render leaves behind (vl-convert reports a failed call's error on
the next call) reaches anyone's next chart. The pool is created, and its CHART_RENDER_WORKERS
workers started, on the first image request, not at import.

Text needs no system fonts: vl-convert ships Liberation Sans and maps ``sans-serif`` (Vega's
default) to it, so images are the same on every machine. A fresh worker's first render starts a
JavaScript runtime (~350 ms), later ones take 15-40 ms plus the round trip (bench/charts_render.py).
Two concurrent first requests may both render; both store the same bytes.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import Counter
from typing import TYPE_CHECKING, Any

from convoinsight.charts import policy, view
from convoinsight.charts.schema import VEGA_LITE_VERSION
from convoinsight.errors import NotFound, ServiceUnavailable, Unprocessable
from convoinsight.sessions import store
from convoinsight.settings import Settings, get_settings
from convoinsight.storage.blobs import BlobStore

if TYPE_CHECKING:
    from convoinsight.workers.pool import WorkerPool

log = logging.getLogger(__name__)

CONTENT_TYPES = {"png": "image/png", "svg": "image/svg+xml"}
SCALES = range(1, 5)
MAX_PNG_PIXELS = 25_000_000  # 100 MB of RGBA at most while rasterising
MAX_SVG_BYTES = 16 * 1024 * 1024  # far beyond any chart the policy lets through; not stored past it
RENDER_ENTRY = "convoinsight.charts.render_worker:run"
_SVG_SIZE = re.compile(r'<svg[^>]*?\swidth="([\d.]+)"[^>]*?\sheight="([\d.]+)"')

_lock = threading.Lock()
_counts: Counter[str] = Counter()


def render_pool(settings: Settings) -> WorkerPool:
    """The process's render workers, created on first use. memory_bytes=0: the pool's limit is an address-space
    one, which V8 cannot run under; the worker limits its committed memory itself (render_worker.py), hence the
    variant. replace_on_error: a fresh worker after any failure, so no state of a failed render reaches the next."""
    from convoinsight.workers.pool import shared_pool  # multiprocessing: with the first image, not at cold start

    return shared_pool(RENDER_ENTRY, settings.chart_render_workers, replace_on_error=True,
                       variant=settings.chart_render_memory_mb)


def close_pools() -> None:
    """Stop every render worker of this process (tests, shutdown); the next render starts new ones."""
    from convoinsight.workers.pool import close_shared

    close_shared(RENDER_ENTRY)


def render_counts() -> dict[str, int]:
    """Images rendered by this process, per format (what the cache saves is visible here)."""
    with _lock:
        return dict(_counts)


def blob_path(user_id: str, chart_id: str, fmt: str, scale: int = 1) -> str:
    suffix = f"@{scale}x" if fmt == "png" and scale != 1 else ""
    return f"{store.charts(user_id)}/{chart_id}{suffix}.{fmt}"


def all_paths(user_id: str, chart_id: str) -> list[str]:
    return [blob_path(user_id, chart_id, "svg")] + [blob_path(user_id, chart_id, "png", s) for s in SCALES]


def image(blobs: BlobStore, user_id: str, chart: dict[str, Any], fmt: str, scale: int = 1, *,
          settings: Settings | None = None) -> bytes:
    """The chart's image in ``fmt`` (png at ``scale``), from the blob store or rendered once and stored."""
    settings = settings or get_settings()
    path = blob_path(user_id, chart["id"], fmt, scale)
    cached = _get(blobs, path)
    if cached is not None:
        return cached
    svg_path = blob_path(user_id, chart["id"], "svg")
    svg = _get(blobs, svg_path) if fmt == "png" else None
    if svg is None:
        svg = _render_svg(chart["spec"], settings)
        blobs.put(svg_path, svg, CONTENT_TYPES["svg"])
    if fmt == "svg":
        return svg
    png = _rasterise(svg.decode(), scale, settings)
    blobs.put(path, png, CONTENT_TYPES["png"])
    return png


def _get(blobs: BlobStore, path: str) -> bytes | None:
    try:
        return blobs.get(path)  # one round trip on a hit; exists() + get() would be two
    except NotFound:
        return None


def check_renderable(spec: Any) -> None:
    """Refuse (422 ``chart_not_renderable``) a stored spec that loads anything or that the policy refuses.

    Stored specs passed check_spec when they were made, but perhaps not today's. The bound rows are
    not the spec: a result column may well be called "url" or "width".
    """
    if not isinstance(spec, dict):
        raise Unprocessable("this chart has no spec to render", code="chart_not_renderable")
    data = spec.get("data") if isinstance(spec.get("data"), dict) else {}
    rest = {k: v for k, v in spec.items() if k not in ("data", "datasets")}
    if "url" in data or any(key == "url" for key, _ in view.walk(rest)):
        raise Unprocessable("this chart loads remote content and is not rendered", code="chart_not_renderable")
    if set(data) - {"values"} or "datasets" in spec:
        raise Unprocessable("this chart's data is not bound rows and is not rendered", code="chart_not_renderable")
    try:
        policy.check(rest)
    except ValueError as exc:
        raise Unprocessable(f"this chart is not rendered: {exc}", code="chart_not_renderable") from None


def _render_svg(spec: dict[str, Any], settings: Settings) -> bytes:
    check_renderable(spec)
    svg = _in_worker({"op": "svg", "spec": spec, "vl_version": VEGA_LITE_VERSION}, settings)
    if len(svg) > MAX_SVG_BYTES:
        raise Unprocessable(f"the chart's SVG is larger than {MAX_SVG_BYTES // (1024 * 1024)} MB and is not kept",
                            code="chart_too_large")
    _count("svg")
    return svg.encode()


def _rasterise(svg: str, scale: int, settings: Settings) -> bytes:
    size = _SVG_SIZE.search(svg[:2000])
    if size is None:
        raise Unprocessable("the chart's SVG has no size", code="chart_render_failed")
    width, height = float(size.group(1)) * scale, float(size.group(2)) * scale
    if width * height > MAX_PNG_PIXELS:
        raise Unprocessable(f"a {width:.0f}x{height:.0f} PNG is too large; ask for format=svg or a smaller scale",
                            code="chart_too_large")
    png = _in_worker({"op": "png", "svg": svg, "scale": scale}, settings)
    _count("png")
    return png


def _in_worker(task: dict[str, Any], settings: Settings) -> Any:
    """Run one render task in a render worker; every way it can fail becomes a clear error of this request."""
    from convoinsight.workers.pool import TaskFailed, WorkerBusy, WorkerCrashed, WorkerError, WorkerTimeout

    limit, memory_mb = settings.chart_render_timeout_seconds, settings.chart_render_memory_mb
    try:
        return render_pool(settings).run({**task, "memory_mb": memory_mb}, limit)
    except TaskFailed as failed:
        _log("chart_render_failed", task, failed.kind)
        if failed.kind == "MemoryError":
            raise Unprocessable(f"the chart needs more than the {memory_mb} MB a render may use",
                                code="chart_render_crashed") from None
        raise Unprocessable(f"the chart could not be rendered: {_reason(failed.message)}",
                            code="chart_render_failed") from None
    except WorkerTimeout:
        _log("chart_render_timeout", task, None)
        raise Unprocessable(f"the chart took longer than {limit:g} s to render and was stopped",
                            code="chart_render_timeout") from None
    except WorkerCrashed as crashed:
        _log("chart_render_crashed", task, crashed.exitcode)
        raise Unprocessable(f"the renderer stopped on this chart ({crashed}; a render may use {memory_mb} MB); "
                            "nothing else was affected", code="chart_render_crashed") from None
    except WorkerBusy:
        raise ServiceUnavailable("every chart renderer stayed busy; try again shortly",
                                 code="chart_render_busy") from None
    except WorkerError as exc:
        raise ServiceUnavailable(f"the chart renderer is unavailable: {exc}", code="chart_render_busy") from None


def _reason(message: str) -> str:
    # vl-convert says "Vega-Lite to SVG conversion failed:" on its first line and why on the next ones.
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    return " ".join(lines[:2])[:200] or "unknown error"


def _log(event: str, task: dict[str, Any], detail: Any) -> None:
    log.warning("chart render %s", event.removeprefix("chart_render_"),
                extra={"event": event, "op": task.get("op"), "detail": detail})


def _count(fmt: str) -> None:
    with _lock:
        _counts[fmt] += 1
