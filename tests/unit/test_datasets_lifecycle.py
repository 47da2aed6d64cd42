"""Versions, download, delete, caching and signed uploads of datasets, in-process against real servers."""

from __future__ import annotations

import io
import json
import os
import threading
import time
import uuid
from pathlib import Path

import polars as pl
import pytest
from werkzeug.test import Client

from convoinsight.services import get_services
from convoinsight.settings import get_settings
from local_emulator.storage import LocalStorage
from tests.conftest import function_client

CSV = b"region,revenue\nNorth,10.5\nSouth,20\nNorth,1.25\n"


def up(client, user, domain, filename, data, **form):
    return client.post(f"/{domain}", headers={"X-User-Id": user}, data={"file": (io.BytesIO(data), filename), **form})


def blob_files(local_env) -> list[Path]:
    root = Path(local_env["LOCAL_STATE_DIR"]) / "blobs"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_download_as_csv_and_parquet(datasets_client, user_id):
    up(datasets_client, user_id, "d", "sales.csv", CSV)
    h = {"X-User-Id": user_id}
    as_csv = datasets_client.get("/d/sales?format=csv", headers=h)
    assert as_csv.status_code == 200 and as_csv.mimetype == "text/csv"
    assert 'filename="sales.csv"' in as_csv.headers["Content-Disposition"]
    assert pl.read_csv(io.BytesIO(as_csv.data)).equals(pl.read_csv(io.BytesIO(CSV)))
    as_parquet = datasets_client.get("/d/sales?format=parquet", headers=h)
    assert pl.read_parquet(io.BytesIO(as_parquet.data)).equals(pl.read_csv(io.BytesIO(CSV)))
    bad = datasets_client.get("/d/sales?format=xml", headers=h)
    assert bad.status_code == 422 and bad.get_json()["error"]["code"] == "invalid_parameter"


def test_delete_a_dataset_removes_every_version_and_blob(datasets_client, user_id, local_env):
    h = {"X-User-Id": user_id}
    up(datasets_client, user_id, "d", "sales.csv", CSV)
    up(datasets_client, user_id, "d", "sales.csv", CSV + b"East,3\n")
    up(datasets_client, user_id, "d", "keep.csv", CSV)
    resp = datasets_client.delete("/d/sales", headers=h)
    assert resp.status_code == 200 and resp.get_json()["deleted"]["versions"] == 2
    assert datasets_client.get("/d/sales", headers=h).status_code == 404
    assert [d["name"] for d in datasets_client.get("/d", headers=h).get_json()["datasets"]] == ["keep"]
    assert datasets_client.get("/", headers=h).get_json()["domains"][0]["dataset_count"] == 1
    assert all("/datasets/sales/" not in str(p) for p in blob_files(local_env))
    assert datasets_client.delete("/d/sales", headers=h).status_code == 404
    # A new upload of the same name starts again at version 1.
    assert up(datasets_client, user_id, "d", "sales.csv", CSV).get_json()["version"] == 1


def test_delete_a_domain_removes_everything_in_it_only(datasets_client, user_id, local_env):
    h = {"X-User-Id": user_id}
    for name in ("a.csv", "b.csv"):
        up(datasets_client, user_id, "gone", name, CSV)
    up(datasets_client, user_id, "stays", "c.csv", CSV)
    resp = datasets_client.delete("/gone", headers=h)
    assert resp.status_code == 200 and resp.get_json()["deleted"]["datasets"] == 2
    assert [d["name"] for d in datasets_client.get("/", headers=h).get_json()["domains"]] == ["stays"]
    assert datasets_client.get("/gone", headers=h).status_code == 404
    assert datasets_client.get("/gone/a", headers=h).status_code == 404
    assert all("/domains/gone/" not in str(p) for p in blob_files(local_env))
    assert datasets_client.get("/stays/c", headers=h).status_code == 200
    assert datasets_client.delete("/gone", headers=h).status_code == 404


def test_another_tenant_can_neither_download_nor_delete(datasets_client, user_id):
    up(datasets_client, user_id, "d", "sales.csv", CSV)
    intruder = {"X-User-Id": f"{user_id}-x"}
    assert datasets_client.get("/d/sales?format=csv", headers=intruder).status_code == 404
    assert datasets_client.delete("/d/sales", headers=intruder).status_code == 404
    assert datasets_client.delete("/d", headers=intruder).status_code == 404
    assert datasets_client.get("/d/sales", headers={"X-User-Id": user_id}).status_code == 200


def test_listings_are_cached_and_every_write_invalidates_them(datasets_client, user_id):
    h = {"X-User-Id": user_id}
    up(datasets_client, user_id, "d", "a.csv", CSV)
    assert [d["name"] for d in datasets_client.get("/d", headers=h).get_json()["datasets"]] == ["a"]
    # Change the store behind the cache's back: the cached listing is still served...
    docs = get_services(get_settings()).documents
    docs.put(f"tenants/{user_id}/domains/d/datasets", "sneaky", {"name": "sneaky", "version": 1})
    assert [d["name"] for d in datasets_client.get("/d", headers=h).get_json()["datasets"]] == ["a"]
    # ...until a write through the service bumps the generation.
    up(datasets_client, user_id, "d", "b.csv", CSV)
    names = [d["name"] for d in datasets_client.get("/d", headers=h).get_json()["datasets"]]
    assert names == ["a", "b", "sneaky"]


def test_listings_work_without_redis(local_env, user_id):
    os.environ["REDIS_URL"] = "redis://127.0.0.1:1/0"
    get_settings.cache_clear()
    client = function_client("datasets")
    assert up(client, user_id, "d", "a.csv", CSV).status_code == 201
    assert client.get("/d", headers={"X-User-Id": user_id}).get_json()["datasets"][0]["rows"] == 3


def test_racing_uploads_of_one_name_become_versions_and_the_pointer_is_the_newest(datasets_client, user_id):
    results, barrier = [], threading.Barrier(4)

    def upload(i: int) -> None:
        barrier.wait()
        body = f"region,revenue\n{'x' * (i + 1)},{i}\n".encode() * (i + 1)
        results.append(up(datasets_client, user_id, "d", "t.csv", body).get_json())

    threads = [threading.Thread(target=upload, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r["version"] for r in results) == [1, 2, 3, 4]
    current = datasets_client.get("/d/t?limit=100", headers={"X-User-Id": user_id}).get_json()
    assert current["version"] == 4
    winner = next(r for r in results if r["version"] == 4)
    # The pointer's record and its data agree: never a record of one upload over another's file.
    assert current["rows"] == winner["rows"] == len(current["preview"]["rows"])


def test_limits_on_rows_and_columns_are_413_with_the_limit(local_env, user_id):
    os.environ.update(MAX_DATASET_ROWS="2", MAX_DATASET_COLUMNS="5")
    get_settings.cache_clear()
    client = function_client("datasets")
    rows = client.post("/d", headers={"X-User-Id": user_id}, data={"file": (io.BytesIO(CSV), "t.csv")})
    assert rows.status_code == 413 and "2" in rows.get_json()["error"]["message"]
    wide = ",".join(f"c{i}" for i in range(6)).encode() + b"\n" + b",".join(b"1" for _ in range(6)) + b"\n"
    cols = client.post("/d", headers={"X-User-Id": user_id}, data={"file": (io.BytesIO(wide), "w.csv")})
    assert cols.status_code == 413 and "5" in cols.get_json()["error"]["message"]
    assert client.get("/", headers={"X-User-Id": user_id}).get_json()["domains"] == []


# --- signed uploads and the finalize event ------------------------------------------------------------


@pytest.fixture
def storage(local_env) -> Client:
    """The emulator's signed-upload endpoint, delivering events to the real ingest function."""
    import functions_framework

    from tests.conftest import REPO

    ingest = functions_framework.create_app("ingest", str(REPO / "functions" / "ingest" / "main.py"))
    return Client(LocalStorage(ingest))


def put_signed(storage: Client, signed: dict, data: bytes, content_type: str | None = None):
    url = signed["url"].split("/_storage", 1)[1]
    return storage.put(url, data=data, headers={"Content-Type": content_type or signed["headers"]["Content-Type"]})


def wait_for(client, user, domain, upload_id, timeout=20.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.get(f"/{domain}/uploads/{upload_id}", headers={"X-User-Id": user}).get_json()
        if status["status"] != "pending":
            return status
        time.sleep(0.05)
    raise AssertionError("upload still pending")


def test_signed_upload_then_finalize_event_registers_the_dataset(datasets_client, storage, user_id):
    h = {"X-User-Id": user_id}
    signed = datasets_client.post("/big/uploads", headers=h, json={"filename": "Big Sales.csv", "size": len(CSV)})
    assert signed.status_code == 201, signed.get_json()
    body = signed.get_json()
    assert body["method"] == "PUT" and body["name"] == "big_sales" and body["status"] == "pending"
    assert put_signed(storage, body, CSV).status_code == 200
    status = wait_for(datasets_client, user_id, "big", body["upload_id"])
    assert status["status"] == "ready" and status["version"] == 1 and status["rows"] == 3
    assert datasets_client.get("/big/big_sales", headers=h).get_json()["rows"] == 3


def test_the_same_event_twice_registers_once(datasets_client, storage, user_id, local_env):
    h = {"X-User-Id": user_id}
    body = datasets_client.post("/d/uploads", headers=h, json={"filename": "t.csv"}).get_json()
    services = get_services(get_settings())
    services.blobs.put(body["object"], CSV)
    ingest = function_client("ingest")
    event = {"bucket": "local", "name": body["object"], "size": str(len(CSV)), "generation": "17"}
    headers = {"ce-specversion": "1.0", "ce-type": "google.cloud.storage.object.v1.finalized",
               "ce-source": "//storage.googleapis.com/projects/_/buckets/local", "ce-id": uuid.uuid4().hex,
               "Content-Type": "application/json"}
    threads = [threading.Thread(target=lambda: ingest.post("/", data=json.dumps(event), headers=headers))
               for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert ingest.post("/", data=json.dumps(event), headers=headers).status_code == 200
    assert wait_for(datasets_client, user_id, "d", body["upload_id"])["version"] == 1
    versions = services.documents.list(f"tenants/{user_id}/domains/d/datasets/t/versions")
    assert [v["version"] for v in versions] == [1]


def test_a_bad_file_through_a_signed_url_fails_with_its_reason(datasets_client, storage, user_id):
    h = {"X-User-Id": user_id}
    body = datasets_client.post("/d/uploads", headers=h, json={"filename": "t.csv"}).get_json()
    put_signed(storage, body, b"")
    status = wait_for(datasets_client, user_id, "d", body["upload_id"])
    assert status["status"] == "failed" and status["error"]["code"] == "empty_file"
    assert datasets_client.get("/d", headers=h).status_code == 404


def test_signed_urls_refuse_tampering_expiry_and_another_content_type(datasets_client, storage, user_id):
    h = {"X-User-Id": user_id}
    body = datasets_client.post("/d/uploads", headers=h, json={"filename": "t.csv"}).get_json()
    assert put_signed(storage, body, CSV, content_type="application/octet-stream").status_code == 403
    tampered = dict(body, url=body["url"].replace("incoming", "incoming2"))
    assert put_signed(storage, tampered, CSV).status_code == 403
    expired = dict(body, url=body["url"].replace("expires=", "expires=1"))
    assert put_signed(storage, expired, CSV).status_code == 403


@pytest.mark.parametrize(("body", "status", "code"), [
    ({}, 422, "invalid_request"),
    ({"filename": "t.csv", "colour": "red"}, 422, "invalid_request"),
    ({"filename": "notes.txt"}, 415, "unsupported_file_type"),
    ({"filename": "t.csv", "size": 10**13}, 413, "file_too_large"),
    ({"filename": "t.csv", "size": "big"}, 422, "invalid_request"),
    ({"filename": "t.csv", "name": "../x"}, 400, "invalid_dataset_name"),
])
def test_bad_upload_requests(datasets_client, user_id, body, status, code):
    resp = datasets_client.post("/d/uploads", headers={"X-User-Id": user_id}, json=body)
    assert resp.status_code == status and resp.get_json()["error"]["code"] == code


def test_events_for_other_objects_are_ignored(local_env):
    from convoinsight.datasets.uploads import handle_finalized

    services = get_services(get_settings())
    assert handle_finalized(services, {"name": "random/object.csv"})["outcome"] == "ignored"
    assert handle_finalized(services, {"name": f"incoming/u/{'a' * 32}/t.csv"})["outcome"] == "ignored"
    assert handle_finalized(services, {"name": f"tenants/u/incoming/{'a' * 32}/t.csv"})["outcome"] == "ignored"


def test_upload_status_of_another_tenant_is_404(datasets_client, user_id):
    body = datasets_client.post("/d/uploads", headers={"X-User-Id": user_id}, json={"filename": "t.csv"}).get_json()
    other = datasets_client.get(f"/d/uploads/{body['upload_id']}", headers={"X-User-Id": f"{user_id}-x"})
    assert other.status_code == 404
