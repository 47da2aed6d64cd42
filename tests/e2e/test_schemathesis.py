"""Schemathesis fuzzes every operation of ``/api/v1/openapi.json`` against the local stack, as a dev user.

The test session's emulator (tests/e2e/conftest.py) serves the document; schemathesis generates requests from
it, valid and invalid, and fails on any 5xx (``not_a_server_error``) and on any answer the document does not
describe: its status, media type, JSON schema or documented headers.

So that the fuzzing reaches past 404s, a few real things are made first (a dataset in a domain, answered
questions with a chart, an async job, a signed upload) and schemathesis often draws path parameters and some
body fields from them (its dictionaries); questions then run the whole pipeline.

Bounded: a few examples per operation and generation mode (plus the coverage phase's boundary cases), and a
time budget for the whole run past which the remaining operations are skipped (and say so).

No operation is excluded (schemathesis itself leaves out ``GET /api/v1/openapi.json``, the document it
loaded). What is changed before a request is sent, and why:
- Requests that would leave the machine are made local (``keep_local``): a PostgreSQL host, a model endpoint,
  a provider key check, a model or provider chosen for a question.
- Provider keys are stored by a user of their own who never asks a question: a question of a user holding a
  key would run on that provider.
- The prompt edits (``PUT /prompts/{name}``, ``POST /prompts/{name}/rollback``) go as a plain user (403):
  as an administrator a generated prompt or rollback would change the prompts of every other test sharing
  the emulator. The other administrators' routes (another user's keys, prompt versions) go as one.
- A DELETE of a seeded session, chart or job is sent for a decoy id instead (404), so that the rest of the
  run still finds them; a seeded dataset or domain may be deleted, and is uploaded again.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from convoinsight.llm.prompts import AGENTS

pytestmark = pytest.mark.slow

MAX_EXAMPLES = 25  # per operation and generation mode, besides the coverage phase's cases
BUDGET_SECONDS = 360.0  # the whole run; past it the remaining operations are skipped
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance]
RUN = uuid.uuid4().hex[:10]
USER = {"X-User-Id": f"fuzz-{RUN}"}  # a tenant of its own: nothing another test owns is touched
KEY_HOLDER = {"X-User-Id": f"fuzz-keys-{RUN}"}  # stores provider keys, never asks
ADMIN = {"X-User-Id": f"fuzz-admin-{RUN}", "X-User-Role": "admin"}
DOMAIN, DATASET = "fuzz", "sales"
CSV = (b"region,amount,day\nNorth,5,2024-01-01\nSouth,7,2024-01-02\nNorth,3,2024-02-01\nEast,11,2024-02-03\n"
       b"South,2,2024-03-05\n")
QUESTIONS = ["total amount by region", "average amount per month", "top 2 regions by amount",
             "how many rows are there", "maximum amount", "amount by day as a line chart",
             "count of rows by region where region = 'North'", "smallest amount by region"]
ADMIN_ROUTES = ("GET /api/v1/auth/users/", "DELETE /api/v1/auth/users/", "GET /api/v1/prompts/{name}/versions")
OPERATIONS: set[str] = set()
STATUSES: Counter = Counter()  # status -> requests answered with it
STARTED: list[float] = []


def upload_dataset(emulator) -> None:
    response = requests.post(emulator.url("datasets", f"/{DOMAIN}"), files={"file": (f"{DATASET}.csv", CSV)},
                             headers=USER, timeout=120)
    assert response.status_code == 201, response.text


@pytest.fixture(scope="module")
def seeds(emulator) -> dict[str, list[str]]:
    """Real things of the fuzzing user, whose ids schemathesis draws from."""
    upload_dataset(emulator)
    answer = requests.post(emulator.url("queries", "/"), json={"domain": DOMAIN, "prompt": QUESTIONS[0],
                                                             "chart": "bar"}, headers=USER, timeout=300).json()
    assert answer.get("chart"), answer
    job = requests.post(emulator.url("queries", "/"), json={"domain": DOMAIN, "prompt": QUESTIONS[1],
                                                          "mode": "async"}, headers=USER, timeout=60).json()
    deadline = time.monotonic() + 120
    while requests.get(emulator.url("queries", f"/{job['job_id']}"), headers=USER, timeout=30).json()[
            "status"] not in ("succeeded", "failed", "cancelled"):
        assert time.monotonic() < deadline, "the seeded async job did not end"
        time.sleep(0.2)
    upload = requests.post(emulator.url("datasets", f"/{DOMAIN}/uploads"), json={"filename": "later.csv"},
                           headers=USER, timeout=60).json()
    return {"domain": [DOMAIN], "name": [DATASET, *AGENTS], "session_id": [answer["session_id"], job["session_id"]],
            "chart_id": [answer["chart"]["id"]], "job_id": [job["job_id"]], "upload_id": [upload["upload_id"]],
            "prompt": QUESTIONS}


@pytest.fixture(scope="module")
def api_schema(emulator, seeds):
    origin = emulator.base.removesuffix("/api/v1")
    drawn = {"path.domain": "domain", "body.domain": "domain", "path.name": "name", "path.session_id": "session_id",
             "body.session_id": "session_id", "path.chart_id": "chart_id", "path.job_id": "job_id",
             "path.upload_id": "upload_id", "body.prompt": "prompt"}
    config = schemathesis.Config.from_dict({
        "base-url": origin,
        "request-timeout": 120,
        "suppress-health-check": ["too_slow", "filter_too_much", "data_too_large"],
        "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "database": "none",
                       "with-security-parameters": False},
        "phases": {"examples": {"enabled": False}, "stateful": {"enabled": False}},
        "dictionaries": {name: {"values": values} for name, values in seeds.items()},
        "parameters": {key: {"dictionary": name, "probability": 0.8 if name == "domain" else 0.5}
                       for key, name in drawn.items()},
    })
    return schemathesis.openapi.from_url(f"{emulator.base}/openapi.json", config=config)


@pytest.fixture(scope="module", autouse=True)
def report():
    yield
    if STARTED:
        print(f"\nschemathesis: {len(OPERATIONS)} operations, {sum(STATUSES.values())} requests, "
              f"{time.monotonic() - STARTED[0]:.0f}s; statuses {dict(sorted(STATUSES.items()))}")


schema = schemathesis.pytest.from_fixture("api_schema")


def keep_local(case) -> None:
    """Requests that would reach out (DNS, a provider's API) are pinned to this machine or refused locally."""
    body, path = case.body, case.operation.path
    if not isinstance(body, dict):
        return
    if path.startswith("/api/v1/sources/postgres") and "host" in body:
        body["host"] = "127.0.0.1"  # refused (private) unless SOURCES_ALLOW_PRIVATE_HOSTS: never a lookup
    if path.startswith("/api/v1/llm/keys"):
        body.pop("api_base", None)  # a self-hosted endpoint is resolved to be checked
        if "verify" in body:
            body["verify"] = False  # verify calls the provider
    if path == "/api/v1/queries":
        for field in ("model", "provider", "apiKey", "agents"):  # any of them may choose a remote provider
            body.pop(field, None)
    if path.startswith("/api/v1/prompts/overrides") and isinstance(body.get("agents"), dict):
        for override in body["agents"].values():
            if isinstance(override, dict):
                override.pop("model", None)


def identity(case) -> dict[str, str]:
    label = case.operation.label
    if label.startswith(ADMIN_ROUTES):
        return ADMIN
    if case.operation.path.startswith("/api/v1/llm/"):
        return KEY_HOLDER
    return USER


def spare_seeds(case, seeds) -> None:
    """A DELETE of a seeded session, chart or job goes to a decoy: the rest of the run still needs them."""
    if case.method.upper() != "DELETE" or not isinstance(case.path_parameters, dict):
        return
    for name in ("session_id", "chart_id", "job_id"):
        if case.path_parameters.get(name) in seeds[name]:
            case.path_parameters[name] = f"decoy{uuid.uuid4().hex}"


@settings(deadline=None, suppress_health_check=list(HealthCheck))
@schema.parametrize()
def test_the_api_answers_as_its_document_says(case, emulator, seeds):
    if not STARTED:
        STARTED.append(time.monotonic())
    if time.monotonic() - STARTED[0] > BUDGET_SECONDS:
        pytest.skip(f"the {BUDGET_SECONDS:.0f}s budget of the schemathesis run is spent")
    OPERATIONS.add(case.operation.label)
    keep_local(case)
    spare_seeds(case, seeds)
    response = case.call_and_validate(headers=identity(case), checks=CHECKS)
    STATUSES[response.status_code] += 1
    if (case.method.upper() == "DELETE" and response.status_code == 200 and case.operation.path.startswith(
            "/api/v1/datasets/") and (case.path_parameters or {}).get("domain") == DOMAIN):
        upload_dataset(emulator)  # the seeded dataset (or its whole domain) was deleted: put it back
