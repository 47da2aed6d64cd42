"""Values beyond the profile: question words looked up in the data before the SQL is written.

A million-row upload whose rare carrier "ZZ" is far outside the profile's top 10 values: the offline planner
answers "for carrier ZZ" through the hint, a remote model (the stub) is handed the hint in its context, and
the lookup itself is one statement the SQL guard accepts.
"""

from __future__ import annotations

import io
import json

import polars as pl
import pytest

from convoinsight.pipeline.value_hints import lookup_sql, terms
from convoinsight.sql.compile import compile_select
from tests.conftest import function_client
from tests.support.stub_llm import context_of

ROWS = 1_000_000
RARE = 37  # rows of carrier ZZ


@pytest.fixture(scope="module")
def big_parquet() -> bytes:
    """1,000,000 flights over 12 common carriers (~83,000 each) and 37 of ZZ, generated in a few ms."""
    common = [f"C{i:02d}" for i in range(12)]
    n = ROWS - RARE
    frame = pl.DataFrame({"id": range(ROWS)}).with_columns(
        carrier=pl.when(pl.col("id") < n).then(pl.col("id").mod(12).replace_strict(list(range(12)), common))
        .otherwise(pl.lit("ZZ")),
        delay=(pl.col("id").mod(97) - 20).cast(pl.Float64),
        origin=pl.col("id").mod(3).replace_strict([0, 1, 2], ["JFK", "LGA", "EWR"]),
    ).drop("id")
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    return buffer.getvalue()


def _upload(h: dict, data: bytes) -> dict:
    datasets = function_client("datasets")
    resp = datasets.post("/big", headers=h, data={"file": (io.BytesIO(data), "flights.parquet")})
    assert resp.status_code == 201, resp.get_json()
    record = datasets.get("/big/flights", headers=h).get_json()
    return record


def _ask(h: dict, prompt: str) -> dict:
    resp = function_client("queries").post("/", headers=h, json={"domain": "big", "prompt": prompt})
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


@pytest.mark.slow
def test_a_value_outside_the_profile_is_found_in_a_million_rows(local_env, user_id, big_parquet, capsys):
    h = {"X-User-Id": user_id}
    record = _upload(h, big_parquet)
    assert record["rows"] == ROWS
    carrier = next(c for c in record["profile"]["columns"] if c["name"] == "carrier")
    assert len(carrier["top_values"]) == 10 and "ZZ" not in {t["value"] for t in carrier["top_values"]}

    body = _ask(h, "how many flights for carrier ZZ")
    assert body["sql_status"] == "ok" and "'ZZ'" in body["sql"], body["sql"]
    assert body["table"]["rows"] == [[RARE]]
    # The lookup's statement is SQL time of its own, within the manipulator's stage.
    assert 0 < body["timings"]["sql_lookup"] < body["timings"]["manipulator"]
    lower = _ask(h, "average delay for zz by origin")
    assert lower["sql_status"] == "ok" and "'ZZ'" in lower["sql"]
    assert {r[0] for r in lower["table"]["rows"]} == {"JFK", "LGA", "EWR"}
    with capsys.disabled():
        print(f"\nvalue lookup over {ROWS:,} rows: manipulator stage {body['timings']['manipulator']} ms")
    # A word that is no value anywhere changes nothing and is not guessed at: the question is declined.
    unknown = _ask(h, "how many flights for carrier QQ")
    assert unknown["sql_status"] == "unanswerable" and unknown["table"] is None


def test_a_remote_model_is_handed_the_hints(use_stub_model, user_id):
    h = {"X-User-Id": user_id}
    rows = "".join(f"{c},{i % 50}\n" for i in range(400) for c in [f"K{i % 11:02d}"])
    data = ("carrier,delay\n" + rows + "ZZ,5\nZZ,7\n").encode()
    assert function_client("datasets").post("/big", headers=h, data={
        "file": (io.BytesIO(data), "flights.csv")}).status_code == 201
    stub = use_stub_model
    stub.always("router", json.dumps({"route": "data", "datasets": ["flights"], "chart": "table",
                                      "analysis": False}))
    stub.always("orchestrator", json.dumps({"manipulator_prompt": "compute it", "visualizer_prompt": "",
                                            "analyzer_prompt": "", "compiler_instruction": ""}))
    stub.always("manipulator", json.dumps({"sql": "SELECT COUNT(*) AS n FROM flights WHERE carrier = 'ZZ'",
                                           "explanation": "x"}))
    stub.always("visualizer", json.dumps({"spec": {"mark": "bar"}, "title": "x"}))
    stub.always("analyzer", json.dumps({"summary": "There are 2.", "insights": []}))
    stub.always("compiler", json.dumps({"answer": "There are 2.", "follow_ups": ["More?", "Why?"]}))
    body = _ask(h, "how many flights for zz?")
    assert body["table"]["rows"] == [[2]]
    (call,) = stub.calls("manipulator")
    assert context_of(call["body"])["value_hints"] == [{"table": "flights", "column": "carrier", "value": "ZZ"}]
    # Nothing to look up (every word is a column or grammar): no hints key at all.
    stub.reset()
    _ask(h, "how many flights by carrier")
    assert all("value_hints" not in context_of(c["body"]) for c in stub.calls("manipulator"))


def _profile(distinct: int) -> dict:
    return {"name": "flights", "rows": 10**6, "columns": [
        {"name": "carrier", "dtype": "string", "distinct": distinct,
         "top_values": [{"value": "UA", "count": 9}, {"value": "B6", "count": 8}]},
        {"name": "origin", "dtype": "string", "distinct": 2,
         "top_values": [{"value": "JFK", "count": 9}, {"value": "EWR", "count": 8}]},
        {"name": "delay", "dtype": "float", "distinct": 500, "top_values": []}]}


def test_only_unknown_words_are_looked_up_in_columns_the_profile_does_not_cover():
    ds = [_profile(16)]
    assert terms("How many flights by carrier for HA in 2013?", ds, 24) == ["ha"]
    assert terms("average delay for carrier US", ds, 24) == ["us"]  # a code written as one, though a stopword
    assert terms("top 5 origins by delay", ds, 24) == []
    assert terms("flights to new york", ds, 24) == ["new york", "new", "york"]
    sql = lookup_sql("flights for carrier HA or UA", ds, 8, 24)
    # origin's profile lists both its values: only carrier is searched; UA is known there already
    assert '"origin"' not in sql and "IN ('ha')" in sql and "LIMIT 50" in sql
    compile_select(sql, ["flights"])  # the guard accepts it like any question's SQL
    assert lookup_sql("flights for carrier HA", ds, 0, 24) is None  # VALUE_LOOKUP_COLUMNS=0: off
    assert lookup_sql("flights by carrier", [_profile(2)], 8, 24) is None  # every value already profiled
    hostile = lookup_sql("flights for O'Hare'); DROP TABLE x; --", ds, 8, 24)
    assert "'o''hare''" in hostile
    compile_select(hostile, ["flights"])
