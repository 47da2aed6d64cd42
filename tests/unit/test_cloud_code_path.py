"""The datasets, ingest and queries functions on the cloud backends (GCS + Firestore emulators).

The same routes as local mode, through the same function entry points; only
the stores differ. What is stored is checked in the stores themselves.
"""

from __future__ import annotations

import io
import json
import uuid

import polars as pl
import pytest
import requests

from convoinsight.services import get_services
from convoinsight.settings import get_settings
from tests.conftest import function_client
from tests.support.data import SALES_CSV

CSV = b"region,revenue\nNorth,10.5\nSouth,20\nNorth,1.25\n"


@pytest.fixture
def clients(cloud_env):
    return function_client("datasets"), function_client("queries")


def up(client, user, domain, filename, data):
    return client.post(f"/{domain}", headers={"X-User-Id": user}, data={"file": (io.BytesIO(data), filename)})


def stored_objects(user: str) -> list[str]:
    return get_services(get_settings()).blobs.list(f"tenants/{user}")


def test_dataset_lifecycle_on_gcs_and_firestore(clients, user_id):
    datasets, _ = clients
    h = {"X-User-Id": user_id}
    assert up(datasets, user_id, "shop", "sales.csv", CSV).status_code == 201
    second = up(datasets, user_id, "shop", "sales.csv", CSV + b"East,3\n").get_json()
    assert second["version"] == 2 and second["rows"] == 4
    assert datasets.get("/", headers=h).get_json()["domains"][0]["dataset_count"] == 1
    record = datasets.get("/shop/sales?limit=2&offset=2", headers=h).get_json()
    assert record["preview"]["rows"] == [["North", 1.25], ["East", 3.0]]
    downloaded = datasets.get("/shop/sales?format=csv", headers=h)
    assert pl.read_csv(io.BytesIO(downloaded.data)).height == 4
    assert len(stored_objects(user_id)) == 4  # two versions x (original + parquet)
    assert datasets.get("/shop", headers={"X-User-Id": f"{user_id}-x"}).status_code == 404
    assert datasets.delete("/shop", headers=h).get_json()["deleted"]["datasets"] == 1
    assert stored_objects(user_id) == []
    assert datasets.get("/", headers=h).get_json()["domains"] == []


def test_a_bad_file_stores_nothing_in_the_cloud_stores(clients, user_id):
    datasets, _ = clients
    assert up(datasets, user_id, "d", "t.csv", b"a,b\n1,2\n3,4,5\n").status_code == 422
    assert stored_objects(user_id) == []
    assert get_services(get_settings()).documents.list(f"tenants/{user_id}/domains") == []


def test_signed_upload_to_gcs_then_the_finalize_event(clients, user_id, cloud_env):
    datasets, _ = clients
    h = {"X-User-Id": user_id}
    signed = datasets.post("/big/uploads", headers=h, json={"filename": "sales.csv"}).get_json()
    assert signed["url"].startswith(cloud_env["STORAGE_EMULATOR_HOST"])
    put = requests.put(signed["url"], data=SALES_CSV.read_bytes(), headers=signed["headers"], timeout=30)
    assert put.status_code == 200
    event = {"bucket": cloud_env["GCS_BUCKET"], "name": signed["object"], "size": str(SALES_CSV.stat().st_size),
             "generation": "1"}
    headers = {"ce-specversion": "1.0", "ce-type": "google.cloud.storage.object.v1.finalized",
               "ce-source": f"//storage.googleapis.com/projects/_/buckets/{cloud_env['GCS_BUCKET']}",
               "ce-id": uuid.uuid4().hex, "Content-Type": "application/json"}
    ingest = function_client("ingest")
    for _ in range(2):  # at-least-once delivery: the second is a no-op
        assert ingest.post("/", data=json.dumps(event), headers=headers).status_code == 200
    status = datasets.get(f"/big/uploads/{signed['upload_id']}", headers=h).get_json()
    assert status["status"] == "ready" and status["rows"] == 600 and status["version"] == 1
    # The incoming object is gone; the dataset's original and Parquet copies remain.
    assert sorted(p.rsplit("/", 1)[1] for p in stored_objects(user_id)) == ["data.parquet", "original.csv"]


def test_a_question_over_data_in_gcs(clients, user_id):
    datasets, queries = clients
    up(datasets, user_id, "shop", "sales.csv", SALES_CSV.read_bytes())
    body = queries.post("/", headers={"X-User-Id": user_id},
                        json={"domain": "shop", "prompt": "total revenue by region"}).get_json()
    truth = pl.read_csv(SALES_CSV).group_by("Region").agg(pl.col("Revenue").sum())
    got = {row[0]: row[1] for row in body["table"]["rows"]}
    assert got.keys() == set(truth["Region"])
    assert all(abs(got[r] - t) < 1e-6 for r, t in truth.iter_rows())
    session = get_services(get_settings()).documents.get(f"tenants/{user_id}/sessions", body["session_id"])
    assert session["message_count"] == 2


def test_a_question_over_gcs_reads_only_the_columns_it_needs(gcs_emulator, sql_engine, tmp_path):
    """Column and row-group pushdown from Cloud Storage: ranged reads of the footer and the needed column
    chunks, never the whole object."""
    import numpy as np
    import polars as pl

    from convoinsight.settings import load_settings
    from convoinsight.sql.compile import compile_select
    from convoinsight.sql.execute import SqlLimits, run_select
    from tests.support import gcp_emulators

    rng = np.random.default_rng(1)
    rows = 400_000
    frame = pl.DataFrame({"id": np.arange(rows), "small": rng.integers(0, 5, rows),
                          **{f"wide_{i}": rng.random(rows) for i in range(8)}})
    path = tmp_path / "wide.parquet"
    frame.write_parquet(path, row_group_size=50_000)
    bucket = gcs_emulator.create_bucket("pushdown-test")
    gcs_emulator.client().bucket(bucket).blob("wide.parquet").upload_from_filename(str(path))
    source = {"bucket": bucket, "object": "wide.parquet", "project": "t", "endpoint": gcs_emulator.host}
    limits = SqlLimits.from_settings(load_settings({}))

    def served(sql: str) -> tuple[dict, int]:
        before = gcp_emulators.SERVED["get_bytes"]
        table = run_select(compile_select(sql, {"wide"}), {"wide": source}, limits, sql_engine).as_dict()
        return table, gcp_emulators.SERVED["get_bytes"] - before

    size = path.stat().st_size
    table, read = served("SELECT small, count(*) AS n FROM wide GROUP BY small ORDER BY small")
    assert [r[1] for r in table["rows"]] == frame.group_by("small").len().sort("small")["len"].to_list()
    assert read < size * 0.2, (read, size)  # one narrow column of ten
    table, read = served("SELECT wide_3 FROM wide WHERE id = 123456")
    assert table["rows"] == [[frame["wide_3"][123456]]]
    assert read < size * 0.3, (read, size)  # only the row group holding id 123456 of the column read
