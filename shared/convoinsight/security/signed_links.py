"""Links a browser can follow without headers: a short-lived HMAC token over (user, resource, expiry).

``EventSource`` and ``<img src>`` cannot send ``Authorization`` or ``X-User-Id``, so the URLs the API
returns for the event stream, a chart's image and a dataset's download carry ``?token=...``. The token
names its user and one resource (the route and its path parameters, see :func:`resource`); a route that
accepts tokens (``FunctionApp.route(..., link=True)``) checks it before anything else, and a token for one
resource or user never opens another. Lifetime: ``LINK_TOKEN_SECONDS`` (at most 10 minutes).

Format: ``v1.<user id, base64url>.<expiry, unix seconds>.<HMAC-SHA256, base64url>``. The key is derived
from FERNET_KEY (every key verifies, the first signs, so rotation works as it does for stored secrets)
with a purpose label of its own: a link token can never be confused with anything else signed or sealed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from functools import lru_cache
from urllib.parse import quote, urlencode

from convoinsight.errors import Unauthenticated
from convoinsight.settings import Settings

VERSION = "v1"
PURPOSE = b"convoinsight link token v1"
MAX_SECONDS = 600
QUERY_PARAMETER = "token"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@lru_cache(maxsize=8)
def _keys(settings: Settings) -> tuple[bytes, ...]:
    """The derived link keys, once per configuration (settings are frozen and hashable): a page of history signs
    a link per turn, and local mode would otherwise read the key file for each one."""
    from convoinsight.security.crypto import key_material

    return tuple(hmac.new(key, PURPOSE, hashlib.sha256).digest() for key in key_material(settings))


def _mac(key: bytes, user_id: str, resource: str, expires: int) -> bytes:
    return hmac.new(key, f"{user_id}\n{resource}\n{expires}".encode(), hashlib.sha256).digest()


def resource(function: str, endpoint: str, params: dict[str, str]) -> str:
    """What a token opens: the function, the route template and its path parameters (not the query string,
    so one image token serves every format and scale of that chart)."""
    return f"{function} {endpoint} " + "&".join(f"{k}={quote(str(v), safe='')}" for k, v in sorted(params.items()))


def sign(settings: Settings, user_id: str, resource_name: str, now: float | None = None) -> tuple[str, int]:
    """A token for ``user_id`` to open ``resource_name``, and its expiry (unix seconds)."""
    seconds = min(settings.link_token_seconds, MAX_SECONDS)
    expires = int(now if now is not None else time.time()) + seconds
    mac = _mac(_keys(settings)[0], user_id, resource_name, expires)
    return f"{VERSION}.{_b64(user_id.encode())}.{expires}.{_b64(mac)}", expires


def verify(settings: Settings, token: str, resource_name: str, now: float | None = None) -> str:
    """The user the token was signed for, or a 401 saying the link is malformed, expired or for something else."""
    parts = token.split(".")
    try:
        if len(parts) != 4 or parts[0] != VERSION or len(token) > 400:
            raise ValueError
        user_id, expires, mac = _unb64(parts[1]).decode(), int(parts[2]), _unb64(parts[3])
    except (ValueError, UnicodeDecodeError):
        raise Unauthenticated("the link's token is malformed; ask the API for a new link",
                              code="invalid_link_token") from None
    current = now if now is not None else time.time()
    # Checked whatever the expiry says, so that a forged expiry learns nothing; then the time.
    valid = any(hmac.compare_digest(_mac(key, user_id, resource_name, expires), mac) for key in _keys(settings))
    if not valid or expires - current > MAX_SECONDS + 60:  # a minute of clock skew between instances
        raise Unauthenticated("the link's token is not valid for this resource; ask the API for a new link",
                              code="invalid_link_token")
    if expires < current:
        raise Unauthenticated("the link has expired; ask the API for a new one (links last "
                              f"{settings.link_token_seconds} s)", code="link_expired")
    return user_id


def public_url(settings: Settings, path: str) -> str:
    """``path`` (root-relative, ``/api/v1/...``) on the one origin clients use (PUBLIC_BASE_URL), if set."""
    return f"{settings.public_base_url}{path}"


def link(settings: Settings, user_id: str, function: str, endpoint: str, params: dict[str, str],
         query: dict[str, str] | None = None) -> tuple[str, int]:
    """The absolute URL of a route that accepts tokens (endpoint ``"GET /<chart_id>/image"``), signed for
    ``user_id``, and its expiry."""
    from convoinsight.web.gateway import function_prefix

    _method, _, template = endpoint.partition(" ")
    path = template
    for key, value in params.items():
        path = path.replace(f"<{key}>", quote(str(value), safe=""))
    token, expires = sign(settings, user_id, resource(function, endpoint, params))
    query_string = urlencode({**(query or {}), QUERY_PARAMETER: token})
    return public_url(settings, f"{function_prefix(function)}{path}?{query_string}"), expires
