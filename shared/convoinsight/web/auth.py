"""Who is calling. ``AUTH_MODE=dev`` trusts ``X-User-Id`` (allowed only in local mode)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from convoinsight.errors import ConfigError, Unauthenticated
from convoinsight.settings import Settings

# User ids become part of storage paths and cache keys: keep them to a safe alphabet.
USER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$")


@dataclass(frozen=True)
class Identity:
    user_id: str
    role: str = "user"  # "user" or "admin"
    method: str = "dev"  # dev | firebase | apikey


def authenticate(headers, settings: Settings, services=None) -> Identity:
    if settings.auth_mode != "dev":
        raise ConfigError(f"AUTH_MODE={settings.auth_mode} is not supported")
    user_id = (headers.get("X-User-Id") or "").strip()
    if not user_id:
        raise Unauthenticated("send your identity in the X-User-Id header", code="missing_identity")
    if not USER_ID.match(user_id):
        raise Unauthenticated("X-User-Id must be 1-128 letters, digits or _ . @ -", code="invalid_identity")
    role = "admin" if (headers.get("X-User-Role") or "").strip().lower() == "admin" else "user"
    return Identity(user_id, role, "dev")
