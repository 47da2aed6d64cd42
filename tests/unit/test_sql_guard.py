"""The SQL guard is fail-closed: the corpus and the property tests below pin that down.

Every LEGIT query must pass the guard AND run in the engine (so the allow-list is not
so strict that real analytics breaks); every HOSTILE query, and every legit query
with a forbidden fragment injected anywhere, must be refused.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from convoinsight.errors import SqlRefused
from convoinsight.sql.guard import CheckedSql, check_select
from tests.unit.sql_corpus import HOSTILE, LEGIT

ALLOWED = frozenset({"flights", "airlines", "sales"})


def _case_id(prefix: str, index: int, sql: str) -> str:
    shown = re.sub(r"\s+", " ", sql).strip()
    return f"{prefix}{index:03d}[{shown[:70]}]"


class _Engine:
    """Runs checked SQL exactly as the manipulator does: compiled, then in the engine's worker pool."""

    def __init__(self, folder, frames: dict[str, pl.DataFrame], pool):
        from convoinsight.settings import load_settings
        from convoinsight.sql.execute import SqlLimits

        self.paths = {}
        for name, frame in frames.items():
            frame.write_parquet(folder / f"{name}.parquet")
            self.paths[name] = str(folder / f"{name}.parquet")
        self.pool, self.limits = pool, SqlLimits.from_settings(load_settings({}))

    def execute(self, sql: str):
        from convoinsight.sql.compile import compile_select
        from convoinsight.sql.execute import run_select

        return run_select(compile_select(sql, ALLOWED), self.paths, self.limits, self.pool)


@pytest.fixture(scope="module")
def sql_context(tmp_path_factory, sql_engine) -> _Engine:
    flights = pl.DataFrame(
        {
            "year": [2013, 2013, 2013, 2013],
            "month": [1, 1, 2, 3],
            "day": [1, 15, 2, 3],
            "dep_delay": [1.0, None, 25.0, -3.0],
            "arr_delay": [2.0, 3.0, 30.0, -5.0],
            "carrier": ["AA", "UA", "AA", "B6"],
            "origin": ["JFK", "LGA", "JFK", "EWR"],
            "dest": ["LAX", "ORD", "ORD", "BOS"],
            "distance": [2475.0, 733.0, 740.0, 187.0],
            "air_time": [330.0, 120.0, 115.0, 40.0],
            "time_hour": [
                dt.datetime(2013, 1, 1, 5),
                dt.datetime(2013, 1, 15, 6),
                dt.datetime(2013, 2, 2, 7),
                dt.datetime(2013, 3, 3, 8),
            ],
        },
        schema_overrides={"time_hour": pl.Datetime("us")},
    )
    airlines = pl.DataFrame(
        {
            "carrier": ["AA", "UA", "B6"],
            "name": ["American Airlines Inc.", "United Air Lines Inc.", "JetBlue Airways"],
        }
    )
    sales = pl.DataFrame(
        {
            "order_date": [dt.date(2024, 1, 3), dt.date(2024, 1, 20), dt.date(2024, 2, 5)],
            "region": ["North", "South", "North"],
            "product": ["widget", "gadget", "widget"],
            "units": [3, 0, 5],
            "revenue": [30.0, 0.0, 52.5],
        }
    )
    return _Engine(tmp_path_factory.mktemp("guard"), {"flights": flights, "airlines": airlines, "sales": sales},
                   sql_engine)


# --------------------------------------------------------------------------- corpus


def test_corpus_is_large_and_distinct() -> None:
    assert len(HOSTILE) >= 100
    assert len(LEGIT) >= 50
    assert len(set(HOSTILE)) == len(HOSTILE)
    assert len(set(LEGIT)) == len(LEGIT)


@pytest.mark.parametrize("sql", LEGIT, ids=[_case_id("legit", i, q) for i, q in enumerate(LEGIT)])
def test_legit_query_passes_and_runs_in_the_engine(sql: str, sql_context: _Engine) -> None:
    checked = check_select(sql, ALLOWED)
    assert isinstance(checked, CheckedSql)
    assert checked.tables and checked.tables <= ALLOWED
    # What the guard hands back is what gets executed.
    result = sql_context.execute(checked.sql)
    assert result.columns


@pytest.mark.parametrize("sql", HOSTILE, ids=[_case_id("hostile", i, q) for i, q in enumerate(HOSTILE)])
def test_hostile_query_is_refused(sql: str) -> None:
    with pytest.raises(SqlRefused) as refused:
        check_select(sql, ALLOWED)
    assert refused.value.message
    assert refused.value.status == 422
    assert refused.value.code == "sql_refused"


# --------------------------------------------------------------------------- reasons and results


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("", "empty"),
        ("SELECT 1; SELECT 2", "only one statement is allowed"),
        ("SELECT 1; DROP TABLE flights", "only one statement is allowed"),
        ("DELETE FROM flights", "DELETE is not allowed"),
        ("WITH d AS (DELETE FROM flights RETURNING *) SELECT * FROM d", "DELETE is not allowed"),
        ("CALL evil()", "CALL is not allowed"),
        ("SELECT read_csv('/etc/passwd')", "function read_csv is not allowed"),
        ("SELECT * FROM read_csv('/etc/passwd')", "function read_csv is not allowed"),
        ("SELECT pg_sleep(1)", "function pg_sleep is not allowed"),
        ("SELECT * FROM x", "table 'x' is not available in this domain"),
        ("SELECT * FROM pg_catalog.pg_user", "qualified table name"),
        ("SELECT * FROM flights FOR UPDATE", "FOR UPDATE"),
        ("SELECT * INTO t FROM flights", "INTO"),
        ("SELECT * FROM (VALUES (1)) AS v(a)", "VALUES"),
        ("SELEC 1", "could not be parsed"),
    ],
)
def test_refusal_reason_is_readable(sql: str, reason: str) -> None:
    with pytest.raises(SqlRefused, match=re.escape(reason)):
        check_select(sql, ALLOWED)


def test_tables_of_a_join() -> None:
    checked = check_select(
        "SELECT a.name, COUNT(*) AS n FROM flights f JOIN airlines a ON a.carrier = f.carrier "
        "GROUP BY a.name",
        ALLOWED,
    )
    assert checked.tables == frozenset({"flights", "airlines"})


def test_tables_of_a_cte_query_exclude_cte_names() -> None:
    checked = check_select(
        "WITH monthly AS (SELECT DATE_TRUNC('month', order_date) AS m, SUM(revenue) AS rev FROM sales "
        "GROUP BY 1), best AS (SELECT * FROM monthly ORDER BY rev DESC LIMIT 1) SELECT * FROM best",
        ALLOWED,
    )
    assert checked.tables == frozenset({"sales"})


def test_cte_may_use_any_name_but_only_within_its_scope() -> None:
    checked = check_select("WITH secrets AS (SELECT carrier FROM airlines) SELECT * FROM secrets", ALLOWED)
    assert checked.tables == frozenset({"airlines"})
    # Outside the subquery that defines it (or before it is defined) the name means the real table.
    for sql in (
        "SELECT * FROM (WITH secrets AS (SELECT 1 AS a) SELECT * FROM secrets) x, secrets",
        "WITH x AS (SELECT * FROM secrets), secrets AS (SELECT 1 AS a) SELECT * FROM x",
    ):
        with pytest.raises(SqlRefused, match="secrets"):
            check_select(sql, ALLOWED)


def test_table_names_are_case_insensitive_unless_quoted() -> None:
    checked = check_select("SELECT * FROM Flights JOIN AIRLINES USING (carrier)", ["FLIGHTS", "Airlines"])
    assert checked.tables == frozenset({"flights", "airlines"})
    assert check_select('SELECT * FROM "flights"', ALLOWED).tables == frozenset({"flights"})
    with pytest.raises(SqlRefused):
        check_select('SELECT * FROM "FLIGHTS"', ALLOWED)  # a different table to PostgreSQL


def test_allowed_tables_may_be_any_iterable() -> None:
    checked = check_select("SELECT * FROM sales", (name for name in ["sales"]))
    assert checked.tables == frozenset({"sales"})
    assert check_select("SELECT * FROM sales", "sales").tables == frozenset({"sales"})
    with pytest.raises(SqlRefused):
        check_select("SELECT * FROM s", "sales")  # not {"s", "a", "l", "e"}


def test_sql_is_stripped_of_whitespace_and_trailing_semicolons() -> None:
    checked = check_select("  \n SELECT carrier FROM flights ;; \n", ALLOWED)
    assert checked.sql == "SELECT carrier FROM flights"
    assert check_select("SELECT 1 AS one", ALLOWED).tables == frozenset()


def test_checked_sql_is_frozen() -> None:
    checked = check_select("SELECT 1 AS one", ALLOWED)
    with pytest.raises(dataclasses.FrozenInstanceError):
        checked.sql = "DROP TABLE flights"  # type: ignore[misc]


# --------------------------------------------------------------------------- properties

# The fragment lists read better packed than one per line.
# fmt: off

# Legit queries that can be pasted into a larger query as a subquery.
_EMBEDDABLE = [q for q in LEGIT if ";" not in q and "--" not in q]

_TABLE_TEMPLATES = [
    "WITH z AS (SELECT * FROM {x} AS q) SELECT * FROM ({legit}) AS l",
    "SELECT * FROM ({legit}) AS l WHERE EXISTS (SELECT 1 FROM {x} AS q)",
    "SELECT * FROM ({legit}) AS l UNION ALL SELECT * FROM {x} AS q",
    "SELECT l.*, (SELECT COUNT(*) FROM {x} AS q) AS n FROM ({legit}) AS l",
    "SELECT * FROM ({legit}) AS l JOIN {x} AS q ON TRUE",
    "SELECT * FROM ({legit}) AS l WHERE 1 IN (SELECT 1 FROM (SELECT * FROM {x} AS q) AS r)",
    "WITH a AS ({legit}), b AS (SELECT * FROM {x} AS q) SELECT * FROM a",
]
_BAD_TABLES = [
    "secrets", "users", "pg_user", "pg_shadow", '"secrets"', '"Flights"', "pg_catalog.pg_shadow",
    "information_schema.tables", "public.flights", "read_csv('/etc/passwd')", "read_parquet('/x.parquet')",
    "generate_series(1, 100000000)", "pg_ls_dir('.')", "dblink('host=x', 'select 1')", "(VALUES (1))",
    "(DELETE FROM flights RETURNING *)", "(SELECT * FROM flights FOR UPDATE)", "(SELECT pg_sleep(1))",
]
_SAFE_TABLES = ["flights", "airlines", "sales", "(SELECT * FROM sales)", '"flights"']

_EXPR_TEMPLATES = [
    "SELECT l.*, {x} AS injected FROM ({legit}) AS l",
    "SELECT * FROM ({legit}) AS l WHERE {x} IS NOT NULL",
    "WITH z AS (SELECT {x} AS v) SELECT * FROM ({legit}) AS l, z",
    "SELECT * FROM ({legit}) AS l ORDER BY {x}",
    "SELECT * FROM ({legit}) AS l UNION ALL SELECT {x}",
    "SELECT CASE WHEN {x} IS NULL THEN 1 ELSE 0 END AS c FROM ({legit}) AS l",
    "SELECT COUNT(*) AS n FROM ({legit}) AS l GROUP BY 1 HAVING MAX({x}) IS NOT NULL",
]
_BAD_EXPRS = [
    "pg_sleep(1)", "read_csv('/etc/passwd')", "pg_read_file('/etc/passwd')", "current_setting('x')",
    "set_config('role', 'postgres', false)", "lo_import('/etc/passwd')", "version()", "current_user",
    "user", "txid_current()", "dblink('host=x', 'select 1')", "(SELECT token FROM secrets LIMIT 1)",
    "(SELECT 1 FROM pg_catalog.pg_user LIMIT 1)", "'x'::regclass", "$1", "ARRAY[1]", "nextval('s')",
    "(SELECT 1 FROM flights FOR UPDATE)", "pg_catalog.lower('x')", "(SELECT 1 FROM read_json('x.json'))",
]
_SAFE_EXPRS = ["1", "'x'", "COALESCE(NULL, 1)", "(SELECT COUNT(*) FROM airlines)", "CURRENT_DATE", "ABS(-1)"]
# fmt: on


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_forbidden_fragment_anywhere_is_refused(data: st.DataObject) -> None:
    legit = data.draw(st.sampled_from(_EMBEDDABLE), label="legit")
    if data.draw(st.booleans(), label="table slot"):
        template = data.draw(st.sampled_from(_TABLE_TEMPLATES), label="template")
        bad, safe = data.draw(st.sampled_from(_BAD_TABLES)), data.draw(st.sampled_from(_SAFE_TABLES))
    else:
        template = data.draw(st.sampled_from(_EXPR_TEMPLATES), label="template")
        bad, safe = data.draw(st.sampled_from(_BAD_EXPRS)), data.draw(st.sampled_from(_SAFE_EXPRS))
        depth = data.draw(st.integers(0, 3), label="parentheses")
        bad = "(" * depth + bad + ")" * depth
    if '"' not in bad:  # case never matters outside quotes
        bad = data.draw(st.sampled_from([str, str.upper, str.lower, str.swapcase]))(bad)

    def build(fragment: str) -> str:
        return template.replace("{legit}", legit).replace("{x}", fragment)

    check_select(build(safe), ALLOWED)  # control: the same shape with a harmless fragment passes
    with pytest.raises(SqlRefused):
        check_select(build(bad), ALLOWED)


# fmt: off
_NUMERIC = ["dep_delay", "arr_delay", "distance", "air_time", "month", "day"]
_TEXT = ["carrier", "origin", "dest"]
_AGGREGATES = [
    "COUNT(*)", "SUM({n})", "AVG({n})", "MIN({n})", "MAX({n})", "MEDIAN({n})", "STDDEV({n})",
    "COUNT(DISTINCT {s})", "ROUND(AVG({n}), 1)", "SUM(CASE WHEN {n} > 10 THEN 1 ELSE 0 END)",
]
_CONDITIONS = [
    "{n} > {k}", "{n} IS NOT NULL", "{n} BETWEEN {k} AND 1000", "{s} = 'AA'", "{s} IN ('JFK', 'LGA')",
    "{s} LIKE 'A%'", "COALESCE({n}, 0) >= {k}", "NOT ({n} < {k})",
]
# fmt: on


@st.composite
def simple_selects(draw: st.DrawFn) -> str:
    kw = draw(st.sampled_from([str.upper, str.lower]))
    pick = st.tuples(st.sampled_from(_NUMERIC), st.sampled_from(_TEXT), st.integers(-10, 500))
    groups = draw(st.lists(st.sampled_from(_TEXT), max_size=2, unique=True))
    aggregates = draw(st.lists(st.tuples(st.sampled_from(_AGGREGATES), pick), min_size=1, max_size=3))
    columns = groups + [
        f"{agg.format(n=n, s=s)} {kw('AS')} a{i}" for i, (agg, (n, s, _)) in enumerate(aggregates)
    ]
    sql = f"{kw('SELECT')} {', '.join(columns)} {kw('FROM')} flights"
    conditions = draw(st.lists(st.tuples(st.sampled_from(_CONDITIONS), pick), max_size=2))
    if conditions:
        where = f" {kw('AND')} ".join(c.format(n=n, s=s, k=k) for c, (n, s, k) in conditions)
        sql += f" {kw('WHERE')} {where}"
    if groups:
        sql += f" {kw('GROUP BY')} {', '.join(groups)}"
        if draw(st.booleans()):
            sql += f" {kw('HAVING')} COUNT(*) > 0"
    if draw(st.booleans()):
        sql += f" {kw('ORDER BY')} 1"
    if draw(st.booleans()):
        sql += f" {kw('LIMIT')} {draw(st.integers(1, 50))}"
    return sql + draw(st.sampled_from(["", ";", " ;\n"]))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sql=simple_selects())
def test_well_formed_simple_selects_are_accepted(sql: str, sql_context: _Engine) -> None:
    checked = check_select(sql, ALLOWED)
    assert checked.tables == frozenset({"flights"})
    assert not checked.sql.endswith(";")
    sql_context.execute(checked.sql)


def test_generate_series_is_allowed_only_small_and_constant() -> None:
    check_select("SELECT m FROM generate_series(DATE '2024-01-01', DATE '2024-12-01', INTERVAL '1 month') AS g(m)",
                 ALLOWED)
    check_select("SELECT n FROM generate_series(1, 10000) AS g(n)", ALLOWED)
    with pytest.raises(SqlRefused, match="10001 rows; at most 10000"):
        check_select("SELECT n FROM generate_series(1, 10001) AS g(n)", ALLOWED)
    with pytest.raises(SqlRefused, match="constant start, stop and step"):
        check_select("SELECT n FROM flights, generate_series(1, flights.distance) AS g(n)", ALLOWED)
    with pytest.raises(SqlRefused, match="constant"):
        check_select("SELECT n FROM generate_series(1, 5, 0) AS g(n)", ALLOWED)
