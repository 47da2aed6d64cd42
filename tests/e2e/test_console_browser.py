"""The web console in a real browser (Debian's headless Chromium driven by Selenium), against the whole local stack.

A new user's minute: open ``/``, sign in as a dev user, upload the sample CSV (the progress bar reaches 100%), see it
listed with a preview, upload it again through a signed URL, ask a question with the offline model and watch the
stages arrive, get the answer's markdown, table and chart (no console error or warning, CSP violations included),
click a follow-up for a second turn, rename the session, export it to PDF (downloaded and opened with pypdf), and
delete it. Then keyboard-only use, accessible names, text contrast, and a phone-width screen with no sideways
scroll. Screenshots are kept in ``.local/test-artifacts/console/``.
"""

from __future__ import annotations

import json
import re
import shutil
import statistics
import time
import uuid
from pathlib import Path

import pytest

from tests.support.browser import chromium

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / ".local" / "test-artifacts" / "console"
SALES = REPO / "local_emulator" / "sample_data" / "sales.csv"
QUESTION = "What is the total revenue by region?"

# Installed before any page script runs (through the DevTools protocol, so the page's CSP does not apply to it):
# every console error or warning, uncaught error, rejection and CSP violation, and each stage summary shown.
CAPTURE = """
window.__errors = [];
window.__stages = [];
for (const level of ["error", "warn"]) {
  const original = console[level].bind(console);
  console[level] = (...args) => { window.__errors.push(level + ": " + args.map(String).join(" ")); original(...args); };
}
window.addEventListener("error", (e) => window.__errors.push("uncaught: " + e.message));
window.addEventListener("unhandledrejection", (e) => window.__errors.push("rejection: " + e.reason));
document.addEventListener("securitypolicyviolation",
  (e) => window.__errors.push("csp: " + e.violatedDirective + " " + e.blockedURI));
new MutationObserver(() => {
  for (const node of document.querySelectorAll(".stage-summary")) {
    const text = node.textContent;
    if (window.__stages[window.__stages.length - 1] !== text) window.__stages.push(text);
  }
}).observe(document, {subtree: true, childList: true, characterData: true});
"""

# The WCAG contrast ratio of every visible text against the first opaque background behind it.
CONTRAST = """
function rgb(value) {
  const m = value.match(/rgba?\\(([^)]+)\\)/);
  if (!m) return null;
  const [r, g, b, a = 1] = m[1].split(",").map(Number);
  return {r, g, b, a};
}
function luminance({r, g, b}) {
  const f = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4); };
  return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
}
function background(element) {
  for (let e = element; e; e = e.parentElement) {
    const c = rgb(getComputedStyle(e).backgroundColor);
    if (c && c.a >= 0.99) return c;
  }
  return {r: 255, g: 255, b: 255, a: 1};
}
const low = [];
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
for (let node = walker.nextNode(); node; node = walker.nextNode()) {
  const element = node.parentElement;
  if (!node.textContent.trim() || !element || element.closest("svg, [hidden], .visually-hidden, option")) continue;
  const box = element.getBoundingClientRect();
  if (!box.width || !box.height || getComputedStyle(element).visibility === "hidden") continue;
  const fg = rgb(getComputedStyle(element).color), bg = background(element);
  const [a, b] = [luminance(fg), luminance(bg)].sort((x, y) => y - x);
  const ratio = (a + 0.05) / (b + 0.05);
  if (ratio < 4.5) low.push({text: node.textContent.trim().slice(0, 40), ratio: Math.round(ratio * 100) / 100});
}
return low;
"""

# Every form control and button has an accessible name (a label, aria-label or aria-labelledby, or its text).
NAMES = """
const missing = [];
for (const el of document.querySelectorAll("input, select, textarea, button, progress")) {
  if (el.closest("[hidden]")) continue;
  const labelled = (el.labels && [...el.labels].some((l) => l.textContent.trim())) || el.getAttribute("aria-label")
    || (el.getAttribute("aria-labelledby") && document.getElementById(el.getAttribute("aria-labelledby")));
  const text = el.tagName === "BUTTON" && el.textContent.trim();
  if (!labelled && !text) missing.push(el.outerHTML.slice(0, 120));
}
return missing;
"""


@pytest.fixture(scope="module")
def console_url(emulator) -> str:
    return emulator.base.removesuffix("/api/v1") + "/"


@pytest.fixture(scope="module")
def downloads(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def driver(tmp_path_factory, downloads):
    chrome = chromium(tmp_path_factory.mktemp("chromium"), downloads=downloads,
                      extra=("--force-device-scale-factor=1", "--hide-scrollbars"))
    chrome.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": CAPTURE})
    yield chrome
    chrome.quit()


def wait(driver, condition, timeout: float = 30, message: str = ""):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(condition, message)


def by_css(driver, selector):
    return driver.find_element("css selector", selector)


def problems(driver) -> list[str]:
    """What the page and Chrome logged as an error or warning since the last call."""
    logged = driver.execute_script("const e = window.__errors || []; window.__errors = []; return e;")
    browser = [e["message"] for e in driver.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    return logged + browser


def shot(driver, name: str) -> None:
    """The whole page, not only the viewport (DevTools' capture beyond the viewport)."""
    import base64

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    size = driver.execute_script("return [document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
    image = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": size[0], "height": min(size[1], 6000), "scale": 1}})
    (ARTIFACTS / f"{name}.png").write_bytes(base64.b64decode(image["data"]))


def sign_in(driver, url: str, user: str) -> None:
    driver.get(url)
    driver.execute_script("sessionStorage.clear()")  # a sign-in kept by this tab from an earlier test
    driver.get(url)
    wait(driver, lambda d: by_css(d, "#sign-in-form").is_displayed())
    field = by_css(driver, "#user-id")
    field.clear()
    field.send_keys(user)
    by_css(driver, "#sign-in-submit").click()
    wait(driver, lambda d: by_css(d, "#workspace").is_displayed(), message="the workspace after sign-in")
    wait(driver, lambda d: user in by_css(d, "#whoami").text)


def upload(driver, domain: str, name: str = "", signed: bool = False) -> str:
    box = by_css(driver, "#upload-domain")
    box.clear()
    box.send_keys(domain)
    by_css(driver, "#upload-file").send_keys(str(SALES))
    if name:
        by_css(driver, "#upload-name").send_keys(name)
    checkbox = by_css(driver, "#upload-signed")
    if checkbox.is_selected() != signed:
        checkbox.click()
    by_css(driver, "#upload-submit").click()
    wait(driver, lambda d: any(w in by_css(d, "#upload-status").text for w in ("is ready", "failed")),
         message="the upload's status")
    status = by_css(driver, "#upload-status").text
    assert "is ready" in status, (status, by_css(driver, "#alert").text)
    assert by_css(driver, "#upload-progress").get_attribute("value") == "100"
    assert by_css(driver, "#upload-percent").text == "100%"
    return status


def choose_offline_model(driver) -> None:
    from selenium.webdriver.support.ui import Select

    select = Select(by_css(driver, "#ask-model"))
    offline = [o.get_attribute("value") for o in select.options if "offline" in o.get_attribute("value")]
    assert offline, [o.get_attribute("value") for o in select.options]
    select.select_by_value(offline[0])


def turns_done(driver) -> int:
    return len(driver.find_elements("css selector", ".turn[data-done]"))


def wait_for_answer(driver, count: int) -> None:
    wait(driver, lambda d: turns_done(d) >= count, timeout=60, message=f"answer {count}")
    last = driver.find_elements("css selector", ".turn")[count - 1]
    assert last.get_attribute("data-done") == "true", last.text
    charts = last.find_elements("css selector", "figure.chart")
    if charts:
        wait(driver, lambda d: charts[0].get_attribute("data-rendered") in ("true", "failed"), message="the chart")
        assert charts[0].get_attribute("data-rendered") == "true", charts[0].text


def test_from_a_csv_to_a_chart_a_session_and_a_pdf(driver, console_url, downloads):
    user = f"console-{uuid.uuid4().hex[:8]}"
    domain = "demo"
    started = time.monotonic()
    sign_in(driver, console_url, user)
    assert problems(driver) == []
    shot(driver, "01-signed-in")

    # Upload: the progress bar reaches 100%, the dataset is listed and previewed.
    upload(driver, domain)
    wait(driver, lambda d: d.find_elements("css selector", '#domain-list [data-dataset="sales"]'))
    wait(driver, lambda d: by_css(d, "#preview").is_displayed())
    assert "Preview of demo/sales" in by_css(driver, "#preview-title").text
    preview_rows = driver.find_elements("css selector", "#preview-body tbody tr")
    assert len(preview_rows) == 20 and "20 of 600 rows" in by_css(driver, "#preview-body caption").text
    shot(driver, "02-uploaded-preview")

    # A large file's way: a signed URL, a PUT with progress, then the upload's status.
    upload(driver, domain, name="sales_signed", signed=True)
    wait(driver, lambda d: d.find_elements("css selector", '#domain-list [data-dataset="sales_signed"]'))
    assert "600 rows" in by_css(driver, "#upload-status").text

    # Ask with the keyboard (Enter sends), with the offline model; the stages arrive one by one.
    choose_offline_model(driver)
    asked = time.monotonic()
    prompt = by_css(driver, "#ask-prompt")
    prompt.send_keys(QUESTION)
    prompt.send_keys("\n")
    wait_for_answer(driver, 1)
    to_chart, ask_to_chart = time.monotonic() - started, time.monotonic() - asked
    # Progress events read in one chunk are drawn in one task, so the page may skip a state; it shows at least one
    # before the last (the manipulator's SQL alone runs in a worker process for some milliseconds).
    stages = [s for s in driver.execute_script("return window.__stages") if s]
    assert len(stages) >= 2 and stages[-1] == "6 of 6 stages done", stages
    assert all(re.fullmatch(r"[0-5] of 6 stages done, now [a-z]+", s) for s in stages[:-1]), stages
    turn = driver.find_elements("css selector", ".turn")[0]
    assert turn.find_element("css selector", ".question").text == QUESTION
    assert "North" in turn.find_element("css selector", ".markdown").text
    svg = turn.find_element("css selector", "figure.chart svg")
    assert svg.get_attribute("role") == "img" and len(svg.find_elements("css selector", "path, rect")) > 3
    rows = turn.find_elements("css selector", ".table-wrap tbody tr")
    assert len(rows) == 4 and {r.find_element("css selector", "td").text for r in rows} == {
        "North", "South", "East", "West"}
    assert turn.find_element("css selector", ".verified").get_attribute("data-verified") == "true"
    sql = turn.find_element("css selector", "details.sql")
    assert not sql.find_element("css selector", "pre").is_displayed()
    sql.find_element("css selector", "summary").click()
    assert "SELECT" in sql.find_element("css selector", "pre").text
    assert driver.execute_script(CONTRAST) == []  # the answer's text too: stages, verified, follow-ups, SQL
    assert driver.execute_script(NAMES) == []
    assert problems(driver) == []
    shot(driver, "03-answer-chart")
    print(f"console: opened to chart {to_chart:.2f} s, question to chart {ask_to_chart:.2f} s")
    (ARTIFACTS / "timings.json").write_text(json.dumps({"open_to_chart_s": to_chart, "ask_to_chart_s": ask_to_chart}))

    # A follow-up is a button: it asks the next turn in the same session.
    follow_ups = turn.find_elements("css selector", "button.follow-up")
    assert follow_ups
    question = follow_ups[0].text
    follow_ups[0].click()
    wait_for_answer(driver, 2)
    second = driver.find_elements("css selector", ".turn")[1]
    assert second.find_element("css selector", ".question").text == question
    assert problems(driver) == []

    # The session is listed with its two turns; rename it.
    wait(driver, lambda d: "2 turns" in by_css(d, "#session-list .session.current").text, message="the session")
    current = by_css(driver, "#session-list .session.current")
    session_id = current.get_attribute("data-session")
    current.find_element("css selector", ".session-rename").click()
    field = by_css(driver, f"#rename-{session_id}")
    assert driver.switch_to.active_element == field
    field.clear()
    field.send_keys("Revenue review\n")
    wait(driver, lambda d: by_css(d, f'[data-session="{session_id}"] .session-open').text == "Revenue review")
    assert by_css(driver, "#conversation-title").text == "Revenue review"
    shot(driver, "04-two-turns-renamed")

    # Export: the PDF is downloaded, and it is a real PDF with the pages the API reported.
    by_css(driver, "#export-pdf").click()
    link = wait(driver, lambda d: d.find_elements("css selector", "#pdf-link"), message="the PDF link")[0]
    assert link.get_attribute("download") == "Revenue review.pdf"
    pdf = downloads / "Revenue review.pdf"
    wait(driver, lambda d: pdf.is_file() and pdf.stat().st_size == int(link.get_attribute("data-bytes")),
         message="the downloaded PDF")
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-")
    from pypdf import PdfReader

    reader = PdfReader(str(pdf))
    assert len(reader.pages) == int(link.get_attribute("data-pages")) >= 2
    text = "".join(page.extract_text() for page in reader.pages)
    assert "Revenue review" in text and QUESTION in text
    if shutil.which("pdftoppm"):  # the exported pages as images, to look at beside the screenshots
        import subprocess

        subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "2", str(pdf), str(ARTIFACTS / "pdf-page")],
                       check=True, timeout=60)
    shot(driver, "05-exported")
    assert problems(driver) == []

    # Reopen the session from the list (its turns come back drawn), then delete it.
    by_css(driver, "#new-conversation").click()
    assert driver.find_elements("css selector", ".turn") == []
    by_css(driver, f'[data-session="{session_id}"] .session-open').click()
    wait(driver, lambda d: len(d.find_elements("css selector", "figure.chart[data-rendered=true]")) >= 1)
    assert len(driver.find_elements("css selector", ".turn")) == 2
    by_css(driver, f'[data-session="{session_id}"] .session-delete').click()
    wait(driver, lambda d: d.switch_to.alert).accept()
    wait(driver, lambda d: not d.find_elements("css selector", f'[data-session="{session_id}"]'))
    assert driver.find_elements("css selector", ".turn") == []
    assert problems(driver) == []


def press(driver, key) -> None:
    """A key press where the focus is (send_keys on a file input would type a file name into it)."""
    from selenium.webdriver.common.action_chains import ActionChains

    ActionChains(driver).send_keys(key).perform()


def test_the_console_works_from_the_keyboard_with_names_and_contrast(driver, console_url):
    from selenium.webdriver.common.keys import Keys

    sign_in(driver, console_url, f"keys-{uuid.uuid4().hex[:8]}")
    assert driver.execute_script(NAMES) == []
    assert driver.execute_script(CONTRAST) == []
    # Reload (the sign-in is kept for this tab) and walk with Tab from the top: the skip link comes first.
    driver.get(console_url)
    wait(driver, lambda d: by_css(d, "#workspace").is_displayed())
    wait(driver, lambda d: by_css(d, "#ask-domain").find_elements("css selector", "option"))
    press(driver, Keys.TAB)
    first = driver.switch_to.active_element
    assert first.get_attribute("class") == "skip-link"
    seen = []
    for _ in range(60):
        active = driver.switch_to.active_element
        seen.append(active.get_attribute("id") or active.tag_name)
        if seen[-1] == "ask-prompt":
            break
        press(driver, Keys.TAB)
    assert seen[-1] == "ask-prompt", seen
    for control in ("upload-domain", "upload-file", "upload-submit", "ask-domain", "ask-model"):
        assert control in seen, (control, seen)
    press(driver, Keys.TAB)
    assert driver.switch_to.active_element.get_attribute("id") == "ask-submit"
    # The skip link goes straight to the question box; an empty question is refused in the alert region.
    driver.get(console_url)
    wait(driver, lambda d: by_css(d, "#workspace").is_displayed())
    press(driver, Keys.TAB)
    press(driver, Keys.ENTER)
    assert driver.switch_to.active_element.get_attribute("id") == "ask-prompt"
    press(driver, Keys.ENTER)
    alert = by_css(driver, "#alert")
    wait(driver, lambda d: alert.is_displayed())
    assert alert.get_attribute("role") == "alert" and "Type a question" in alert.text
    # Focus is visible: the focused control draws an outline.
    outline = driver.execute_script("return getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("none", ""), outline
    assert problems(driver) == []


HOSTILE = """# Title

<script>window.__owned = 1</script><img src="x" onerror="window.__owned = 2">
[click](javascript:window.__owned=3) <a href="https://example.test" onclick="window.__owned=4">out</a>
<iframe src="https://example.test"></iframe><form action="https://example.test"><input name="q"></form>
<div style="position:fixed;inset:0">cover</div>

**bold** and `code`
"""


def test_model_markdown_is_sanitized_before_it_reaches_the_page(driver, console_url):
    sign_in(driver, console_url, f"markdown-{uuid.uuid4().hex[:8]}")
    html = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "import(new URL('assets/render.js', location.href).href)"
        ".then((m) => { const el = m.markdown(arguments[0]); document.body.append(el); done(el.innerHTML); },"
        "      (e) => done('failed: ' + e));", HOSTILE)
    assert "<h1>Title</h1>" in html and "<strong>bold</strong>" in html and "<code>code</code>" in html
    for bad in ("<script", "onerror", "onclick", "javascript:", "<iframe", "<form", "<input", "<img", "style="):
        assert bad not in html, (bad, html)
    assert 'rel="noopener noreferrer nofollow"' in html
    assert driver.execute_script("return window.__owned === undefined")
    # Chrome reports the hostile handlers and style as blocked by the CSP already while DOMPurify parses them (its
    # DOMParser document inherits the page's policy): defence in depth. Nothing else may be logged.
    found = problems(driver)
    blocked = [f for f in found if f in ("csp: script-src-attr inline", "csp: style-src-attr inline")
               or ("purify.es.mjs" in f and "The action has been blocked." in f)]
    assert blocked and found == blocked, found


SSE_CHUNKS = [
    ": keepalive\r\n\r\nevent: progress\r\ndata: {\"stages_done\": 0,",  # CRLF, a comment, JSON cut mid-way
    " \"stages_total\": 6}\r\n\r\nevent: tok",
    "en\ndata: {\"text\": \"Hello \"}\n\nevent: token\ndata: {\"text\": \"w\u00f6rld\"}\n\n",
    # The last event has no blank line after it.
    "event: reset\ndata: {\"reason\": \"revised\"}\n\nevent: end\ndata: {\"status\": \"succeeded\"}",
]


def test_the_event_stream_reader_handles_what_a_network_does_to_it(driver, console_url):
    """Events split across chunks, CRLF line ends, comments, multi-byte text cut between chunks, no final blank line."""
    sign_in(driver, console_url, f"sse-{uuid.uuid4().hex[:8]}")
    events = driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const bytes = arguments[0].map((c) => new TextEncoder().encode(c));
        // Cut the "ö" (two bytes in UTF-8) between two chunks as well.
        const all = new Uint8Array(bytes.reduce((n, b) => n + b.length, 0));
        let at = 0; for (const b of bytes) { all.set(b, at); at += b.length; }
        const cut = all.indexOf(0xc3) + 1;
        const pieces = [all.slice(0, 37), all.slice(37, cut), all.slice(cut)];
        const body = new ReadableStream({start(c) { for (const p of pieces) c.enqueue(p); c.close(); }});
        import(new URL('assets/sse.js', location.href).href).then(async (m) => {
          const seen = [];
          await m.readEvents(new Response(body), (name, data) => seen.push([name, data]));
          done(seen);
        }, (e) => done('failed: ' + e));
    """, SSE_CHUNKS)
    assert events == [["progress", {"stages_done": 0, "stages_total": 6}], ["token", {"text": "Hello "}],
                      ["token", {"text": "wörld"}], ["reset", {"reason": "revised"}], ["end", {"status": "succeeded"}]]
    assert problems(driver) == []


def test_an_api_error_is_shown_in_the_alert_region(driver, console_url, tmp_path):
    sign_in(driver, console_url, f"errors-{uuid.uuid4().hex[:8]}")
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    by_css(driver, "#upload-file").send_keys(str(empty))
    by_css(driver, "#upload-submit").click()
    alert = by_css(driver, "#alert")
    wait(driver, lambda d: alert.is_displayed())
    assert "empty" in alert.text.lower() and "(request " in alert.text, alert.text
    assert by_css(driver, "#upload-status").text == "The upload failed."
    driver.get_log("browser")  # the 400 itself is logged by Chrome as a failed resource load
    driver.execute_script("window.__errors = []")


def test_a_phone_width_screen_has_no_sideways_scroll(driver, console_url, emulator):
    user = f"phone-{uuid.uuid4().hex[:8]}"
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": 375, "height": 812, "deviceScaleFactor": 1, "mobile": True})
    # Opened by another name of this machine than PUBLIC_BASE_URL's: the API's absolute URLs (the signed upload's
    # PUT and status) are still reached through the page's own origin, as its CSP requires.
    by_name = console_url.replace("127.0.0.1", "localhost")
    try:
        sign_in(driver, by_name, user)
        upload(driver, "phone", signed=True)
        choose_offline_model(driver)
        by_css(driver, "#ask-prompt").send_keys(QUESTION + "\n")
        wait_for_answer(driver, 1)
        width = driver.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1] == 375, width
        chart_box = driver.execute_script(
            "const r = document.querySelector('figure.chart svg').getBoundingClientRect(); return [r.left, r.right]")
        assert chart_box[0] >= 0 and chart_box[1] <= 375, chart_box
        assert driver.execute_script(CONTRAST) == []
        by_css(driver, ".turn").location_once_scrolled_into_view  # noqa: B018 - scrolls the answer into view
        shot(driver, "06-phone-answer")
        driver.execute_script("window.scrollTo(0, 0)")
        shot(driver, "07-phone-top")
        assert problems(driver) == []
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_time_from_opening_the_console_to_a_chart(driver, console_url):
    """Measured, not asserted (bench/ holds numbers): open, sign in, upload, ask, chart, a few times."""
    runs = []
    for i in range(3):
        started = time.monotonic()
        sign_in(driver, console_url, f"timing-{i}-{uuid.uuid4().hex[:6]}")
        upload(driver, "timing")
        choose_offline_model(driver)
        by_css(driver, "#ask-prompt").send_keys(QUESTION + "\n")
        wait_for_answer(driver, 1)
        runs.append(time.monotonic() - started)
        by_css(driver, "#sign-out").click()
    weight = driver.execute_script(
        "return performance.getEntriesByType('resource').concat(performance.getEntriesByType('navigation'))"
        ".reduce((sum, e) => sum + (e.decodedBodySize || 0), 0)")
    summary = {"open_to_chart_s": runs, "median_s": statistics.median(runs), "page_bytes_decoded": weight}
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "timing-runs.json").write_text(json.dumps(summary, indent=2))
    print(f"console: open to chart, median of {len(runs)}: {summary['median_s']:.2f} s; page {weight} bytes")
    assert problems(driver) == []
