"""A tenant's PostgreSQL connections: stored with the password encrypted, shown masked, checked for SSRF.

Stored under ``tenants/<uid>/sources`` by name; another tenant's name is simply not there (404).
A connection is saved without connecting (a database may be down for maintenance); the host is
checked against private addresses on every save and again on every connect.
"""

from __future__ import annotations

import re
import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from convoinsight.errors import Conflict, NotFound, Unprocessable
from convoinsight.security import network
from convoinsight.services import Services
from convoinsight.settings import Settings
from convoinsight.sources.postgres import SSL_MODES, Target
from convoinsight.validation import validated

NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
MAX_CA_BYTES = 64 * 1024
SslMode = Literal["disable", "prefer", "require", "verify-ca", "verify-full"]
assert set(SslMode.__args__) == set(SSL_MODES)


def collection(user_id: str) -> str:
    return f"tenants/{user_id}/sources"


def _text(value: str, what: str, limit: int = 255) -> str:
    if not value or len(value) > limit or "\x00" in value:
        raise ValueError(f"{what} must be 1-{limit} characters without NUL")
    return value


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    schema_: str | None = Field(None, alias="schema")
    sslmode: SslMode | None = None
    ssl_root_cert: str | None = Field(None, max_length=MAX_CA_BYTES)
    allow_writes: bool | None = None

    @field_validator("schema_")
    @classmethod
    def _schema(cls, value: str | None) -> str | None:
        return None if value is None else _text(value, "schema", 63)

    @field_validator("ssl_root_cert")
    @classmethod
    def _pem(cls, value: str | None) -> str | None:
        if value and "-----BEGIN CERTIFICATE-----" not in value:
            raise ValueError("ssl_root_cert must be PEM text (-----BEGIN CERTIFICATE-----)")
        return value or None


class ConnectionIn(_Options):
    name: str
    host: str
    port: int = Field(5432, ge=1, le=65535)
    database: str
    user: str
    password: str = Field(..., max_length=1024)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME.match(value):
            raise ValueError("a connection name is 1-63 lower-case letters, digits, _ or -")
        return value

    @field_validator("host", "database", "user")
    @classmethod
    def _plain(cls, value: str) -> str:
        return _text(value, "this field")

    @field_validator("password")
    @classmethod
    def _password(cls, value: str) -> str:
        if "\x00" in value:
            raise ValueError("the password cannot contain NUL")
        return value


class ConnectionPatch(_Options):
    host: str | None = None
    port: int | None = Field(None, ge=1, le=65535)
    database: str | None = None
    user: str | None = None
    password: str | None = Field(None, max_length=1024)

    @field_validator("host", "database", "user")
    @classmethod
    def _plain(cls, value: str | None) -> str | None:
        return None if value is None else _text(value, "this field")


def _check_host(settings: Settings, host: str, port: int) -> None:
    network.checked_addresses(host, port, allow_private=settings.sources_allow_private_hosts,
                              timeout=settings.source_connect_timeout_seconds)


def public(record: dict[str, Any]) -> dict[str, Any]:
    """What the API shows: never the password, not even encrypted."""
    shown = {k: v for k, v in record.items() if k not in ("password_token", "ssl_root_cert")}
    shown["password"] = "********"  # noqa: S105 - the mask, not a password
    shown["ssl_root_cert"] = bool(record.get("ssl_root_cert"))
    return shown


def create(services: Services, user_id: str, body: dict[str, Any]) -> dict[str, Any]:
    from convoinsight.security import crypto  # cryptography: on use, not at cold start

    data = validated(ConnectionIn, body)
    settings = services.settings
    _check_host(settings, data.host, data.port)
    now = time.time()
    record = {
        "name": data.name, "kind": "postgres", "host": data.host.strip(), "port": data.port,
        "database": data.database, "user": data.user, "schema": data.schema_ or "public",
        "sslmode": data.sslmode or "verify-full", "ssl_root_cert": data.ssl_root_cert,
        "allow_writes": bool(data.allow_writes), "password_token": crypto.encrypt(settings, data.password),
        "created_at": now, "updated_at": now, "version": 1,
    }
    try:
        services.documents.create(collection(user_id), data.name, record)
    except Conflict:
        raise Conflict(f"a connection named {data.name!r} already exists", code="connection_exists") from None
    return record


def get(services: Services, user_id: str, name: str) -> dict[str, Any]:
    record = services.documents.get(collection(user_id), name) if NAME.match(name or "") else None
    if record is None:
        raise NotFound(f"connection {name!r} not found", code="connection_not_found")
    return record


def list_all(services: Services, user_id: str) -> list[dict[str, Any]]:
    return services.documents.list(collection(user_id), order_by="name")


def update(services: Services, user_id: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
    from convoinsight.security import crypto  # cryptography: on use, not at cold start

    record = get(services, user_id, name)
    patch = validated(ConnectionPatch, body).model_dump(exclude_unset=True, by_alias=True)
    if not patch:
        raise Unprocessable("send at least one field to change", code="invalid_request")
    if any(v is None for k, v in patch.items() if k != "ssl_root_cert"):
        raise Unprocessable("only ssl_root_cert may be set to null", code="invalid_request")
    settings = services.settings
    password = patch.pop("password", None)
    updated = {**record, **patch}
    if "host" in patch or "port" in patch:
        _check_host(settings, updated["host"], updated["port"])
    if password is not None:
        updated["password_token"] = crypto.encrypt(settings, password)
    else:  # re-encrypted under the first key: a PATCH also completes a key rotation for this record
        updated["password_token"] = crypto.rotate(settings, record["password_token"])
    updated.update(updated_at=time.time(), version=int(record.get("version", 1)) + 1)
    services.documents.put(collection(user_id), name, updated)
    return updated


def delete(services: Services, user_id: str, name: str) -> None:
    get(services, user_id, name)
    services.documents.delete(collection(user_id), name)


def target(settings: Settings, record: dict[str, Any]) -> Target:
    """The connect target of a stored record, password decrypted for this use only."""
    from convoinsight.security import crypto  # cryptography: on use, not at cold start

    return Target(host=record["host"], port=int(record["port"]), database=record["database"], user=record["user"],
                  password=crypto.decrypt(settings, record["password_token"]), sslmode=record["sslmode"],
                  ssl_root_cert=record.get("ssl_root_cert"), connect_timeout=settings.source_connect_timeout_seconds,
                  allow_private=settings.sources_allow_private_hosts)
