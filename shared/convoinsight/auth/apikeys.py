"""API keys: ``ci_<key_id>_<secret>``, shown once, stored as a SHA-256 digest, revocable at once.

The secret is 32 random bytes, so a plain SHA-256 is enough (a slow password
hash protects low-entropy secrets; nothing can be guessed here) and lets every
request be checked with one document read. ``key_id`` is the document id, so a
key is found without scanning; the digest comparison is constant-time.

Three collections, each with one writer pattern so that no write can undo another:

* ``apikeys/<key_id>``: the global index authentication reads: user, role,
  digest, revocation. Written at issue and at revocation only.
* ``tenants/<uid>/apikeys/<key_id>``: the owner's copy (no digest), which the
  listing reads: every user document lives under its tenant.
* ``apikey_usage/<key_id>``: last use, written apart (and at most once a minute
  per instance) so a racing "last used" write can never overwrite a revocation.

Positive lookups are never cached: a revoked key fails on the very next request.
The secret never reaches a log line: logs name the ``key_id`` only.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import threading
import time
from datetime import UTC, datetime
from typing import Any

from convoinsight.errors import BadRequest, Conflict, NotFound, Unauthenticated
from convoinsight.observability import logs
from convoinsight.web.auth import check_user_id

log = logging.getLogger("convoinsight.auth")
PREFIX = "ci"
KEY_FORMAT = re.compile(r"^ci_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")  # 8-byte id (hex), 32-byte secret (base64url)
KEY_ID = re.compile(r"^[0-9a-f]{16}$")
INDEX = "apikeys"
USAGE = "apikey_usage"
ROLES = ("user", "admin")
MAX_ACTIVE_KEYS = 20
MAX_NAME_LENGTH = 100
TOUCH_INTERVAL_SECONDS = 60
# Compared against when the key id is unknown, so that case costs the same as a wrong secret.
_UNKNOWN = hashlib.sha256(b"no such key").hexdigest()
_touched: dict[str, float] = {}
_touched_lock = threading.Lock()


def tenant_collection(user_id: str) -> str:
    return f"tenants/{user_id}/apikeys"


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def parse(credential: str) -> tuple[str, str]:
    """``(key_id, secret)`` of a well-formed key, or a 401."""
    match = KEY_FORMAT.fullmatch(credential)
    if not match:
        raise Unauthenticated("the API key is malformed: expected ci_<key id>_<secret>", code="malformed_api_key")
    return match.group(1), match.group(2)


def now_iso() -> str:
    # Microseconds: keys issued within one second still list in the order they were made.
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def check_name(name: Any) -> str:
    if name is None:
        return ""
    if not isinstance(name, str) or len(name) > MAX_NAME_LENGTH or not name.isprintable():
        raise BadRequest(f"name must be printable text of at most {MAX_NAME_LENGTH} characters",
                         code="invalid_parameter")
    return name.strip()


def issue(documents, user_id: str, role: str = "user", name: str = "", *, issued_by: str = "") -> tuple[str, dict]:
    """Create a key; return the plaintext (to show once, never stored) and its public record."""
    if not check_user_id(user_id):
        raise BadRequest("user_id must be 1-128 letters, digits or _ . @ -", code="invalid_user_id")
    if role not in ROLES:
        raise BadRequest(f"role must be one of: {', '.join(ROLES)}", code="invalid_role")
    name = check_name(name)
    active = [k for k in documents.list(tenant_collection(user_id), limit=1000) if not k.get("revoked_at")]
    if len(active) >= MAX_ACTIVE_KEYS:
        raise Conflict(f"{user_id} already has {MAX_ACTIVE_KEYS} active keys; revoke one first",
                       code="too_many_keys")
    key_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
    record = {"key_id": key_id, "user_id": user_id, "role": role, "name": name, "created_at": now_iso(),
              "revoked_at": None, "issued_by": issued_by or user_id}
    documents.create(INDEX, key_id, {**record, "hash": digest(secret)})
    try:
        documents.put(tenant_collection(user_id), key_id, record)
    except Exception:
        # Without the owner's copy the key could not be listed or revoked by its owner: take it back.
        documents.delete(INDEX, key_id)
        raise
    logs.event(log, "api_key_issued", f"API key {key_id} issued", key_id=key_id, owner=user_id, role=role,
               issued_by=record["issued_by"])
    return f"{PREFIX}_{key_id}_{secret}", public(record)


def verify(documents, credential: str) -> dict[str, Any]:
    """The index record of a valid, unrevoked key, or a 401 (``malformed_api_key``, ``invalid_api_key``,
    ``revoked_key``)."""
    key_id, secret = parse(credential)
    logs.update(api_key=key_id)  # the request's log line names the key tried (never its secret), failed or not
    record = documents.get(INDEX, key_id)
    stored = record.get("hash") if record else None
    matches = hmac.compare_digest(digest(secret), stored if isinstance(stored, str) else _UNKNOWN)
    if not record or not matches:
        # One code for "no such key" and "wrong secret": the answer must not help anyone probe key ids.
        raise Unauthenticated("the API key is not valid", code="invalid_api_key")
    if record.get("revoked_at"):
        raise Unauthenticated("this API key has been revoked", code="revoked_key")
    if record.get("role") not in ROLES or not check_user_id(record.get("user_id")):
        raise Unauthenticated("the API key is not valid", code="invalid_api_key")
    _touch(documents, record)
    return record


def list_keys(documents, user_id: str) -> list[dict[str, Any]]:
    """The user's keys, newest first, masked; with when each was last used."""
    keys = documents.list(tenant_collection(user_id), order_by="created_at", descending=True, limit=1000)
    used = {u.get("key_id"): u.get("last_used_at") for u in documents.list(USAGE, where={"user_id": user_id})}
    return [public(k, used.get(k.get("key_id"))) for k in keys]


def revoke(documents, user_id: str, key_id: str, *, revoked_by: str = "") -> dict[str, Any]:
    """Revoke one of ``user_id``'s keys (idempotent); 404 for an unknown key or someone else's."""
    record = documents.get(INDEX, key_id) if KEY_ID.fullmatch(key_id) else None
    if not record or record.get("user_id") != user_id:
        raise NotFound(f"no API key {key_id!r}", code="api_key_not_found")
    if not record.get("revoked_at"):
        record["revoked_at"] = now_iso()
        documents.put(INDEX, key_id, record)  # first: from here on the key is refused
        logs.event(log, "api_key_revoked", f"API key {key_id} revoked", key_id=key_id, owner=user_id,
                   revoked_by=revoked_by or user_id)
    owned = documents.get(tenant_collection(user_id), key_id) or {k: v for k, v in record.items() if k != "hash"}
    if owned.get("revoked_at") != record["revoked_at"]:
        documents.put(tenant_collection(user_id), key_id, {**owned, "revoked_at": record["revoked_at"]})
    return public(record)


def public(record: dict[str, Any], last_used_at: str | None = None) -> dict[str, Any]:
    """What a key's owner may see again after issue: everything but the secret and its digest."""
    key_id = record.get("key_id", "")
    return {"id": key_id, "name": record.get("name", ""), "prefix": f"{PREFIX}_{key_id}_", "role": record.get("role"),
            "created_at": record.get("created_at"), "last_used_at": last_used_at,
            "revoked": bool(record.get("revoked_at")), "revoked_at": record.get("revoked_at")}


def _touch(documents, record: dict[str, Any]) -> None:
    """Record the use; at most once a minute per key per instance, and never at the cost of the request."""
    key_id, now = record["key_id"], time.time()
    with _touched_lock:
        if now - _touched.get(key_id, 0.0) < TOUCH_INTERVAL_SECONDS:
            return
        _touched[key_id] = now
        if len(_touched) > 10_000:  # a bound, not an LRU: forgetting only means one extra write
            _touched.clear()
    try:
        documents.put_if_newer(USAGE, key_id, {"key_id": key_id, "user_id": record["user_id"],
                                               "last_used": int(now), "last_used_at": now_iso()}, "last_used")
    except Exception as exc:  # usage is bookkeeping: a failed write must not fail an authenticated request
        log.warning("could not record the use of API key %s: %s", key_id, type(exc).__name__)
