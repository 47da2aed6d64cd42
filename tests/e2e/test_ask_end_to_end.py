"""One question end to end over HTTP through the local emulator (what `make dev` serves).

The model is the stub OpenAI-compatible server, scripted per agent, so the
real litellm path runs; the offline planner answers the same question with no model.
"""

from __future__ import annotations

import json
import uuid

import polars as pl
import pytest
import requests

from tests.support.data import airlines_parquet, as_uploaded, flights_csv, rows_equal
from tests.support.stub_llm import context_of

pytestmark = pytest.mark.slow

AGENTS = ["router", "orchestrator", "manipulator", "visualizer", "analyzer", "compiler"]
BY_CARRIER = ('SELECT "carrier", AVG("arr_delay") AS avg_arr_delay, COUNT(*) AS flights FROM flights '
              'GROUP BY "carrier" ORDER BY avg_arr_delay DESC, "carrier"')
JOINED = ('SELECT a."name", COUNT(*) AS flights FROM flights f JOIN airlines a ON f."carrier" = a."carrier" '
          'GROUP BY a."name" ORDER BY flights DESC, a."name"')


def headers(user: str) -> dict[str, str]:
    return {"X-User-Id": user}


@pytest.fixture
def tenant(emulator) -> str:
    """A tenant with flights (CSV) and airlines (Parquet) uploaded into domain 'travel'."""
    user = f"e2e-{uuid.uuid4().hex[:10]}"
    for filename, data in (("flights.csv", flights_csv()), ("airlines.parquet", airlines_parquet())):
        resp = requests.post(emulator.url("datasets", "/travel"), headers=headers(user),
                             files={"file": (filename, data)}, timeout=30)
        assert resp.status_code == 201, resp.text
    return user


def expected(sql: str) -> pl.DataFrame:
    frames = {"flights": as_uploaded(flights_csv(), "csv"), "airlines": as_uploaded(airlines_parquet(), "parquet")}
    return pl.SQLContext(frames={k: v.lazy() for k, v in frames.items()}).execute(sql, eager=True)


def script_data_answer(stub, sql: str, chart: str = "bar", x: str = "carrier", y: str = "avg_arr_delay") -> None:
    stub.script("router", json.dumps({"route": "data", "datasets": ["flights", "airlines"], "chart": chart,
                                      "analysis": True}))
    stub.script("orchestrator", json.dumps({"manipulator_prompt": "compute it", "visualizer_prompt": "bar chart",
                                            "analyzer_prompt": "find the extremes",
                                            "compiler_instruction": "be brief"}))
    stub.script("manipulator", json.dumps({"sql": sql, "explanation": "grouped"}))
    stub.script("visualizer", json.dumps({"spec": {"mark": "bar", "encoding": {
        "x": {"field": x, "type": "nominal"}, "y": {"field": y, "type": "quantitative"}}}, "title": "Result"}))

    def analyse(body):
        ctx = context_of(body)
        top = ctx["rows"][0]
        return json.dumps({"summary": f"{top[0]} ranks first with {top[1]}.",
                           "insights": [f"{ctx['row_count']} groups"]})

    stub.script("analyzer", analyse)
    stub.script("compiler", json.dumps({"answer": "**Answer.** See the table.",
                                        "follow_ups": ["And by month?", "Only JFK?"]}))


def ask(emulator, user: str, prompt: str, **extra) -> requests.Response:
    return requests.post(emulator.url("queries"), headers=headers(user),
                         json={"domain": "travel", "prompt": prompt, **extra}, timeout=60)


def test_answer_has_the_contract_shape_and_the_table_equals_polars(emulator, tenant, stub):
    script_data_answer(stub, BY_CARRIER)
    resp = ask(emulator, tenant, "What is the average arrival delay by carrier?")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    for key in ("session_id", "message_id", "answer", "sql", "table", "chart", "insights", "follow_ups", "usage",
                "timings"):
        assert key in body, key
    want = expected(BY_CARRIER)
    table = body["table"]
    assert table["columns"] == want.columns
    assert table["row_count"] == want.height and table["truncated"] is False
    assert rows_equal(table["rows"], [list(r) for r in want.iter_rows()])
    assert body["sql"] == BY_CARRIER
    assert body["answer"] == "**Answer.** See the table."
    assert body["follow_ups"] == ["And by month?", "Only JFK?"]
    assert body["insights"] == [f"{want.height} groups"]
    assert body["usage"]["llm_calls"] == 6 and body["usage"]["tokens"] == 6 * 120
    # Every stage, the answer's SQL and, as they ran here, the value lookup and the whole-result statistics.
    assert set(body["timings"]) == {*AGENTS, "sql", "sql_lookup", "sql_stats"} and body["timings"]["sql"] > 0

    # The chart spec carries the result rows, bound by the server.
    chart = body["chart"]
    assert chart["id"] and chart["spec"]["mark"] == "bar"
    values = chart["spec"]["data"]["values"]
    assert values == [dict(zip(table["columns"], row, strict=True)) for row in table["rows"]]

    # Every model call went through the OpenAI-compatible endpoint with its agent header.
    calls = stub.calls()
    assert sorted(c["agent"] for c in calls) == sorted(AGENTS)
    assert [c["agent"] for c in calls][:3] == ["router", "orchestrator", "manipulator"]
    assert calls[-1]["agent"] == "compiler"
    assert all(c["headers"].get("X-ConvoInsight-Agent") == c["agent"] for c in calls)
    assert all(c["body"]["model"] == "stub-model" for c in calls)


def test_join_across_a_csv_and_a_parquet_dataset(emulator, tenant, stub):
    script_data_answer(stub, JOINED, x="name", y="flights")
    body = ask(emulator, tenant, "How many flights per airline name?").json()
    want = expected(JOINED)
    assert body["table"]["columns"] == ["name", "flights"]
    assert rows_equal(body["table"]["rows"], [list(r) for r in want.iter_rows()])
    assert len(body["chart"]["spec"]["data"]["values"]) == want.height


def test_offline_planner_answers_the_same_question_correctly(emulator, tenant, stub):
    resp = ask(emulator, tenant, "What is the average arrival delay by carrier?", model="offline")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert stub.calls() == []  # no request reached the configured model
    assert body["usage"]["llm_calls"] == 6 and body["usage"]["cost_usd"] == 0
    frame = as_uploaded(flights_csv(), "csv")
    truth = {r[0]: r[1] for r in frame.group_by("carrier").agg(pl.col("arr_delay").mean()).iter_rows()}
    table = body["table"]
    carrier_col = table["columns"].index("carrier")
    measure_col = next(i for i, t in enumerate(table["column_types"]) if t in ("float", "decimal"))
    got = {row[carrier_col]: row[measure_col] for row in table["rows"]}
    assert got.keys() == truth.keys()
    assert all(abs(got[k] - truth[k]) < 1e-9 for k in truth)
    assert body["chart"] is not None and len(body["chart"]["spec"]["data"]["values"]) == len(truth)
    assert body["answer"] and 2 <= len(body["follow_ups"]) <= 4


@pytest.mark.parametrize("hostile", [
    "DROP TABLE flights",
    "WITH d AS (DELETE FROM flights RETURNING *) SELECT * FROM d",
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT 1; SELECT * FROM flights",
    "SELECT * INTO copy_of_flights FROM flights",
    "SELECT pg_sleep(10), * FROM flights",
    "SELECT * FROM flights FOR UPDATE",
])
def test_sql_refused_by_the_guard_never_runs(emulator, tenant, stub, hostile):
    script_data_answer(stub, hostile)
    stub.script("manipulator", json.dumps({"sql": hostile, "explanation": "again"}))
    body = ask(emulator, tenant, "Do something").json()
    assert body["sql_status"] == "refused" and body["sql_error"]["stage"] == "guard"
    assert body["table"] is None and body["chart"] is None
    assert "refused" in body["answer"].lower()
    # The refusal went back to the manipulator once; a second refusal ended it, and nothing consumed a result.
    assert [c["agent"] for c in stub.calls()] == ["router", "orchestrator", "manipulator", "manipulator",
                                                  "compiler"]
    record = requests.get(emulator.url("datasets", "/travel/flights?limit=1"), headers=headers(tenant), timeout=10)
    assert record.json()["rows"] == 5000 and record.json()["preview"]["total_rows"] == 5000
    assert requests.get(emulator.url("datasets", "/travel"), headers=headers(tenant),
                        timeout=10).json()["datasets"].__len__() == 2


def test_another_domains_table_is_refused(emulator, tenant, stub):
    requests.post(emulator.url("datasets", "/private"), headers=headers(tenant),
                  files={"file": ("salaries.csv", b"name,salary\nann,100\n")}, timeout=30).raise_for_status()
    script_data_answer(stub, "SELECT * FROM salaries")
    stub.script("manipulator", json.dumps({"sql": "SELECT * FROM salaries", "explanation": "again"}))
    body = ask(emulator, tenant, "Show salaries").json()
    assert body["sql_status"] == "refused" and body["table"] is None
    assert "salaries" in body["answer"]


def test_malformed_json_is_repaired_once(emulator, tenant, stub):
    stub.script("router", "Sure! Here is the routing: route=data")
    script_data_answer(stub, BY_CARRIER)
    body = ask(emulator, tenant, "Average arrival delay by carrier").json()
    router_calls = stub.calls("router")
    assert len(router_calls) == 2
    assert "invalid" in router_calls[1]["body"]["messages"][-1]["content"]
    assert body["table"]["row_count"] == expected(BY_CARRIER).height


def test_sql_error_is_fed_back_and_corrected(emulator, tenant, stub):
    script_data_answer(stub, BY_CARRIER)
    stub.queues["manipulator"].appendleft(json.dumps({"sql": 'SELECT "no_such_column" FROM flights',
                                                      "explanation": "first try"}))
    body = ask(emulator, tenant, "Average arrival delay by carrier").json()
    calls = stub.calls("manipulator")
    assert len(calls) == 2
    fed_back = context_of(calls[1]["body"])["error"]
    assert fed_back["sql"] == 'SELECT "no_such_column" FROM flights' and "no_such_column" in fed_back["message"]
    assert body["sql_status"] == "ok" and body["sql"] == BY_CARRIER


def test_a_follow_up_in_the_same_session_sees_the_previous_turn(emulator, tenant, stub):
    script_data_answer(stub, BY_CARRIER)
    first = ask(emulator, tenant, "Average arrival delay by carrier").json()
    stub.reset()
    script_data_answer(stub, BY_CARRIER.replace("GROUP BY", "WHERE \"origin\" = 'JFK' GROUP BY"))
    second = ask(emulator, tenant, "and only for JFK?", session_id=first["session_id"]).json()
    assert second["session_id"] == first["session_id"] and second["message_id"] != first["message_id"]
    history = context_of(stub.calls("manipulator")[0]["body"])["history"]
    assert history[-1]["question"] == "Average arrival delay by carrier" and history[-1]["sql"] == BY_CARRIER


def test_chat_question_skips_sql(emulator, tenant, stub):
    stub.script("router", json.dumps({"route": "chat", "datasets": [], "chart": "none", "analysis": False}))
    stub.script("compiler", json.dumps({"answer": "Hello! Ask me about flights.", "follow_ups": ["Delays?"]}))
    body = ask(emulator, tenant, "hello").json()
    assert body["answer"] == "Hello! Ask me about flights."
    assert body["follow_ups"][0] == "Delays?" and len(body["follow_ups"]) == 2  # topped up to two
    assert body["sql"] is None and body["table"] is None and body["chart"] is None
    assert [c["agent"] for c in stub.calls()] == ["router", "compiler"]


def test_errors_over_http(emulator, tenant):
    no_identity = requests.post(emulator.url("queries"), json={"domain": "travel", "prompt": "x"}, timeout=10)
    assert no_identity.status_code == 401 and no_identity.json()["error"]["code"] == "missing_identity"
    unknown = ask(emulator, tenant, "x", domain="nowhere")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "domain_not_found"
    other_tenant = ask(emulator, "someone-else", "x")
    assert other_tenant.status_code == 404
    assert unknown.json()["error"]["request_id"] == unknown.headers["X-Request-Id"]


def test_a_repeated_question_is_answered_from_cache_until_the_domain_changes(emulator, tenant, stub):
    script_data_answer(stub, BY_CARRIER)
    first = ask(emulator, tenant, "What is the average arrival delay by carrier?").json()
    assert len(stub.calls()) == 6
    again = ask(emulator, tenant, "  what is the AVERAGE arrival delay by carrier ").json()
    assert len(stub.calls()) == 6  # zero model calls
    assert again["usage"]["cache_hits"] == 1 and again["usage"]["llm_calls"] == 0
    assert again["table"] == first["table"] and again["answer"] == first["answer"] and again["sql"] == first["sql"]
    assert again["chart"]["spec"] == first["chart"]["spec"] and again["chart"]["id"] != first["chart"]["id"]
    assert again["session_id"] != first["session_id"]  # a new conversation, kept like any other
    # A write to any dataset of the domain invalidates the cached answer.
    requests.post(emulator.url("datasets", "/travel"), headers=headers(tenant),
                  files={"file": ("extra.csv", b"a\n1\n")}, timeout=30).raise_for_status()
    stub.reset()
    script_data_answer(stub, BY_CARRIER)
    third = ask(emulator, tenant, "What is the average arrival delay by carrier?").json()
    # The pipeline ran again (per-agent replies may still come from the model-response cache).
    assert set(third["timings"]) >= set(AGENTS) and third["table"]["row_count"] == first["table"]["row_count"]
    # use_cache=false always runs the pipeline.
    fresh = ask(emulator, tenant, "What is the average arrival delay by carrier?", use_cache=False).json()
    assert set(fresh["timings"]) >= set(AGENTS)


def test_a_refused_answer_is_not_cached(emulator, tenant, stub):
    script_data_answer(stub, "DROP TABLE flights")
    stub.script("manipulator", json.dumps({"sql": "DROP TABLE flights", "explanation": "again"}))
    ask(emulator, tenant, "Do something")
    script_data_answer(stub, BY_CARRIER)
    body = ask(emulator, tenant, "Do something").json()
    # Neither the answer nor the hostile manipulator reply was reused: the new SQL ran.
    assert body["sql_status"] == "ok" and body["sql"] == BY_CARRIER and "cache" not in body["timings"]
    assert len(stub.calls("manipulator")) == 3  # refused twice (fed back once), then the new SQL


def test_invented_numbers_are_removed_from_the_analysis_and_flagged_in_the_answer(emulator, tenant, stub):
    script_data_answer(stub, BY_CARRIER)
    want = expected(BY_CARRIER)
    top_carrier, top_delay = want.row(0)[0], want.row(0)[1]
    stub.queues["analyzer"].clear()
    stub.script("analyzer", json.dumps({
        "summary": f"{top_carrier} has the longest average delay at {top_delay:.2f} minutes. "
                   "Delays cost airlines 4,321,987 dollars.",
        "insights": [f"There are {want.height} carriers.", "Delays grew 37.5% year over year."]}))
    stub.queues["compiler"].clear()
    stub.script("compiler", json.dumps({"answer": f"{top_carrier} is worst, about 99.9 minutes late.",
                                        "follow_ups": ["a?", "b?"]}))
    body = ask(emulator, tenant, "Which carrier is most delayed?").json()
    assert body["verified"] is False
    assert body["insights"] == [f"There are {want.height} carriers."]
    compiler_context = context_of(stub.calls("compiler")[0]["body"])
    assert "4,321,987" not in compiler_context["analysis"]["summary"]
    assert f"{top_delay:.2f}" in compiler_context["analysis"]["summary"]
    assert "Not found in the result table, so not verified: 99.9" in body["answer"]


def test_offline_answers_are_verified(emulator, tenant, stub):
    body = ask(emulator, tenant, "How many flights by origin?", model="offline").json()
    assert body["sql_status"] == "ok" and body["verified"] is True and body["insights"]


@pytest.mark.parametrize("sql", [
    # window function
    'SELECT "carrier", "flight", "arr_delay", RANK() OVER (PARTITION BY "carrier" ORDER BY "arr_delay" DESC) AS rnk '
    'FROM flights WHERE "arr_delay" IS NOT NULL QUALIFY rnk <= 2 ORDER BY "carrier", rnk, "flight"',
    # CTE + join
    'WITH per AS (SELECT "carrier", COUNT(*) AS n FROM flights GROUP BY "carrier") '
    'SELECT a."name", per.n FROM per JOIN airlines a ON a."carrier" = per."carrier" ORDER BY per.n DESC, a."name"',
    # date bucket on a datetime column
    'SELECT DATE_TRUNC(\'day\', "time_hour") AS day, AVG("dep_delay") AS avg_dep_delay FROM flights '
    'GROUP BY DATE_TRUNC(\'day\', "time_hour") ORDER BY day',
    # a scalar subquery and CASE
    'SELECT "origin", SUM(CASE WHEN "dep_delay" > 15 THEN 1 ELSE 0 END) AS late, '
    '(SELECT COUNT(*) FROM flights) AS total FROM flights GROUP BY "origin" ORDER BY "origin"',
])
def test_analytics_sql_from_the_model_gives_the_table_polars_gives(emulator, tenant, stub, sql):
    script_data_answer(stub, sql)
    body = ask(emulator, tenant, f"question for {hash(sql)}").json()
    want = expected(sql)
    assert body["sql_status"] == "ok", body["answer"]
    assert body["table"]["columns"] == want.columns
    assert rows_equal(body["table"]["rows"], [list(r) for r in want.iter_rows()])
