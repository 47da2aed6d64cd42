"""Sessions over HTTP through the local emulator: a conversation in accents, euros, Chinese and Hebrew is
listed, read, renamed, exported as a PDF that holds it all, and deleted with everything of it."""

from __future__ import annotations

import io
import subprocess
import uuid

import pytest
import redis
import requests
from pypdf import PdfReader

pytestmark = pytest.mark.slow

CSV = "région,revenue\nCafé €,120.5\n数据中心,80.25\nעברית,42\n".encode()
TITLE = "Revenue: Café €, 数据 and עברית"


def h(user: str) -> dict[str, str]:
    return {"X-User-Id": user}


def ask(emulator, user: str, prompt: str, session_id: str | None = None, **extra) -> dict:
    body = {"domain": "intl", "prompt": prompt, "model": "offline",
            **({"session_id": session_id} if session_id else {}), **extra}
    resp = requests.post(emulator.url("queries", "/"), headers=h(user), json=body, timeout=60)
    assert resp.status_code in (200, 202), resp.text
    return resp.json()


def wait(emulator, user: str, job_id: str) -> dict:
    for _ in range(600):
        body = requests.get(emulator.url("queries", f"/{job_id}"), headers=h(user), timeout=10).json()
        if body["status"] in ("succeeded", "failed", "cancelled"):
            return body
    raise AssertionError(body)


@pytest.fixture
def user(emulator) -> str:
    user = f"e2e-{uuid.uuid4().hex[:10]}"
    resp = requests.post(emulator.url("datasets", "/intl"), headers=h(user), files={"file": ("sales.csv", CSV)},
                         timeout=30)
    assert resp.status_code == 201, resp.text
    return user


def test_a_unicode_conversation_round_trips_through_the_pdf(emulator, user, tmp_path):
    first = ask(emulator, user, "total revenue by région")
    assert first["sql_status"] == "ok" and first["chart"], first
    ask(emulator, user, "average revenue by région", first["session_id"])
    session_url = emulator.url("sessions", f"/{first['session_id']}")
    renamed = requests.patch(session_url, headers=h(user), json={"title": TITLE}, timeout=30)
    assert renamed.status_code == 200 and renamed.json()["title"] == TITLE
    listed = requests.get(emulator.url("sessions", "/"), headers=h(user), timeout=30).json()
    assert [(s["title"], s["turn_count"]) for s in listed["sessions"]] == [(TITLE, 2)]

    resp = requests.post(f"{session_url}/export", headers=h(user), json={"include_sql": True}, timeout=120)
    assert resp.status_code == 200 and resp.headers["Content-Type"] == "application/pdf"
    assert resp.content.startswith(b"%PDF-") and "attachment" in resp.headers["Content-Disposition"]
    reader = PdfReader(io.BytesIO(resp.content))
    assert len(reader.pages) == int(resp.headers["X-Export-Pages"]) >= 3  # title page + a page per turn
    title_page = reader.pages[0].extract_text()
    assert "Café €" in title_page and "数据" in title_page and "sales" in title_page
    text = " ".join(page.extract_text() for page in reader.pages)
    for expected in ("total revenue by région", "average revenue by région", "Café €", "数据中心", "120.5"):
        assert expected in text, expected
    # Hebrew is drawn right to left: poppler's text extraction gives it back in reading order.
    (tmp_path / "s.pdf").write_bytes(resp.content)
    layout = subprocess.run(["pdftotext", "-layout", str(tmp_path / "s.pdf"), "-"], capture_output=True, text=True,
                            timeout=60, check=True).stdout
    assert "עברית" in layout
    assert any(page.images for page in reader.pages[1:])  # the charts, as pictures


def test_deleting_a_session_over_http_removes_everything_of_it(emulator, user, redis_server):
    doomed = ask(emulator, user, "total revenue by région")
    job = ask(emulator, user, "average revenue by région", doomed["session_id"], mode="async")
    assert wait(emulator, user, job["job_id"])["status"] == "succeeded"
    kept = ask(emulator, user, "total revenue by région")
    chart = emulator.url("charts", f"/{doomed['chart']['id']}")
    assert requests.get(f"{chart}/image", headers=h(user), timeout=60).status_code == 200
    memory_key = f"ci:v1:{user}:memory:{doomed['session_id']}"
    store = redis.Redis.from_url(redis_server.url)
    assert store.exists(memory_key)

    resp = requests.delete(emulator.url("sessions", f"/{doomed['session_id']}"), headers=h(user), timeout=60)
    assert resp.status_code == 200, resp.text
    assert resp.json()["messages"] == 4 and resp.json()["charts"] == 2 and resp.json()["jobs"] == 1
    for url in (emulator.url("sessions", f"/{doomed['session_id']}"), chart, f"{chart}/image",
                emulator.url("queries", f"/{job['job_id']}")):
        assert requests.get(url, headers=h(user), timeout=30).status_code == 404, url
    assert not store.exists(memory_key)
    charts = requests.get(emulator.url("charts", "/"), headers=h(user), timeout=30).json()["charts"]
    assert [c["session_id"] for c in charts] == [kept["session_id"]]
    sessions = requests.get(emulator.url("sessions", "/"), headers=h(user), timeout=30).json()["sessions"]
    assert [s["id"] for s in sessions] == [kept["session_id"]]
    history = requests.get(emulator.url("sessions", f"/{kept['session_id']}"), headers=h(user), timeout=30).json()
    assert [t["message_id"] for t in history["turns"]] == [kept["message_id"]]
