"""The sessions function in-process: list, history, rename, delete with everything of it; bad input refused."""

from __future__ import annotations

import threading
import time

import pytest

from convoinsight.charts import render
from convoinsight.jobs import store as job_store
from convoinsight.jobs.service import handle_task
from convoinsight.llm.prompts import prompt_store
from convoinsight.pipeline import runner as sync_runner
from convoinsight.services import get_services
from convoinsight.sessions import history, memory, store
from convoinsight.settings import get_settings
from tests.conftest import function_client
from tests.support.http import assert_error

Q1, Q2, Q3 = "total revenue by region", "total units by product", "average revenue by region"


@pytest.fixture
def sessions_client(local_env):
    return function_client("sessions")


def ask(queries, h, prompt: str, session_id: str | None = None, **extra) -> dict:
    body = {"domain": "shop", "prompt": prompt, **({"session_id": session_id} if session_id else {}), **extra}
    resp = queries.post("/", headers=h, json=body)
    assert resp.status_code in (200, 202), resp.get_json()
    return resp.get_json()


def services():
    return get_services(get_settings())


def test_sessions_are_listed_newest_activity_first_with_their_last_question(shop, sessions_client):
    queries, h = shop
    first = ask(queries, h, Q1)["session_id"]
    second = ask(queries, h, Q2)["session_id"]
    ask(queries, h, Q3, first)  # the first session is now the most recently active
    listed = sessions_client.get("/", headers=h).get_json()
    assert [s["id"] for s in listed["sessions"]] == [first, second] and listed["next_cursor"] is None
    top = listed["sessions"][0]
    assert top == {"id": first, "title": Q1, "domain": "shop", "message_count": 4, "turn_count": 2,
                   "created_at": top["created_at"], "updated_at": top["updated_at"], "last_question": Q3}
    assert top["created_at"] <= top["updated_at"]


def test_listing_pages_with_a_cursor_never_repeat_or_skip(shop, sessions_client):
    queries, h = shop
    made = [ask(queries, h, Q1)["session_id"] for _ in range(5)]
    seen, cursor = [], None
    while True:
        page = sessions_client.get("/", headers=h, query_string={"limit": 2, **({"cursor": cursor} if cursor else {})})
        body = page.get_json()
        assert len(body["sessions"]) <= 2
        seen += [s["id"] for s in body["sessions"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
        if len(seen) == 2:  # the oldest session becomes the most active between pages: it moves to the top,
            ask(queries, h, Q2, made[0])  # before the cursor; the others neither repeat nor go missing
    assert seen == made[:0:-1]
    assert sessions_client.get("/", headers=h).get_json()["sessions"][0]["id"] == made[0]


@pytest.mark.parametrize("query, status, code", [
    ({"cursor": "not-a-cursor"}, 400, "bad_cursor"),
    ({"cursor": "WyJ4IiwiYSJd"}, 400, "bad_cursor"),  # base64 of ["x","a"]: a cursor's shape, not its types
    ({"limit": 0}, 422, "invalid_parameter"), ({"limit": 101}, 422, "invalid_parameter"),
    ({"limit": "many"}, 422, "invalid_parameter"), ({"colour": "red"}, 422, "invalid_parameter"),
])
def test_bad_listing_parameters_are_refused(shop, sessions_client, query, status, code):
    _, h = shop
    assert_error(sessions_client.get("/", headers=h, query_string=query), status, code)


def test_a_new_sessions_title_is_its_first_question_cut_at_a_word(shop, sessions_client):
    queries, h = shop
    long_question = "total revenue by region " + "for the very important quarterly board meeting " * 4
    session_id = ask(queries, h, long_question)["session_id"]
    title = sessions_client.get(f"/{session_id}", headers=h).get_json()["title"]
    assert title.endswith("…") and len(title) <= store.TITLE_CHARS
    assert long_question.startswith(title[:-1]) and long_question[len(title) - 1] == " "  # whole words only
    ask(queries, h, Q2, session_id)
    assert sessions_client.get(f"/{session_id}", headers=h).get_json()["title"] == title  # later turns keep it


def test_clip_cuts_at_word_boundaries_and_handles_odd_text():
    assert store.clip("short question", 80) == "short question"
    assert store.clip("  many   spaces\nand lines ", 80) == "many spaces and lines"
    assert store.clip("word " * 30, 20) == "word word word word…"
    assert store.clip("x" * 200, 20) == "x" * 19 + "…"  # one long word is cut inside it
    assert store.title_of("   ") == "Untitled session"


def unsigned(chart: dict | None) -> dict | None:
    """A chart with its image link's token left out (the link itself stays compared)."""
    if not chart or "image_url" not in chart:
        return chart
    assert "&token=v1." in chart["image_url"]
    return {**chart, "image_url": chart["image_url"].split("&token=", 1)[0]}


def test_the_history_has_every_turn_in_order_as_it_was_answered(shop, sessions_client):
    queries, h = shop
    first = ask(queries, h, Q1)
    second = ask(queries, h, Q2, first["session_id"])
    body = sessions_client.get(f"/{first['session_id']}", headers=h).get_json()
    assert body["id"] == first["session_id"] and body["turn_count"] == 2 and body["next_cursor"] is None
    assert [t["question"] for t in body["turns"]] == [Q1, Q2]
    for turn, answer in zip(body["turns"], (first, second), strict=True):
        assert turn["message_id"] == answer["message_id"]
        for key in ("answer", "sql", "sql_status", "table", "insights", "follow_ups", "verified", "usage",
                    "timings", "datasets"):
            assert turn[key] == answer[key], key
        # id, title and the bound spec; the image link is signed again when the history is read, so its token's
        # expiry is a second later when the read falls in the next second than the answer (a loaded machine)
        assert unsigned(turn["chart"]) == unsigned(answer["chart"])
    assert body["turns"][0]["table"]["row_count"] == len(body["turns"][0]["table"]["rows"])
    assert body["turns"][0]["datasets"] == [{"name": "sales", "version": 1, "source": "upload"}]


def test_a_long_history_is_paged(shop, sessions_client):
    queries, h = shop
    session_id = ask(queries, h, Q1)["session_id"]
    for prompt in (Q2, Q3, Q1, Q2):
        ask(queries, h, prompt, session_id)
    questions, cursor = [], None
    while True:
        body = sessions_client.get(f"/{session_id}", headers=h,
                                   query_string={"limit": 2, **({"cursor": cursor} if cursor else {})}).get_json()
        assert len(body["turns"]) <= 2
        questions += [t["question"] for t in body["turns"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert questions == [Q1, Q2, Q3, Q1, Q2]


def test_a_turn_whose_chart_was_deleted_says_so(shop, sessions_client):
    queries, h = shop
    answer = ask(queries, h, Q1)
    assert function_client("charts").delete(f"/{answer['chart']['id']}", headers=h).status_code == 200
    (turn,) = sessions_client.get(f"/{answer['session_id']}", headers=h).get_json()["turns"]
    assert turn["chart"] == {"id": answer["chart"]["id"], "title": answer["chart"]["title"], "spec": None,
                             "deleted": True}


def test_an_unknown_session_is_a_404_on_every_route(shop, sessions_client):
    _, h = shop
    for method, path, body in (("GET", "/0123abcd", None), ("PATCH", "/0123abcd", {"title": "x"}),
                               ("DELETE", "/0123abcd", None), ("POST", "/0123abcd/export", None),
                               ("GET", "/abc-def", None), ("GET", "/" + "a" * 300, None)):
        assert_error(sessions_client.open(path, method=method, headers=h, json=body), 404, "session_not_found")
    assert_error(sessions_client.get("/..%2F..%2Fetc", headers=h), 404, "route_not_found")


def test_rename_changes_the_title_and_a_later_turn_keeps_it(shop, sessions_client):
    queries, h = shop
    session_id = ask(queries, h, Q1)["session_id"]
    renamed = sessions_client.patch(f"/{session_id}", headers=h, json={"title": "  Q4   board  review "})
    assert renamed.status_code == 200
    assert renamed.get_json()["title"] == "Q4 board review" and renamed.get_json()["id"] == session_id
    ask(queries, h, Q2, session_id)
    assert sessions_client.get(f"/{session_id}", headers=h).get_json()["title"] == "Q4 board review"
    assert [a["action"] for a in _audit(h)][:1] == ["session.rename"]


@pytest.mark.parametrize("body, status, code", [
    ({"title": ""}, 422, "invalid_request"), ({"title": "   "}, 422, "invalid_request"),
    ({"title": "two\nlines"}, 422, "invalid_request"), ({"title": "bell\x07"}, 422, "invalid_request"),
    ({"title": "x" * 201}, 422, "invalid_request"), ({"title": 7}, 422, "invalid_request"),
    ({"title": "ok", "colour": "red"}, 422, "invalid_request"), ({}, 422, "invalid_request"),
    (None, 400, "missing_body"),
])
def test_bad_renames_are_refused_and_change_nothing(shop, sessions_client, body, status, code):
    queries, h = shop
    session_id = ask(queries, h, Q1)["session_id"]
    assert_error(sessions_client.patch(f"/{session_id}", headers=h, json=body), status, code)
    assert sessions_client.get(f"/{session_id}", headers=h).get_json()["title"] == Q1


def _audit(h: dict) -> list[dict]:
    from convoinsight.observability import audit

    return audit.recent(services(), h["X-User-Id"])


def _everything_of(user_id: str, session_id: str) -> dict:
    docs = services().documents
    return {
        "session": docs.get(store.sessions(user_id), session_id),
        "messages": docs.list(store.messages(user_id, session_id)),
        "charts": docs.list(store.charts(user_id), where={"session_id": session_id}),
        "jobs": docs.list(job_store.jobs(user_id), where={"session_id": session_id}),
    }


def test_delete_removes_the_session_and_everything_of_it_and_nothing_else(shop, sessions_client, user_id):
    queries, h = shop
    doomed = ask(queries, h, Q1)
    ask(queries, h, Q2, doomed["session_id"])
    job = ask(queries, h, Q3, doomed["session_id"], mode="async")
    _wait(queries, h, job["job_id"])
    kept = ask(queries, h, Q1)
    charts = function_client("charts")
    for answer in (doomed, kept):  # images drawn, so there are blobs to delete
        assert charts.get(f"/{answer['chart']['id']}/image", headers=h).status_code == 200
    blobs = services().blobs
    assert blobs.exists(render.blob_path(user_id, doomed["chart"]["id"], "png"))
    redis = services().redis
    assert memory.recall(redis, user_id, doomed["session_id"])
    before = _everything_of(user_id, doomed["session_id"])
    assert len(before["messages"]) == 6 and len(before["charts"]) == 3 and len(before["jobs"]) == 1

    resp = sessions_client.delete(f"/{doomed['session_id']}", headers=h)
    assert resp.status_code == 200
    assert resp.get_json() == {"deleted": True, "id": doomed["session_id"], "messages": 6, "charts": 3,
                               "images": 2, "jobs": 1, "memory": True}  # its PNG and the SVG it was drawn from
    assert _everything_of(user_id, doomed["session_id"]) == {"session": None, "messages": [], "charts": [],
                                                             "jobs": []}
    assert docs_under(user_id, f"jobs/{job['job_id']}") == []
    assert not any(blobs.exists(p) for p in render.all_paths(user_id, doomed["chart"]["id"]))
    assert memory.recall(redis, user_id, doomed["session_id"]) is None
    assert_error(sessions_client.get(f"/{doomed['session_id']}", headers=h), 404, "session_not_found")
    assert_error(queries.get(f"/{job['job_id']}", headers=h), 404, "job_not_found")
    assert_error(queries.post("/", headers=h, json={"domain": "shop", "prompt": Q1,
                                                    "session_id": doomed["session_id"]}), 404, "session_not_found")
    # The other session is whole.
    other = _everything_of(user_id, kept["session_id"])
    assert other["session"]["message_count"] == 2 and len(other["messages"]) == 2 and len(other["charts"]) == 1
    assert blobs.exists(render.blob_path(user_id, kept["chart"]["id"], "png"))
    assert [s["id"] for s in sessions_client.get("/", headers=h).get_json()["sessions"]] == [kept["session_id"]]
    assert _audit(h)[0]["action"] == "session.delete"
    # Deleting again: already gone.
    assert_error(sessions_client.delete(f"/{doomed['session_id']}", headers=h), 404, "session_not_found")


def docs_under(user_id: str, sub: str) -> list:
    docs = services().documents
    return [name for name in ("outputs", "leases", "claims", "outcome")
            for _ in docs.list(f"tenants/{user_id}/{sub}/{name}")]


def _wait(queries, h, job_id: str) -> dict:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        body = queries.get(f"/{job_id}", headers=h).get_json()
        if body["status"] in ("succeeded", "failed", "cancelled"):
            return body
        time.sleep(0.05)
    raise AssertionError(body)


def test_a_redelivered_stage_of_a_deleted_sessions_job_writes_nothing(shop, sessions_client, user_id):
    queries, h = shop
    session_id = ask(queries, h, Q1)["session_id"]
    job = ask(queries, h, Q2, session_id, mode="async")
    _wait(queries, h, job["job_id"])
    assert sessions_client.delete(f"/{session_id}", headers=h).status_code == 200
    prompts = prompt_store(get_settings().prompts_dir)
    for stage in ("router", "manipulator", "compiler"):
        status, outcome = handle_task(services(), prompts, {"user_id": user_id, "job_id": job["job_id"],
                                                            "stage": stage})
        assert (status, outcome) == (200, {"outcome": "ignored", "reason": "unknown job"})
    assert _everything_of(user_id, session_id) == {"session": None, "messages": [], "charts": [], "jobs": []}
    assert docs_under(user_id, f"jobs/{job['job_id']}") == []


def test_a_job_running_while_its_session_is_deleted_keeps_nothing(shop, sessions_client, user_id, monkeypatch):
    queries, h = shop
    session_id = ask(queries, h, Q1)["session_id"]
    real, entered, release = sync_runner.STAGE_FUNCTIONS["analyzer"], threading.Event(), threading.Event()

    def slow(state, deps):
        entered.set()
        release.wait(10)
        return real(state, deps)

    monkeypatch.setitem(sync_runner.STAGE_FUNCTIONS, "analyzer", slow)
    job = ask(queries, h, Q2, session_id, mode="async")
    assert entered.wait(10)
    assert sessions_client.delete(f"/{session_id}", headers=h).status_code == 200
    release.set()
    time.sleep(1.0)  # the analyzer finishes, the visualizer's branch too; nothing may come back
    assert _everything_of(user_id, session_id) == {"session": None, "messages": [], "charts": [], "jobs": []}
    assert docs_under(user_id, f"jobs/{job['job_id']}") == []


def test_an_answer_finishing_after_its_session_was_deleted_is_not_kept(shop, sessions_client, user_id):
    from convoinsight.errors import NotFound
    from convoinsight.queries.answers import respond

    queries, h = shop
    first = ask(queries, h, Q1)
    session = services().documents.get(store.sessions(user_id), first["session_id"])
    assert sessions_client.delete(f"/{first['session_id']}", headers=h).status_code == 200
    answer = {key: first[key] for key in ("answer", "sql", "sql_status", "sql_error", "table", "insights",
                                          "follow_ups", "verified", "datasets")}
    answer["chart"] = {"title": "t", "spec": first["chart"]["spec"]}
    with pytest.raises(NotFound):  # the sync path: its session vanished while the pipeline ran
        respond(services().documents, user_id, session, first["session_id"], "shop", Q2, answer, {}, {})
    assert _everything_of(user_id, first["session_id"])["messages"] == []
    assert services().documents.get(store.sessions(user_id), first["session_id"]) is None


def test_history_cursor_round_trip():
    cursor = history.encode_cursor(1733150000123456, "abc-q")
    assert history.decode_cursor(cursor) == (1733150000123456, "abc-q")
    assert history.decode_cursor(None) is None


def test_an_export_past_the_turn_limit_holds_the_first_turns_and_says_so(shop, sessions_client, monkeypatch):
    from pypdf import PdfReader

    queries, h = shop
    session_id = ask(queries, h, Q1)["session_id"]
    ask(queries, h, Q2, session_id)
    ask(queries, h, Q3, session_id)
    monkeypatch.setenv("EXPORT_MAX_TURNS", "2")
    get_settings.cache_clear()
    resp = sessions_client.post(f"/{session_id}/export", headers=h)
    assert resp.status_code == 200 and resp.headers["X-Export-Partial"] == "turn_limit"
    assert resp.headers["X-Export-Turns"] == "2"
    import io as _io

    text = " ".join(page.extract_text() for page in PdfReader(_io.BytesIO(resp.data)).pages)
    assert Q1 in text and Q2 in text and Q3 not in text
    assert "of 3" in PdfReader(_io.BytesIO(resp.data)).pages[0].extract_text()  # the title page names the cut
