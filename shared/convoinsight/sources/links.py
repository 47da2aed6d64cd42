"""Linked tables: a connection's tables placed in a domain beside its uploaded datasets.

A link is a document under the domain (``tenants/<uid>/domains/<domain>/links/<name>``), so deleting
the domain deletes it. It holds the table's profile in the dataset profile's shape (from the
catalog and pg_stats, never a scan), which the router and the manipulator read exactly as they read
a dataset's; it is refreshed on demand. The name in the domain is the SQL table name questions use.
"""

from __future__ import annotations

import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from convoinsight import cache
from convoinsight.datasets import paths
from convoinsight.datasets.naming import RESERVED, check_dataset_name, check_domain, to_identifier
from convoinsight.errors import Conflict, NotFound
from convoinsight.services import Services
from convoinsight.validation import validated


def collection(user_id: str, domain: str) -> str:
    return paths.links(user_id, domain)


class TableLink(BaseModel):
    model_config = ConfigDict(extra="forbid")

    table: str = Field(..., min_length=1, max_length=63)
    name: str | None = None  # the table's name in the domain; default: the table name as an identifier


class LinkRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    domain: str
    tables: list[str | TableLink] = Field(..., min_length=1, max_length=100)
    schema_: str | None = Field(None, alias="schema", min_length=1, max_length=63)


def parse_request(body: dict[str, Any]) -> LinkRequest:
    request = validated(LinkRequest, body)
    check_domain(request.domain)
    return request


def wanted(request: LinkRequest) -> list[TableLink]:
    items = [item if isinstance(item, TableLink) else TableLink(table=item) for item in request.tables]
    names = [link_name(item) for item in items]
    if len(set(names)) != len(names):
        raise Conflict("two linked tables would have the same name in the domain; give one a `name`",
                       code="link_name_taken")
    return items


def link_name(item: TableLink) -> str:
    if item.name is not None:
        return check_dataset_name(item.name)
    name = to_identifier(item.table, fallback="table")
    return f"{name}_table" if name in RESERVED else name


def record(connection: dict[str, Any], schema: str, table: dict[str, Any], name: str, profile: dict[str, Any],
           version: int = 1) -> dict[str, Any]:
    return {
        "name": name, "kind": "postgres", "connection": connection["name"], "schema": schema,
        "table": table["name"], "table_kind": table.get("kind", "table"), "primary_key": table.get("primary_key", []),
        "foreign_keys": table.get("foreign_keys", []), "columns": table.get("columns", []), "profile": profile,
        "version": version, "refreshed_at": time.time(),
    }


def save(services: Services, user_id: str, domain: str, records: list[dict[str, Any]]) -> None:
    """Store the links (all or none), creating the domain if needed; names must be free in the domain."""
    docs = services.documents
    for rec in records:
        if docs.get(paths.datasets(user_id, domain), rec["name"]) is not None:
            raise Conflict(f"domain {domain!r} already has a dataset named {rec['name']!r}; link the table under "
                           "another `name`", code="link_name_taken")
        existing = docs.get(collection(user_id, domain), rec["name"])
        if existing is not None and (existing["connection"], existing["schema"], existing["table"]) != \
                (rec["connection"], rec["schema"], rec["table"]):
            raise Conflict(f"domain {domain!r} already links another table as {rec['name']!r}",
                           code="link_name_taken")
    writes = [(collection(user_id, domain), rec["name"], rec) for rec in records]
    if docs.get(paths.domains(user_id), domain) is None:
        writes.append((paths.domains(user_id), domain, {"name": domain, "created_at": time.time()}))
    try:
        docs.put_many(writes)
    finally:
        services.cache.invalidate(user_id, paths.DOMAINS_SCOPE, paths.domain_scope(domain))


_LINKS = ("profile", ("links",))  # (kind, parts) of a domain's cached links


def domain_links(services: Services, user_id: str, domain: str) -> list[dict[str, Any]]:
    """Every link of a domain (cached in the domain's scope, like its dataset records)."""
    def compute() -> list[dict[str, Any]]:
        return services.documents.list(collection(user_id, domain), order_by="name")

    kind, parts = _LINKS
    return services.cache.cached(user_id, paths.domain_scope(domain), kind, parts, compute)


def links_ref(user_id: str, domain: str) -> cache.Ref:
    """The cache entry ``domain_links`` reads (to fetch it ahead, with a request's rate limit)."""
    kind, parts = _LINKS
    return cache.ref(user_id, paths.domain_scope(domain), kind, *parts)


def of_connection(services: Services, user_id: str, connection: str) -> list[dict[str, Any]]:
    """Every link of one connection, with its domain, across the tenant's domains."""
    docs = services.documents
    found = []
    for domain in docs.list(paths.domains(user_id), order_by="name"):
        for link in docs.list(collection(user_id, domain["name"]), where={"connection": connection}):
            found.append({**link, "domain": domain["name"]})
    return sorted(found, key=lambda link: (link["domain"], link["name"]))


def remove(services: Services, user_id: str, connection: str, domain: str, name: str) -> dict[str, Any]:
    check_domain(domain)
    docs = services.documents
    link = docs.get(collection(user_id, domain), name)
    if link is None or link["connection"] != connection:
        raise NotFound(f"no table of connection {connection!r} is linked as {name!r} in domain {domain!r}",
                       code="link_not_found")
    try:
        docs.delete(collection(user_id, domain), name)
    finally:
        services.cache.invalidate(user_id, paths.DOMAINS_SCOPE, paths.domain_scope(domain))
    return link


def remove_all(services: Services, user_id: str, connection: str) -> int:
    links = of_connection(services, user_id, connection)
    for link in links:
        remove(services, user_id, connection, link["domain"], link["name"])
    return len(links)


def domain_tables(services: Services, user_id: str, domain: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(dataset records, link records) of a domain; 404 when it has neither."""
    from convoinsight.datasets import service as datasets

    check_domain(domain)
    linked = domain_links(services, user_id, domain)
    try:
        records = datasets.domain_records(services, user_id, domain)
    except NotFound:
        if not linked:
            raise
        records = []
    return records, linked


def state_entries(linked: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The links as the pipeline state lists them beside the datasets' profiles, foreign keys named by the
    names the domain uses (a referenced table that is not linked keeps its own name)."""
    names = {(link["connection"], link["schema"], link["table"]): link["name"] for link in linked}
    entries = []
    for link in linked:
        foreign = [{"columns": fk["columns"],
                    "references": names.get((link["connection"], fk["references"]["schema"],
                                             fk["references"]["table"]), fk["references"]["table"]),
                    "referenced_columns": fk["references"]["columns"]} for fk in link.get("foreign_keys", [])]
        entries.append({"name": link["name"], "version": link["version"], **link["profile"], "source": "postgres",
                        "foreign_keys": foreign})
    return entries


def summary(link: dict[str, Any]) -> dict[str, Any]:
    """A link as listings show it (no sample rows)."""
    profile = link.get("profile") or {}
    return {"name": link["name"], "kind": "postgres", "connection": link["connection"], "schema": link["schema"],
            "table": link["table"], "columns": [{"name": c["name"], "dtype": c["dtype"]} for c in
                                                 profile.get("columns", [])],
            "rows": profile.get("rows"), "version": link["version"], "refreshed_at": link["refreshed_at"],
            **({"domain": link["domain"]} if "domain" in link else {})}
