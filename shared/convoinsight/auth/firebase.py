"""Firebase / Identity Platform ID tokens: RS256 JWTs signed by Google's securetoken keys.

The RSA signature is checked by google-auth (``google.auth.crypt``, backed by
cryptography) against the certificate named by the token's ``kid``. The steps
are spelled out here rather than left to ``google.auth.jwt.decode`` so that
each failure gets its own error code (expired vs wrong audience vs bad
signature...), which is what a client needs to react correctly. Claims are
only looked at after the signature holds, so nothing unsigned is trusted.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import time
from typing import Any

from convoinsight.auth.certs import CACHE
from convoinsight.errors import Unauthenticated
from convoinsight.settings import Settings
from convoinsight.web.auth import check_user_id

# Clocks of Google's token service and of our instances differ slightly; a minute is the usual allowance.
CLOCK_SKEW_SECONDS = 60
ISSUER_PREFIX = "https://securetoken.google.com/"
# Firebase ID tokens live exactly one hour (exp = iat + 3600); a longer one was not minted by Firebase.
MAX_LIFETIME_SECONDS = 3600


def verify_id_token(token: str, settings: Settings, *, now: float | None = None) -> tuple[str, str]:
    """``(user_id, role)`` of a valid token, or a 401 with a specific code; 503 when certificates are unavailable."""
    header, payload, signed, signature = _split(token)
    if header.get("alg") != "RS256":
        # Firebase only signs with RS256; anything else (``none``, HS256 with a public key as secret...) is an attack.
        raise Unauthenticated("the token must be signed with RS256", code="unsupported_algorithm")
    kid = header.get("kid")
    certs = CACHE.get(settings.firebase_certs_url) if isinstance(kid, str) and kid else {}
    if kid not in certs:
        raise Unauthenticated("the token was not signed by a current Firebase key", code="unknown_signing_key")
    if not _signature_ok(certs[kid], signed, signature):
        raise Unauthenticated("the token's signature is not valid", code="invalid_signature")
    _check_claims(payload, settings.firebase_project_id, time.time() if now is None else now)
    return payload["sub"], _role(payload)


def _b64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _split(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    parts = token.split(".")
    if len(parts) != 3:
        raise Unauthenticated("the token is not a JWT (header.payload.signature)", code="malformed_token")
    try:
        header, payload = json.loads(_b64(parts[0])), json.loads(_b64(parts[1]))
        signature = _b64(parts[2])
    except (binascii.Error, ValueError):  # bad base64, bad UTF-8 and bad JSON are all ValueErrors
        raise Unauthenticated("the token is not a well-formed JWT", code="malformed_token") from None
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise Unauthenticated("the token is not a well-formed JWT", code="malformed_token")
    return header, payload, f"{parts[0]}.{parts[1]}".encode("ascii"), signature


def _signature_ok(cert_pem: str, signed: bytes, signature: bytes) -> bool:
    from google.auth import crypt

    try:
        return crypt.RSAVerifier.from_string(cert_pem).verify(signed, signature)
    except ValueError:  # an unreadable certificate verifies nothing
        return False


def _check_claims(claims: dict[str, Any], project: str, now: float) -> None:
    if claims.get("iss") != ISSUER_PREFIX + project:
        raise Unauthenticated(f"the token was not issued for project {project!r}", code="wrong_issuer")
    if claims.get("aud") != project:
        raise Unauthenticated(f"the token's audience is not project {project!r}", code="wrong_audience")
    # Times are checked as numbers before any comparison: NaN compares false with everything, so an
    # ``"exp": NaN`` would otherwise pass every "has it expired" test; Infinity would never expire.
    exp, iat, auth_time = claims.get("exp"), claims.get("iat"), claims.get("auth_time", claims.get("iat"))
    if not all(_is_time(v) for v in (exp, iat, auth_time)):
        raise Unauthenticated("the token's exp, iat and auth_time claims must be finite, positive numbers of "
                              "seconds", code="malformed_token")
    if not iat < exp <= iat + MAX_LIFETIME_SECONDS + CLOCK_SKEW_SECONDS:
        raise Unauthenticated("the token's lifetime is not that of a Firebase ID token (it expires at most an "
                              "hour after it was issued)", code="invalid_token_lifetime")
    if now > exp + CLOCK_SKEW_SECONDS:
        raise Unauthenticated("the token has expired; refresh it and try again", code="token_expired")
    if iat > now + CLOCK_SKEW_SECONDS or auth_time > now + CLOCK_SKEW_SECONDS:
        raise Unauthenticated("the token was issued in the future; check the clock", code="token_not_yet_valid")
    if not check_user_id(claims.get("sub")):
        raise Unauthenticated("the token's subject is not a usable user id", code="invalid_subject")


def _is_time(value: Any) -> bool:
    """A finite, positive number of seconds since the epoch (a bool is an int in Python: refused)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return math.isfinite(value) and 0 < value < 2**53  # beyond 2**53 float seconds lose whole seconds


def _role(claims: dict[str, Any]) -> str:
    # Custom claims set with the Admin SDK: {"admin": true} or {"role": "admin"}; anything else is a plain user.
    return "admin" if claims.get("admin") is True or claims.get("role") == "admin" else "user"
