"""Links a browser follows without headers: events, chart images and dataset downloads carry a signed token
that opens that one resource of that one user, for at most LINK_TOKEN_SECONDS (<= 10 minutes)."""

from __future__ import annotations

import io
import json
import time
from urllib.parse import parse_qs, urlsplit

import pytest

from convoinsight.errors import ConfigError
from convoinsight.security import signed_links
from convoinsight.settings import get_settings, load_settings
from tests.conftest import function_client
from tests.support.http import assert_error
from tests.unit.test_async_jobs import wait

QUESTION = {"domain": "shop", "prompt": "total revenue by region"}


def token_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["token"][0]


def with_token(url: str, token: str) -> str:
    return url.replace(token_of(url), token)


@pytest.fixture
def answered(shop):
    queries, h = shop
    answer = queries.post("/", headers=h, json=QUESTION).get_json()
    return queries, h, answer


def test_an_answers_chart_image_url_opens_without_headers(answered):
    _, _, answer = answered
    charts = function_client("charts")
    url = answer["chart"]["image_url"]
    assert url.startswith(f"/api/v1/charts/{answer['chart']['id']}/image?format=png&token=v1.")
    image = charts.get(url)
    assert image.status_code == 200 and image.data.startswith(b"\x89PNG")
    assert_error(charts.get(url.split("&token=")[0]), 401, "missing_identity")  # no token, no header: no image


def test_a_token_opens_only_its_own_resource_and_user(answered, user_id):
    queries, h, answer = answered
    charts = function_client("charts")
    url = answer["chart"]["image_url"]
    token = token_of(url)
    other = queries.post("/", headers=h, json={**QUESTION, "prompt": "total revenue by product"}).get_json()
    # The same user's token for another chart, or for the events of a job, opens nothing else.
    assert_error(charts.get(with_token(other["chart"]["image_url"], token)), 401, "invalid_link_token")
    assert_error(queries.get(f"/api/v1/queries/{answer['session_id']}/events?token={token}"), 401,
                 "invalid_link_token")
    # A tampered user id (another tenant's) breaks the signature.
    version, _user, expires, mac = token.split(".")
    forged = ".".join([version, signed_links._b64(b"someone-else"), expires, mac])
    assert_error(charts.get(with_token(url, forged)), 401, "invalid_link_token")
    # A tampered expiry too, and a token signed for a lifetime past 10 minutes is refused even when valid.
    assert_error(charts.get(with_token(url, ".".join([version, _user, str(int(expires) + 60), mac]))), 401,
                 "invalid_link_token")
    resource = signed_links.resource("charts", "GET /<chart_id>/image", {"chart_id": answer["chart"]["id"]})
    far, _ = signed_links.sign(get_settings(), user_id, resource, now=time.time() + 3600)
    assert_error(charts.get(with_token(url, far)), 401, "invalid_link_token")
    for junk in ("", "v1", "v2.a.b.c", "v1.!!.1.x", "v1.YQ.notanumber.x", "x" * 500):
        assert_error(charts.get(with_token(url, junk)), 401, "invalid_link_token")


def test_an_expired_link_says_so(answered, user_id):
    _, _, answer = answered
    charts = function_client("charts")
    resource = signed_links.resource("charts", "GET /<chart_id>/image", {"chart_id": answer["chart"]["id"]})
    old, _ = signed_links.sign(get_settings(), user_id, resource, now=time.time() - 301)
    error = assert_error(charts.get(with_token(answer["chart"]["image_url"], old)), 401, "link_expired")
    assert "new one" in error["message"]


def test_a_token_is_never_a_header_credential_and_headers_still_work(answered):
    _queries, h, answer = answered
    charts = function_client("charts")
    token = token_of(answer["chart"]["image_url"])
    # Routes that take no link refuse the parameter like any unknown one, and the token is no bearer.
    assert_error(charts.get("/", headers={"Authorization": f"Bearer {token}"}), 401, "missing_identity")
    assert_error(charts.get(f"/?token={token}", headers=h), 422, "invalid_parameter")
    assert charts.get(f"/api/v1/charts/{answer['chart']['id']}/image", headers=h).status_code == 200


def test_the_event_stream_of_a_job_opens_from_its_events_url_alone(shop):
    queries, h = shop
    job = queries.post("/", headers=h, json={**QUESTION, "mode": "async"}).get_json()
    assert job["events_url"].startswith(f"/api/v1/queries/{job['job_id']}/events?token=v1.")
    stream = queries.get(job["events_url"])  # what EventSource sends: no headers of ours
    assert stream.status_code == 200 and stream.mimetype == "text/event-stream"
    events = [block for block in stream.get_data(as_text=True).split("\n\n") if block]
    assert events[-1].startswith("event: end")
    last = json.loads(events[-2].split("data: ", 1)[1])
    assert last["status"] == "succeeded"
    # The answer's chart, read from the stream, links to its image the same way.
    image = function_client("charts").get(last["result"]["chart"]["image_url"])
    assert image.status_code == 200 and image.mimetype == "image/png"


def test_job_status_is_its_own_class_sized_for_polling_with_a_hint(shop, monkeypatch):
    queries, h = shop
    monkeypatch.setenv("RATE_LIMITS", "dataset_ops=200/hour")  # the other classes at their defaults
    get_settings.cache_clear()
    job = queries.post("/", headers=h, json={**QUESTION, "mode": "async"}).get_json()
    first = queries.get(f"/{job['job_id']}", headers=h)
    assert first.headers["X-RateLimit-Limit"] == "1200"
    body = first.get_json()
    if body["status"] not in ("succeeded", "failed", "cancelled"):
        assert first.headers["Retry-After"] == "1"
    assert body["events_url"].startswith(f"/api/v1/queries/{job['job_id']}/events?token=")
    done = wait(queries, h, job["job_id"])
    final = queries.get(f"/{job['job_id']}", headers=h)
    assert "Retry-After" not in final.headers and done["status"] == "succeeded"
    # Polling spent nothing of the dataset class a listing needs.
    listing = function_client("datasets").get("/", headers=h)
    assert listing.status_code == 200 and int(listing.headers["X-RateLimit-Remaining"]) >= 198


def test_dataset_download_urls_need_no_headers(shop, user_id):
    datasets = function_client("datasets")
    record = datasets.get("/shop/sales", headers={"X-User-Id": user_id}).get_json()
    urls = record["download_urls"]
    assert set(urls) == {"csv", "parquet", "expires_at"}
    csv = datasets.get(urls["csv"])
    assert csv.status_code == 200 and csv.data.splitlines()[0].startswith(b"order_date,")
    parquet = datasets.get(urls["parquet"])
    assert parquet.status_code == 200 and parquet.data[:4] == b"PAR1"
    other = datasets.post("/shop", headers={"X-User-Id": user_id},
                          data={"file": (io.BytesIO(b"a,b\n1,2\n"), "other.csv")})
    assert other.status_code == 201
    assert_error(datasets.get(urls["csv"].replace("/shop/sales", "/shop/other")), 401, "invalid_link_token")


def test_public_base_url_makes_every_returned_url_absolute(shop, monkeypatch):
    queries, h = shop
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://api.example.test")
    get_settings.cache_clear()
    job = queries.post("/", headers=h, json={**QUESTION, "mode": "async"}).get_json()
    assert job["status_url"] == f"https://api.example.test/api/v1/queries/{job['job_id']}"
    assert job["events_url"].startswith(f"https://api.example.test/api/v1/queries/{job['job_id']}/events?token=")
    done = wait(queries, h, job["job_id"])
    assert done["result"]["chart"]["image_url"].startswith("https://api.example.test/api/v1/charts/")


@pytest.mark.parametrize("value", ["29", "601", "abc"])
def test_link_lifetime_is_bounded_to_ten_minutes(value):
    with pytest.raises(ConfigError):
        load_settings({"LINK_TOKEN_SECONDS": value})


@pytest.mark.parametrize("value", ["api.example.com", "ftp://x", "https://x/?a=1", "https://x/#f"])
def test_public_base_url_must_be_an_origin(value):
    with pytest.raises(ConfigError):
        load_settings({"PUBLIC_BASE_URL": value})
