"""A tenant's own model keys, one per provider: encrypted at rest, shown masked, endpoints checked for SSRF.

Stored under ``tenants/<uid>/llm_keys/<provider>`` with the key as a Fernet token (``security.crypto``, the
scheme and key source of database passwords). The plaintext leaves this module only inside a
``Credential`` for one request's model calls; it is never logged, returned, cached or put in a cache key
(only which providers a tenant holds keys for is cached, and every write here invalidates that).
A custom ``api_base`` (OpenAI-compatible servers only) passes the database hosts' SSRF check on every save
and on every use, and the call is pinned to the address checked then (``llm.endpoints``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from convoinsight.errors import BadRequest, Conflict, NotFound, Unprocessable
from convoinsight.llm.catalog import PROVIDERS
from convoinsight.validation import validated

MAX_KEY_CHARS = 512
LAST_USED_EVERY_SECONDS = 60  # how often a key's last use is written (not on every call)
_touched: dict[tuple[str, str], float] = {}  # (tenant, provider) -> when this process last wrote it


def collection(user_id: str) -> str:
    return f"tenants/{user_id}/llm_keys"


def _plain_key(value: str) -> str:
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError("api_key cannot hold spaces, line breaks or control characters")
    return value


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider: str = Field(..., min_length=1, max_length=40)
    api_key: str = Field(..., min_length=8, max_length=MAX_KEY_CHARS)
    api_base: str | None = Field(None, max_length=2048)
    verify: bool = False
    verify_model: str | None = Field(None, max_length=200)  # the model the check asks (default: a small one)

    @field_validator("api_key")
    @classmethod
    def _key(cls, value: str) -> str:
        return _plain_key(value)


class KeyUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    api_key: str | None = Field(None, min_length=8, max_length=MAX_KEY_CHARS)
    api_base: str | None = Field(None, max_length=2048)
    verify: bool = False
    verify_model: str | None = Field(None, max_length=200)

    @field_validator("api_key")
    @classmethod
    def _key(cls, value: str | None) -> str | None:
        return None if value is None else _plain_key(value)


@dataclass(frozen=True)
class Credential:
    """What one request's calls to one provider use: whose key, the key, the endpoint."""

    provider: str
    owner: str  # "user" (stored), "request" (the original API's apiKey, this request only) or "server"
    api_key: str = field(repr=False)
    api_base: str | None = None


def check_provider(provider: str) -> str:
    if provider not in PROVIDERS:
        raise NotFound(f"provider {provider!r} is not offered here; see GET /api/v1/llm/providers",
                       code="provider_not_found")
    return provider


def normalise_base(settings, provider: str, api_base: str | None) -> str | None:
    """The endpoint URL, checked: https (http only to hosts local mode allows), no credentials in it, a host
    whose every address is public. ``llm.endpoints`` checks it again, and pins it, on every use."""
    if not api_base:
        return None
    if not PROVIDERS[provider].custom_endpoint:
        raise Unprocessable(f"provider {provider!r} takes no custom endpoint; use provider 'openai' for an "
                            "OpenAI-compatible server", code="custom_endpoint_not_supported")
    from convoinsight.llm import endpoints

    parts = urlsplit(api_base.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Unprocessable("api_base must be an http(s) URL such as https://llm.example.com/v1",
                            code="invalid_api_base")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise Unprocessable("api_base cannot hold credentials, a query or a fragment", code="invalid_api_base")
    if parts.scheme == "http" and not settings.sources_allow_private_hosts:
        raise Unprocessable("api_base must use https: a key is never sent in clear", code="invalid_api_base")
    endpoints.checked(settings, parts.geturl())
    return parts.geturl().rstrip("/")


def mask(api_key: str) -> str:
    return f"…{api_key[-4:]}" if len(api_key) >= 12 else "…"


def public(record: dict[str, Any]) -> dict[str, Any]:
    """What the API shows: the provider, the last 4 characters, the endpoint and the dates; never the key."""
    return {"provider": record["provider"], "key": record["masked"], "api_base": record.get("api_base"),
            "created_at": record["created_at"], "updated_at": record["updated_at"],
            "last_used_at": record.get("last_used_at"), "version": record["version"]}


def _record(settings, provider: str, api_key: str, api_base: str | None, *, created_at: float | None = None,
            version: int = 1) -> dict[str, Any]:
    from convoinsight.security import crypto  # cryptography: on use, not at cold start

    now = time.time()
    return {"provider": provider, "token": crypto.encrypt(settings, api_key), "masked": mask(api_key),
            "api_base": api_base, "created_at": created_at or now, "updated_at": now, "last_used_at": None,
            "version": version}


def create(services, user_id: str, body: dict[str, Any]) -> tuple[dict[str, Any], KeyIn]:
    data = validated(KeyIn, body)
    provider = data.provider
    if provider not in PROVIDERS:
        raise Unprocessable(f"provider {provider!r} is not offered here; see GET /api/v1/llm/providers",
                            code="unknown_provider")
    record = _record(services.settings, provider, data.api_key,
                     normalise_base(services.settings, provider, data.api_base))
    try:
        services.documents.create(collection(user_id), provider, record)
    except Conflict:
        raise Conflict(f"you already have a {provider} key; PUT /keys/{provider} replaces it",
                       code="key_exists") from None
    finally:
        _changed(services, user_id)
    return record, data


def get(services, user_id: str, provider: str) -> dict[str, Any]:
    record = services.documents.get(collection(user_id), provider) if provider in PROVIDERS else None
    if record is None:
        raise NotFound(f"you have no {provider!r} key", code="key_not_found")
    return record


def rotate(services, user_id: str, provider: str, body: dict[str, Any]) -> tuple[dict[str, Any], KeyUpdate]:
    """A new key and/or endpoint; an unchanged key is re-encrypted under the first FERNET_KEY."""
    from convoinsight.security import crypto  # cryptography: on use, not at cold start

    data = validated(KeyUpdate, body)
    old = get(services, user_id, provider)
    if data.api_key is None and "api_base" not in body:
        raise BadRequest("send a new api_key, an api_base, or both", code="nothing_to_change")
    settings = services.settings
    api_key = data.api_key or crypto.decrypt(settings, old["token"])
    api_base = normalise_base(settings, provider, data.api_base) if "api_base" in body else old.get("api_base")
    record = _record(settings, provider, api_key, api_base, created_at=old["created_at"],
                     version=int(old.get("version", 1)) + 1)
    try:
        services.documents.put(collection(user_id), provider, record)
    finally:
        _changed(services, user_id)
    return record, data


def delete(services, user_id: str, provider: str) -> None:
    get(services, user_id, provider)
    try:
        services.documents.delete(collection(user_id), provider)
    finally:
        _changed(services, user_id)


def _changed(services, user_id: str) -> None:
    """Which providers the tenant holds keys for is cached with what a question reads (queries/ask.py): every
    write of a key bumps that scope, whatever the write's outcome (as the datasets' writes do)."""
    from convoinsight.cache import CONFIG_SCOPE

    services.cache.invalidate(user_id, CONFIG_SCOPE)


def list_all(services, user_id: str) -> list[dict[str, Any]]:
    return services.documents.list(collection(user_id), order_by="provider")


def credentials(services, user_id: str) -> dict[str, Credential]:
    """The tenant's keys, decrypted, by provider: for one request's calls only."""
    from convoinsight.security import crypto  # cryptography: on use, not at cold start

    found = {}
    for record in list_all(services, user_id):
        found[record["provider"]] = Credential(record["provider"], "user",
                                               crypto.decrypt(services.settings, record["token"]),
                                               record.get("api_base"))
    return found


def touch(documents, user_id: str, provider: str) -> None:
    """Note a key's use, at most once a minute per process and key (no I/O in between: this runs per call)."""
    now = time.time()
    if documents is None or now - _touched.get((user_id, provider), 0.0) < LAST_USED_EVERY_SECONDS:
        return
    _touched[(user_id, provider)] = now
    try:
        record = documents.get(collection(user_id), provider)
        if record:
            documents.put(collection(user_id), provider, {**record, "last_used_at": now})
    except Exception:  # bookkeeping: never fail a question over it
        return
