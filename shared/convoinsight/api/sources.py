"""Routes of the ``sources`` function: PostgreSQL connections, their tables, custom SQL, and links into domains."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from convoinsight.observability import audit
from convoinsight.sources import connections, links, service
from convoinsight.validation import validated
from convoinsight.web.app import FunctionApp, RequestContext, json_body

app = FunctionApp("sources")
MAX_PAGE_ROWS = 1000


class TablesQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_: str | None = Field(None, alias="schema", min_length=1, max_length=63)
    refresh: bool = False


class RowsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(100, ge=0, le=MAX_PAGE_ROWS)
    offset: int = Field(0, ge=0, le=10**12)
    schema_: str | None = Field(None, alias="schema", min_length=1, max_length=63)


class SchemaQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_: str | None = Field(None, alias="schema", min_length=1, max_length=63)


class QueryBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sql: str = Field(..., min_length=1)
    limit: int | None = Field(None, ge=1)


# The bodies of the table writes, for the OpenAPI document: sources.service and sources.writes check them.
class DatasetRef(BaseModel):
    domain: str
    dataset: str


class ColumnDef(BaseModel):
    name: str
    type: str = Field(description="from the allow-list: integers, numeric, real, double precision, text, varchar, "
                                  "char, boolean, date, timestamp[tz], time, interval, uuid, json[b], bytea")


class TableRows(BaseModel):
    """The rows of a write: one of your datasets (``from``), or ``columns`` with JSON ``rows``."""

    schema_: str | None = Field(None, alias="schema")
    from_: DatasetRef | None = Field(None, alias="from")
    columns: list[ColumnDef] | None = None
    rows: list[list[Any] | dict[str, Any]] | None = Field(None, description="lists in column order, or objects "
                                                                            "by column name")


class CreateTableBody(TableRows):
    name: str = Field(min_length=1, description="the new table's name")


class WriteTableBody(TableRows):
    mode: Literal["replace", "append"]


@app.route("POST", "/postgres", limit="dataset_ops", body=connections.ConnectionIn,
           summary="Connect a PostgreSQL database", responses={201: "application/json"})
def create(ctx: RequestContext):
    record = connections.create(ctx.services, ctx.user_id, json_body(ctx.request))
    audit.record(ctx.services, ctx.user_id, "source.create", record["name"], host=record["host"],
                 allow_writes=record["allow_writes"])
    return connections.public(record), 201


@app.route("GET", "/postgres", limit="dataset_ops", summary="Your connections, masked")
def list_connections(ctx: RequestContext):
    return {"connections": [connections.public(r) for r in connections.list_all(ctx.services, ctx.user_id)]}


@app.route("GET", "/postgres/<conn>", limit="dataset_ops", summary="One connection, masked")
def get(ctx: RequestContext, conn: str):
    return connections.public(connections.get(ctx.services, ctx.user_id, conn))


@app.route("PATCH", "/postgres/<conn>", limit="dataset_ops", body=connections.ConnectionPatch,
           summary="Change a connection")
def patch(ctx: RequestContext, conn: str):
    body = json_body(ctx.request)
    record = connections.update(ctx.services, ctx.user_id, conn, body)
    service.forget_catalog(ctx.services, ctx.user_id, conn)
    audit.record(ctx.services, ctx.user_id, "source.update", conn, fields=sorted(body))
    return connections.public(record)


@app.route("DELETE", "/postgres/<conn>", limit="dataset_ops", summary="Forget a connection and its links")
def delete(ctx: RequestContext, conn: str):
    return service.delete_connection(ctx.services, ctx.user_id, conn)


@app.route("POST", "/postgres/<conn>/test", limit="dataset_ops", summary="Connect and report what was found")
def test(ctx: RequestContext, conn: str):
    return service.test(ctx.services, ctx.user_id, conn)


@app.route("GET", "/postgres/<conn>/tables", query=TablesQuery, limit="dataset_ops",
           summary="The tables and views of the connection's schema")
def tables(ctx: RequestContext, conn: str):
    listed = service.tables(ctx.services, ctx.user_id, conn, ctx.query.schema_, ctx.query.refresh)
    return {"connection": conn, "tables": listed}


@app.route("POST", "/postgres/<conn>/tables", limit="dataset_ops", body=CreateTableBody,
           summary="Create a table (allow_writes)", responses={201: "application/json"})
def create_table(ctx: RequestContext, conn: str):
    return service.create_table(ctx.services, ctx.user_id, conn, json_body(ctx.request)), 201


@app.route("GET", "/postgres/<conn>/tables/<table>", query=RowsQuery, limit="dataset_ops",
           summary="A page of a table's rows")
def rows(ctx: RequestContext, conn: str, table: str):
    return service.rows(ctx.services, ctx.user_id, conn, table, ctx.query.limit, ctx.query.offset,
                        ctx.query.schema_)


@app.route("PUT", "/postgres/<conn>/tables/<table>", limit="dataset_ops", body=WriteTableBody,
           summary="Replace or append a table's rows (allow_writes)")
def write_table(ctx: RequestContext, conn: str, table: str):
    return service.write_table(ctx.services, ctx.user_id, conn, table, json_body(ctx.request))


@app.route("DELETE", "/postgres/<conn>/tables/<table>", query=SchemaQuery, limit="dataset_ops",
           summary="Drop a table (allow_writes)")
def drop_table(ctx: RequestContext, conn: str, table: str):
    return service.drop_table(ctx.services, ctx.user_id, conn, table, ctx.query.schema_)


@app.route("POST", "/postgres/<conn>/query", limit="query", body=QueryBody,
           summary="Run one guarded SELECT, read-only")
def query(ctx: RequestContext, conn: str):
    body = validated(QueryBody, json_body(ctx.request))
    return service.query(ctx.services, ctx.user_id, conn, body.sql, body.limit)


@app.route("POST", "/postgres/<conn>/links", limit="dataset_ops", body=links.LinkRequest,
           summary="Link tables into a domain", responses={201: "application/json"})
def link(ctx: RequestContext, conn: str):
    return service.link(ctx.services, ctx.user_id, conn, json_body(ctx.request)), 201


@app.route("POST", "/postgres/<conn>/link", limit="dataset_ops", body=links.LinkRequest,
           responses={201: "application/json"})
def link_alias(ctx: RequestContext, conn: str):
    """The same as POST /postgres/{conn}/links."""
    return link(ctx, conn)


@app.route("GET", "/postgres/<conn>/links", limit="dataset_ops", summary="The connection's links, in every domain")
def list_links(ctx: RequestContext, conn: str):
    connections.get(ctx.services, ctx.user_id, conn)
    return {"connection": conn, "links": [links.summary(x) for x in links.of_connection(ctx.services, ctx.user_id,
                                                                                           conn)]}


@app.route("POST", "/postgres/<conn>/links/refresh", limit="dataset_ops",
           summary="Read the linked tables' catalog and statistics again")
def refresh_links(ctx: RequestContext, conn: str):
    return service.refresh_links(ctx.services, ctx.user_id, conn)


@app.route("DELETE", "/postgres/<conn>/links/<domain>/<name>", limit="dataset_ops",
           summary="Unlink a table from a domain")
def unlink(ctx: RequestContext, conn: str, domain: str, name: str):
    connections.get(ctx.services, ctx.user_id, conn)
    removed = links.remove(ctx.services, ctx.user_id, conn, domain, name)
    audit.record(ctx.services, ctx.user_id, "source.unlink", f"{conn}/{domain}/{name}")
    return {"deleted": {"connection": conn, "domain": domain, "name": removed["name"]}}
