"""Documents in PostgreSQL (local mode): one JSONB table keyed by (collection, id)."""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import pg8000.native

from convoinsight.errors import Conflict, ServiceUnavailable
from convoinsight.storage.documents import Ref, Write, batch_of, refs_of, refuse_nul
from convoinsight.storage.postgres_pool import PostgresPool

SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    collection TEXT NOT NULL,
    id TEXT NOT NULL,
    data JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (collection, id)
)
"""
# pg8000's ``run`` with parameters costs three round trips (parse, describe, bind and execute) and walks the text a
# character at a time to turn :name into $n, every time. The statements here are a few fixed texts (put_many's and
# get_many's one per row count), so each connection prepares each once and later runs cost one round trip.
PREPARED_PER_CONNECTION = 32
_PREPARED = "_convoinsight_prepared"  # the connection's attribute: sql -> PreparedStatement, least recent first
_FIELD_OK = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


def _check_field(name: str) -> None:
    # Field names are interpolated into SQL, so they must be plain identifiers; values never are.
    if not name or set(name) - _FIELD_OK:
        raise ValueError(f"bad field name {name!r}")


def _execute(conn: pg8000.native.Connection, sql: str, params: dict[str, Any]) -> list:
    """``conn.run(sql, **params)`` as a statement this connection prepared once (see PREPARED_PER_CONNECTION).

    A connection that fails is dropped by the pool, and its prepared statements with it."""
    if not params:
        return conn.run(sql)
    prepared: OrderedDict[str, pg8000.native.PreparedStatement] | None = getattr(conn, _PREPARED, None)
    if prepared is None:
        prepared = OrderedDict()
        setattr(conn, _PREPARED, prepared)
    statement = prepared.get(sql)
    if statement is None:
        statement = prepared[sql] = conn.prepare(sql)
        if len(prepared) > PREPARED_PER_CONNECTION:
            prepared.popitem(last=False)[1].close()
    else:
        prepared.move_to_end(sql)
    return statement.run(**params)


class PostgresDocumentStore:
    def __init__(self, pool: PostgresPool):
        self.pool = pool
        self._ready = False

    def _ensure_schema(self, conn: pg8000.native.Connection) -> None:
        if not self._ready:
            # Concurrent first requests may race on CREATE TABLE IF NOT EXISTS; an advisory lock serialises them.
            conn.run("SELECT pg_advisory_lock(7426001)")
            try:
                conn.run(SCHEMA)
            finally:
                conn.run("SELECT pg_advisory_unlock(7426001)")
            self._ready = True

    def _run(self, sql: str, **params: Any) -> list:
        for attempt in range(2):
            try:
                with self.pool.connection() as conn:
                    self._ensure_schema(conn)
                    return _execute(conn, sql, params)
            except ServiceUnavailable as exc:
                # A pooled connection that died with a restarted server gets one retry on a fresh one;
                # every statement here is a single idempotent-or-guarded write or a read.
                if attempt or exc.code != "postgres_connection_lost":
                    raise
        raise AssertionError("unreachable")

    def get(self, collection: str, doc_id: str) -> dict[str, Any] | None:
        refuse_nul(collection, doc_id)
        rows = self._run("SELECT data FROM documents WHERE collection = :c AND id = :i", c=collection, i=doc_id)
        return rows[0][0] if rows else None

    def get_many(self, refs: Sequence[Ref]) -> list[dict[str, Any] | None]:
        """One SELECT of every ref: a single statement reads one consistent snapshot."""
        refs = [(collection, doc_id) for collection, doc_id in refs]
        unique = refs_of(refs)
        if not unique:
            return []
        keys, params = [], {}
        for n, (collection, doc_id) in enumerate(unique):
            keys.append(f"(:c{n}, :i{n})")
            params.update({f"c{n}": collection, f"i{n}": doc_id})
        rows = self._run(
            f"SELECT collection, id, data FROM documents WHERE (collection, id) IN ({', '.join(keys)})",  # noqa: S608
            **params,
        )
        found = {(collection, doc_id): data for collection, doc_id, data in rows}
        return [found.get((collection, doc_id)) for collection, doc_id in refs]

    def create(self, collection: str, doc_id: str, data: dict[str, Any]) -> None:
        refuse_nul(collection, doc_id, data)  # JSONB cannot hold U+0000: refused before the statement
        rows = self._run(
            "INSERT INTO documents (collection, id, data) VALUES (:c, :i, CAST(:d AS jsonb)) "
            "ON CONFLICT (collection, id) DO NOTHING RETURNING id",
            c=collection, i=doc_id, d=json.dumps(data),
        )
        if not rows:
            raise Conflict(f"document {doc_id!r} already exists", code="already_exists")

    def put(self, collection: str, doc_id: str, data: dict[str, Any]) -> None:
        refuse_nul(collection, doc_id, data)
        self._run(
            "INSERT INTO documents (collection, id, data) VALUES (:c, :i, CAST(:d AS jsonb)) "
            "ON CONFLICT (collection, id) DO UPDATE SET data = EXCLUDED.data, updated_at = now()",
            c=collection, i=doc_id, d=json.dumps(data),
        )

    def put_many(self, writes: Sequence[Write]) -> None:
        """One INSERT of every row: a single statement is atomic, so all rows are written or none."""
        unique = batch_of(writes, serialize=json.dumps)  # each document's JSON, made once and checked for NUL
        if not unique:
            return
        rows, params = [], {}
        for n, ((collection, doc_id), text) in enumerate(unique.items()):
            rows.append(f"(:c{n}, :i{n}, CAST(:d{n} AS jsonb))")
            params.update({f"c{n}": collection, f"i{n}": doc_id, f"d{n}": text})
        self._run(
            f"INSERT INTO documents (collection, id, data) VALUES {', '.join(rows)} "  # noqa: S608 - placeholders only
            "ON CONFLICT (collection, id) DO UPDATE SET data = EXCLUDED.data, updated_at = now()",
            **params,
        )

    def put_if_newer(self, collection: str, doc_id: str, data: dict[str, Any], field: str) -> bool:
        _check_field(field)
        refuse_nul(collection, doc_id, data)
        rows = self._run(
            "INSERT INTO documents (collection, id, data) VALUES (:c, :i, CAST(:d AS jsonb)) "
            "ON CONFLICT (collection, id) DO UPDATE SET data = EXCLUDED.data, updated_at = now() "
            "WHERE (documents.data -> CAST(:f AS text))::numeric < (EXCLUDED.data -> CAST(:f AS text))::numeric "
            "RETURNING id",
            c=collection, i=doc_id, d=json.dumps(data), f=field,
        )
        return bool(rows)

    def increment(self, collection: str, doc_id: str, field: str, amount: int) -> None:
        _check_field(field)
        self._run(
            "INSERT INTO documents (collection, id, data) VALUES (:c, :i, jsonb_build_object(CAST(:f AS text), "
            "CAST(:n AS bigint))) ON CONFLICT (collection, id) DO UPDATE SET data = jsonb_set(documents.data, "
            "ARRAY[CAST(:f AS text)], to_jsonb(COALESCE((documents.data ->> CAST(:f AS text))::bigint, 0) + "
            "CAST(:n AS bigint))), updated_at = now()",
            c=collection, i=doc_id, f=field, n=int(amount),
        )

    def delete(self, collection: str, doc_id: str) -> bool:
        refuse_nul(collection, doc_id)
        rows = self._run("DELETE FROM documents WHERE collection = :c AND id = :i RETURNING id",
                         c=collection, i=doc_id)
        return bool(rows)

    def list(
        self,
        collection: str,
        *,
        where: dict[str, Any] | None = None,
        order_by: str | None = None,
        descending: bool = False,
        limit: int | None = None,
        after: tuple[Any, str] | None = None,
    ) -> list[dict[str, Any]]:
        refuse_nul(collection, "", where)
        sql = "SELECT data FROM documents WHERE collection = :c"
        params: dict[str, Any] = {"c": collection}
        if where:
            sql += " AND data @> CAST(:w AS jsonb)"
            params["w"] = json.dumps(where)
        if after is not None and not order_by:
            raise ValueError("a cursor needs order_by")
        if order_by:
            _check_field(order_by)
            direction, past = ("DESC", "<") if descending else ("ASC", ">")
            # As Firestore does: documents without the field are not in an ordered list.
            sql += " AND data ? CAST(:o AS text)"
            if after is not None:
                refuse_nul(collection, str(after[1]), {"after": after[0]})
                sql += f" AND (data -> CAST(:o AS text), id) {past} (CAST(:av AS jsonb), CAST(:ai AS text))"
                params.update(av=json.dumps(after[0]), ai=str(after[1]))
            sql += f" ORDER BY data -> CAST(:o AS text) {direction}, id {direction}"
            params["o"] = order_by
        else:
            sql += " ORDER BY id"
        if limit is not None:
            sql += " LIMIT :lim"
            params["lim"] = int(limit)
        return [row[0] for row in self._run(sql, **params)]

    def delete_tree(self, prefix: str) -> int:
        refuse_nul(prefix, "")
        rows = self._run(
            "DELETE FROM documents WHERE collection = :p OR left(collection, length(:p) + 1) = :p || '/' "
            "RETURNING id",
            p=prefix,
        )
        return len(rows)

    def ping(self) -> None:
        with self.pool.connection() as conn:
            conn.run("SELECT 1")
