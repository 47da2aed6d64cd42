"""The PostgreSQL document store prepares each statement once per connection (storage/postgres_documents.py).

A write of a cached answer's turn is the one PostgreSQL statement of that request: run as text, pg8000 spends three
round trips and a character walk of the text on it every time; prepared, one round trip. What users rely on: the
same rows come back however often a statement runs, the cache per connection is bounded, and a connection lost
with a restarted server takes its prepared statements with it (the next request works on a fresh one).
"""

from __future__ import annotations

import pg8000.native
import pytest

from convoinsight.storage import postgres_documents
from convoinsight.storage.postgres_documents import PREPARED_PER_CONNECTION, PostgresDocumentStore
from convoinsight.storage.postgres_pool import PostgresPool, connection_args


@pytest.fixture
def store(postgres):
    pool = PostgresPool(postgres.url, size=1)  # one connection: every statement meets the same cache
    yield PostgresDocumentStore(pool)
    pool.close()


def _prepared(store: PostgresDocumentStore) -> dict:
    with store.pool.connection() as conn:
        return dict(getattr(conn, postgres_documents._PREPARED, {}))


def _round_trips(monkeypatch) -> list[int]:
    """Counts pg8000's flushes of its socket: one per round trip to the server."""
    import pg8000.core

    count, flush = [0], pg8000.core._flush

    def counted(sock):
        count[0] += 1
        return flush(sock)

    monkeypatch.setattr(pg8000.core, "_flush", counted)
    return count


def test_a_repeated_write_is_prepared_once_and_costs_one_round_trip(store, monkeypatch):
    store.put_many([("prep_turns", "warm", {"n": 0})])
    trips = _round_trips(monkeypatch)
    for n in range(1, 6):
        store.put_many([("prep_turns", f"t{n}", {"n": n, "text": "é € 数据"}),
                        ("prep_sessions", "s", {"count": n})])
    statements = [sql for sql in _prepared(store) if sql.startswith("INSERT")]
    assert len(statements) == 2  # one row and two rows: one prepared statement per text
    # the first two-row write prepares (one round trip) and runs (one); the other four run in one each
    assert trips[0] == 2 + 4
    assert [store.get("prep_turns", f"t{n}") for n in range(1, 6)] == \
        [{"n": n, "text": "é € 数据"} for n in range(1, 6)]
    assert store.get("prep_sessions", "s") == {"count": 5}


def test_the_cache_per_connection_is_bounded_and_closes_what_it_drops(store, monkeypatch):
    closed: list[str] = []
    close = pg8000.native.PreparedStatement.close

    def recorded(statement):
        closed.append(statement.statement)
        close(statement)

    monkeypatch.setattr(pg8000.native.PreparedStatement, "close", recorded)
    refs = [("prep_bound", f"d{n}") for n in range(PREPARED_PER_CONNECTION + 8)]
    store.put_many([(*ref, {"n": 1}) for ref in refs])
    for size in range(1, PREPARED_PER_CONNECTION + 8):  # get_many has one text per number of refs
        assert store.get_many(refs[:size]) == [{"n": 1}] * size
    assert len(_prepared(store)) == PREPARED_PER_CONNECTION
    assert len(closed) >= 8
    assert store.get_many(refs) == [{"n": 1}] * len(refs)  # still right after evictions


def test_a_lost_connection_takes_its_prepared_statements_and_the_next_write_works(store, postgres):
    store.put("prep_restart", "a", {"v": 1})
    with store.pool.connection() as conn:
        before, (pid,) = conn, conn.run("SELECT pg_backend_pid()")[0]
        assert getattr(conn, postgres_documents._PREPARED)
    admin = pg8000.native.Connection(**connection_args(postgres.url))
    try:  # the server ends this backend, as a restart would
        assert admin.run("SELECT pg_terminate_backend(:pid)", pid=pid) == [[True]]
    finally:
        admin.close()
    store.put("prep_restart", "b", {"v": 2})  # the store retries once on a fresh connection
    with store.pool.connection() as conn:
        assert conn is not before
    assert store.get("prep_restart", "b") == {"v": 2} and store.get("prep_restart", "a") == {"v": 1}
