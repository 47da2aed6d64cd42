"""The customer database fixture is what the sources tests assume: roles, TLS, statistics, restart."""

from __future__ import annotations

import ssl
import uuid

import pg8000.native
import pytest
from pg8000.exceptions import DatabaseError, InterfaceError

INSUFFICIENT_PRIVILEGE = "42501"


def sqlstate(exc: DatabaseError) -> str:
    return exc.args[0]["C"]


def test_reader_can_select_but_not_write_or_create(customer_db):
    conn = customer_db.connect("reader")
    try:
        assert conn.run("SELECT count(*) FROM crm.customers") == [[200]]
        assert conn.run('SELECT count(*) FROM crm."CamelTable" WHERE "MixedCase" IS NOT NULL') == [[15]]
        assert conn.run("SELECT count(*) FROM crm.order_totals") == [[3000]]
        for statement in ("INSERT INTO crm.customers VALUES (9999, 'x', 'DE', NULL, now())",
                          "CREATE TABLE crm.nope (id int)", "CREATE TABLE public.nope (id int)",
                          "CREATE TEMP TABLE nope (id int)", "CREATE SCHEMA nope"):
            with pytest.raises(DatabaseError) as denied:
                conn.run(statement)
            assert sqlstate(denied.value) == INSUFFICIENT_PRIVILEGE, statement
    finally:
        conn.close()


def test_writer_can_create_and_fill_a_table_in_crm(customer_db):
    name = f"t_{uuid.uuid4().hex[:8]}"
    conn = customer_db.connect("writer")
    try:
        conn.run(f"CREATE TABLE crm.{name} (id int PRIMARY KEY, note text)")
        conn.run(f"INSERT INTO crm.{name} VALUES (1, 'hello')")
        assert conn.run(f"SELECT note FROM crm.{name}") == [["hello"]]
        reader = customer_db.connect("reader")
        try:
            assert reader.run(f"SELECT count(*) FROM crm.{name}") == [[1]]  # default privileges
        finally:
            reader.close()
    finally:
        conn.run(f"DROP TABLE IF EXISTS crm.{name}")
        conn.close()


def test_a_wrong_password_is_refused(customer_db):
    with pytest.raises(DatabaseError) as refused:
        customer_db.connect("reader", password="not-the-password")
    assert sqlstate(refused.value) == "28P01"


def test_tls_verifies_against_the_throwaway_ca(customer_db):
    context = ssl.create_default_context(cadata=customer_db.ca_pem)
    conn = pg8000.native.Connection(user="reader", password=customer_db.reader_password, host="localhost",
                                    port=customer_db.port, database=customer_db.database, ssl_context=context,
                                    timeout=10)
    try:
        assert conn.run("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()") == [[True]]
    finally:
        conn.close()
    for name in ("db.customer.test", "127.0.0.1"):
        customer_db.connect("reader", ssl_context=customer_db.ssl_context(), server_hostname=name).close()
    with pytest.raises(ssl.SSLCertVerificationError):
        customer_db.connect("reader", ssl_context=customer_db.ssl_context(), server_hostname="other.test")
    with pytest.raises(ssl.SSLCertVerificationError):
        customer_db.connect("reader", ssl_context=ssl.create_default_context())  # the system CAs: unknown
    plain = customer_db.connect("reader", ssl_context=False)
    try:
        assert plain.run("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()") == [[False]]
    finally:
        plain.close()


def test_statistics_are_gathered(customer_db):
    rows = customer_db.admin_run("SELECT attname FROM pg_stats WHERE schemaname = 'crm' AND tablename = 'customers'")
    assert {"id", "name", "country", "segment", "created_at"} <= {r[0] for r in rows}
    estimates = dict(customer_db.admin_run(
        "SELECT relname, reltuples::bigint FROM pg_class WHERE relnamespace = 'crm'::regnamespace "
        "AND relkind = 'r'"))
    assert estimates["customers"] == 200 and estimates["orders"] == 3000
    assert 7000 <= estimates["order_items"] <= 9000


def test_a_stopped_server_refuses_connections_until_started_again(customer_db):
    customer_db.stop()
    try:
        with pytest.raises(InterfaceError):
            customer_db.connect("reader", timeout=2)
    finally:
        customer_db.start()
    conn = customer_db.connect("reader")
    try:
        assert conn.run("SELECT count(*) FROM crm.products") == [[50]]
    finally:
        conn.close()
