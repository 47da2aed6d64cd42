"""Planning the pulls of a federated question: the columns and the NULL-rejecting filters of each linked table.

Besides the plan's shape, two equivalence checks: generated join queries give the same rows in DuckDB on
the full linked table and on what its pull selects (the pull run in DuckDB), and a few queries do the same
with the pull run by the real customer PostgreSQL.
"""

from __future__ import annotations

import random

import duckdb
import pytest
import sqlglot

from convoinsight.errors import SqlRefused
from convoinsight.sources.federation import Pull, plan_pulls, pull_sql
from convoinsight.sql.compile import compile_select
from convoinsight.sql.rewrite import TableInfo

COLUMNS = {
    "d": ["id", "name", "grp", "score"],  # an uploaded dataset
    "t": ["OrderId", "CustId", "Amount", "Status", "Placed", "Note"],  # a linked table (real, mixed-case names)
    "u": ["k", "label"],  # another linked table
}
LINKED = {"t", "u"}


def plan(sql: str) -> dict[str, Pull]:
    return plan_pulls(sql, COLUMNS, LINKED)


def pull_of(sql: str, table: str = "t") -> Pull:
    return plan(sql)[table]


ALL_T = tuple(COLUMNS["t"])

# --------------------------------------------------------------------------- columns


def test_only_the_referenced_columns_are_pulled_in_table_order():
    p = pull_of("SELECT d.name, t.amount FROM d JOIN t ON t.custid = d.id")
    assert p == Pull("t", ("CustId", "Amount"), None)


def test_unqualified_columns_are_attributed_through_the_schema():
    p = pull_of("SELECT name, status, sum(amount) FROM d JOIN t ON custid = id GROUP BY name, status")
    assert p.columns == ("CustId", "Amount", "Status")


def test_quoted_and_differently_cased_names_map_to_the_real_column():
    p = pull_of('SELECT "AMOUNT", t."note" FROM t WHERE "OrderId" = 3')
    assert p == Pull("t", ("OrderId", "Amount", "Note"), '"OrderId" = 3')


@pytest.mark.parametrize("sql", [
    "SELECT * FROM d JOIN t ON t.custid = d.id",
    "SELECT t.* FROM d JOIN t ON t.custid = d.id",
    "SELECT d.name FROM d JOIN (SELECT * FROM t) s ON s.custid = d.id",
    "WITH x AS (SELECT * FROM t) SELECT x.amount FROM x",
])
def test_a_star_pulls_every_column(sql):
    assert pull_of(sql).columns == ALL_T


def test_a_star_over_another_source_does_not_pull_the_table_whole():
    p = pull_of("SELECT d.* FROM d JOIN t ON t.custid = d.id")
    assert p.columns == ("CustId",)


def test_using_and_natural_joins_pull_their_join_columns():
    cols = {"d": ["id", "name"], "t": ["id", "amount", "name", "other"]}
    using = plan_pulls("SELECT d.name FROM d JOIN t USING (id)", cols, {"t"})["t"]
    assert using.columns == ("id",)
    natural = plan_pulls("SELECT amount FROM d NATURAL JOIN t", cols, {"t"})["t"]
    assert natural.columns == ("id", "amount", "name")


def test_counting_rows_pulls_one_column():
    assert pull_of("SELECT count(*) FROM t JOIN d ON true") == Pull("t", ("OrderId",), None)


@pytest.mark.parametrize("sql", [
    "SELECT id FROM d JOIN t ON t.custid = d.id WHERE nosuch = 1",  # unknown column
    "SELECT name FROM d JOIN t ON true JOIN u ON true WHERE id = 1 AND k = name AND amount = 1 AND x = 1",
])
def test_when_qualification_fails_everything_is_pulled_unfiltered(sql):
    assert plan(sql)["t"] == Pull("t", ALL_T, None)


def test_an_ambiguous_column_pulls_everything():
    cols = {"d": ["id", "v"], "t": ["id", "v", "w"]}
    assert plan_pulls("SELECT v FROM d JOIN t ON d.id = t.id WHERE t.w = 1", cols, {"t"})["t"] == Pull(
        "t", ("id", "v", "w"), None)


def test_a_select_alias_shadowing_a_column_in_group_by_still_pulls_the_column():
    # PostgreSQL and DuckDB group by the input column Status here, not by the alias.
    p = pull_of("SELECT d.grp AS status, count(*) FROM d JOIN t ON t.custid = d.id GROUP BY status")
    assert "Status" in p.columns


def test_correlated_references_pull_the_outer_column():
    p = pull_of("SELECT t.orderid FROM t WHERE EXISTS (SELECT 1 FROM d WHERE d.id = t.custid AND d.score > 1)")
    assert p == Pull("t", ("OrderId", "CustId"), None)


def test_only_linked_tables_the_query_reads_are_planned():
    assert plan("SELECT * FROM d") == {}
    assert set(plan("SELECT d.id FROM d JOIN u ON u.k = d.id")) == {"u"}
    assert plan("WITH t AS (SELECT * FROM d) SELECT * FROM t") == {}  # the CTE shadows the table


def test_an_unknown_table_is_refused():
    with pytest.raises(SqlRefused):
        plan("SELECT * FROM nope")


# --------------------------------------------------------------------------- filters


def test_a_filter_on_the_table_is_pushed_in_an_inner_join():
    p = pull_of("SELECT d.name, t.amount FROM d JOIN t ON t.custid = d.id WHERE t.amount > 5 AND d.grp = 'a'")
    assert p.where == '"Amount" > 5'


def test_a_strict_filter_is_pushed_for_the_null_supplying_side_of_a_left_join():
    p = pull_of("SELECT d.name, t.amount FROM d LEFT JOIN t ON t.custid = d.id "
                "WHERE t.status IN ('paid', 'shipped') AND t.placed >= DATE '2024-01-01'")
    assert p.where == "\"Status\" IN ('paid', 'shipped') AND \"Placed\" >= CAST('2024-01-01' AS DATE)"


def test_literal_first_comparisons_are_flipped():
    assert pull_of("SELECT t.amount FROM t WHERE 5 < t.amount").where == '"Amount" > 5'


@pytest.mark.parametrize("predicate, expected", [
    ("t.amount BETWEEN -1 AND 10.5", '"Amount" BETWEEN -1 AND 10.5'),
    ("t.amount NOT BETWEEN 1 AND 2", 'NOT "Amount" BETWEEN 1 AND 2'),
    ("t.status NOT IN ('x', 'y')", "NOT \"Status\" IN ('x', 'y')"),
    ("t.note LIKE 'a%'", "\"Note\" LIKE 'a%'"),
    ("t.note NOT LIKE 'a_%'", "NOT \"Note\" LIKE 'a_%'"),
    ("t.status <> 'paid'", "\"Status\" <> 'paid'"),
    ("t.placed < '2024-03-01'", "\"Placed\" < '2024-03-01'"),  # ISO strings order alike everywhere
    ("t.placed < CAST('2024-03-01 10:00' AS timestamp)", "\"Placed\" < CAST('2024-03-01 10:00' AS TIMESTAMP)"),
    ("(t.amount > 1 OR t.status = 'paid')", "(\"Amount\" > 1) OR (\"Status\" = 'paid')"),
    ("NOT (t.amount > 1 OR t.status = 'paid')", "(NOT \"Amount\" > 1) AND (NOT \"Status\" = 'paid')"),
    ("t.amount = '12.5'", "\"Amount\" = '12.5'"),
])
def test_strict_predicates_are_pushed(predicate, expected):
    assert pull_of(f"SELECT d.id FROM d LEFT JOIN t ON t.custid = d.id WHERE {predicate}").where == expected


def test_ilike_is_pushed_as_a_locale_free_superset():
    p = pull_of("SELECT t.note FROM d JOIN t ON t.custid = d.id WHERE t.note ILIKE '%ab_c.%'")
    assert p.where == "\"Note\" ~ '(?s)^.*[aA][bB].[cC]\\..*$' OR \"Note\" ~ '[^\\x01-\\x7f]'"
    negated = pull_of("SELECT t.note FROM t WHERE t.note NOT ILIKE 'x%'")
    assert negated.where == "NOT \"Note\" ~ '(?s)^[xX].*$' OR \"Note\" ~ '[^\\x01-\\x7f]'"


@pytest.mark.parametrize("predicate", [
    "t.note IS NULL",
    "t.note IS NOT NULL",
    "t.amount > 5 OR t.amount IS NULL",
    "coalesce(t.amount, 0) > 5",
    "t.amount IS NOT DISTINCT FROM 5",
    "t.amount IS DISTINCT FROM 5",
    "NOT (t.note IS NULL)",
    "t.amount > d.score",  # another table's column
    "(t.amount > 1 OR d.grp = 'a')",
    "t.amount > t.custid",  # column to column
    "lower(t.status) = 'paid'",  # a function
    "t.amount + 1 > 5",
    "t.custid IN (SELECT id FROM d)",  # a subquery
    "t.status > 'b'",  # collation-dependent order
    "t.note LIKE 'a\\_%'",  # backslash: an escape in PostgreSQL, a character in the engine
    "t.note ILIKE 'é%'",  # non-ASCII case folding differs by locale
    "t.placed > CURRENT_DATE",
    "t.placed > CAST('2024-01-01' AS timestamptz)",  # depends on the session's time zone
    "CASE WHEN t.amount > 1 THEN true ELSE false END",
    "t.amount = NULL",
    "t.amount > 1 IS TRUE",
])
def test_other_predicates_are_not_pushed(predicate):
    assert pull_of(f"SELECT d.id FROM d LEFT JOIN t ON t.custid = d.id WHERE {predicate}").where is None


def test_only_the_strict_conjuncts_of_a_where_are_pushed():
    p = pull_of("SELECT d.id FROM d LEFT JOIN t ON t.custid = d.id "
                "WHERE t.amount > 5 AND t.note IS NULL AND coalesce(t.status, '') = '' AND t.orderid < 100")
    assert p.where == '"Amount" > 5 AND "OrderId" < 100'


def test_join_conditions_and_having_are_not_pushed():
    p = pull_of("SELECT d.id, count(*) FROM d LEFT JOIN t ON t.custid = d.id AND t.amount > 5 GROUP BY d.id "
                "HAVING max(t.amount) > 3")
    assert p.where is None


def test_a_filter_in_a_subquery_is_pushed_from_its_own_scope():
    p = pull_of("SELECT d.id FROM d WHERE d.id IN (SELECT t.custid FROM t WHERE t.status = 'paid')")
    assert p == Pull("t", ("CustId", "Status"), "\"Status\" = 'paid'")


def test_a_correlated_conjunct_is_not_pushed():
    p = pull_of("SELECT d.id FROM d WHERE EXISTS (SELECT 1 FROM t WHERE t.custid = d.id AND t.amount > 2)")
    assert p.where == '"Amount" > 2'
    outer = pull_of("SELECT t.orderid FROM t WHERE EXISTS (SELECT 1 FROM d WHERE d.id = t.custid AND t.amount > 2)")
    assert outer.where is None  # t is not a source of the subquery's scope


def test_a_filter_of_an_outer_scope_is_not_pushed_through_a_derived_table():
    p = pull_of("SELECT s.amount FROM (SELECT t.amount FROM t) s WHERE s.amount > 3")
    assert p.where is None


def test_several_references_or_their_filters():
    p = pull_of("SELECT a.amount, b.amount FROM t a JOIN t b ON a.orderid = b.orderid + 1 "
                "WHERE a.amount > 1 AND b.status = 'paid'")
    assert p.where == "(\"Amount\" > 1) OR (\"Status\" = 'paid')"
    cte = pull_of("WITH x AS (SELECT * FROM t WHERE amount > 10) "
                  "SELECT x.orderid FROM x UNION ALL SELECT t.orderid FROM t WHERE t.amount < 0")
    assert cte.where == '("Amount" > 10) OR ("Amount" < 0)'
    same = pull_of("SELECT a.orderid FROM t a WHERE a.amount > 1 UNION SELECT b.orderid FROM t b WHERE b.amount > 1")
    assert same.where == '"Amount" > 1'


def test_one_reference_without_a_filter_means_no_filter():
    p = pull_of("WITH x AS (SELECT orderid FROM t WHERE amount > 1) "
                "SELECT x.orderid FROM x JOIN t ON t.orderid = x.orderid")
    assert p == Pull("t", ("OrderId", "Amount"), None)


def test_a_cte_shadowing_the_table_keeps_the_filter_of_its_body():
    p = pull_of("WITH t AS (SELECT * FROM t WHERE status = 'paid') SELECT t.orderid FROM t WHERE t.amount > 1")
    assert p == Pull("t", ALL_T, "\"Status\" = 'paid'")


def test_filters_of_each_table_stay_with_it():
    pulls = plan("SELECT d.id FROM d JOIN t ON t.custid = d.id JOIN u ON u.k = t.orderid "
                 "WHERE u.label = 'x' AND t.amount > 1")
    assert pulls == {"t": Pull("t", ("OrderId", "CustId", "Amount"), '"Amount" > 1'),
                     "u": Pull("u", ("k", "label"), "\"label\" = 'x'")}


# --------------------------------------------------------------------------- pull_sql


def test_pull_sql_quotes_everything_and_asks_one_row_more_than_the_cap():
    p = Pull("t", ("OrderId", 'we"ird'), '"Amount" > 5')
    assert pull_sql(p, "crm", "Orders", 1000) == (
        'SELECT "OrderId", "we""ird" FROM "crm"."Orders" WHERE "Amount" > 5 LIMIT 1001')
    assert pull_sql(Pull("t", ("a",), None), "My Schema", "t", 0) == 'SELECT "a" FROM "My Schema"."t" LIMIT 1'


def test_pull_sql_rejects_nonsense():
    with pytest.raises(ValueError):
        pull_sql(Pull("t", (), None), "s", "t", 1)
    with pytest.raises(ValueError):
        pull_sql(Pull("t", ("a",), None), "s", "t", -1)


# --------------------------------------------------------------------------- equivalence with DuckDB

DATASET = [  # d: id, name, grp, score
    (1, "ann", "a", 1.5), (2, "bob", "b", None), (3, None, "a", 3.0), (4, "dan", None, 0.5),
    (5, "eve", "b", 2.5), (6, "fay", "a", -1.0), (7, "gus", "c", 4.0), (8, "hal", "c", None),
    (9, "ivy", None, 1.0), (10, "joe", "a", 2.0),
]
LINKED_ROWS = [  # crm."Orders": OrderId, CustId, Amount, Status, Placed, Note
    (100 + i,
     None if i % 11 == 0 else 1 + (i * 7) % 13,  # some customers unknown to d, some orders without one
     None if i % 9 == 4 else round(3.25 * ((i * 5) % 17) - 4, 2),
     [None, "paid", "shipped", "paid", "cancelled", "Paid"][i % 6],
     None if i % 10 == 7 else f"2024-0{1 + i % 5}-{1 + (i * 3) % 28:02d}",
     [None, "alpha", "Beta", "ab_c.x", "İstanbul", "\u212aelvin", "kiwi", "Ärger", "a%b", "line\nbreak", "xyz"][i % 11])
    for i in range(40)
]

T_PREDICATES = [
    "t.amount > 20", "t.amount <= 15.5", "t.status = 'paid'", "t.status <> 'paid'",
    "t.status IN ('paid', 'shipped')", "t.status NOT IN ('paid')", "t.placed >= DATE '2024-03-01'",
    "t.placed < '2024-03-01'", "t.amount BETWEEN 5 AND 30", "t.amount NOT BETWEEN 5 AND 30",
    "t.note LIKE 'a%'", "t.note NOT LIKE '%a%'", "t.note ILIKE '%istanbul%'", "t.note NOT ILIKE 'k%'",
    "t.note ILIKE 'AB\\_C%'", "t.note ILIKE '%E%'", "t.note IS NULL", "t.note IS NOT NULL",
    "(t.amount > 20 OR t.amount IS NULL)", "coalesce(t.amount, 0) < 5", "NOT (t.status = 'paid' OR t.amount < 10)",
    "t.custid = 3", "t.amount > -1", "t.status > 'b'", "t.amount IS DISTINCT FROM 9", "t.status ILIKE 'PAID'",
    "(t.amount < 0 OR (t.status = 'paid' AND t.placed > '2024-02-01'))",
]
D_PREDICATES = ["d.score > 1", "d.grp = 'a'", "d.name IS NULL", "(d.grp = 'a' OR t.amount > 20)",
                "t.amount > d.score", "coalesce(d.grp, 'z') <> 'b'"]
JOINS = ["d JOIN t ON t.custid = d.id", "d LEFT JOIN t ON t.custid = d.id", "t LEFT JOIN d ON d.id = t.custid",
         "d RIGHT JOIN t ON t.custid = d.id", "d FULL JOIN t ON t.custid = d.id",
         "d LEFT JOIN t ON t.custid = d.id AND t.amount > 0", "d, t"]
SELECTS = ["d.id, d.name, t.orderid, t.amount", "*", "t.*, d.grp", "d.grp, count(*), sum(t.amount), max(t.note)",
           "t.status, count(d.id), min(t.placed)", "d.id, t.note", "count(*)"]


def _generated_queries(n: int) -> list[str]:
    rng = random.Random(20240611)
    queries = []
    while len(queries) < n:
        join, select = rng.choice(JOINS), rng.choice(SELECTS)
        where = rng.sample(T_PREDICATES, rng.randint(1, 3)) + rng.sample(D_PREDICATES, rng.randint(0, 1))
        if join == "d, t":
            where.append("t.custid = d.id")
        group = ""
        if "count(" in select and not select.startswith("count"):
            group = " GROUP BY 1"
        shape = rng.randint(0, 5)
        body = f"SELECT {select} FROM {join} WHERE {' AND '.join(where)}{group}"
        if shape == 0:  # the linked table through a filtering CTE
            inner = rng.choice(T_PREDICATES).replace("t.", "")
            body = f"WITH t AS (SELECT * FROM t WHERE {inner}) {body}"
        elif shape == 1:  # a second reference, in a subquery
            sub = rng.choice(T_PREDICATES).replace("t.", "t2.")
            body = body.replace(" WHERE ", f" WHERE d.id IN (SELECT t2.custid FROM t t2 WHERE {sub}) AND ", 1)
        elif shape == 2 and not group and select not in ("*", "t.*, d.grp", "count(*)"):
            other = rng.choice(T_PREDICATES)
            body = f"{body} UNION ALL SELECT {select} FROM {join} WHERE {other}"
        queries.append(body)
    return queries


GENERATED = _generated_queries(30)
HANDWRITTEN = [
    "SELECT a.orderid, b.orderid FROM t a JOIN t b ON b.custid = a.custid AND b.orderid > a.orderid "
    "WHERE a.amount > 10 AND b.status = 'paid'",
    "SELECT d.name, (SELECT max(t.amount) FROM t WHERE t.custid = d.id AND t.status <> 'cancelled') FROM d",
    "SELECT d.grp AS status, count(*) FROM d JOIN t ON t.custid = d.id WHERE t.amount > 0 GROUP BY d.grp",
    "SELECT t.custid, sum(t.amount) OVER (PARTITION BY t.custid ORDER BY t.orderid) FROM d LEFT JOIN t "
    "ON t.custid = d.id WHERE t.placed >= '2024-02-01'",
    "SELECT d.id FROM d WHERE NOT EXISTS (SELECT 1 FROM t WHERE t.custid = d.id AND t.amount > 20)",
    "SELECT * FROM d FULL JOIN t ON t.custid = d.id WHERE t.note ILIKE '%E%' OR t.note NOT LIKE 'a%'",
    # Traps: pre-filtering by these would turn matched rows into NULL-extended ones that the WHERE then keeps.
    "SELECT d.id, t.orderid FROM d LEFT JOIN t ON t.custid = d.id WHERE t.note IS NULL",
    "SELECT d.id, t.orderid FROM d LEFT JOIN t ON t.custid = d.id WHERE t.amount > 20 OR t.amount IS NULL",
    "SELECT d.id, count(t.orderid) FROM d LEFT JOIN t ON t.custid = d.id WHERE coalesce(t.amount, 0) < 5 GROUP BY 1",
    "SELECT d.id, t.orderid FROM d LEFT JOIN t ON t.custid = d.id WHERE t.amount IS DISTINCT FROM 9.75",
    "SELECT d.id, t.orderid FROM d FULL JOIN t ON t.custid = d.id WHERE NOT (t.status IS NOT NULL)",
    # Trap: GROUP BY status means t's column (not the select alias) in DuckDB and PostgreSQL; sqlglot reads the alias.
    "SELECT d.grp AS status, count(*) FROM d JOIN t ON t.custid = d.id GROUP BY status, d.grp",
    # Traps: the other reference reads rows this one's filter would drop.
    "SELECT d.id, (SELECT count(*) FROM t WHERE t.custid = d.id) FROM d JOIN t ON t.custid = d.id "
    "WHERE t.status = 'paid'",
    "WITH x AS (SELECT t.custid, t.amount FROM t) SELECT x.custid, sum(x.amount) FROM x GROUP BY 1 UNION ALL "
    "SELECT t.custid, t.amount FROM t WHERE t.amount > 20",
]


@pytest.fixture(scope="module")
def duck():
    con = duckdb.connect(config={"integer_division": True})
    con.execute("SET TimeZone = 'UTC'")
    con.execute("CREATE TABLE d (id INTEGER, name VARCHAR, grp VARCHAR, score DOUBLE)")
    con.executemany("INSERT INTO d VALUES (?, ?, ?, ?)", DATASET)
    con.execute('CREATE SCHEMA crm')
    con.execute('CREATE TABLE crm."Orders" ("OrderId" INTEGER, "CustId" INTEGER, "Amount" DECIMAL(10,2), '
                '"Status" VARCHAR, "Placed" DATE, "Note" VARCHAR)')
    con.executemany('INSERT INTO crm."Orders" VALUES (?, ?, ?, ?, ?, ?)', LINKED_ROWS)
    yield con
    con.close()


def _rows(con, sql: str) -> list[tuple]:
    return sorted(con.execute(sql).fetchall(), key=repr)


def _engine_sql(sql: str) -> str:
    tables = {name: TableInfo(columns=frozenset(c.lower() for c in cols)) for name, cols in COLUMNS.items()}
    return compile_select(sql, tables).engine_sql


def _run_both(con, sql: str) -> tuple[list[tuple], list[tuple], Pull]:
    engine_sql = _engine_sql(sql)
    con.execute('CREATE OR REPLACE VIEW t AS SELECT * FROM crm."Orders"')
    full = _rows(con, engine_sql)
    pull = plan_pulls(sql, COLUMNS, {"t"})["t"]
    pulled_sql = sqlglot.transpile(pull_sql(pull, "crm", "Orders", 10_000), read="postgres", write="duckdb")[0]
    con.execute("DROP VIEW t")
    con.execute(f"CREATE TABLE t AS {pulled_sql}")
    try:
        return full, _rows(con, engine_sql), pull
    finally:
        con.execute("DROP TABLE t")


@pytest.mark.parametrize("sql", GENERATED + HANDWRITTEN)
def test_pulled_rows_give_the_same_answer_as_the_full_table(duck, sql):
    full, pulled, _pull = _run_both(duck, sql)
    assert pulled == full


def test_the_generated_queries_really_prune_and_filter(duck):
    pulls = [plan_pulls(sql, COLUMNS, {"t"})["t"] for sql in GENERATED + HANDWRITTEN]
    filtered = [p for p in pulls if p.where]
    pruned = [p for p in pulls if len(p.columns) < len(ALL_T)]
    assert len(filtered) >= 10 and len(pruned) >= 8
    # and the filters do drop rows
    dropped = 0
    for p in filtered:
        pulled_sql = sqlglot.transpile(pull_sql(p, "crm", "Orders", 10_000), read="postgres", write="duckdb")[0]
        dropped += len(LINKED_ROWS) > len(duck.execute(pulled_sql).fetchall())
    assert dropped >= 10


# --------------------------------------------------------------------------- the pull run by PostgreSQL

PG_COLUMNS = {"tiers": ["customer_id", "tier"],
              "clients": ["id", "name", "country", "segment", "created_at"],
              "purchases": ["id", "customer_id", "ordered_at", "status"]}
PG_LINKED = {"clients": ("crm", "customers"), "purchases": ("crm", "orders")}
PG_TYPES = {"clients": "id INTEGER, name VARCHAR, country VARCHAR, segment VARCHAR, created_at TIMESTAMPTZ",
            "purchases": "id INTEGER, customer_id INTEGER, ordered_at DATE, status VARCHAR"}
PG_QUERIES = [
    "SELECT tiers.tier, count(*) FROM tiers LEFT JOIN clients c ON c.id = tiers.customer_id "
    "WHERE c.segment IN ('smb', 'enterprise') AND c.name ILIKE '%er 01%' GROUP BY 1",
    "SELECT c.name, p.status FROM tiers JOIN clients c ON c.id = tiers.customer_id "
    "LEFT JOIN purchases p ON p.customer_id = c.id WHERE p.ordered_at BETWEEN '2023-03-01' AND DATE '2023-04-15' "
    "AND NOT (p.status = 'paid' OR p.status LIKE 'ref%') AND c.country <> 'US'",
    "SELECT tiers.tier, max(c.created_at) FROM tiers JOIN clients c ON c.id = tiers.customer_id "
    "WHERE c.created_at >= TIMESTAMP '2023-06-01 12:00' AND c.name NOT ILIKE 'customer 1%' GROUP BY 1",
    "SELECT count(*) FROM tiers WHERE tiers.customer_id IN (SELECT p.customer_id FROM purchases p "
    "WHERE p.status = 'cancelled' AND p.id < 500) AND tiers.tier = 'gold'",
]


@pytest.mark.parametrize("sql", PG_QUERIES)
def test_the_pull_run_by_postgresql_gives_the_same_answer(customer_db, sql):
    tiers = [(i, "gold" if i % 5 == 0 else "silver" if i % 2 else "bronze") for i in range(1, 201)]
    pulls = plan_pulls(sql, PG_COLUMNS, set(PG_LINKED))
    assert pulls and all(p.where for p in pulls.values())
    conn = customer_db.connect("reader")
    try:
        conn.run("SET TimeZone = 'UTC'")
        data = {}
        for name, p in pulls.items():
            schema, table = PG_LINKED[name]
            everything = Pull(name, tuple(PG_COLUMNS[name]), None)
            data[name] = (p, conn.run(pull_sql(everything, schema, table, 100_000)),
                          conn.run(pull_sql(p, schema, table, 100_000)))
    finally:
        conn.close()
    con = duckdb.connect(config={"integer_division": True})
    con.execute("SET TimeZone = 'UTC'")
    con.execute("CREATE TABLE tiers (customer_id INTEGER, tier VARCHAR)")
    con.executemany("INSERT INTO tiers VALUES (?, ?)", tiers)
    engine_sql = compile_select(sql, {n: TableInfo(columns=frozenset(c)) for n, c in PG_COLUMNS.items()}).engine_sql
    answers = []
    for which in (1, 2):
        for name, entry in data.items():
            p = entry[0]
            columns = PG_TYPES[name] if which == 1 else ", ".join(
                part for part in PG_TYPES[name].split(", ") if part.split()[0] in p.columns)
            con.execute(f"CREATE OR REPLACE TABLE {name} ({columns})")
            rows = entry[which]
            if rows:
                con.executemany(f"INSERT INTO {name} VALUES ({', '.join('?' * len(rows[0]))})", rows)
        answers.append(_rows(con, engine_sql))
    con.close()
    assert answers[0] == answers[1]
    assert any(len(entry[2]) < len(entry[1]) for entry in data.values())
