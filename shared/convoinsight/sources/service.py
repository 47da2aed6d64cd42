"""Use cases of the ``sources`` function: test a connection, browse and write its tables, custom SQL, links.

Catalog reads and writes run here, over a connection opened for the request (pinned, TLS per
sslmode) inside one transaction: READ ONLY for reads, READ WRITE only for the three table writes,
which need ``allow_writes`` and are audited. Custom SQL and questions run in the PostgreSQL workers.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

from convoinsight.datasets import service as datasets
from convoinsight.errors import Forbidden, PayloadTooLarge, SqlExecutionError, Unprocessable
from convoinsight.observability import audit
from convoinsight.services import Services
from convoinsight.sources import connections, execute, links, postgres
from convoinsight.sources.postgres import SourceUnavailable
from convoinsight.sql.execute import SqlLimits

WRITE_BATCH_ROWS = 1000


@contextlib.contextmanager
def session(services: Services, record: dict[str, Any], *, read_only: bool = True,
            search_path: str | None = None) -> Iterator[Any]:
    """A connection in one transaction (committed at the end of the block, rolled back on any error)."""
    from pg8000.exceptions import DatabaseError, InterfaceError

    settings = services.settings
    timeout = settings.source_statement_timeout_seconds * (1 if read_only else 2)
    conn = postgres.connect(connections.target(settings, record), timeout)
    try:
        with postgres.transaction(conn, read_only=read_only, timeout_s=timeout, search_path=search_path):
            yield conn
    except DatabaseError as exc:
        raise database_error(exc, timeout) from None
    except (InterfaceError, OSError) as exc:
        raise SourceUnavailable(f"the connection to PostgreSQL was lost ({exc})") from None
    finally:
        postgres.close_quietly(conn)


def database_error(exc: Exception, timeout: float):
    state = postgres.sqlstate(exc)
    if state == "57014":
        return SqlExecutionError(f"PostgreSQL stopped the statement at the {timeout:g} s limit", code="sql_timeout",
                                 details={"code": "sql_timeout", "stage": "timeout", "sqlstate": state})
    if state == "42501":
        return Forbidden(f"PostgreSQL: {postgres.server_message(exc)}", code="source_permission_denied",
                         details={"sqlstate": state})
    return Unprocessable(f"PostgreSQL: {postgres.server_message(exc)}", code="source_error",
                         details={"sqlstate": state})


def test(services: Services, user_id: str, name: str) -> dict[str, Any]:
    from pg8000.exceptions import DatabaseError

    record = connections.get(services, user_id, name)
    started = time.perf_counter()
    settings = services.settings
    conn = postgres.connect(connections.target(settings, record), settings.source_statement_timeout_seconds)
    try:
        connected = time.perf_counter()
        conn.run("SELECT 1")
        round_trip = time.perf_counter()
        with postgres.transaction(conn, read_only=True, timeout_s=settings.source_statement_timeout_seconds):
            (version, user, superuser, recovery, schema_exists, can_create, can_modify, read_only_default), = conn.run(
                "SELECT current_setting('server_version'), current_user, "
                "(SELECT rolsuper FROM pg_roles WHERE rolname = current_user), pg_is_in_recovery(), "
                "EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = :schema), "
                "COALESCE(has_schema_privilege(current_user, (SELECT oid FROM pg_namespace WHERE nspname = :schema),"
                " 'CREATE'), false), "
                "EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = :schema AND c.relkind IN ('r', 'p') AND has_table_privilege(c.oid, "
                "'INSERT, UPDATE, DELETE')), current_setting('default_transaction_read_only') = 'on'",
                schema=record["schema"])
        tls = postgres.tls_state(conn)
    except DatabaseError as exc:
        raise database_error(exc, settings.source_statement_timeout_seconds) from None
    finally:
        postgres.close_quietly(conn)
    can_write = bool((can_create or can_modify) and not recovery and not read_only_default)
    warnings = []
    if superuser:
        warnings.append("the role is a superuser: connect with a role that can only read what questions need")
    if not schema_exists:
        warnings.append(f"schema {record['schema']!r} does not exist on this database")
    if can_write and not record["allow_writes"]:
        warnings.append("the role can write, but this connection does not allow writes: questions and custom SQL "
                        "always run read-only")
    if not tls["enabled"]:
        warnings.append("the connection is not encrypted (sslmode disable, or prefer without TLS on the server)")
    return {"ok": True, "connection": name, "latency_ms": round((round_trip - connected) * 1000, 2),
            "connect_ms": round((connected - started) * 1000, 2), "server_version": version, "user": user,
            "superuser": bool(superuser), "can_write": can_write, "writes_allowed": record["allow_writes"],
            "read_replica": bool(recovery), "schema": record["schema"], "schema_exists": bool(schema_exists),
            "tls": {**tls, "sslmode": record["sslmode"],
                    "verified": tls["enabled"] and record["sslmode"] in ("verify-ca", "verify-full"),
                    "host_name_checked": tls["enabled"] and record["sslmode"] == "verify-full"},
            "warnings": warnings}


def _catalog_scope(name: str) -> str:
    return f"source:{name}"


def tables(services: Services, user_id: str, name: str, schema: str | None = None,
           refresh: bool = False) -> list[dict[str, Any]]:
    """The connection's tables (cached SOURCE_SCHEMA_CACHE_SECONDS; ``refresh`` reads the catalog again)."""
    from convoinsight.sources import catalog  # pg8000: loaded on use, not at cold start

    record = connections.get(services, user_id, name)
    schema = schema or record["schema"]
    settings = services.settings

    def compute() -> list[dict[str, Any]]:
        with session(services, record) as conn:
            return catalog.list_tables(conn, schema)

    if refresh:
        services.cache.invalidate(user_id, _catalog_scope(name))
    return services.cache.cached(user_id, _catalog_scope(name), "catalog",
                                 (record["version"], schema), compute, ttl=settings.source_schema_cache_seconds)


def forget_catalog(services: Services, user_id: str, name: str) -> None:
    services.cache.invalidate(user_id, _catalog_scope(name))


def rows(services: Services, user_id: str, name: str, table: str, limit: int, offset: int,
         schema: str | None = None) -> dict[str, Any]:
    from convoinsight.sources import catalog  # pg8000: loaded on use, not at cold start

    record = connections.get(services, user_id, name)
    meta = catalog.find_table(tables(services, user_id, name, schema), table)
    with session(services, record) as conn:
        page = catalog.read_rows(conn, meta["schema"], meta, limit, offset)
    return {"connection": name, "schema": meta["schema"], "table": meta["name"],
            "row_estimate": meta.get("row_estimate"), **page}


def _writable(services: Services, user_id: str, name: str) -> dict[str, Any]:
    record = connections.get(services, user_id, name)
    if not record["allow_writes"]:
        raise Forbidden(f"connection {name!r} does not allow writes; PATCH it with {{\"allow_writes\": true}} first",
                        code="writes_not_allowed")
    return record


def _source_rows(services: Services, user_id: str, body: dict[str, Any]):
    """(columns, batches, audit details) of a write: from one of the caller's datasets, or JSON rows with types."""
    from convoinsight.sources import writes  # pg8000: loaded on use, not at cold start

    limit = services.settings.source_write_max_rows
    origin = body.get("from")
    if origin is not None:
        if not isinstance(origin, dict) or set(origin) != {"domain", "dataset"}:
            raise Unprocessable("`from` is {\"domain\": ..., \"dataset\": ...}", code="invalid_request")
        dataset = datasets.get_record(services, user_id, str(origin["domain"]), str(origin["dataset"]))
        if int(dataset["rows"]) > limit:
            raise PayloadTooLarge(f"the dataset has {dataset['rows']:,} rows; a write may carry at most {limit:,} "
                                  "(SOURCE_WRITE_MAX_ROWS)", code="too_many_rows")
        frame = datasets.scan(services, dataset)
        columns = writes.columns_of_frame(frame.collect_schema())
        batches = (part.rows() for part in frame.collect().iter_slices(WRITE_BATCH_ROWS))
        return columns, batches, {"domain": origin["domain"], "dataset": dataset["name"]}
    if "columns" not in body or "rows" not in body:
        raise Unprocessable("send `from` {domain, dataset}, or `columns` [{name, type}] with `rows`",
                            code="invalid_request")
    columns = writes.parse_columns(body["columns"])
    given = writes.rows_from_json(columns, body["rows"])
    if len(given) > limit:
        raise PayloadTooLarge(f"{len(given):,} rows; a write may carry at most {limit:,} (SOURCE_WRITE_MAX_ROWS)",
                              code="too_many_rows")
    batches = (given[i:i + WRITE_BATCH_ROWS] for i in range(0, len(given), WRITE_BATCH_ROWS))
    return columns, batches, {"origin": "json"}


def create_table(services: Services, user_id: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
    from convoinsight.sources import writes  # pg8000: loaded on use, not at cold start

    record = _writable(services, user_id, name)
    table = body.get("name")
    if not isinstance(table, str) or not table:
        raise Unprocessable("`name` (the new table's name) is required", code="invalid_request")
    schema = body.get("schema") or record["schema"]
    columns, batches, origin = _source_rows(services, user_id, body)
    with session(services, record, read_only=False) as conn:
        written = writes.create_table(conn, schema, table, columns, batches)
    forget_catalog(services, user_id, name)
    audit.record(services, user_id, "source.table.create", f"{name}/{schema}.{table}", rows=written, **origin)
    return {"connection": name, "schema": schema, "table": table, "rows_written": written,
            "columns": [{"name": c.name, "type": c.type_sql} for c in columns]}


def write_table(services: Services, user_id: str, name: str, table: str, body: dict[str, Any]) -> dict[str, Any]:
    from convoinsight.sources import catalog, writes  # pg8000: loaded on use, not at cold start

    record = _writable(services, user_id, name)
    mode = body.get("mode")
    if mode not in ("replace", "append"):
        raise Unprocessable("`mode` must be replace or append", code="invalid_request")
    meta = catalog.find_table(tables(services, user_id, name, body.get("schema"), refresh=True), table)
    columns, batches, origin = _source_rows(services, user_id, {k: v for k, v in body.items()
                                                                       if k not in ("mode", "schema")})
    with session(services, record, read_only=False) as conn:
        written = writes.write_rows(conn, meta["schema"], meta, mode, columns, batches)
    forget_catalog(services, user_id, name)
    audit.record(services, user_id, f"source.table.{mode}", f"{name}/{meta['schema']}.{meta['name']}",
                 rows=written, **origin)
    return {"connection": name, "schema": meta["schema"], "table": meta["name"], "mode": mode,
            "rows_written": written}


def drop_table(services: Services, user_id: str, name: str, table: str, schema: str | None = None) -> dict[str, Any]:
    from convoinsight.sources import catalog, writes  # pg8000: loaded on use, not at cold start

    record = _writable(services, user_id, name)
    meta = catalog.find_table(tables(services, user_id, name, schema, refresh=True), table)
    with session(services, record, read_only=False) as conn:
        writes.drop_table(conn, meta["schema"], meta["name"])
    forget_catalog(services, user_id, name)
    audit.record(services, user_id, "source.table.drop", f"{name}/{meta['schema']}.{meta['name']}")
    return {"deleted": {"connection": name, "schema": meta["schema"], "table": meta["name"]}}


def query(services: Services, user_id: str, name: str, sql: str, limit: int | None) -> dict[str, Any]:
    """Custom SQL: the model's guard on the tree, over the tables of the connection's schema, run read-only."""
    from convoinsight.sources import pushdown  # sqlglot: loaded on use, not at cold start
    from convoinsight.sql.guard import check_select

    record = connections.get(services, user_id, name)
    known = tables(services, user_id, name)
    by_name = {t["name"].lower(): t for t in known}
    checked = check_select(sql, by_name.keys())
    text = pushdown.pushdown_sql(checked.sql, {n: (by_name[n]["schema"], by_name[n]["name"]) for n in checked.tables})
    settings = services.settings
    limits = SqlLimits.from_settings(settings)
    if limit is not None:
        limits = SqlLimits(**{**limits.__dict__, "max_rows": min(limit, limits.max_rows)})
    table = execute.query(execute.source_pool(settings), connections.target(settings, record), text,
                          record["schema"], limits, settings.source_statement_timeout_seconds)
    return {"connection": name, "sql": checked.sql, "executed_sql": text, "table": table.as_dict()}


def link(services: Services, user_id: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
    from convoinsight.sources import catalog  # pg8000: loaded on use, not at cold start

    record = connections.get(services, user_id, name)
    request = links.parse_request(body)
    items = links.wanted(request)
    schema = request.schema_ or record["schema"]
    known = tables(services, user_id, name, schema, refresh=True)
    chosen = [(item, catalog.find_table(known, item.table)) for item in items]
    with session(services, record) as conn:
        profiles = [catalog.table_profile(conn, schema, meta) for _, meta in chosen]
    saved = [links.record(record, schema, meta, links.link_name(item), profile)
             for (item, meta), profile in zip(chosen, profiles, strict=True)]
    links.save(services, user_id, request.domain, saved)
    return {"domain": request.domain, "linked": [links.summary(s) for s in saved]}


def refresh_links(services: Services, user_id: str, name: str) -> dict[str, Any]:
    """Read the catalog and pg_stats again for every link of the connection (new columns, new estimates)."""
    from convoinsight.sources import catalog  # pg8000: loaded on use, not at cold start

    record = connections.get(services, user_id, name)
    current = links.of_connection(services, user_id, name)
    refreshed = []
    by_schema: dict[str, list[dict[str, Any]]] = {}
    for link_record in current:
        by_schema.setdefault(link_record["schema"], []).append(link_record)
    with session(services, record) as conn:
        for schema, items in by_schema.items():
            known = catalog.list_tables(conn, schema)
            for item in items:
                meta = catalog.find_table(known, item["table"])
                profile = catalog.table_profile(conn, schema, meta)
                refreshed.append((item["domain"], links.record(record, schema, meta, item["name"], profile,
                                                               int(item["version"]) + 1)))
    for domain in sorted({d for d, _ in refreshed}):
        links.save(services, user_id, domain, [r for d, r in refreshed if d == domain])
    forget_catalog(services, user_id, name)
    return {"refreshed": [links.summary({**r, "domain": d}) for d, r in refreshed]}


def delete_connection(services: Services, user_id: str, name: str) -> dict[str, Any]:
    connections.get(services, user_id, name)
    removed = links.remove_all(services, user_id, name)
    connections.delete(services, user_id, name)
    forget_catalog(services, user_id, name)
    audit.record(services, user_id, "source.delete", name, links=removed)
    return {"deleted": {"connection": name, "links": removed}}
