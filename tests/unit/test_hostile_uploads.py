"""Hostile uploads can neither crash nor exhaust the service: nesting is bounded before any parser runs,
files are read in a worker that may die, and nothing half-written is ever registered.

Through the datasets function in-process (as Cloud Functions serves it) against real PostgreSQL, a
folder of blobs and the real ingest worker pool; worker deaths are injected with fault tasks
(tests/support/ingest_faults.py) standing in for the reader, so each kind of death is exercised
deterministically.
"""

from __future__ import annotations

import io
import json
import os
import threading
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from convoinsight.datasets import ingest
from convoinsight.errors import ConvoInsightError
from convoinsight.settings import get_settings
from convoinsight.workers.pool import WorkerPool, close_shared
from tests.conftest import function_client
from tests.support.http import assert_error

CSV = b"region,revenue\nNorth,10.5\nSouth,20\n"


def upload(client, user, domain, filename, data, **form):
    return client.post(f"/{domain}", headers={"X-User-Id": user}, data={"file": (io.BytesIO(data), filename), **form})


def stored_files(local_env) -> list[Path]:
    root = Path(local_env["LOCAL_STATE_DIR"]) / "blobs"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def assert_nothing_stored(client, user, local_env) -> None:
    assert client.get("/", headers={"X-User-Id": user}).get_json()["domains"] == []
    assert stored_files(local_env) == []
    from convoinsight.services import get_services

    docs = get_services(get_settings()).documents
    assert docs.list(f"tenants/{user}/domains/d/datasets") == []
    assert docs.list(f"tenants/{user}/domains/d/datasets/deep/versions") == []  # no version claimed


def assert_service_fine(client, user) -> None:
    """The next upload works, and so does reading it back."""
    resp = upload(client, user, "ok", "after.csv", CSV)
    assert resp.status_code == 201, resp.get_json()
    got = client.get("/ok/after?limit=5", headers={"X-User-Id": user}).get_json()
    assert got["preview"]["rows"] == [["North", 10.5], ["South", 20.0]]


def set_env(**values: str) -> None:
    os.environ.update(values)
    get_settings.cache_clear()


# --- deep JSON and NDJSON -------------------------------------------------------------------------------------------


def nested(depth: int, shape: str) -> str:
    """A value ``depth`` levels deep, built as text (json.dumps would recurse)."""
    if shape == "objects":
        return '{"a": ' * depth + "1" + "}" * depth
    if shape == "arrays":
        return "[" * depth + "1" + "]" * depth
    if shape == "objects_in_arrays":
        return '[{"a": ' * (depth // 2) + "1" + "}]" * (depth // 2)
    raise AssertionError(shape)


def json_rows(value: str) -> bytes:
    return f'[{{"id": 1, "v": {value}}}, {{"id": 2, "v": null}}]'.encode()


def ndjson_rows(value: str) -> bytes:
    return ('{"id": 1, "v": null}\n' * 50 + f'{{"id": 2, "v": {value}}}\n' + '{"id": 3, "v": null}\n').encode()


@pytest.mark.parametrize("shape", ["objects", "arrays", "objects_in_arrays"])
@pytest.mark.parametrize(("fmt", "build"), [("json", json_rows), ("ndjson", ndjson_rows)])
def test_json_nested_900_deep_is_refused_and_the_service_goes_on(datasets_client, user_id, local_env, shape, fmt,
                                                                 build):
    data = build(nested(900, shape))
    assert len(data) < 12_000  # a few KB: this once took 92 s of CPU and then crashed every reader of it
    pool = ingest.ingest_pool(get_settings())
    resp = upload(datasets_client, user_id, "d", f"deep.{fmt}", data)
    error = assert_error(resp, 422, "too_deep")
    assert "levels" in error["message"] and "32" in error["message"]
    assert_nothing_stored(datasets_client, user_id, local_env)
    restarts = pool.restarts
    assert_service_fine(datasets_client, user_id)
    assert pool.restarts == restarts  # a refusal is not a crash: the worker stays


@pytest.mark.parametrize(("fmt", "build", "depth", "ok"), [
    ("json", json_rows, 3, True),
    ("json", json_rows, 4, False),
    ("ndjson", ndjson_rows, 3, True),
    ("ndjson", ndjson_rows, 4, False),
])
def test_the_bound_is_the_setting_counted_inside_a_cell(local_env, user_id, fmt, build, depth, ok):
    set_env(MAX_NESTING_DEPTH="3")
    client = function_client("datasets")
    resp = upload(client, user_id, "d", f"t.{fmt}", build(nested(depth, "arrays")))
    if ok:
        assert resp.status_code == 201, resp.get_json()
        assert resp.get_json()["rows"] == (2 if fmt == "json" else 52)
    else:
        assert assert_error(resp, 422, "too_deep")["message"].startswith("the file nests values 4 levels deep")


def test_brackets_inside_strings_and_escaped_quotes_do_not_count(local_env, user_id):
    set_env(MAX_NESTING_DEPTH="1")
    tricky = ['[[[[[[', '"]]]]{{{{', 'a \\" [[[[ \\\\', '\\\\\\" {{{{{{', "{" * 50]
    rows = [{"id": i, "text": text, "tags": [text]} for i, text in enumerate(tricky)]
    client = function_client("datasets")
    resp = upload(client, user_id, "d", "t.json", json.dumps(rows).encode())
    assert resp.status_code == 201, resp.get_json()
    got = client.get("/d/t?limit=10", headers={"X-User-Id": user_id}).get_json()["preview"]["rows"]
    assert [row[1] for row in got] == tricky


# --- deep Parquet ---------------------------------------------------------------------------------------------------


def deep_struct_parquet(depth: int) -> bytes:
    column = pa.array([1, 2, 3])
    for _ in range(depth):
        column = pa.StructArray.from_arrays([column], names=["a"])
    buffer = io.BytesIO()
    pq.write_table(pa.table({"x": column, "y": pa.array([1, 2, 3])}), buffer)
    return buffer.getvalue()


def deep_list_parquet(depth: int) -> bytes:
    column = pa.array([1, 2])
    for _ in range(depth):
        column = pa.ListArray.from_arrays(pa.array([0, 1, 2], pa.int32()), column)
    buffer = io.BytesIO()
    pq.write_table(pa.table({"x": column}), buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("build", [lambda: deep_struct_parquet(400), lambda: deep_list_parquet(40)])
def test_deep_parquet_is_refused_and_the_service_goes_on(datasets_client, user_id, local_env, build):
    data = build()
    assert len(data) < 64 * 1024  # the 400-deep one is ~26 KB: it segfaulted the server at upload
    assert_error(upload(datasets_client, user_id, "d", "deep.parquet", data), 422, "too_deep")
    assert_nothing_stored(datasets_client, user_id, local_env)
    assert_service_fine(datasets_client, user_id)


def test_deep_parquet_is_refused_from_the_footer_before_any_reader_runs(tmp_path, monkeypatch):
    from convoinsight.datasets.readers import convert_file

    def no_reader(*args, **kwargs):
        raise AssertionError("a reader ran on a file that should have been refused from its footer")

    for name in ("scan_parquet", "read_parquet", "read_parquet_schema"):
        monkeypatch.setattr(pl, name, no_reader)
    source = tmp_path / "deep.parquet"
    source.write_bytes(deep_struct_parquet(400))
    (tmp_path / "work").mkdir()
    with pytest.raises(ConvoInsightError) as caught:
        convert_file(source, "parquet", tmp_path / "out.parquet", tmp_path / "work")
    assert (caught.value.status, caught.value.code) == (422, "too_deep")
    assert not (tmp_path / "out.parquet").exists()


def test_parquet_within_the_bound_loads(datasets_client, user_id):
    resp = upload(datasets_client, user_id, "d", "nested.parquet", deep_struct_parquet(5))
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["rows"] == 3


# --- the worker dies ------------------------------------------------------------------------------------------------


@pytest.fixture
def faulty_reader(monkeypatch):
    """Replace the reader by a fault task: ``use(kind)`` returns the pool standing in for the ingest pool."""
    pools: list[WorkerPool] = []

    def use(kind: str, size: int = 1) -> WorkerPool:
        pool = WorkerPool(f"tests.support.ingest_faults:{kind}", size, replace_on_error=True)
        pools.append(pool)
        monkeypatch.setattr(ingest, "ingest_pool", lambda settings: pool)
        return pool

    yield use
    monkeypatch.undo()
    for pool in pools:
        pool.close()


@pytest.mark.parametrize(("kind", "status", "code"), [
    ("segfault", 422, "unreadable_file"),
    ("half_written", 422, "unreadable_file"),
    ("abort", 413, "file_too_complex"),
    ("memory_error", 413, "file_too_complex"),
])
def test_a_reader_that_dies_gives_a_clean_error_and_leaves_nothing(datasets_client, user_id, local_env,
                                                                   faulty_reader, monkeypatch, kind, status, code):
    pool = faulty_reader(kind)
    resp = upload(datasets_client, user_id, "d", "deep.csv", CSV)
    assert_error(resp, status, code)
    assert pool.restarts == 1  # the dead worker was replaced
    assert_nothing_stored(datasets_client, user_id, local_env)
    monkeypatch.undo()  # the real reader again
    assert_service_fine(datasets_client, user_id)


def test_a_reader_past_its_time_limit_is_killed(local_env, user_id, faulty_reader, monkeypatch):
    set_env(INGEST_TIMEOUT_SECONDS="1")
    client = function_client("datasets")
    faulty_reader("hang")
    error = assert_error(upload(client, user_id, "d", "deep.csv", CSV), 413, "file_too_complex")
    assert "1 s" in error["message"]
    assert_nothing_stored(client, user_id, local_env)
    monkeypatch.undo()
    assert_service_fine(client, user_id)


def test_no_free_worker_is_503_with_retry_after(local_env, user_id, faulty_reader, monkeypatch):
    set_env(INGEST_TIMEOUT_SECONDS="3")
    monkeypatch.setattr(ingest, "BUSY_WAIT_SECONDS", 0.3)
    client = function_client("datasets")
    pool = faulty_reader("hang")
    pool.warm()
    first = threading.Thread(target=lambda: upload(client, user_id, "d", "first.csv", CSV))
    first.start()
    try:
        for _ in range(100):  # until the first upload holds the only worker
            if pool.busy_pids():
                break
            threading.Event().wait(0.05)
        resp = upload(client, user_id, "d", "second.csv", CSV)
        assert_error(resp, 503, "ingest_busy")
        assert int(resp.headers["Retry-After"]) >= 1
    finally:
        first.join()
    assert_nothing_stored(client, user_id, local_env)


def test_a_real_reader_past_its_memory_limit(local_env, user_id):
    """A 2 KB Parquet file holding 2 GB of text, under a 256 MB limit: the worker dies, the service does not."""
    set_env(INGEST_MEMORY_MB="256")
    client = function_client("datasets")
    buffer = io.BytesIO()
    pl.DataFrame({"Long Text": ["y" * 10_000] * 200_000}).write_parquet(buffer)  # a label: re-encoded, not copied
    assert len(buffer.getvalue()) < 4096
    pool = ingest.ingest_pool(get_settings())
    try:
        restarts = pool.restarts
        assert_error(upload(client, user_id, "d", "bomb.parquet", buffer.getvalue()), 413, "file_too_complex")
        assert pool.restarts == restarts + 1
        assert_nothing_stored(client, user_id, local_env)
        set_env(INGEST_MEMORY_MB="1024")  # the next upload runs under the service's usual limit
        assert_service_fine(client, user_id)
    finally:  # this pool's limit is this test's: its worker does not outlive it
        close_shared(pool=pool)


# --- read back before registering -----------------------------------------------------------------------------------


def test_a_file_that_cannot_be_read_back_is_never_registered(datasets_client, user_id, local_env):
    """A canonical Parquet file is copied as it is: one whose data pages are damaged must not get a record."""
    buffer = io.BytesIO()
    pl.DataFrame({"id": range(50_000), "v": [f"value {i}" for i in range(50_000)]}).write_parquet(
        buffer, compression="uncompressed", statistics=False)
    data = bytearray(buffer.getvalue())
    footer = int.from_bytes(data[-8:-4], "little")
    for at in range(8, len(data) - footer - 8, 97):  # damage the pages, keep the footer intact
        data[at] ^= 0xFF
    pq.read_metadata(io.BytesIO(bytes(data)))  # the footer still reads
    resp = upload(datasets_client, user_id, "d", "deep.parquet", bytes(data))
    assert_error(resp, 422, "unreadable_file")
    assert_nothing_stored(datasets_client, user_id, local_env)
    assert_service_fine(datasets_client, user_id)


def test_a_conversion_that_does_not_read_back_is_never_registered(local_env, user_id):
    """Within the JSON bound (set to its maximum) yet past what pyarrow reads back (100 schema nodes): Polars
    converts it, the read-back refuses it, and no record ever points at it."""
    set_env(MAX_NESTING_DEPTH="64")
    client = function_client("datasets")
    resp = upload(client, user_id, "d", "deep.json", json_rows(nested(60, "arrays")))
    assert_error(resp, 422, "too_deep")
    assert_nothing_stored(client, user_id, local_env)
    assert_service_fine(client, user_id)


def test_verify_readable_refuses_what_does_not_read_back(tmp_path):
    from convoinsight.datasets.ingest_worker import verify_readable

    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1" + bytes(100) + b"PAR1")
    with pytest.raises(ConvoInsightError) as caught:
        verify_readable(broken, 32)
    assert caught.value.code == "unreadable_file"


# --- canonical Parquet, signed uploads ------------------------------------------------------------------------------


def test_canonical_parquet_is_copied_unchanged_and_other_parquet_is_reencoded(datasets_client, user_id, local_env):
    frame = pl.DataFrame({"region": ["North", "South"], "revenue": [1.5, 2.0]})
    buffer = io.BytesIO()
    pq.write_table(frame.to_arrow(), buffer)  # pyarrow's writer: re-encoding by Polars would change the bytes
    assert upload(datasets_client, user_id, "d", "clean.parquet", buffer.getvalue()).status_code == 201
    stored = next(p for p in stored_files(local_env) if "/clean/" in str(p) and p.name == "data.parquet")
    assert stored.read_bytes() == buffer.getvalue()
    labelled = io.BytesIO()
    frame.rename({"region": "Region Name"}).write_parquet(labelled)
    record = upload(datasets_client, user_id, "d", "labelled.parquet", labelled.getvalue()).get_json()
    assert [(c["name"], c["label"]) for c in record["columns"]] == [("region_name", "Region Name"),
                                                                     ("revenue", "revenue")]
    stored = next(p for p in stored_files(local_env) if "/labelled/" in str(p) and p.name == "data.parquet")
    assert pl.read_parquet(stored).columns == ["region_name", "revenue"]


def test_a_deep_file_through_a_signed_url_fails_and_is_removed(datasets_client, user_id, local_env):
    from convoinsight.datasets.uploads import handle_finalized
    from convoinsight.services import get_services

    h = {"X-User-Id": user_id}
    body = datasets_client.post("/d/uploads", headers=h, json={"filename": "deep.json"}).get_json()
    services = get_services(get_settings())
    data = json_rows(nested(900, "arrays"))
    services.blobs.put(body["object"], data)
    event = {"bucket": "local", "name": body["object"], "size": str(len(data)), "generation": "1"}
    assert handle_finalized(services, event) == {"outcome": "failed", "code": "too_deep"}
    status = datasets_client.get(f"/d/uploads/{body['upload_id']}", headers=h).get_json()
    assert status["status"] == "failed" and status["error"]["code"] == "too_deep"
    assert not services.blobs.exists(body["object"])
    assert datasets_client.get("/d", headers=h).status_code == 404
    assert_service_fine(datasets_client, user_id)


# --- streaming keeps the readers' behaviour -------------------------------------------------------------------------


def test_a_streamed_csv_keeps_every_reader_rule(datasets_client, user_id):
    """Often-empty last field, blank lines (middle and end), a type change past the inference window and a
    column empty through it: the same table the readers always gave, from the streamed path."""
    lines = ["id,amount,late,note"]
    for i in range(20_000):
        late = "" if i < 5_000 else str(i)
        amount = f"{i}.5" if i == 19_000 else str(i)
        note = "" if i % 3 else f"note {i}"
        lines.append(f"{i},{amount},{late},{note}")
        if i == 10_000:
            lines.append("")
    data = ("\n".join(lines) + "\n\n\n").encode()
    record = upload(datasets_client, user_id, "d", "t.csv", data).get_json()
    assert record["rows"] == 20_000, record
    assert [c["dtype"] for c in record["columns"]] == ["integer", "float", "integer", "string"]
    by_name = {c["name"]: c for c in record["profile"]["columns"]}
    assert by_name["late"]["nulls"] == 5_000 and by_name["late"]["min"] == 5_000
    assert by_name["note"]["nulls"] == 20_000 - len(range(0, 20_000, 3))
    got = datasets_client.get("/d/t?limit=3&offset=10000", headers={"X-User-Id": user_id}).get_json()
    assert got["preview"]["rows"] == [[10000, 10000.0, 10000, None], [10001, 10001.0, 10001, None],
                                      [10002, 10002.0, 10002, "note 10002"]]


def test_a_short_row_far_down_a_streamed_csv_is_named(datasets_client, user_id, local_env):
    rows = b"".join(b"%d,x,\n" % i for i in range(30_000))
    resp = upload(datasets_client, user_id, "d", "deep.csv", b"a,b,c\n" + rows + b"1,2\n")
    assert "line 30,002" in assert_error(resp, 422, "ragged_rows")["message"]
    assert_nothing_stored(datasets_client, user_id, local_env)


@pytest.mark.parametrize(("data", "rows"), [
    (b"city\nParis\nRome\n\n\n", [["Paris"], ["Rome"]]),  # trailing blank lines go
    (b"city\r\nParis\r\nRome\r\n\r\n", [["Paris"], ["Rome"]]),
    (b"city\nParis\n\nRome\n", [["Paris"], [None], ["Rome"]]),  # one column: a blank line inside is an empty value
])
def test_single_column_files_keep_their_blank_line_rule(datasets_client, user_id, data, rows):
    assert upload(datasets_client, user_id, "d", "t.csv", data).status_code == 201
    assert datasets_client.get("/d/t", headers={"X-User-Id": user_id}).get_json()["preview"]["rows"] == rows
