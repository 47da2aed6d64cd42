"""Where a tenant's things live: every collection and blob path starts with the tenant."""

from __future__ import annotations


def domains(user_id: str) -> str:
    return f"tenants/{user_id}/domains"


def domain_tree(user_id: str, domain: str) -> str:
    """Documents and blobs below one domain (datasets, versions), for deletion."""
    return f"tenants/{user_id}/domains/{domain}"


def datasets(user_id: str, domain: str) -> str:
    return f"tenants/{user_id}/domains/{domain}/datasets"


def links(user_id: str, domain: str) -> str:
    """Linked PostgreSQL tables of a domain (convoinsight.sources.links)."""
    return f"tenants/{user_id}/domains/{domain}/links"


def dataset_tree(user_id: str, domain: str, name: str) -> str:
    return f"tenants/{user_id}/domains/{domain}/datasets/{name}"


def versions(user_id: str, domain: str, name: str) -> str:
    return f"tenants/{user_id}/domains/{domain}/datasets/{name}/versions"


def version_prefix(user_id: str, domain: str, name: str, version: int) -> str:
    return f"tenants/{user_id}/domains/{domain}/datasets/{name}/v{version}"


def uploads(user_id: str) -> str:
    return f"tenants/{user_id}/uploads"


def ingest_claims(user_id: str) -> str:
    return f"tenants/{user_id}/ingest_claims"


def incoming(user_id: str, upload_id: str, filename: str) -> str:
    """Signed uploads land under one literal prefix (still per tenant) so a bucket lifecycle rule can
    delete the ones never claimed; ingest moves each registered one under the tenant's dataset."""
    return f"{INCOMING_PREFIX}{user_id}/{upload_id}/{filename}"


INCOMING_PREFIX = "incoming/"


def domain_scope(domain: str) -> str:
    """The cache scope of one domain's listings and records."""
    return f"domain:{domain}"


DOMAINS_SCOPE = "domains"
