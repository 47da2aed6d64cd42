"""The catalog of a tenant's PostgreSQL, read from a real server: tables, keys, estimates, profiles, pages.

Each module run builds its own uniquely named schemas (and one login role) on the session's server and
drops them at the end, so it shares the server with every other suite without seeing their tables.
"""

from __future__ import annotations

import json
import random
import uuid

import pg8000.native
import pytest

from convoinsight.errors import BadRequest, NotFound
from convoinsight.sources import catalog
from tests.support.counting import Counting

SUFFIX = uuid.uuid4().hex[:8]
SCHEMA = f"cat_{SUFFIX}"
OTHER = f"cat_ref_{SUFFIX}"  # referenced by a foreign key from SCHEMA
WIDE = f"cat_wide_{SUFFIX}"  # 30 tables, for the statement count
READER = f"cat_reader_{SUFFIX}"
LONG_NOTE = "x" * 200

SETUP = f"""
SET client_min_messages = warning;
SET TimeZone = 'UTC';
CREATE SCHEMA {OTHER};
CREATE TABLE {OTHER}.countries (code char(2) PRIMARY KEY, name text NOT NULL);
INSERT INTO {OTHER}.countries VALUES ('DE', 'Germany'), ('FR', 'France');
CREATE SCHEMA {SCHEMA};
CREATE TYPE {SCHEMA}.mood AS ENUM ('happy', 'sad');
CREATE DOMAIN {SCHEMA}.positive AS integer CHECK (VALUE > 0);
CREATE TABLE {SCHEMA}.customers (
    id serial PRIMARY KEY, email text NOT NULL UNIQUE, name varchar(40), mood {SCHEMA}.mood,
    score {SCHEMA}.positive, tags text[], created timestamptz, balance numeric(10,2), active boolean,
    born date, ratio double precision, ident uuid, photo bytea, country char(2) REFERENCES {OTHER}.countries,
    small int2, big int8, r real, seen timestamp, note text);
CREATE TABLE {SCHEMA}.orders (id bigint PRIMARY KEY, customer_id integer NOT NULL REFERENCES {SCHEMA}.customers (id),
    amount numeric(12,2), day date, status text, paid boolean, note text,
    CONSTRAINT orders_customer_day UNIQUE (customer_id, day));
CREATE TABLE {SCHEMA}.order_items (order_id bigint, line integer, sku text, qty smallint, customer_id integer,
    day date, PRIMARY KEY (order_id, line),
    CONSTRAINT items_order FOREIGN KEY (order_id) REFERENCES {SCHEMA}.orders (id),
    CONSTRAINT items_customer_day FOREIGN KEY (customer_id, day) REFERENCES {SCHEMA}.orders (customer_id, day));
CREATE UNIQUE INDEX items_sku ON {SCHEMA}.order_items (sku) INCLUDE (qty);
CREATE UNIQUE INDEX items_partial ON {SCHEMA}.order_items (qty) WHERE qty > 100;
CREATE UNIQUE INDEX items_expression ON {SCHEMA}.order_items (lower(sku));
CREATE VIEW {SCHEMA}.paid_orders AS SELECT id, amount, day FROM {SCHEMA}.orders WHERE paid;
CREATE MATERIALIZED VIEW {SCHEMA}.daily AS SELECT day, count(*) AS n FROM {SCHEMA}.orders GROUP BY day;
CREATE TABLE {SCHEMA}."Mixed Case" ("Id" integer PRIMARY KEY, "Some Value" text, "Created At" date);
CREATE TABLE {SCHEMA}.never_analysed (a integer, b text);
CREATE TABLE {SCHEMA}.empty_table (a integer);
CREATE TABLE {SCHEMA}.secret (token text);
CREATE TABLE {SCHEMA}.events (id integer, day date) PARTITION BY RANGE (day);
CREATE TABLE {SCHEMA}.events_2024 PARTITION OF {SCHEMA}.events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE {SCHEMA}."Dup" (a integer);
CREATE TABLE {SCHEMA}."dup" (a integer);
INSERT INTO {SCHEMA}.customers (email, name, mood, score, tags, created, balance, active, born, ratio, ident, photo,
                                country, small, big, r, seen, note)
SELECT 'c' || g || '@example.com', 'name ' || (g % 7), CASE WHEN g % 4 = 0 THEN 'sad' ELSE 'happy' END::{SCHEMA}.mood,
       g, ARRAY['a', 'b'], TIMESTAMPTZ '2024-01-01 00:00:00+00' + g * INTERVAL '1 hour', g * 1.25, g % 10 <> 0,
       DATE '1990-01-01' + g, g / 3.0, md5(g::text)::uuid, '\\xdeadbeef'::bytea, 'DE', g, g::int8 * 1000000000, g / 2.0,
       TIMESTAMP '2024-01-01 00:00:00' + g * INTERVAL '1 day', 'note'
FROM generate_series(1, 100) g;
INSERT INTO {SCHEMA}.orders
SELECT g, 1 + g % 97, g * 1.5, DATE '2024-01-01' + g % 300, (ARRAY['new', 'paid', 'paid', 'shipped'])[1 + g % 4],
       g % 2 = 0, CASE WHEN g % 5 = 0 THEN NULL ELSE '{LONG_NOTE}' END
FROM generate_series(1, 1000) g;
INSERT INTO {SCHEMA}."Mixed Case" SELECT g, 'Value ' || g, DATE '2024-01-01' + g FROM generate_series(1, 12) g;
INSERT INTO {SCHEMA}.never_analysed SELECT g, 'row ' || g FROM generate_series(1, 20) g;
INSERT INTO {SCHEMA}.events SELECT g, DATE '2024-01-01' + g % 300 FROM generate_series(1, 500) g;
REFRESH MATERIALIZED VIEW {SCHEMA}.daily;
ANALYZE {SCHEMA}.customers; ANALYZE {SCHEMA}.orders; ANALYZE {SCHEMA}.order_items; ANALYZE {SCHEMA}."Mixed Case";
ANALYZE {SCHEMA}.empty_table; ANALYZE {SCHEMA}.daily; ANALYZE {SCHEMA}.events_2024; ANALYZE {OTHER}.countries;
CREATE SCHEMA {WIDE};
CREATE ROLE {READER} LOGIN;
GRANT USAGE ON SCHEMA {SCHEMA} TO {READER};
GRANT SELECT ON ALL TABLES IN SCHEMA {SCHEMA} TO {READER};
REVOKE SELECT ON {SCHEMA}.secret FROM {READER};
"""


def _connect(postgres, user: str = "postgres") -> pg8000.native.Connection:
    return pg8000.native.Connection(user=user, host="127.0.0.1", port=postgres.port, database="convoinsight")


@pytest.fixture(scope="module")
def conn(postgres):
    admin = _connect(postgres)
    admin.execute_simple(SETUP)
    ids = list(range(1, 201))
    random.Random(7).shuffle(ids)
    admin.run(f"CREATE TABLE {SCHEMA}.shuffled (id integer PRIMARY KEY, label text)")
    for start in range(0, len(ids), 50):
        admin.run(f"INSERT INTO {SCHEMA}.shuffled SELECT unnest(CAST(:ids AS int[])), 'label'",
                  ids=ids[start:start + 50])
    admin.run(f"ANALYZE {SCHEMA}.shuffled")
    for i in range(30):
        admin.run(f"CREATE TABLE {WIDE}.t{i} (id integer PRIMARY KEY, parent integer REFERENCES {WIDE}.t0 (id), "
                  f"label text UNIQUE)" if i else f"CREATE TABLE {WIDE}.t0 (id integer PRIMARY KEY, label text)")
    yield admin
    admin.execute_simple(f"SET client_min_messages = warning; DROP SCHEMA {SCHEMA} CASCADE; "
                         f"DROP SCHEMA {OTHER} CASCADE; DROP SCHEMA {WIDE} CASCADE; DROP ROLE {READER}")
    admin.close()


@pytest.fixture(scope="module")
def tables(conn):
    return catalog.list_tables(conn, SCHEMA)


def _by_name(tables):
    return {t["name"]: t for t in tables}


# ---------------------------------------------------------------- list_tables


def test_tables_views_and_kinds_of_the_schema_without_partitions(tables):
    kinds = {t["name"]: t["kind"] for t in tables}
    assert kinds == {"customers": "table", "orders": "table", "order_items": "table", "paid_orders": "view",
                     "daily": "materialized_view", "Mixed Case": "table", "never_analysed": "table",
                     "empty_table": "table", "secret": "table", "events": "partitioned_table", "Dup": "table",
                     "dup": "table", "shuffled": "table"}
    assert all(set(t) == {"schema", "name", "kind", "columns", "primary_key", "unique", "foreign_keys",
                          "row_estimate"} and t["schema"] == SCHEMA for t in tables)
    assert json.loads(json.dumps(tables)) == tables  # plain JSON, ready for the cache


def test_a_table_is_described_exactly(tables):
    assert _by_name(tables)["orders"] == {
        "schema": SCHEMA, "name": "orders", "kind": "table",
        "columns": [
            {"name": "id", "type": "bigint", "dtype": "integer", "nullable": False},
            {"name": "customer_id", "type": "integer", "dtype": "integer", "nullable": False},
            {"name": "amount", "type": "numeric(12,2)", "dtype": "float", "nullable": True},
            {"name": "day", "type": "date", "dtype": "date", "nullable": True},
            {"name": "status", "type": "text", "dtype": "string", "nullable": True},
            {"name": "paid", "type": "boolean", "dtype": "boolean", "nullable": True},
            {"name": "note", "type": "text", "dtype": "string", "nullable": True},
        ],
        "primary_key": ["id"],
        "unique": [["customer_id", "day"]],
        "foreign_keys": [{"name": "orders_customer_id_fkey", "columns": ["customer_id"],
                          "references": {"schema": SCHEMA, "table": "customers", "columns": ["id"]}}],
        "row_estimate": 1000,
    }


def test_composite_and_cross_schema_keys_and_unique_indexes(tables):
    by_name = _by_name(tables)
    items = by_name["order_items"]
    assert items["primary_key"] == ["order_id", "line"]
    assert items["foreign_keys"] == [
        {"name": "items_customer_day", "columns": ["customer_id", "day"],
         "references": {"schema": SCHEMA, "table": "orders", "columns": ["customer_id", "day"]}},
        {"name": "items_order", "columns": ["order_id"],
         "references": {"schema": SCHEMA, "table": "orders", "columns": ["id"]}},
    ]
    # A unique index that is no constraint counts (without its INCLUDE columns); partial and expression ones don't.
    assert items["unique"] == [["sku"]]
    customers = by_name["customers"]
    assert customers["unique"] == [["email"]]
    assert customers["foreign_keys"] == [{"name": "customers_country_fkey", "columns": ["country"],
                                          "references": {"schema": OTHER, "table": "countries",
                                                         "columns": ["code"]}}]
    assert by_name["paid_orders"]["primary_key"] == [] and by_name["paid_orders"]["foreign_keys"] == []


def test_postgres_types_map_to_profile_kinds(tables):
    columns = {c["name"]: (c["type"], c["dtype"]) for c in _by_name(tables)["customers"]["columns"]}
    assert columns == {
        "id": ("integer", "integer"), "email": ("text", "string"), "name": ("character varying(40)", "string"),
        "mood": (f"{SCHEMA}.mood", "string"), "score": (f"{SCHEMA}.positive", "integer"),
        "tags": ("text[]", "other"), "created": ("timestamp with time zone", "datetime"),
        "balance": ("numeric(10,2)", "float"), "active": ("boolean", "boolean"), "born": ("date", "date"),
        "ratio": ("double precision", "float"), "ident": ("uuid", "string"), "photo": ("bytea", "other"),
        "country": ("character(2)", "string"), "small": ("smallint", "integer"), "big": ("bigint", "integer"),
        "r": ("real", "float"), "seen": ("timestamp without time zone", "datetime"), "note": ("text", "string"),
    }
    assert catalog.dtype_of("citext") == "string" and catalog.dtype_of("jsonb") == "other"
    assert catalog.dtype_of("int4", category="A") == "other"


def test_row_estimates_from_statistics(tables):
    estimates = {t["name"]: t["row_estimate"] for t in tables}
    assert estimates["orders"] == 1000 and estimates["customers"] == 100 and estimates["Mixed Case"] == 12
    assert estimates["empty_table"] == 0 and estimates["order_items"] == 0
    assert estimates["never_analysed"] is None  # no statistics yet, and not empty on disk
    assert estimates["paid_orders"] is None  # a view has no estimate of its own
    assert estimates["events"] == 500  # the sum of its analysed partitions
    assert estimates["daily"] == 300


def test_only_tables_the_role_may_read_are_listed(postgres, conn):
    reader = _connect(postgres, READER)
    try:
        names = {t["name"] for t in catalog.list_tables(reader, SCHEMA)}
        assert "secret" not in names and {"orders", "customers", "paid_orders"} <= names
        visible = catalog.schemas(reader)
        assert SCHEMA in visible and WIDE not in visible and OTHER not in visible
        assert catalog.list_tables(reader, WIDE) == []  # no USAGE: nothing
    finally:
        reader.close()


def test_schemas_leave_out_the_system_ones(conn):
    names = catalog.schemas(conn)
    assert {SCHEMA, OTHER, WIDE, "public"} <= set(names)
    assert not [n for n in names if n.startswith("pg_") or n == "information_schema"]
    assert names == sorted(names)


def test_the_catalog_is_read_in_a_fixed_number_of_statements(conn):
    small, wide = Counting(conn), Counting(conn)
    assert len(catalog.list_tables(small, OTHER)) == 1
    listed = catalog.list_tables(wide, WIDE)
    assert len(listed) == 30 and all(t["primary_key"] == ["id"] for t in listed)
    assert sum(1 for t in listed if t["foreign_keys"]) == 29
    assert len(small.statements) == len(wide.statements) == 3 <= 10  # relations, columns, keys: no N+1
    assert all(":schema" in s for s in wide.statements)  # the schema is a parameter, never in the text
    empty = Counting(conn)
    assert catalog.list_tables(empty, f"no_such_schema_{SUFFIX}") == [] and len(empty.statements) == 1


def test_a_schema_name_is_a_value_not_sql(conn):
    assert catalog.list_tables(conn, f"{SCHEMA}' OR '1'='1") == []


# ---------------------------------------------------------------- find_table


def test_find_table_exact_then_unique_ignoring_case(tables):
    assert catalog.find_table(tables, "Mixed Case")["name"] == "Mixed Case"
    assert catalog.find_table(tables, "mixed case")["name"] == "Mixed Case"
    assert catalog.find_table(tables, "ORDERS")["name"] == "orders"
    assert catalog.find_table(tables, "Dup")["name"] == "Dup" and catalog.find_table(tables, "dup")["name"] == "dup"
    for name in ("DUP", "nope", ""):
        with pytest.raises(NotFound) as caught:
            catalog.find_table(tables, name)
        assert caught.value.code == "table_not_found" and caught.value.status == 404


# ---------------------------------------------------------------- table_profile


def test_profile_of_an_analysed_table_comes_from_its_statistics(conn, tables):
    profile = catalog.table_profile(conn, SCHEMA, catalog.find_table(tables, "orders"))
    assert json.loads(json.dumps(profile)) == profile  # JSON as it is
    assert profile["rows"] == 1000 and profile["distinct_is_estimate"] is True
    columns = {c["name"]: c for c in profile["columns"]}
    assert [c["name"] for c in profile["columns"]] == ["id", "customer_id", "amount", "day", "status", "paid", "note"]
    assert all(set(c) == {"name", "label", "dtype", "nulls", "distinct", "min", "max", "mean", "top_values"}
               and c["label"] == c["name"] and c["mean"] is None for c in profile["columns"])
    assert columns["id"] | {"top_values": []} == {
        "name": "id", "label": "id", "dtype": "integer", "nulls": 0, "distinct": 1000, "min": 1, "max": 1000,
        "mean": None, "top_values": []}
    assert columns["customer_id"]["distinct"] == 97
    assert columns["customer_id"]["min"] == 1 and columns["customer_id"]["max"] == 97
    assert columns["amount"]["min"] == 1.5 and columns["amount"]["max"] == 1500.0
    assert columns["day"]["min"] == "2024-01-01" and columns["day"]["max"] == "2024-10-26"
    assert columns["note"]["nulls"] == 200 and columns["note"]["distinct"] == 1
    status = columns["status"]["top_values"]
    assert status[0] == {"value": "paid", "count": 500}
    assert sorted(status[1:], key=lambda t: t["value"]) == [{"value": "new", "count": 250},
                                                            {"value": "shipped", "count": 250}]
    assert sorted(columns["paid"]["top_values"], key=lambda t: t["value"]) == [
        {"value": False, "count": 500}, {"value": True, "count": 500}]
    counted = Counting(conn)
    catalog.table_profile(counted, SCHEMA, catalog.find_table(tables, "orders"))
    assert len(counted.statements) == 2  # five sample rows, the statistics
    note = columns["note"]["top_values"][0]["value"]
    assert len(note) == catalog.PROFILE_TEXT_CHARS and note.endswith("…")
    assert len(profile["sample_rows"]) == 5
    first = profile["sample_rows"][0]
    assert first[:6] == [1, 2, 1.5, "2024-01-02", "paid", False] and len(first[6]) == catalog.PROFILE_TEXT_CHARS


def test_profile_values_are_json_friendly(conn, tables):
    profile = catalog.table_profile(conn, SCHEMA, catalog.find_table(tables, "customers"))
    json.dumps(profile)  # no default= needed: dates, Decimal, bytes, UUID, arrays all converted
    columns = {c["name"]: c for c in profile["columns"]}
    assert columns["created"]["min"].startswith("2024-01-01T01:00:00")
    assert columns["seen"]["min"] == "2024-01-02T00:00:00" and columns["seen"]["max"] == "2024-04-10T00:00:00"
    assert columns["born"]["min"] == "1990-01-02" and columns["born"]["max"] == "1990-04-11"
    assert columns["mood"]["top_values"] == [{"value": "happy", "count": 75}, {"value": "sad", "count": 25}]
    assert columns["active"]["top_values"] == [{"value": True, "count": 90}, {"value": False, "count": 10}]
    assert columns["email"]["distinct"] == 100 and columns["email"]["top_values"] == []
    row = dict(zip([c["name"] for c in profile["columns"]], profile["sample_rows"][0], strict=True))
    assert row["balance"] == 1.25 and row["photo"] == "\\xdeadbeef" and row["tags"] == ["a", "b"]
    assert row["ident"] == str(uuid.UUID("c4ca4238a0b923820dcc509a6f75849b")) and row["born"] == "1990-01-02"
    assert row["created"] == "2024-01-01T01:00:00" and row["mood"] == "happy" and row["big"] == 1000000000


def test_profile_of_a_table_never_analysed(conn, tables):
    meta = catalog.find_table(tables, "never_analysed")
    counted = Counting(conn)
    profile = catalog.table_profile(counted, SCHEMA, meta)
    assert profile["rows"] == 20  # counted (up to a cap), as there is no estimate
    assert profile["columns"] == [
        {"name": "a", "label": "a", "dtype": "integer", "nulls": 0, "distinct": 0, "min": None, "max": None,
         "mean": None, "top_values": []},
        {"name": "b", "label": "b", "dtype": "string", "nulls": 0, "distinct": 0, "min": None, "max": None,
         "mean": None, "top_values": []}]
    assert profile["sample_rows"] == [[i, f"row {i}"] for i in range(1, 6)]
    assert len(counted.statements) == 3  # sample, bounded count, statistics


def test_profile_of_views_empty_and_mixed_case_tables(conn, tables):
    view = catalog.table_profile(conn, SCHEMA, catalog.find_table(tables, "paid_orders"))
    assert view["rows"] == 500 and len(view["sample_rows"]) == 5  # a view: counted, no statistics
    assert all(c["distinct"] == 0 and c["top_values"] == [] for c in view["columns"])
    empty = catalog.table_profile(conn, SCHEMA, catalog.find_table(tables, "empty_table"))
    assert empty["rows"] == 0 and empty["sample_rows"] == []
    mixed = catalog.table_profile(conn, SCHEMA, catalog.find_table(tables, "mixed case"))
    assert [c["name"] for c in mixed["columns"]] == ["Id", "Some Value", "Created At"]
    assert mixed["rows"] == 12 and mixed["sample_rows"][0] == [1, "Value 1", "2024-01-02"]
    assert {c["name"]: c["distinct"] for c in mixed["columns"]} == {"Id": 12, "Some Value": 12, "Created At": 12}
    parted = catalog.table_profile(conn, SCHEMA, catalog.find_table(tables, "events"))
    assert parted["rows"] == 500 and len(parted["sample_rows"]) == 5  # its partitions' estimate


def test_the_cap_bounds_the_count_of_a_table_without_statistics(conn, tables, monkeypatch):
    monkeypatch.setattr(catalog, "UNANALYSED_COUNT_CAP", 7)
    assert catalog.table_profile(conn, SCHEMA, catalog.find_table(tables, "never_analysed"))["rows"] == 7


# ---------------------------------------------------------------- read_rows


def test_pages_follow_the_primary_key_whatever_the_physical_order(conn, tables):
    meta = catalog.find_table(tables, "shuffled")
    physical = [r[0] for r in conn.run(f"SELECT id FROM {SCHEMA}.shuffled LIMIT 10")]
    assert physical != sorted(physical)  # the heap really is out of key order
    seen = []
    for offset in range(0, 200, 30):
        page = catalog.read_rows(conn, SCHEMA, meta, 30, offset)
        assert page["limit"] == 30 and page["offset"] == offset
        seen += [r[0] for r in page["rows"]]
    assert seen == list(range(1, 201))
    assert catalog.read_rows(conn, SCHEMA, meta, 10, 500)["rows"] == []


def test_a_page_has_names_types_and_json_values(conn, tables):
    page = catalog.read_rows(conn, SCHEMA, catalog.find_table(tables, "customers"), 2, 3)
    assert set(page) == {"columns", "column_types", "rows", "limit", "offset"}
    assert page["columns"][:4] == ["id", "email", "name", "mood"]
    types = dict(zip(page["columns"], page["column_types"], strict=True))
    assert types == {"id": "integer", "email": "string", "name": "string", "mood": "string", "score": "integer",
                     "tags": "list", "created": "datetime", "balance": "decimal", "active": "boolean",
                     "born": "date", "ratio": "float", "ident": "string", "photo": "binary", "country": "string",
                     "small": "integer", "big": "integer", "r": "float", "seen": "datetime", "note": "string"}
    assert [r[0] for r in page["rows"]] == [4, 5]
    assert json.loads(json.dumps(page)) == page
    row = dict(zip(page["columns"], page["rows"][0], strict=True))
    assert row["balance"] == 5 and row["born"] == "1990-01-05" and row["photo"] == "\\xdeadbeef"


def test_composite_key_and_mixed_case_pages(conn, tables):
    mixed = catalog.read_rows(conn, SCHEMA, catalog.find_table(tables, "Mixed Case"), 3, 0)
    assert mixed["columns"] == ["Id", "Some Value", "Created At"]
    assert mixed["rows"] == [[1, "Value 1", "2024-01-02"], [2, "Value 2", "2024-01-03"], [3, "Value 3", "2024-01-04"]]
    conn.run("BEGIN")
    try:
        conn.run(f"INSERT INTO {SCHEMA}.orders (id, customer_id, day) VALUES (5001, 1, '2030-01-01'), "
                 "(5002, 1, '2030-01-02')")
        conn.run(f"INSERT INTO {SCHEMA}.order_items (order_id, line, sku) VALUES (5002, 2, 'd'), (5001, 2, 'b'), "
                 "(5002, 1, 'c'), (5001, 1, 'a')")
        page = catalog.read_rows(conn, SCHEMA, catalog.find_table(tables, "order_items"), 10, 0)
        assert [r[:3] for r in page["rows"]] == [[5001, 1, "a"], [5001, 2, "b"], [5002, 1, "c"], [5002, 2, "d"]]
    finally:
        conn.run("ROLLBACK")


def test_tables_without_a_key_and_bad_paging(conn, tables):
    page = catalog.read_rows(conn, SCHEMA, catalog.find_table(tables, "never_analysed"), 100, 0)
    assert sorted(r[0] for r in page["rows"]) == list(range(1, 21))
    view = catalog.read_rows(conn, SCHEMA, catalog.find_table(tables, "paid_orders"), 3, 0)
    assert len(view["rows"]) == 3 and view["column_types"] == ["integer", "decimal", "date"]
    meta = catalog.find_table(tables, "orders")
    for limit, offset in ((-1, 0), (1, -1), ("5", 0), (True, 0), (1.5, 0)):
        with pytest.raises(BadRequest):
            catalog.read_rows(conn, SCHEMA, meta, limit, offset)


def test_a_page_is_one_statement_with_quoted_names_and_parameters(conn, tables):
    counted = Counting(conn)
    catalog.read_rows(counted, SCHEMA, catalog.find_table(tables, "Mixed Case"), 5, 2)
    (sql,) = counted.statements
    assert sql == (f'SELECT "Id", "Some Value", "Created At" FROM "{SCHEMA}"."Mixed Case" ORDER BY "Id" '
                   "LIMIT :limit OFFSET :offset")


def test_long_cells_are_cut(conn, tables):
    page = catalog.read_rows(conn, SCHEMA, catalog.find_table(tables, "orders"), 1, 0, max_chars=50)
    assert len(page["rows"][0][6]) == 50 and page["rows"][0][6].endswith("…")
