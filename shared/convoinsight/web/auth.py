"""Who is calling: one entry point for every ``AUTH_MODE``.

``dev`` trusts ``X-User-Id`` (allowed only in local mode, settings refuse it
elsewhere); ``firebase`` verifies a Firebase / Identity Platform ID token;
``apikey`` checks a key issued by the ``auth`` function or the
``convoinsight.auth.issue`` CLI. Both of the latter arrive as
``Authorization: Bearer <credential>``. The verifiers are imported lazily so a
function's cold start never pays for google-auth or cryptography.

In every mode, a bearer credential that starts like an API key (``ci_``) is
verified as an API key, and only as one: a valid key is the identity (over
``X-User-Id`` in dev mode), an invalid, malformed or revoked one is a 401, never
ignored in favour of another credential. Firebase ID tokens (JWTs) never start so.
Scripts and the MCP function (which forwards its caller's key to this API) then
work whatever the deployment's ``AUTH_MODE``.

Never log a credential here: error messages name what was wrong, not what was sent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from convoinsight.errors import ConfigError, Unauthenticated
from convoinsight.settings import Settings

# User ids become part of storage paths and cache keys: keep them to a safe alphabet.
USER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$")
# Longer than any real ID token (about 1 KB) or API key; refusing early bounds the work an attacker can cause.
MAX_CREDENTIAL_LENGTH = 8192


@dataclass(frozen=True)
class Identity:
    user_id: str
    role: str = "user"  # "user" or "admin"
    method: str = "dev"  # dev | firebase | apikey


API_KEY_PREFIX = "ci_"  # convoinsight.auth.apikeys.PREFIX + "_" (not imported: that module is loaded on use)


def authenticate(headers, settings: Settings, services=None) -> Identity:
    mode = settings.auth_mode
    if mode != "apikey" and _bearer_api_key(headers):
        return _api_key(headers, settings, services)
    if mode == "dev":
        return _dev(headers)
    if mode == "firebase":
        from convoinsight.auth import firebase

        user_id, role = firebase.verify_id_token(bearer_token(headers, "a Firebase ID token"), settings)
        return Identity(user_id, role, "firebase")
    if mode == "apikey":
        return _api_key(headers, settings, services)
    raise ConfigError(f"AUTH_MODE={mode} is not supported")


def _bearer_api_key(headers) -> bool:
    """Whether the request carries ``Authorization: Bearer ci_...``: an API key, checked as one in any mode."""
    raw = (headers.get("Authorization") or "").strip()
    scheme, _, credential = raw.partition(" ")
    return scheme.lower() == "bearer" and credential.strip().startswith(API_KEY_PREFIX)


def _api_key(headers, settings: Settings, services) -> Identity:
    from convoinsight.auth import apikeys
    from convoinsight.services import get_services

    services = services or get_services(settings)
    key = apikeys.verify(services.documents, bearer_token(headers, "an API key"))
    return Identity(key["user_id"], key["role"], "apikey")


def bearer_token(headers, what: str) -> str:
    """The credential of ``Authorization: Bearer <credential>``, or a 401 saying what is wrong with the header."""
    raw = headers.get("Authorization")
    if raw is None or not raw.strip():
        raise Unauthenticated(f"send {what} as 'Authorization: Bearer <credential>'", code="missing_credentials")
    scheme, _, credential = raw.strip().partition(" ")
    credential = credential.strip()
    if scheme.lower() != "bearer" or not credential or " " in credential:
        raise Unauthenticated(f"the Authorization header must be 'Bearer <credential>' carrying {what}",
                              code="malformed_authorization")
    if len(credential) > MAX_CREDENTIAL_LENGTH:
        raise Unauthenticated("the credential is too long", code="malformed_authorization")
    return credential


def check_user_id(user_id: object) -> bool:
    # fullmatch: ``$`` alone would let a trailing newline through.
    return isinstance(user_id, str) and USER_ID.fullmatch(user_id) is not None


def _dev(headers) -> Identity:
    user_id = (headers.get("X-User-Id") or "").strip()
    if not user_id:
        raise Unauthenticated("send your identity in the X-User-Id header", code="missing_identity")
    if not USER_ID.match(user_id):
        raise Unauthenticated("X-User-Id must be 1-128 letters, digits or _ . @ -", code="invalid_identity")
    role = "admin" if (headers.get("X-User-Role") or "").strip().lower() == "admin" else "user"
    return Identity(user_id, role, "dev")
