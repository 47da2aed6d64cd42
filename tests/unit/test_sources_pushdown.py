"""Pushdown of a checked question to the tenant's PostgreSQL: domain names become the linked real tables.

The shapes are checked on the generated text (which table nodes are qualified, which are CTE references);
the last test runs original and rewritten queries on the real customer PostgreSQL and compares the rows.
"""

from __future__ import annotations

import pytest
import sqlglot
from sqlglot import exp

from convoinsight.errors import SqlRefused
from convoinsight.sources.pushdown import pushdown_sql

LINKED = {
    "customers": ("crm", "Customers"),
    "orders": ("crm", "Orders"),
    "totals": ("Sales Data", "Order Totals"),
}


def _tables(sql: str) -> list[tuple[str, str, str]]:
    """(schema, table, alias) of every table node of PostgreSQL ``sql``, in tree order."""
    tree = sqlglot.parse_one(sql, dialect="postgres")
    return [(t.db, t.name, t.alias) for t in tree.find_all(exp.Table)]


def test_a_table_becomes_the_quoted_real_table_aliased_by_its_domain_name():
    assert pushdown_sql("SELECT * FROM customers", LINKED) == 'SELECT * FROM "crm"."Customers" AS customers'


def test_an_existing_alias_is_kept():
    out = pushdown_sql("SELECT c.id FROM customers c JOIN orders AS o ON o.customer_id = c.id", LINKED)
    assert out == ('SELECT c.id FROM "crm"."Customers" AS c JOIN "crm"."Orders" AS o ON o.customer_id = c.id')


def test_qualified_columns_keep_working_through_the_alias():
    out = pushdown_sql("SELECT customers.name, count(*) FROM customers GROUP BY customers.name", LINKED)
    assert out == ('SELECT customers.name, COUNT(*) FROM "crm"."Customers" AS customers '
                   "GROUP BY customers.name")


def test_the_name_as_written_is_the_alias():
    # Unquoted Customers folds to customers in PostgreSQL: alias and column qualifiers agree.
    out = pushdown_sql("SELECT Customers.id FROM Customers", LINKED)
    assert out == 'SELECT Customers.id FROM "crm"."Customers" AS Customers'


def test_mixed_case_and_spaces_in_real_names_are_quoted():
    out = pushdown_sql("SELECT t.total FROM totals t", LINKED)
    assert out == 'SELECT t.total FROM "Sales Data"."Order Totals" AS t'
    odd = pushdown_sql("SELECT * FROM x", {"x": ('we"ird', 'Ta"ble')})
    assert odd == 'SELECT * FROM "we""ird"."Ta""ble" AS x'


@pytest.mark.parametrize("sql, expected", [
    # joins of every kind
    ("SELECT * FROM customers c LEFT JOIN orders o ON o.customer_id = c.id FULL JOIN totals t ON t.id = o.id",
     [("crm", "Customers", "c"), ("crm", "Orders", "o"), ("Sales Data", "Order Totals", "t")]),
    ("SELECT * FROM customers, orders WHERE orders.customer_id = customers.id",
     [("crm", "Customers", "customers"), ("crm", "Orders", "orders")]),
    # subqueries in FROM, WHERE and SELECT
    ("SELECT s.n FROM (SELECT count(*) AS n FROM orders) s", [("crm", "Orders", "orders")]),
    ("SELECT id FROM customers WHERE id IN (SELECT customer_id FROM orders) "
     "AND EXISTS (SELECT 1 FROM totals WHERE totals.customer_id = customers.id)",
     [("crm", "Customers", "customers"), ("crm", "Orders", "orders"), ("Sales Data", "Order Totals", "totals")]),
    ("SELECT c.id, (SELECT max(o.amount) FROM orders o WHERE o.customer_id = c.id) AS top FROM customers c",
     [("crm", "Orders", "o"), ("crm", "Customers", "c")]),
    # set operations and windows
    ("SELECT id FROM customers UNION SELECT customer_id FROM orders ORDER BY 1",
     [("crm", "Customers", "customers"), ("crm", "Orders", "orders")]),
    ("SELECT id, rank() OVER (PARTITION BY segment ORDER BY id) FROM customers",
     [("crm", "Customers", "customers")]),
    # the same table twice
    ("SELECT a.id, b.id FROM customers a JOIN customers b ON a.id < b.id",
     [("crm", "Customers", "a"), ("crm", "Customers", "b")]),
])
def test_every_table_reference_is_mapped(sql, expected):
    assert sorted(_tables(pushdown_sql(sql, LINKED))) == sorted(expected)


def test_a_cte_named_like_a_table_shadows_it_in_its_scope_only():
    sql = ("WITH customers AS (SELECT * FROM customers WHERE id > 1) "
           "SELECT customers.id, (SELECT count(*) FROM orders) FROM customers")
    out = pushdown_sql(sql, LINKED)
    assert out == ('WITH customers AS (SELECT * FROM "crm"."Customers" AS customers WHERE id > 1) '
                   'SELECT customers.id, (SELECT COUNT(*) FROM "crm"."Orders" AS orders) FROM customers')


def test_a_cte_in_a_subquery_does_not_shadow_the_table_outside():
    sql = "SELECT (WITH orders AS (SELECT 1 AS x) SELECT x FROM orders) AS one, o.id FROM orders o"
    out = pushdown_sql(sql, LINKED)
    assert out == ('SELECT (WITH orders AS (SELECT 1 AS x) SELECT x FROM orders) AS one, o.id '
                   'FROM "crm"."Orders" AS o')


def test_a_later_cte_sees_an_earlier_one_not_the_table():
    sql = "WITH a AS (SELECT * FROM orders), orders AS (SELECT * FROM a) SELECT * FROM orders JOIN customers ON true"
    out = pushdown_sql(sql, LINKED)
    assert out == ('WITH a AS (SELECT * FROM "crm"."Orders" AS orders), orders AS (SELECT * FROM a) '
                   'SELECT * FROM orders JOIN "crm"."Customers" AS customers ON TRUE')


def test_a_cte_in_a_union_branch_is_scoped_to_it():
    sql = "SELECT id FROM orders UNION ALL SELECT * FROM (WITH orders AS (SELECT 2 AS id) SELECT id FROM orders) q"
    assert _tables(pushdown_sql(sql, LINKED)) == [("crm", "Orders", "orders"), ("", "orders", "")]


def test_templates_are_kept_as_written():
    sql = ("SELECT to_char(ordered_at, 'FMMon YYYY \"Q\"Q'), to_date('01 Jan 2024', 'DD Mon YYYY'), "
           "to_timestamp('2024-03 10', 'YYYY-MM HH24') FROM orders WHERE to_char(ordered_at, 'Dy') = 'Mon'")
    out = pushdown_sql(sql, LINKED)
    for text in ("TO_CHAR(ordered_at, 'FMMon YYYY \"Q\"Q')", "TO_DATE('01 Jan 2024', 'DD Mon YYYY')",
                 "TO_TIMESTAMP('2024-03 10', 'YYYY-MM HH24')", "TO_CHAR(ordered_at, 'Dy') = 'Mon'"):
        assert text in out
    assert '"crm"."Orders" AS orders' in out


def test_generate_series_is_left_alone():
    out = pushdown_sql("SELECT g, c.id FROM generate_series(1, 3) AS g JOIN customers c ON c.id = g", LINKED)
    assert out == 'SELECT g, c.id FROM GENERATE_SERIES(1, 3) AS g JOIN "crm"."Customers" AS c ON c.id = g'


def test_a_table_that_is_not_linked_is_refused():
    with pytest.raises(SqlRefused, match="products"):
        pushdown_sql("SELECT * FROM customers JOIN products ON true", LINKED)
    with pytest.raises(SqlRefused):
        pushdown_sql("SELECT * FROM crm.customers", LINKED)  # the guard refuses qualified names


def test_the_output_passes_nothing_unqualified_but_ctes():
    sql = ("WITH big AS (SELECT customer_id, sum(amount) AS s FROM orders GROUP BY 1) "
           "SELECT c.name, big.s FROM customers c JOIN big ON big.customer_id = c.id "
           "WHERE c.id NOT IN (SELECT customer_id FROM totals) ORDER BY big.s DESC LIMIT 5")
    tables = _tables(pushdown_sql(sql, LINKED))
    assert [t for t in tables if not t[0]] == [("", "big", "")]
    assert len(tables) == 4


# --------------------------------------------------------------------------- on the real PostgreSQL

# Domain names unlike the real ones, so a query that missed the mapping would fail (or read another table).
REAL = {"clients": ("crm", "customers"), "purchases": ("crm", "orders"), "camel": ("crm", "CamelTable")}

REAL_QUERIES = [
    "SELECT count(*) FROM clients",
    "SELECT c.country, count(*) AS n FROM clients c JOIN purchases p ON p.customer_id = c.id "
    "GROUP BY c.country ORDER BY n DESC, c.country",
    "SELECT clients.name FROM clients WHERE clients.id IN (SELECT customer_id FROM purchases WHERE status = 'refunded')"
    " ORDER BY 1",
    "WITH clients AS (SELECT * FROM clients WHERE id <= 5) SELECT count(*), max(clients.id) FROM clients",
    "WITH recent AS (SELECT * FROM purchases WHERE ordered_at >= DATE '2024-01-01') "
    "SELECT to_char(date_trunc('month', ordered_at), 'FMMon YYYY') AS m, count(*) FROM recent GROUP BY 1 ORDER BY 1",
    "SELECT id, \"MixedCase\", to_char(\"Created At\" AT TIME ZONE 'UTC', 'Dy DD Mon HH24:MI') FROM camel ORDER BY id",
    "SELECT status, sum(count(*)) OVER (ORDER BY status) FROM purchases GROUP BY status ORDER BY status",
    "SELECT id FROM clients WHERE segment IS NULL UNION SELECT customer_id FROM purchases WHERE id < 4 ORDER BY 1",
    "SELECT c.name, (SELECT max(p.ordered_at) FROM purchases p WHERE p.customer_id = c.id) FROM clients c "
    "ORDER BY c.id LIMIT 7",
    "SELECT a.id, b.id FROM clients a JOIN clients b ON b.id = a.id + 100 WHERE a.id < 4 ORDER BY 1",
]


@pytest.mark.parametrize("sql", REAL_QUERIES)
def test_the_rewritten_query_returns_what_the_original_does_on_postgresql(customer_db, sql):
    conn = customer_db.admin_connect()
    try:
        conn.run("SET search_path = crm, public")
        # The original reads the domain names: session-private views standing for the links.
        for name, (schema, table) in REAL.items():
            conn.run(f'CREATE TEMP VIEW {name} AS SELECT * FROM "{schema}"."{table}"')
        expected = conn.run(sql)
        conn.run("SET search_path = public")  # the rewritten query must not need the views or crm on the path
        for name in REAL:
            conn.run(f"DROP VIEW {name}")
        got = conn.run(pushdown_sql(sql, REAL))
    finally:
        conn.close()
    assert got == expected
    assert got
