"""`verified` rests on the whole result: statistics the engine computes over every row, not the rows shown.

A 1,095-day result is capped at MAX_RESULT_ROWS (1,000) for display; the analyzer (the stub model through
litellm, and the offline planner) is given a sample and the engine's statistics of all 1,095 rows. Figures
of the whole result verify; figures of the displayed prefix or of the first 50 rows do not, and are pruned.
"""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest

from convoinsight.llm.offline.planner import fmt
from tests.conftest import function_client
from tests.support.stub_llm import context_of

DAYS = 1095
START = dt.date(2021, 1, 1)
# A spike on day 1,050: past the 1,000 rows shown, so the maximum is not a displayed cell.
REVENUE = [round(100 + (i * 37) % 50 + (500 if i == 1050 else 0) + i * 0.1, 2) for i in range(DAYS)]
SQL = 'SELECT "day", SUM("revenue") AS total_revenue FROM daily GROUP BY "day" ORDER BY "day"'


def _daily_csv() -> bytes:
    lines = ["day,revenue"] + [f"{START + dt.timedelta(days=i)},{v}" for i, v in enumerate(REVENUE)]
    return ("\n".join(lines) + "\n").encode()


def _money(value: float) -> str:
    return f"{value:,.2f}"


TOTAL = round(sum(REVENUE), 2)
PREFIX_TOTAL = round(sum(REVENUE[:1000]), 2)
FIRST50_TOTAL = round(sum(REVENUE[:50]), 2)
PEAK, PEAK_DAY = max(REVENUE), (START + dt.timedelta(days=REVENUE.index(max(REVENUE)))).isoformat()
PREFIX_PEAK = max(REVENUE[:1000])


@pytest.fixture
def daily(local_env, user_id):
    h = {"X-User-Id": user_id}
    resp = function_client("datasets").post("/shop", headers=h, data={"file": (io.BytesIO(_daily_csv()), "daily.csv")})
    assert resp.status_code == 201, resp.get_json()
    return function_client("queries"), h


def _script(stub, summary: str, insights: list[str], answer: str = "Daily revenue over three years.") -> None:
    stub.always("router", json.dumps({"route": "data", "datasets": ["daily"], "chart": "line", "analysis": True}))
    stub.always("orchestrator", json.dumps({"manipulator_prompt": "daily revenue", "visualizer_prompt": "line",
                                            "analyzer_prompt": "describe", "compiler_instruction": "brief"}))
    stub.always("manipulator", json.dumps({"sql": SQL, "explanation": "revenue per day"}))
    stub.always("visualizer", json.dumps({"spec": {"mark": "line", "encoding": {
        "x": {"field": "day", "type": "temporal"}, "y": {"field": "total_revenue", "type": "quantitative"}}},
        "title": "Daily revenue"}))
    stub.always("analyzer", json.dumps({"summary": summary, "insights": insights}))
    stub.always("compiler", lambda body: json.dumps({
        "answer": answer or context_of(body)["analysis"]["summary"], "follow_ups": ["By month?", "By week?"]}))


def _ask(client, h, prompt="daily revenue"):
    resp = client.post("/", headers=h, json={"domain": "shop", "prompt": prompt, "use_cache": False})
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def test_the_true_whole_result_figures_verify_and_reach_the_model(use_stub_model, daily):
    client, h = daily
    stub = use_stub_model
    insight = f"The peak was {_money(PEAK)} on {PEAK_DAY}."
    _script(stub, f"Revenue totalled {_money(TOTAL)} over {DAYS:,} days.", [insight])
    body = _ask(client, h)
    assert body["table"]["row_count"] == DAYS and body["table"]["truncated"] is True
    assert len(body["table"]["rows"]) == 1000  # MAX_RESULT_ROWS, the real default
    assert PEAK not in [r[1] for r in body["table"]["rows"]]  # the peak is not among the rows shown
    assert body["verified"] is True, body
    assert body["insights"] == [insight]
    # The model was told what the sample is and given the statistics of all 1,095 rows.
    (call,) = stub.calls("analyzer")
    ctx = context_of(call["body"])
    assert ctx["rows_shown"] == len(ctx["rows"]) == 50 and ctx["row_count"] == DAYS
    stats = ctx["result_stats"]
    assert stats["covers"] == f"all {DAYS} rows of the result" and stats["time"] == "day"
    (measure,) = stats["measures"]
    assert measure["name"] == "total_revenue" and measure["non_null"] == DAYS
    assert measure["total"] == pytest.approx(TOTAL) and measure["max"] == PEAK and measure["max_at"] == PEAK_DAY
    assert measure["min"] == min(REVENUE) and measure["first"] == {"at": "2021-01-01", "value": REVENUE[0]}
    assert measure["last"] == {"at": (START + dt.timedelta(days=DAYS - 1)).isoformat(), "value": REVENUE[-1]}
    assert measure["trend"] == "rising" and stats["dimensions"] == [{"name": "day", "distinct": DAYS}]
    assert "SAMPLE" in call["body"]["messages"][0]["content"]  # the system prompt says what the rows are


def test_prefix_figures_are_not_verified_and_are_pruned(use_stub_model, daily):
    client, h = daily
    stub = use_stub_model
    _script(stub, f"Revenue totalled {_money(PREFIX_TOTAL)}. It peaked on {PEAK_DAY}.",
            [f"The first 50 days brought {_money(FIRST50_TOTAL)}.", f"The best day made {_money(PREFIX_PEAK)}.",
             f"The best day made {_money(PEAK)}."],
            answer=f"Over 1,000 days revenue came to {_money(PREFIX_TOTAL)}.")
    body = _ask(client, h)
    assert body["verified"] is False
    # The prefix's total and the first 50 rows' total are gone; the prefix's maximum is a real cell (a day's
    # revenue) and the whole result's maximum is a statistic: both stay.
    assert body["insights"] == [f"The best day made {_money(PREFIX_PEAK)}.", f"The best day made {_money(PEAK)}."]
    assert "Not found in the result table, so not verified: 1,000, " + _money(PREFIX_TOTAL) in body["answer"]


def test_the_offline_planner_describes_the_whole_result(local_env, daily):
    client, h = daily
    body = _ask(client, h, "total revenue by day")
    assert body["table"]["truncated"] is True and body["table"]["row_count"] == DAYS, body["sql"]
    text = body["answer"]
    assert body["verified"] is True, text
    # The last day, the peak (past the rows shown) and the total of all 1,095 days, as the planner writes them.
    assert f"to {fmt(REVENUE[-1])} in 2023-12-31" in text and f"{fmt(PEAK)} in {PEAK_DAY}" in text
    assert f"comes to {fmt(TOTAL)}" in text and "1,095 rows" in text
    assert "cover the rows shown" not in text
    # The statistics statement is SQL time of its own, within the analyzer's stage.
    assert 0 < body["timings"]["sql_stats"] < body["timings"]["analyzer"]


# --- the statement itself, on the engine and on PostgreSQL -------------------------------------------------

def _frame():
    import polars as pl

    return pl.DataFrame({"day": [START + dt.timedelta(days=i) for i in range(DAYS)], "revenue": REVENUE,
                         "region": [("North", "South", "East", "West")[i % 4] for i in range(DAYS)]})


def _engine_stats(sql_engine, tmp_path, sql: str, columns: dict[str, list[str]], **settings_env):
    """The result of ``sql`` over the daily table (capped at 1,000 rows) and its whole-result statistics."""
    from convoinsight.sql.compile import compile_select
    from convoinsight.sql.execute import SqlLimits, run_select
    from convoinsight.sql.rewrite import TableInfo
    from convoinsight.sql.stats import plan_stats, read_stats

    path = tmp_path / "daily.parquet"
    _frame().write_parquet(path)
    tables = {"daily": TableInfo(columns=frozenset(columns["daily"]))}
    limits = SqlLimits(timeout_s=30, memory_mb=512, threads=2, spill_mb=256, max_rows=1000, max_bytes=1 << 20,
                       max_cell_chars=2000)
    compiled = compile_select(sql, tables)
    result = run_select(compiled, {"daily": str(path)}, limits, sql_engine)
    plan = plan_stats(compiled.source, result.columns, result.column_types, top=5, max_columns=8)
    stats_compiled = compile_select(plan.sql, tables)  # the same guard as the model's SQL
    stats = read_stats(plan, run_select(stats_compiled, {"daily": str(path)}, limits, sql_engine).rows[0])
    return result, plan, stats_compiled, stats


def test_the_statement_covers_every_row_on_the_engine_and_on_postgresql(sql_engine, tmp_path, postgres):
    import pg8000.native

    from convoinsight.sources.pushdown import pushdown_sql

    sql = ('SELECT "region", SUM("revenue") AS total_revenue, COUNT(*) AS days, MAX("day") AS last_day '
           'FROM daily GROUP BY "region" ORDER BY total_revenue DESC')
    _, plan, compiled, stats = _engine_stats(sql_engine, tmp_path, sql, {"daily": ["day", "revenue", "region"]})
    frame = _frame()
    sums = {r: round(sum(v for i, v in enumerate(REVENUE) if frame["region"][i] == r), 2)
            for r in ("North", "South", "East", "West")}
    ranked = sorted(sums.items(), key=lambda kv: -kv[1])
    revenue, days = stats["measures"]
    assert stats["row_count"] == 4 and stats["label"] == "region" and stats["time"] is None
    assert [d["distinct"] for d in stats["dimensions"]] == [4, 4]
    assert revenue["total"] == pytest.approx(TOTAL) and revenue["max_at"] == ranked[0][0]
    assert [(g["label"], g["value"]) for g in revenue["top"]] == [(k, pytest.approx(v)) for k, v in ranked]
    assert revenue["top"][0]["share_pct"] == round(100 * ranked[0][1] / sum(sums.values()), 2)
    assert days["total"] == DAYS and days["min"] == 273 and days["max"] == 274 and days["median"] == 274
    # Pushed down to PostgreSQL the same statement gives the same figures.
    conn = pg8000.native.Connection(user="postgres", host="127.0.0.1", port=postgres.port, database=postgres.database)
    schema = f"stats_{tmp_path.name[-8:].lower().replace('-', '_')}"
    try:
        conn.run(f'CREATE SCHEMA "{schema}"')
        conn.run(f'CREATE TABLE "{schema}".daily (day date, revenue numeric(12, 2), region text)')
        for row in frame.iter_rows():
            conn.run(f'INSERT INTO "{schema}".daily VALUES (:d, :r, :g)', d=row[0], r=str(row[1]), g=row[2])
        on_pg = conn.run(pushdown_sql(compiled.source, {"daily": (schema, "daily")}))
    finally:
        conn.run(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        conn.close()
    from convoinsight.sql.stats import read_stats

    again = read_stats(plan, list(on_pg[0]))
    assert again["row_count"] == 4
    assert again["measures"][0]["total"] == pytest.approx(TOTAL)
    assert [g["label"] for g in again["measures"][0]["top"]] == [k for k, _ in ranked]
    assert again["measures"][1]["median"] == 274 and again["dimensions"] == stats["dimensions"]


def test_a_time_series_has_first_last_change_and_trend_past_the_rows_shown(sql_engine, tmp_path):
    result, _, _, stats = _engine_stats(sql_engine, tmp_path, SQL, {"daily": ["day", "revenue", "region"]})
    assert result.truncated and len(result.rows) == 1000 and result.row_count == DAYS
    (m,) = stats["measures"]
    assert stats["time"] == "day" and m["first"] == {"at": "2021-01-01", "value": REVENUE[0]}
    assert m["last"]["value"] == REVENUE[-1] and m["change"] == pytest.approx(REVENUE[-1] - REVENUE[0])
    assert m["max"] == PEAK and m["max_at"] == PEAK_DAY and m["trend"] == "rising"
    ordered = sorted(REVENUE)
    assert m["median"] == pytest.approx(ordered[DAYS // 2]) and m["mean"] == pytest.approx(TOTAL / DAYS)


def test_the_statement_is_guarded_like_model_sql():
    from convoinsight.errors import SqlRefused
    from convoinsight.sql.compile import compile_select
    from convoinsight.sql.stats import plan_stats

    plan = plan_stats("SELECT 1 AS x FROM daily", ["x"], ["integer"], top=5, max_columns=8)
    with pytest.raises(SqlRefused):  # a table outside the domain is refused in the wrapped statement too
        compile_select(plan.sql, ["other"])
    # A trailing line comment in the query cannot swallow the wrapper's closing parenthesis.
    plan = plan_stats("SELECT 1 AS x FROM daily -- the end", ["x"], ["integer"], top=5, max_columns=8)
    assert compile_select(plan.sql, ["daily"]).tables == {"daily"}


# --- a failure of the statistics leaves the answer intact ------------------------------------------------

def test_a_statistics_timeout_yields_none_and_logs_it(local_env, sql_engine, tmp_path, caplog):
    import polars as pl

    from convoinsight.analysis.whole_result import whole_result_stats
    from convoinsight.pipeline.deps import StageDeps
    from convoinsight.pipeline.state import JobState
    from convoinsight.settings import load_settings

    path = tmp_path / "big.parquet"
    n = 400_000
    pl.DataFrame({"k": [f"k{i % 50_000}" for i in range(n)], "v": [float((i * 7919) % 10_007) for i in range(n)]}) \
        .write_parquet(path)
    profile = {"name": "big", "rows": n, "columns": [{"name": "k", "dtype": "string"}, {"name": "v", "dtype": "float"}]}
    state = JobState(job_id="j", user_id="u", domain="d", question="q", session_id="s", datasets=[profile],
                     sql='SELECT "k", SUM("v") AS v FROM big GROUP BY "k"',
                     table={"columns": ["k", "v"], "column_types": ["string", "float"], "rows": [["k1", 1.0]],
                            "row_count": 50_000, "truncated": True, "limits": ["rows"]})

    def deps(timeout: str) -> StageDeps:
        return StageDeps(settings=load_settings({**local_env, "SQL_TIMEOUT_SECONDS": timeout}), llm=None, meter=None,
                         tables=lambda names: {"big": str(path)}, engine=sql_engine)

    assert whole_result_stats(state, deps("30"))["row_count"] == 50_000  # it works with time to spare
    caplog.clear()
    assert whole_result_stats(state, deps("0.01")) is None  # a real statement timeout in the engine
    assert any("sql_timeout" in r.getMessage() for r in caplog.records), [r.getMessage() for r in caplog.records]


def test_a_failing_statistics_statement_leaves_the_answer_verified_on_what_is_known(use_stub_model, local_env,
                                                                                   user_id, monkeypatch):
    """SUM over DECIMAL(38,0) overflows in the statistics only: the query's cells are fine."""
    from decimal import Decimal

    import polars as pl

    from convoinsight.settings import get_settings

    monkeypatch.setenv("MAX_RESULT_ROWS", "5")
    get_settings.cache_clear()
    big = Decimal("9" * 38)
    frame = pl.DataFrame({"item": [f"item {i}" for i in range(20)], "score": [10 + i for i in range(20)],
                          "big": pl.Series([big] * 20, dtype=pl.Decimal(38, 0))})
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    h = {"X-User-Id": user_id}
    assert function_client("datasets").post("/lab", headers=h, data={
        "file": (io.BytesIO(buffer.getvalue()), "scores.parquet")}).status_code == 201
    stub = use_stub_model
    stub.always("router", json.dumps({"route": "data", "datasets": ["scores"], "chart": "table", "analysis": True}))
    stub.always("orchestrator", json.dumps({"manipulator_prompt": "all", "visualizer_prompt": "", "analyzer_prompt": "",
                                            "compiler_instruction": ""}))
    stub.always("manipulator", json.dumps({"sql": 'SELECT "item", "score", "big" FROM scores ORDER BY "score"',
                                           "explanation": "every item"}))
    stub.always("visualizer", json.dumps({"spec": {"mark": "bar"}, "title": "Scores"}))
    stub.always("analyzer", json.dumps({"summary": "Item 0 scores 10.", "insights": ["Scores total 390."]}))
    stub.always("compiler", json.dumps({"answer": "Item 0 scores 10.", "follow_ups": ["More?", "Why?"]}))
    body = function_client("queries").post("/", headers=h, json={"domain": "lab", "prompt": "scores"}).get_json()
    assert body["sql_status"] == "ok" and body["table"]["row_count"] == 20 and len(body["table"]["rows"]) == 5
    assert body["answer"].startswith("Item 0 scores 10.")
    # The total of all 20 scores is true, but with no statistics nothing over the hidden rows can be checked.
    assert body["insights"] == [] and body["verified"] is False
    ctx = context_of(stub.calls("analyzer")[-1]["body"])
    assert "result_stats" not in ctx and ctx["column_stats_cover"] == "only the first 5 of 20 rows"


def test_openapi_says_what_verified_promises(local_env):
    doc = function_client("queries").get("/openapi.json").get_json()
    answer = doc["paths"]["/api/v1/queries"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    text = answer["properties"]["verified"]["description"]
    assert "complete query result" in text and "does not say the SQL answers the question" in text
