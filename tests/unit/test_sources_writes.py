"""Writes to a tenant's PostgreSQL, against a real server: the type allow-list, hostile names, values that
survive the trip, replace/append/drop, and whole-or-nothing under the caller's transaction."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pg8000.native
import polars as pl
import pytest

from convoinsight.errors import BadRequest, Conflict, Forbidden, NotFound, Unprocessable
from convoinsight.sources import catalog, writes
from convoinsight.sources.writes import Column
from tests.support.counting import Counting

SUFFIX = uuid.uuid4().hex[:8]
SCHEMA = f"wr_{SUFFIX}"
LIMITED = f"wr_limited_{SUFFIX}"
HOSTILE = ['"; DROP TABLE x; --', "with space", "UPPER", 'quo"te', "it's", "a:b", "$1", "--", "é" * 31 + "a"]


def _connect(postgres, user: str = "postgres") -> pg8000.native.Connection:
    return pg8000.native.Connection(user=user, host="127.0.0.1", port=postgres.port, database="convoinsight")


@pytest.fixture(scope="module")
def conn(postgres):
    admin = _connect(postgres)
    admin.execute_simple(f"""
        SET client_min_messages = warning;
        CREATE SCHEMA {SCHEMA};
        CREATE TABLE {SCHEMA}.x (id integer);  -- what an injected "DROP TABLE x" would hit
        INSERT INTO {SCHEMA}.x VALUES (1);
        CREATE ROLE {LIMITED} LOGIN;
        GRANT USAGE ON SCHEMA {SCHEMA} TO {LIMITED};
        GRANT SELECT ON {SCHEMA}.x TO {LIMITED};""")
    admin.run("SET search_path = " + SCHEMA)  # so that an unqualified "x" would be ours
    admin.run("SET TimeZone = 'UTC'")
    yield admin
    admin.execute_simple(f"SET client_min_messages = warning; DROP SCHEMA {SCHEMA} CASCADE; DROP ROLE {LIMITED}")
    admin.close()


@pytest.fixture
def name():
    return f"t_{uuid.uuid4().hex[:8]}"


def _exists(conn, table: str) -> bool:
    return bool(conn.run("SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                         "WHERE n.nspname = :s AND c.relname = :t", s=SCHEMA, t=table))


def _select(conn, table: str, order: str = "1") -> list[list]:
    return conn.run(f'SELECT * FROM {SCHEMA}."{table}" ORDER BY {order}')


def _meta(conn, table: str) -> dict:
    return catalog.find_table(catalog.list_tables(conn, SCHEMA), table)


COLUMNS = [{"name": "region", "type": "text"}, {"name": "target", "type": "numeric(10,2)"},
           {"name": 'Quarter "Q"', "type": "date"}]


# ---------------------------------------------------------------- column types and names


@pytest.mark.parametrize(("text", "type_sql", "kind"), [
    ("smallint", "SMALLINT", "integer"), ("integer", "INT", "integer"), ("INT4", "INT", "integer"),
    ("bigint", "BIGINT", "integer"), ("numeric(10,2)", "DECIMAL(10, 2)", "float"), ("decimal", "DECIMAL", "float"),
    ("numeric(1000, 0)", "DECIMAL(1000, 0)", "float"), ("real", "REAL", "float"),
    ("double precision", "DOUBLE PRECISION", "float"), ("float8", "DOUBLE PRECISION", "float"),
    ("text", "TEXT", "string"), ("varchar(20)", "VARCHAR(20)", "string"),
    ("character varying(5)", "VARCHAR(5)", "string"), ("char(2)", "CHAR(2)", "string"),
    ("boolean", "BOOLEAN", "boolean"), ("date", "DATE", "date"), ("timestamp", "TIMESTAMP", "datetime"),
    ("timestamp(3) with time zone", "TIMESTAMPTZ(3)", "datetime"), ("timestamptz", "TIMESTAMPTZ", "datetime"),
    ("time", "TIME", "other"), ("interval", "INTERVAL", "other"), ("uuid", "UUID", "string"),
    ("jsonb", "JSONB", "other"), ("json", "JSON", "other"), ("bytea", "BYTEA", "other"),
    ("  Text  ", "TEXT", "string"),
])
def test_allowed_types_are_rendered_by_sqlglot(text, type_sql, kind):
    assert writes.parse_columns([{"name": "a", "type": text}]) == [Column("a", type_sql, kind)]


@pytest.mark.parametrize("text", [
    "integer; drop table x", "integer; DROP TABLE x", "regclass", "pg_catalog.text", "pg_catalog.pg_node_tree",
    "text[]", "text[]) --", "integer -- comment", "integer /* c */", "integer primary key", "int default 1",
    "integer) , (x int", "text collate C", "serial", "money", "timetz", "xml", "inet", "int4range", "oid",
    "varchar(0)", "numeric(5,6)", "numeric(1001)", "timestamp(7)", "float(24)", "interval day", "interval(3)",
    "varchar(x)", "varchar('5')", "", "   ", None, 5, ["text"], "t" * 100, "int unsigned",
])
def test_types_outside_the_allow_list_are_refused(text):
    with pytest.raises(Unprocessable) as caught:
        writes.parse_columns([{"name": "a", "type": text}])
    assert caught.value.code == "invalid_column_type" and caught.value.status == 422


@pytest.mark.parametrize(("spec", "code"), [
    ([{"name": "", "type": "text"}], "invalid_column_name"),
    ([{"name": "a" * 64, "type": "text"}], "invalid_column_name"),
    ([{"name": "é" * 32, "type": "text"}], "invalid_column_name"),  # 64 bytes
    ([{"name": "x\x00y", "type": "text"}], "invalid_column_name"),
    ([{"name": 5, "type": "text"}], "invalid_column_name"),
    ([{"name": "Id", "type": "text"}, {"name": "iD", "type": "integer"}], "duplicate_column"),
    ([], "invalid_columns"),
    ({"name": "a", "type": "text"}, "invalid_columns"),
    ([{"name": "a"}], "invalid_columns"),
    ([{"name": "a", "type": "text", "default": "1"}], "invalid_columns"),
    (["a"], "invalid_columns"),
])
def test_bad_column_specs_are_refused(spec, code):
    with pytest.raises(Unprocessable) as caught:
        writes.parse_columns(spec)
    assert caught.value.code == code


def test_a_name_of_63_bytes_is_fine():
    assert writes.parse_columns([{"name": "é" * 31 + "a", "type": "text"}])[0].name == "é" * 31 + "a"


def test_polars_types_map_to_postgres_columns():
    schema = pl.Schema({
        "i8": pl.Int8, "i16": pl.Int16, "i32": pl.Int32, "i64": pl.Int64, "u8": pl.UInt8, "u16": pl.UInt16,
        "u32": pl.UInt32, "u64": pl.UInt64, "f32": pl.Float32, "f64": pl.Float64, "dec": pl.Decimal(12, 3),
        "s": pl.String, "cat": pl.Categorical(), "enum": pl.Enum(["a", "b"]), "b": pl.Boolean, "d": pl.Date,
        "ts": pl.Datetime("us"), "tstz": pl.Datetime("us", "Europe/Berlin"), "t": pl.Time, "dur": pl.Duration(),
        "lst": pl.List(pl.Int64), "st": pl.Struct({"x": pl.Int8}), "arr": pl.Array(pl.Int8, 2), "bin": pl.Binary,
        "nul": pl.Null})
    assert {c.name: c.type_sql for c in writes.columns_of_frame(schema)} == {
        "i8": "SMALLINT", "i16": "SMALLINT", "i32": "INT", "i64": "BIGINT", "u8": "SMALLINT", "u16": "INT",
        "u32": "BIGINT", "u64": "DECIMAL(20, 0)", "f32": "REAL", "f64": "DOUBLE PRECISION",
        "dec": "DECIMAL(12, 3)", "s": "TEXT", "cat": "TEXT", "enum": "TEXT", "b": "BOOLEAN", "d": "DATE",
        "ts": "TIMESTAMP", "tstz": "TIMESTAMPTZ", "t": "TIME", "dur": "INTERVAL", "lst": "JSONB", "st": "JSONB",
        "arr": "JSONB", "bin": "BYTEA", "nul": "TEXT"}
    with pytest.raises(Unprocessable):
        writes.columns_of_frame(pl.Schema({"o": pl.Object}))
    with pytest.raises(Unprocessable) as caught:
        writes.columns_of_frame(pl.Schema({"a": pl.Int8, "A": pl.Int8}))
    assert caught.value.code == "duplicate_column"


def test_json_rows_as_lists_or_objects():
    columns = writes.parse_columns(COLUMNS)
    assert writes.rows_from_json(columns, [["North", 1, "2024-01-01"], {"region": "South"},
                                           {"target": 2, 'Quarter "Q"': None}]) == [
        ["North", 1, "2024-01-01"], ["South", None, None], [None, 2, None]]
    with pytest.raises(BadRequest) as caught:
        writes.rows_from_json(columns, [{"region": "x", "Region": "y"}])
    assert caught.value.code == "unknown_column" and caught.value.details["row"] == 0
    for bad in ([1], ["row"], {"a": 1}, None):
        with pytest.raises(BadRequest) as caught:
            writes.rows_from_json(columns, bad)
        assert caught.value.code == "invalid_rows"


# ---------------------------------------------------------------- create, append, replace, drop


def test_create_append_replace_and_drop(conn, name):
    columns = writes.parse_columns(COLUMNS)
    rows = writes.rows_from_json(columns, [["North", 100.5, "2024-01-01"], {"region": "South", "target": 80}])
    assert writes.create_table(conn, SCHEMA, name, columns, [rows]) == 2
    assert _select(conn, name) == [["North", Decimal("100.50"), dt.date(2024, 1, 1)], ["South", Decimal("80.00"), None]]
    meta = _meta(conn, name)
    assert [(c["name"], c["type"]) for c in meta["columns"]] == [
        ("region", "text"), ("target", "numeric(10,2)"), ('Quarter "Q"', "date")]
    assert writes.write_rows(conn, SCHEMA, meta, "append", columns, [[["East", 1, None]], [], [["West", 2, None]]]) == 2
    assert len(_select(conn, name)) == 4
    # Columns are matched by name (ignoring case when the table has one such column), in any order, some left out.
    shuffled = [Column("TARGET", "INT", "integer"), Column("region", "TEXT", "string")]
    assert writes.write_rows(conn, SCHEMA, meta, "replace", shuffled, [[[7, "Only"]]]) == 1
    assert _select(conn, name) == [["Only", Decimal("7.00"), None]]
    assert writes.write_rows(conn, SCHEMA, name, "append", columns[:1], [[["by name"]]]) == 1
    with pytest.raises(Conflict) as caught:
        writes.create_table(conn, SCHEMA, name, columns, [])
    assert caught.value.code == "table_exists"
    writes.drop_table(conn, SCHEMA, name)
    assert not _exists(conn, name)
    with pytest.raises(NotFound) as caught:
        writes.drop_table(conn, SCHEMA, name)
    assert caught.value.code == "table_not_found"
    with pytest.raises(NotFound):
        writes.write_rows(conn, SCHEMA, name, "append", columns, [])


def test_hostile_names_are_created_literally(conn):
    table = "Robert'); DROP TABLE x;--"
    columns = writes.parse_columns([{"name": n, "type": "text"} for n in HOSTILE])
    counted = Counting(conn)
    try:
        assert writes.create_table(counted, SCHEMA, table, columns, [[[f"v{i}" for i in range(len(HOSTILE))]]]) == 1
        names = conn.run("SELECT attname::text FROM pg_attribute WHERE attrelid = to_regclass(:t) AND attnum > 0 "
                         "ORDER BY attnum", t=f'{SCHEMA}."{table.replace(chr(34), chr(34) * 2)}"')
        assert [n[0] for n in names] == HOSTILE
        assert conn.run(f"SELECT count(*) FROM {SCHEMA}.x")[0][0] == 1  # nothing was dropped
        meta = _meta(conn, table)
        assert catalog.read_rows(conn, SCHEMA, meta, 5, 0)["rows"] == [[f"v{i}" for i in range(len(HOSTILE))]]
        assert writes.write_rows(conn, SCHEMA, meta, "append", columns[::-1], [[list(reversed(HOSTILE))]]) == 1
        assert conn.run(f"SELECT count(*) FROM {SCHEMA}.x")[0][0] == 1
        assert all('"' + SCHEMA + '"' in s for s in counted.statements if not s.startswith("SELECT"))
    finally:
        writes.drop_table(conn, SCHEMA, table)
    assert not _exists(conn, table) and _exists(conn, "x")


def test_table_names_are_checked(conn):
    columns = writes.parse_columns(COLUMNS)
    for bad in ("", "t" * 64, "a\x00b"):
        with pytest.raises(Unprocessable) as caught:
            writes.create_table(conn, SCHEMA, bad, columns, [])
        assert caught.value.code == "invalid_table_name"
    with pytest.raises(Conflict):
        writes.create_table(conn, SCHEMA, "x", columns, [])  # an existing name, whatever its kind


def test_values_survive_the_trip(conn, name):
    columns = writes.parse_columns([
        {"name": "t", "type": "text"}, {"name": "i", "type": "integer"}, {"name": "b", "type": "bigint"},
        {"name": "n", "type": "numeric(20,4)"}, {"name": "r", "type": "real"},
        {"name": "f", "type": "double precision"},
        {"name": "ok", "type": "boolean"}, {"name": "d", "type": "date"}, {"name": "ts", "type": "timestamp"},
        {"name": "tz", "type": "timestamptz"}, {"name": "tm", "type": "time"}, {"name": "iv", "type": "interval"},
        {"name": "u", "type": "uuid"}, {"name": "j", "type": "jsonb"}, {"name": "js", "type": "json"},
        {"name": "by", "type": "bytea"}, {"name": "vc", "type": "varchar(5)"}])
    ident = uuid.uuid4()
    rows = [
        ["tab\tnew\nline\r back\\slash \\N é 😀", 1, 2**62, Decimal("12345.6789"), 1.5, 1e300, True,
         dt.date(2024, 2, 29), dt.datetime(2024, 1, 1, 12, 30, 15, 123456),
         dt.datetime(2024, 1, 1, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=2))), dt.time(23, 59, 58),
         dt.timedelta(days=2, seconds=3, microseconds=4), ident,
         {"a": [1, 2.5, None, float("nan")], "d": Decimal("1.5"), "day": dt.date(2024, 1, 2), "s": 'q"\\'},
         [1, "two"], b"\x00\x01\xfe\xff", "abcde"],
        [None] * 17,
        ["", -1, -(2**63), Decimal("-0.0001"), float("inf"), float("nan"), False, "2024-01-05",
         "2024-01-01 10:00", "2024-01-01 10:00+00", "10:00", "1 day", str(ident), "text as JSON", None, "\\xdead",
         "é" * 5],
    ]
    assert writes.create_table(conn, SCHEMA, name, columns, [rows]) == 3
    empty, last, first = conn.run(f'SELECT * FROM {SCHEMA}."{name}" ORDER BY i NULLS FIRST')
    assert first == [rows[0][0], 1, 2**62, Decimal("12345.6789"), 1.5, 1e300, True, dt.date(2024, 2, 29),
                     dt.datetime(2024, 1, 1, 12, 30, 15, 123456),
                     dt.datetime(2024, 1, 1, 10, 0, tzinfo=dt.UTC), dt.time(23, 59, 58),
                     dt.timedelta(days=2, seconds=3, microseconds=4), ident,
                     {"a": [1, 2.5, None, None], "d": 1.5, "day": "2024-01-02", "s": 'q"\\'}, [1, "two"],
                     b"\x00\x01\xfe\xff", "abcde"]
    assert empty == [None] * 17
    assert last[:6] == ["", -1, -(2**63), Decimal("-0.0001"), float("inf"), last[5]] and last[5] != last[5]
    assert last[7:] == [dt.date(2024, 1, 5), dt.datetime(2024, 1, 1, 10, 0),
                        dt.datetime(2024, 1, 1, 10, 0, tzinfo=dt.UTC), dt.time(10, 0),
                        dt.timedelta(days=1), ident, "text as JSON", None, b"\xde\xad", "é" * 5]


def test_a_frame_of_an_uploaded_dataset_is_written_as_the_service_does(conn, name):
    frame = pl.DataFrame({
        "id": list(range(2500)), "region": [f"r{i % 3}" for i in range(2500)],
        "units": [i / 4 for i in range(2500)], "day": [dt.date(2024, 1, 1) + dt.timedelta(days=i % 10)
                                                        for i in range(2500)],
        "tags": [[i, i + 1] for i in range(2500)], "meta": [{"k": i} for i in range(2500)],
        "at": pl.Series([dt.datetime(2024, 1, 1, tzinfo=dt.UTC)] * 2500).dt.convert_time_zone("UTC"),
        "price": pl.Series([Decimal("1.25")] * 2500, dtype=pl.Decimal(10, 2)), "blank": [None] * 2500,
    })
    columns = writes.columns_of_frame(frame.schema)
    batches = (part.rows() for part in frame.iter_slices(1000))
    assert writes.create_table(conn, SCHEMA, name, columns, batches) == 2500
    assert conn.run(f'SELECT count(*), sum(id), sum(units), max(day), sum((tags->>1)::int), '
                    f'sum((meta->>\'k\')::int), min(at), sum(price), count(blank) FROM {SCHEMA}."{name}"') == [
        [2500, 3123750, 780937.5, dt.date(2024, 1, 10), 3126250, 3123750,
         dt.datetime(2024, 1, 1, tzinfo=dt.UTC), Decimal("3125.00"), 0]]
    assert [c["type"] for c in _meta(conn, name)["columns"]] == [
        "bigint", "text", "double precision", "date", "jsonb", "jsonb", "timestamp with time zone",
        "numeric(10,2)", "text"]


def test_replace_keeps_the_table_its_grants_and_constraints(conn, name):
    conn.execute_simple(f"""CREATE TABLE {SCHEMA}."{name}" (id integer PRIMARY KEY, label text NOT NULL
                               CHECK (label <> 'bad'));
                           INSERT INTO {SCHEMA}."{name}" VALUES (1, 'old'), (2, 'old');
                           GRANT SELECT ON {SCHEMA}."{name}" TO {LIMITED};
                           CREATE VIEW {SCHEMA}."{name}_v" AS SELECT * FROM {SCHEMA}."{name}";""")
    oid = conn.run("SELECT to_regclass(:t)::oid::int8", t=f'{SCHEMA}."{name}"')[0][0]
    columns = writes.parse_columns([{"name": "id", "type": "integer"}, {"name": "label", "type": "text"}])
    assert writes.write_rows(conn, SCHEMA, _meta(conn, name), "replace", columns, [[[3, "new"], [4, "new"]]]) == 2
    assert _select(conn, name) == [[3, "new"], [4, "new"]]
    assert conn.run("SELECT to_regclass(:t)::oid::int8", t=f'{SCHEMA}."{name}"')[0][0] == oid
    assert conn.run(f'SELECT count(*) FROM {SCHEMA}."{name}_v"')[0][0] == 2  # the dependent view still stands
    assert conn.run("SELECT has_table_privilege(:r, to_regclass(:t), 'SELECT')", r=LIMITED,
                    t=f'{SCHEMA}."{name}"')[0][0] is True
    for rows, state in (([[3, "dup"]], "23505"), ([[9, "bad"]], "23514"), ([[9, None]], "23502")):
        conn.run("BEGIN")
        with pytest.raises(Unprocessable) as caught:
            writes.write_rows(conn, SCHEMA, name, "append", columns, [rows])
        conn.run("ROLLBACK")
        assert caught.value.code == "source_write_failed" and caught.value.details == {"sqlstate": state}
    assert _select(conn, name) == [[3, "new"], [4, "new"]]


def test_replace_of_a_table_others_refer_to_deletes_instead_of_truncating(conn, name):
    conn.execute_simple(f"""CREATE TABLE {SCHEMA}."{name}" (id integer PRIMARY KEY);
                           INSERT INTO {SCHEMA}."{name}" VALUES (1), (2);
                           CREATE TABLE {SCHEMA}."{name}_child" (parent integer REFERENCES {SCHEMA}."{name}");""")
    columns = writes.parse_columns([{"name": "id", "type": "integer"}])
    counted = Counting(conn)
    assert writes.write_rows(counted, SCHEMA, name, "replace", columns, [[[5]]]) == 1
    assert any(s.startswith("DELETE FROM") for s in counted.statements)
    assert not any(s.startswith("TRUNCATE") for s in counted.statements)
    conn.run(f'INSERT INTO {SCHEMA}."{name}_child" VALUES (5)')
    conn.run("BEGIN")
    with pytest.raises(Unprocessable) as caught:  # a row still referred to cannot go
        writes.write_rows(conn, SCHEMA, name, "replace", columns, [[[6]]])
    conn.run("ROLLBACK")
    assert caught.value.details == {"sqlstate": "23503"}
    assert _select(conn, name) == [[5]]
    plain = f"{name}_plain"
    conn.run(f'CREATE TABLE {SCHEMA}."{plain}" (id integer)')
    counted = Counting(conn)
    writes.write_rows(counted, SCHEMA, plain, "replace", columns, [[[1]]])
    assert any(s.startswith("TRUNCATE TABLE") for s in counted.statements)


def test_drop_refuses_views_and_dependents(conn, name):
    conn.execute_simple(f"""CREATE TABLE {SCHEMA}."{name}" (id integer);
                           CREATE VIEW {SCHEMA}."{name}_v" AS SELECT * FROM {SCHEMA}."{name}";""")
    with pytest.raises(Unprocessable) as caught:
        writes.drop_table(conn, SCHEMA, f"{name}_v")
    assert caught.value.code == "not_a_table"
    conn.run("BEGIN")
    with pytest.raises(Unprocessable) as caught:
        writes.drop_table(conn, SCHEMA, name)
    conn.run("ROLLBACK")
    assert caught.value.code == "source_write_failed" and caught.value.details == {"sqlstate": "2BP01"}
    assert "depend" in caught.value.message
    assert _exists(conn, name)


# ---------------------------------------------------------------- refusals and rollbacks


def test_rows_of_the_wrong_length_or_shape_are_refused_before_anything_is_sent(conn, name):
    columns = writes.parse_columns(COLUMNS)
    conn.run(f'CREATE TABLE {SCHEMA}."{name}" (region text, target numeric(10,2), "Quarter ""Q""" date)')
    for batch, row in (([["a", 1, None], ["b", 2]], 1), ([["a", 1, None, 4]], 0), ([None], 0), ("abc", None),
                       ([["a", [1, 2], None]], 0), ([["a", {"x": 1}, None]], 0)):
        counted = Counting(conn)
        with pytest.raises(BadRequest) as caught:
            writes.write_rows(counted, SCHEMA, name, "append", columns, [batch])
        assert caught.value.code == "invalid_rows"
        assert row is None or caught.value.details["row"] == row
        assert not any(s.startswith("COPY") for s in counted.statements)
    with pytest.raises(BadRequest) as caught:
        writes.write_rows(conn, SCHEMA, _meta(conn, name), "append", [Column("nope", "TEXT", "string")], [])
    assert caught.value.code == "unknown_column"
    with pytest.raises(BadRequest):
        writes.write_rows(conn, SCHEMA, name, "upsert", columns, [])
    assert _select(conn, name) == []


@pytest.mark.parametrize("copy_bytes", [1, writes.COPY_BYTES])  # one COPY per batch, or all batches in one
def test_a_bad_value_in_a_middle_batch_leaves_nothing_after_the_callers_rollback(conn, name, monkeypatch,
                                                                                  copy_bytes):
    monkeypatch.setattr(writes, "COPY_BYTES", copy_bytes)
    columns = writes.parse_columns(COLUMNS)
    good = [[f"r{i}", i, "2024-01-01"] for i in range(1000)]
    batches = [good, good, [*good[:500], ["bad", "not a number", "2024-01-01"]], good]
    conn.run("BEGIN")
    with pytest.raises(Unprocessable) as caught:
        writes.create_table(conn, SCHEMA, name, columns, iter(batches))
    conn.run("ROLLBACK")
    assert caught.value.code == "source_write_failed" and caught.value.details == {"sqlstate": "22P02"}
    assert "not a number" in caught.value.message
    assert not _exists(conn, name)
    assert conn.run("SELECT 1") == [[1]]  # the connection is usable again
    # replace: the emptying and the good batches are undone too
    writes.create_table(conn, SCHEMA, name, columns, [[["keep", 1, None], ["keep", 2, None]]])
    conn.run("BEGIN")
    with pytest.raises(Unprocessable):
        writes.write_rows(conn, SCHEMA, name, "replace", columns, iter(batches))
    conn.run("ROLLBACK")
    assert _select(conn, name) == [["keep", Decimal("1.00"), None], ["keep", Decimal("2.00"), None]]
    # a row of the wrong length after some batches were sent: the same
    conn.run("BEGIN")
    with pytest.raises(BadRequest):
        writes.write_rows(conn, SCHEMA, name, "append", columns, iter([good, good, [["short"]]]))
    conn.run("ROLLBACK")
    assert len(_select(conn, name)) == 2


def test_postgres_permission_errors_are_forbidden(postgres, conn, name):
    limited = _connect(postgres, LIMITED)
    columns = writes.parse_columns([{"name": "id", "type": "integer"}])
    try:
        for call in (lambda: writes.create_table(limited, SCHEMA, name, columns, [[[1]]]),
                     lambda: writes.write_rows(limited, SCHEMA, "x", "append", columns, [[[1]]]),
                     lambda: writes.write_rows(limited, SCHEMA, "x", "replace", columns, [[[1]]]),
                     lambda: writes.drop_table(limited, SCHEMA, "x")):
            limited.run("BEGIN")
            with pytest.raises(Forbidden) as caught:
                call()
            limited.run("ROLLBACK")
            assert caught.value.code == "source_permission_denied" and caught.value.details == {"sqlstate": "42501"}
    finally:
        limited.close()
    assert conn.run(f"SELECT count(*) FROM {SCHEMA}.x")[0][0] == 1


def test_a_missing_schema_is_a_write_failure(conn, name):
    conn.run("BEGIN")
    with pytest.raises(Unprocessable) as caught:
        writes.create_table(conn, f"no_schema_{SUFFIX}", name, writes.parse_columns(COLUMNS), [])
    conn.run("ROLLBACK")
    assert caught.value.code == "source_write_failed" and caught.value.details == {"sqlstate": "3F000"}


def test_a_column_built_by_hand_still_meets_the_allow_list(conn, name):
    with pytest.raises(Unprocessable) as caught:
        writes.create_table(conn, SCHEMA, name, [Column("a", "INT); DROP TABLE x; --", "integer")], [])
    assert caught.value.code == "invalid_column_type"
    assert _exists(conn, "x") and not _exists(conn, name)
