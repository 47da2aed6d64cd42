"""Where a tenant's things live: every collection and blob path starts with the tenant."""

from __future__ import annotations


def domains(user_id: str) -> str:
    return f"tenants/{user_id}/domains"


def datasets(user_id: str, domain: str) -> str:
    return f"tenants/{user_id}/domains/{domain}/datasets"


def versions(user_id: str, domain: str, name: str) -> str:
    return f"tenants/{user_id}/domains/{domain}/datasets/{name}/versions"


def version_prefix(user_id: str, domain: str, name: str, version: int) -> str:
    return f"tenants/{user_id}/domains/{domain}/datasets/{name}/v{version}"
