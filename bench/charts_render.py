"""Chart rendering: our path (policy re-check + render worker round trip) vs vl-convert in-process.

Reports, for a typical bar chart (12 categories, title, tooltips) as SVG and as PNG (rasterised from
that SVG at scale 1 and 2): p50/p95 through the render worker pool (what an image request pays
before the blob store) and of the same vl-convert call in this process, warm, interleaved so that
both see the same machine; the overhead (worker minus in-process) at p50 and p95; the cost of
check_spec on the visualizer's spec (policy + schema) and of the policy alone; and the first render
in a fresh worker (what the request after a failed render pays: process start + a new V8).
"""

from __future__ import annotations

import time

from bench.stack import percentile

ROUNDS = 200
COLD_ROUNDS = 5
CATEGORIES = ["North", "South", "East", "West", "Central", "Coast", "Mountain", "Plains", "Lakes", "Desert",
              "Valley", "Islands"]
SPEC = {"mark": {"type": "bar", "tooltip": True}, "title": "Revenue by region",
        "encoding": {"x": {"field": "region", "type": "nominal", "sort": "-y"},
                     "y": {"field": "revenue", "type": "quantitative", "axis": {"format": "$,.0f"}}}}


def _ms(fn) -> tuple[float, object]:
    started = time.perf_counter()
    value = fn()
    return (time.perf_counter() - started) * 1000, value


def _summary(name: str, values: list[float]) -> dict[str, float]:
    return {f"{name}_ms_p50": round(percentile(values, 50), 2), f"{name}_ms_p95": round(percentile(values, 95), 2)}


def run() -> dict:
    import vl_convert

    from convoinsight.charts import policy, render
    from convoinsight.charts.bind import bind, check_spec
    from convoinsight.charts.schema import VEGA_LITE_VERSION
    from convoinsight.settings import load_settings

    settings = load_settings({})
    rows = [[name, 1000.0 + 137.5 * i] for i, name in enumerate(CATEGORIES)]
    table = {"columns": ["region", "revenue"], "rows": rows, "row_count": len(rows), "truncated": False}
    spec = bind(check_spec(SPEC, {"region", "revenue"}), table)[0]

    # Warm both sides: the worker's and this process's first render start a JavaScript runtime.
    svg_text = render._render_svg(spec, settings).decode()
    vl_convert.vegalite_to_svg(spec, vl_version=VEGA_LITE_VERSION, allowed_base_urls=[])
    times: dict[str, list[float]] = {k: [] for k in ("svg_worker", "svg_in_process", "png_worker", "png_in_process",
                                                      "png2x_worker", "png2x_in_process")}
    for _ in range(ROUNDS):
        times["svg_worker"].append(_ms(lambda: render._render_svg(spec, settings))[0])
        times["svg_in_process"].append(_ms(lambda: vl_convert.vegalite_to_svg(
            spec, vl_version=VEGA_LITE_VERSION, allowed_base_urls=[]))[0])
        times["png_worker"].append(_ms(lambda: render._rasterise(svg_text, 1, settings))[0])
        times["png_in_process"].append(_ms(lambda: vl_convert.svg_to_png(svg_text, scale=1))[0])
        times["png2x_worker"].append(_ms(lambda: render._rasterise(svg_text, 2, settings))[0])
        times["png2x_in_process"].append(_ms(lambda: vl_convert.svg_to_png(svg_text, scale=2))[0])
        time.sleep(0.01)  # requests do not arrive back to back
    out: dict = {}
    for name, values in times.items():
        out.update(_summary(name, values))
    for kind in ("svg", "png", "png2x"):
        worker, local = times[f"{kind}_worker"], times[f"{kind}_in_process"]
        out[f"{kind}_overhead_ms_p50"] = round(percentile(worker, 50) - percentile(local, 50), 2)
        out[f"{kind}_overhead_ms_p95"] = round(percentile(worker, 95) - percentile(local, 95), 2)

    checks = [_ms(lambda: check_spec(SPEC, {"region", "revenue"}))[0] for _ in range(ROUNDS)]
    policies = [_ms(lambda: policy.check(SPEC))[0] for _ in range(ROUNDS)]
    out.update(_summary("check_spec", checks))
    out.update(_summary("policy_only", policies))

    cold = []
    for _ in range(COLD_ROUNDS):
        render.close_pools()  # as after a failed render: the next one gets a new worker
        cold.append(_ms(lambda: render._render_svg(spec, settings))[0])
    render.close_pools()
    out.update(_summary("svg_first_in_fresh_worker", cold))
    out["svg_bytes"] = len(svg_text)
    return out
