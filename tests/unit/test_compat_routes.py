"""The original API's routes (issue #14): each answers exactly as its successor does, plus Deprecation, Sunset
and a Link to the successor; its userId is ignored; a session's running jobs can be cancelled."""

from __future__ import annotations

import io
import json
import logging
import time
import uuid

import pytest

from convoinsight.api import charts as charts_api
from convoinsight.api import datasets as datasets_api
from convoinsight.api import queries as queries_api
from convoinsight.jobs import store as job_store
from convoinsight.services import get_services
from convoinsight.settings import get_settings
from convoinsight.web.app import LEGACY_DEPRECATED, LEGACY_SUNSET
from tests.conftest import function_client
from tests.support.data import SALES_CSV
from tests.support.http import assert_error
from tests.unit.test_charts_render import BAR, ROWS, save
from tests.unit.test_infrastructure import MODULES, _resources, _unq

CSV = b"region,revenue\nNorth,10\nSouth,20\n"


def h(user: str) -> dict[str, str]:
    return {"X-User-Id": user}


def comparable(resp) -> tuple[int, object]:
    """Status and JSON body; an error's request id (fresh per request) left out."""
    body = resp.get_json()
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        body = {"error": {k: v for k, v in body["error"].items() if k != "request_id"}}
    return resp.status_code, body


def assert_deprecated(resp, successor: str) -> None:
    assert resp.headers["Deprecation"] == LEGACY_DEPRECATED
    assert resp.headers["Sunset"] == LEGACY_SUNSET
    assert resp.headers["Link"] == f'<{successor}>; rel="successor-version"'


def assert_same(legacy, current, successor: str) -> None:
    assert comparable(legacy) == comparable(current)
    assert legacy.headers["Content-Type"] == current.headers["Content-Type"]
    assert_deprecated(legacy, successor)
    assert "Deprecation" not in current.headers and "Link" not in current.headers


def upload(client, user: str, domain: str, data: bytes = CSV, filename: str = "sales.csv", **form):
    return client.post(f"/{domain}", headers=h(user), data={"file": (io.BytesIO(data), filename), **form})


def legacy_upload(client, user: str, path: str = "/upload-datasets", data: bytes = CSV, filename: str = "sales.csv",
                  **form):
    return client.post(path, headers=h(user), data={"file": (io.BytesIO(data), filename), **form})


def without_times(record: dict) -> dict:
    return {k: v for k, v in record.items() if k not in ("created_at", "updated_at")}


@pytest.fixture
def charts_client(local_env: dict):
    return function_client("charts")


# --- the routing table: each compatibility route has its successor's rate-limit class and query model ---------

COMPAT = [  # (app, compatibility endpoint, successor endpoint)
    (datasets_api.app, "POST /upload-datasets", "POST /<domain>"),
    (datasets_api.app, "GET /list-domains", "GET /"),
    (datasets_api.app, "GET /domain/<domain>/datasets", "GET /<domain>"),
    (charts_api.app, "GET /api/v1/storage/charts", "GET /"),
    (charts_api.app, "GET /api/v1/storage/charts/<chart_id>", "GET /<chart_id>"),
    (queries_api.app, "POST /<session_id>/cancel", "DELETE /<job_id>"),
]


@pytest.mark.parametrize(("app", "legacy", "current"), COMPAT, ids=[c[1] for c in COMPAT])
def test_each_compatibility_route_keeps_its_successors_class_and_names_it(app, legacy, current):
    legacy_options = app._handlers[legacy][1]
    current_options = app._handlers[current][1]
    assert legacy_options.limit == current_options.limit and legacy_options.auth and legacy_options.role == "user"
    if legacy.startswith("GET /api/v1/storage/charts") or legacy == "GET /domain/<domain>/datasets":
        assert legacy_options.query is current_options.query
    path = current.partition(" ")[2]
    assert legacy_options.successor == app.prefix + path.replace("<", "{").replace(">", "}")
    assert current_options.successor is None
    successors = {o.successor for _, o in app._handlers.values() if o.successor}
    assert all(s.startswith(app.prefix + "/") for s in successors)


# --- datasets -----------------------------------------------------------------------------------------------

def test_list_domains_answers_as_the_domain_list(datasets_client, user_id):
    assert upload(datasets_client, user_id, "shop").status_code == 201
    current = datasets_client.get("/", headers=h(user_id))
    assert current.get_json()["domains"][0]["name"] == "shop"
    for path in ("/list-domains", "/api/v1/datasets/list-domains"):  # the legacy root path, and under the prefix
        assert_same(datasets_client.get(path, headers=h(user_id)), current, "/api/v1/datasets/")
    # errors too: no identity is the same 401, with the headers
    legacy, plain = datasets_client.get("/list-domains"), datasets_client.get("/")
    assert legacy.status_code == 401 and comparable(legacy) == comparable(plain)
    assert_deprecated(legacy, "/api/v1/datasets/")
    refused = datasets_client.get("/list-domains?limit=3", headers=h(user_id))  # takes no query, as GET / without
    assert_error(refused, 422, "invalid_parameter")


def test_domain_datasets_answers_as_the_domains_dataset_list(datasets_client, user_id):
    assert upload(datasets_client, user_id, "shop").status_code == 201
    assert upload(datasets_client, user_id, "shop", filename="orders.csv").status_code == 201
    for domain in ("shop", "nowhere"):
        current = datasets_client.get(f"/{domain}", headers=h(user_id))
        for path in (f"/domain/{domain}/datasets", f"/api/v1/datasets/domain/{domain}/datasets"):
            assert_same(datasets_client.get(path, headers=h(user_id)), current, f"/api/v1/datasets/{domain}")
    assert [d["name"] for d in datasets_client.get("/domain/shop/datasets", headers=h(user_id))
            .get_json()["datasets"]] == ["orders", "sales"]
    assert_error(datasets_client.get("/domain/nowhere/datasets", headers=h(user_id)), 404, "domain_not_found")
    # another tenant's domain is a 404, as it is on the successor
    other = datasets_client.get("/domain/shop/datasets", headers=h(f"{user_id}-other"))
    assert_same(other, datasets_client.get("/shop", headers=h(f"{user_id}-other")), "/api/v1/datasets/shop")
    assert other.status_code == 404
    # a domain called "domain" keeps its own routes beside /domain/{d}/datasets
    assert upload(datasets_client, user_id, "domain").status_code == 201
    assert datasets_client.get("/domain/sales", headers=h(user_id)).get_json()["name"] == "sales"
    assert "Deprecation" not in datasets_client.get("/domain", headers=h(user_id)).headers


def test_the_domain_query_parameter_answers_as_the_domains_dataset_list(datasets_client, user_id):
    assert upload(datasets_client, user_id, "shop").status_code == 201
    for domain, status in (("shop", 200), ("nowhere", 404), ("..", 400), ("", 400)):
        legacy = datasets_client.get("/", query_string={"domain": domain}, headers=h(user_id))
        current = datasets_client.get(f"/{domain}", headers=h(user_id)) if domain else None
        assert legacy.status_code == status, legacy.get_json()
        if current is not None and domain != "..":  # "/.." is not a path a client can send
            assert_same(legacy, current, f"/api/v1/datasets/{domain}")
        assert legacy.headers["Deprecation"] == LEGACY_DEPRECATED and legacy.headers["Sunset"] == LEGACY_SUNSET
    via_prefix = datasets_client.get("/api/v1/datasets?domain=shop", headers=h(user_id))
    assert_same(via_prefix, datasets_client.get("/shop", headers=h(user_id)), "/api/v1/datasets/shop")
    # without it, GET / is the domain list and is not deprecated; other parameters are still refused
    plain = datasets_client.get("/", headers=h(user_id))
    assert "domains" in plain.get_json() and "Deprecation" not in plain.headers
    assert_error(datasets_client.get("/?domian=shop", headers=h(user_id)), 422, "invalid_parameter")


def test_upload_datasets_answers_as_the_upload_and_ignores_user_id(datasets_client, user_id):
    victim = f"{user_id}-victim"
    assert upload(datasets_client, victim, "shop", data=b"secret\n1\n", filename="payroll.csv").status_code == 201
    legacy = legacy_upload(datasets_client, user_id, domain="shop", userId=victim)
    current = upload(datasets_client, f"{user_id}-twin", "shop")
    assert legacy.status_code == current.status_code == 201
    assert without_times(legacy.get_json()) == without_times(current.get_json())
    assert_deprecated(legacy, "/api/v1/datasets/{domain}")
    # the dataset is the caller's; the victim's domain is untouched and was never readable
    assert [d["name"] for d in datasets_client.get("/shop", headers=h(user_id)).get_json()["datasets"]] == ["sales"]
    assert [d["name"] for d in datasets_client.get("/shop", headers=h(victim)).get_json()["datasets"]] == ["payroll"]
    # name and sheet work as on the successor; under the prefix too
    named = legacy_upload(datasets_client, user_id, "/api/v1/datasets/upload-datasets", domain="shop", name="orders",
                          user_id=victim)
    assert named.status_code == 201 and named.get_json()["name"] == "orders"
    assert datasets_client.get("/", headers=h(victim)).get_json()["domains"][0]["dataset_count"] == 1


def test_upload_datasets_refuses_as_the_upload_does(datasets_client, user_id):
    bad_file = legacy_upload(datasets_client, user_id, data=b"", domain="shop")
    assert_same(bad_file, upload(datasets_client, user_id, "shop", data=b""), "/api/v1/datasets/{domain}")
    form = {"data": {"domain": "shop"}, "content_type": "multipart/form-data"}
    no_file = datasets_client.post("/upload-datasets", headers=h(user_id), **form)
    assert_same(no_file, datasets_client.post("/shop", headers=h(user_id), **form), "/api/v1/datasets/{domain}")
    assert_error(no_file, 400, "missing_file")
    not_a_form = datasets_client.post("/upload-datasets", headers=h(user_id), json={"domain": "shop"})
    assert_same(not_a_form, datasets_client.post("/shop", headers=h(user_id), json={"domain": "shop"}),
                "/api/v1/datasets/{domain}")
    assert_error(not_a_form, 415, "unsupported_content_type")
    bad_domain = legacy_upload(datasets_client, user_id, domain="../x")
    assert_error(bad_domain, 400, "invalid_domain")
    missing = legacy_upload(datasets_client, user_id)
    assert_error(missing, 400, "missing_domain")
    assert_deprecated(missing, "/api/v1/datasets/{domain}")
    assert datasets_client.get("/", headers=h(user_id)).get_json() == {"domains": []}  # nothing half-written


@pytest.mark.parametrize("name", ["upload-datasets", "list-domains", "List-Domains"])
def test_the_compatibility_paths_are_reserved_domain_names(datasets_client, queries_client, user_id, name):
    # POST /list-domains is an upload into "list-domains"; POST /upload-datasets is the compatibility route itself
    shadowed = [] if name == "upload-datasets" else [upload(datasets_client, user_id, name)]
    for resp in (*shadowed, legacy_upload(datasets_client, user_id, domain=name),
                 datasets_client.post(f"/{name}/uploads", headers=h(user_id), json={"filename": "a.csv"}),
                 datasets_client.get(f"/{name}/sales", headers=h(user_id)),
                 queries_client.post("/", headers=h(user_id), json={"domain": name, "prompt": "total revenue"})):
        error = assert_error(resp, 400, "reserved_domain")
        assert name in error["message"]
    assert datasets_client.get("/", headers=h(user_id)).get_json() == {"domains": []}


# --- charts -------------------------------------------------------------------------------------------------

def test_storage_charts_answer_as_the_charts_routes(charts_client, user_id):
    ids = [save(user_id, BAR, ROWS[:n]) for n in (2, 5)]
    for query in ("", "?limit=1", "?limit=0", "?colour=red"):
        assert_same(charts_client.get(f"/api/v1/storage/charts{query}", headers=h(user_id)),
                    charts_client.get(f"/{query}", headers=h(user_id)), "/api/v1/charts/")
    assert len(charts_client.get("/api/v1/storage/charts", headers=h(user_id)).get_json()["charts"]) == 2
    for chart_id in (*ids, "0" * 32):
        assert_same(charts_client.get(f"/api/v1/storage/charts/{chart_id}", headers=h(user_id)),
                    charts_client.get(f"/{chart_id}", headers=h(user_id)), f"/api/v1/charts/{chart_id}")
    other = charts_client.get(f"/api/v1/storage/charts/{ids[0]}", headers=h(f"{user_id}-other"))
    assert other.status_code == 404 and other.headers["Link"] == f'</api/v1/charts/{ids[0]}>; rel="successor-version"'
    assert charts_client.get("/api/v1/storage/charts", headers=h(f"{user_id}-other")).get_json() == {"charts": []}


# --- queries: userId in the ask body ------------------------------------------------------------------------

@pytest.fixture
def asker(datasets_client, queries_client, user_id):
    assert datasets_client.post("/shop", headers=h(user_id),
                                data={"file": (io.BytesIO(SALES_CSV.read_bytes()), "sales.csv")}).status_code == 201
    return queries_client


ANSWER_KEYS = ("answer", "sql", "sql_status", "table", "insights", "follow_ups")


def test_user_id_in_the_question_is_accepted_and_ignored(asker, datasets_client, user_id, caplog):
    caplog.set_level(logging.DEBUG)
    victim = f"{user_id}-victim-{uuid.uuid4().hex[:6]}"
    assert datasets_client.post("/payroll", headers=h(victim),
                                data={"file": (io.BytesIO(SALES_CSV.read_bytes()), "pay.csv")}).status_code == 201
    caplog.clear()  # the victim's own request names them; from here on nothing may
    question = {"domain": "shop", "prompt": "total revenue by region", "use_cache": False}
    plain = asker.post("/", headers=h(user_id), json=question)
    assert plain.status_code == 200
    for legacy in ({"userId": victim}, {"user_id": victim}, {"userId": {"id": victim}}, {"userId": None}):
        answered = asker.post("/", headers=h(user_id), json={**question, **legacy})
        assert answered.status_code == 200, answered.get_json()
        assert {k: answered.get_json()[k] for k in ANSWER_KEYS} == {k: plain.get_json()[k] for k in ANSWER_KEYS}
        assert "Deprecation" not in answered.headers
    # another user's id never opens their data: the same 404 as without it
    theirs = asker.post("/", headers=h(user_id), json={"domain": "payroll", "prompt": "total", "userId": victim})
    assert comparable(theirs) == comparable(asker.post("/", headers=h(user_id),
                                                       json={"domain": "payroll", "prompt": "total"}))
    assert_error(theirs, 404, "domain_not_found")
    docs = get_services(get_settings()).documents
    assert docs.list(f"tenants/{victim}/sessions") == []
    # and nothing of it reaches a log line
    logged = json.dumps([{**r.__dict__, "msg": r.getMessage()} for r in caplog.records], default=str)
    assert victim not in logged
    # other unknown fields are still refused
    assert_error(asker.post("/", headers=h(user_id), json={**question, "userid": victim}), 422, "invalid_request")


# --- queries: cancelling a session's running jobs -----------------------------------------------------------

class HeldQueue:
    """A stage queue that keeps every task: jobs stay queued until the test says otherwise."""

    def __init__(self):
        self.tasks = []

    def enqueue(self, task, *, delay_seconds: float = 0) -> None:
        self.tasks.append(task)


def ask_async(queries, user: str, session_id: str | None = None) -> dict:
    body = {"domain": "shop", "prompt": "total revenue by region", "mode": "async",
            **({"session_id": session_id} if session_id else {})}
    accepted = queries.post("/", headers=h(user), json=body)
    assert accepted.status_code == 202, accepted.get_json()
    return accepted.get_json()


def test_cancel_a_session_cancels_its_running_jobs_as_delete_does(asker, user_id):
    session_id = asker.post("/", headers=h(user_id), json={"domain": "shop", "prompt": "total revenue"}) \
        .get_json()["session_id"]
    get_services(get_settings())._queue = HeldQueue()
    running = [ask_async(asker, user_id, session_id)["job_id"] for _ in range(2)]
    done = ask_async(asker, user_id, session_id)["job_id"]
    assert asker.delete(f"/{done}", headers=h(user_id)).get_json()["status"] == "cancelled"
    elsewhere = ask_async(asker, user_id)  # another session's job is left alone

    resp = asker.post(f"/{session_id}/cancel", headers=h(user_id))
    assert resp.status_code == 200
    assert_deprecated(resp, "/api/v1/queries/{job_id}")
    body = resp.get_json()
    assert body["session_id"] == session_id
    assert sorted(job["job_id"] for job in body["cancelled"]) == sorted(running)
    for job in body["cancelled"]:  # each exactly as the successor answers for that job
        assert job["status"] == "cancelled"
        assert job == asker.delete(f"/{job['job_id']}", headers=h(user_id)).get_json()
    assert asker.get(f"/{elsewhere['job_id']}", headers=h(user_id)).get_json()["status"] == "queued"
    # nothing left to cancel: still 200, and under the prefix too
    again = asker.post(f"/api/v1/queries/{session_id}/cancel", headers=h(user_id))
    assert again.status_code == 200 and again.get_json() == {"session_id": session_id, "cancelled": []}


def test_cancel_the_first_question_of_a_new_session(asker, user_id):
    get_services(get_settings())._queue = HeldQueue()
    job = ask_async(asker, user_id)  # the session document is written with the answer: it does not exist yet
    resp = asker.post(f"/{job['session_id']}/cancel", headers=h(user_id))
    assert resp.status_code == 200
    assert [j["job_id"] for j in resp.get_json()["cancelled"]] == [job["job_id"]]
    assert asker.get(f"/{job['job_id']}", headers=h(user_id)).get_json()["status"] == "cancelled"


def test_cancel_an_unknown_or_another_users_session_is_404(asker, user_id):
    get_services(get_settings())._queue = HeldQueue()
    job = ask_async(asker, user_id)
    for user, session_id in ((f"{user_id}-other", job["session_id"]), (user_id, "feedface" * 4),
                             (user_id, "not-a-session")):
        resp = asker.post(f"/{session_id}/cancel", headers=h(user))
        assert_error(resp, 404, "session_not_found")
        assert_deprecated(resp, "/api/v1/queries/{job_id}")
    assert asker.get(f"/{job['job_id']}", headers=h(user_id)).get_json()["status"] == "queued"
    assert asker.post(f"/{job['session_id']}/cancel").status_code == 401


def test_a_sessions_jobs_are_found_a_page_at_a_time_and_bounded(local_env, user_id):
    docs = get_services(get_settings()).documents
    now = time.time()
    for n in range(7):  # seq order = age order; the two oldest are past the window
        docs.create(job_store.jobs(user_id), f"job{n}", {"id": f"job{n}", "session_id": "s1", "seq": n,
                                                        "created_at": now - 1000 if n < 2 else now})
    docs.create(job_store.jobs(user_id), "other", {"id": "other", "session_id": "s2", "seq": 9, "created_at": now})
    found = job_store.recent_session_jobs(docs, user_id, "s1", now - 10, page=2)
    assert [j["id"] for j in found] == ["job6", "job5", "job4", "job3", "job2"]
    assert [j["id"] for j in job_store.recent_session_jobs(docs, user_id, "s1", 0, page=2, most=3)] == \
        ["job6", "job5", "job4"]
    assert job_store.recent_session_jobs(docs, user_id, "s3", 0) == []


def test_firestore_has_the_index_the_session_lookup_needs():
    index = _resources(MODULES / "firestore" / "main.tf", "google_firestore_index")["jobs_session_seq"]
    assert _unq(index["collection"]) == "jobs" and _unq(index["query_scope"]) == "COLLECTION"
    assert [(_unq(f["field_path"]), _unq(f["order"])) for f in index["fields"]] == [("session_id", "ASCENDING"),
                                                                                  ("seq", "DESCENDING")]
