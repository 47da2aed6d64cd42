"""Documents in PostgreSQL (local mode): one JSONB table keyed by (collection, id)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pg8000.native

from convoinsight.errors import Conflict, ServiceUnavailable
from convoinsight.storage.documents import Write, batch_of, refuse_nul
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
_FIELD_OK = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


def _check_field(name: str) -> None:
    # Field names are interpolated into SQL, so they must be plain identifiers; values never are.
    if not name or set(name) - _FIELD_OK:
        raise ValueError(f"bad field name {name!r}")


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
                    return conn.run(sql, **params)
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
        unique = batch_of(writes)
        if not unique:
            return
        rows, params = [], {}
        for n, ((collection, doc_id), data) in enumerate(unique.items()):
            rows.append(f"(:c{n}, :i{n}, CAST(:d{n} AS jsonb))")
            params.update({f"c{n}": collection, f"i{n}": doc_id, f"d{n}": json.dumps(data)})
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
