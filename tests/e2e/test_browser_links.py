"""A real browser (Debian's headless Chromium, through chromium-driver) on a page of another origin:
signed upload with a preflight, an async question, a native EventSource to the end, and an <img> of the chart,
through the load balancer's stand-in, using only the URLs the API returned.

The page is what a frontend developer writes: fetch with the identity header where fetch can send one, and
bare URLs where the browser cannot (EventSource, <img src>).
"""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.e2e.conftest import BROWSER_PAGE_PORT, BROWSER_PAGE_SOCKET
from tests.support.browser import chromium
from tests.support.data import SALES_CSV

pytestmark = pytest.mark.slow
ARTIFACTS = Path(__file__).resolve().parents[2] / ".local" / "test-artifacts"

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ConvoInsight browser check</title></head>
<body><img id="chart" alt="chart"><pre id="log"></pre>
<script>
const API = %(api)s, CSV = %(csv)s, USER = {"X-User-Id": "browser-bob"};
const log = (m) => { document.getElementById("log").textContent += m + "\\n"; };
async function run() {
  const created = await (await fetch(API + "/api/v1/datasets/web/uploads", {method: "POST",
      headers: {...USER, "Content-Type": "application/json"}, body: JSON.stringify({filename: "sales.csv"})})).json();
  const put = await fetch(created.url, {method: created.method, headers: created.headers, body: CSV});
  log("put " + put.status);
  for (let i = 0; i < 200; i++) {
    const status = await (await fetch(created.status_url, {headers: USER})).json();
    if (status.status === "ready") break;
    await new Promise(r => setTimeout(r, 100));
  }
  const job = await (await fetch(API + "/api/v1/queries/", {method: "POST",
      headers: {...USER, "Content-Type": "application/json"},
      body: JSON.stringify({domain: "web", prompt: "total revenue by region", mode: "async"})})).json();
  const events = [];
  const last = await new Promise((resolve, reject) => {
    const source = new EventSource(job.events_url);
    let latest = null;
    source.addEventListener("progress", (e) => { latest = JSON.parse(e.data); events.push("progress"); });
    source.addEventListener("end", (e) => { events.push("end"); source.close(); resolve(latest); });
    source.onerror = () => { source.close(); reject(new Error("EventSource failed after " + events.length)); };
  });
  const img = document.getElementById("chart");
  await new Promise((resolve, reject) => { img.onload = resolve; img.onerror = () => reject(new Error("img"));
                                           img.src = last.result.chart.image_url; });
  return {put: put.status, events, status: last.status, width: img.naturalWidth, height: img.naturalHeight,
          image_url: last.result.chart.image_url, events_url: job.events_url};
}
run().then(r => { window.__result = r; }, e => { window.__result = {error: String(e)}; });
</script></body></html>
"""


@pytest.fixture
def page_server(cloud) -> Iterator[str]:
    body = (PAGE % {"api": json.dumps(cloud.base), "csv": json.dumps(SALES_CSV.read_text())}).encode()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            return None

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", BROWSER_PAGE_PORT), Handler, bind_and_activate=False)
    server.socket.close()
    server.socket = socket.socket(fileno=os.dup(BROWSER_PAGE_SOCKET.fileno()))  # the port reserved at start
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{BROWSER_PAGE_PORT}/"
    server.shutdown()
    server.server_close()  # closes the duplicate; the reserved socket keeps the port


@pytest.fixture
def browser(tmp_path):
    driver = chromium(tmp_path / "profile", window="1000,800", script_timeout=120)
    yield driver
    driver.quit()


def test_a_browser_uploads_asks_follows_the_eventsource_and_shows_the_chart(cloud, page_server, browser):
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(page_server)
    result = WebDriverWait(browser, 120, poll_frequency=0.2).until(
        lambda d: d.execute_script("return window.__result || null"))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "browser-links.png"))
    assert "error" not in result, (result, browser.find_element("id", "log").text)
    assert result["put"] == 200  # the preflight to the bucket's stand-in passed
    assert result["status"] == "succeeded" and result["events"][-1] == "end" and "progress" in result["events"]
    assert result["width"] > 100 and result["height"] > 50  # the PNG decoded in the browser
    assert result["events_url"].startswith(cloud.base) and result["image_url"].startswith(cloud.base)
    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert not errors, errors
