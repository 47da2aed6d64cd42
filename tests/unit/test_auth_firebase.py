"""AUTH_MODE=firebase through real function entry points, against a local certificate server and minted tokens."""

from __future__ import annotations

import json
import logging
import math
import os
import socket
import time
import uuid

import pytest

from convoinsight.auth import certs
from convoinsight.settings import get_settings
from tests.conftest import function_client
from tests.support.firebase_tokens import PROJECT, CertServer, SigningKey, TokenMinter, b64, b64json
from tests.support.http import assert_error, bearer

GOOD, OTHER = SigningKey("key-good"), SigningKey("key-other")
IMPOSTOR = SigningKey("key-good")  # a different RSA key claiming the published key's id


@pytest.fixture(scope="module")
def cert_server():
    server = CertServer([GOOD, OTHER]).start()
    yield server
    server.stop()


@pytest.fixture
def minter() -> TokenMinter:
    return TokenMinter(GOOD)


@pytest.fixture
def firebase_env(local_env, cert_server) -> CertServer:
    # Many failed sign-ins from one address on purpose: throttling them is the rate-limit suite's subject.
    os.environ.update({"AUTH_MODE": "firebase", "FIREBASE_PROJECT_ID": PROJECT,
                       "FIREBASE_CERTS_URL": cert_server.url(), "RATE_LIMIT_ENABLED": "false"})
    get_settings.cache_clear()
    return cert_server


@pytest.fixture
def uid() -> str:
    return uuid.uuid4().hex[:28]  # the shape of a Firebase uid




def test_a_valid_token_signs_in_on_every_function(firebase_env, minter, uid):
    token = minter.token(uid)
    assert function_client("datasets").get("/", headers=bearer(token)).status_code == 200
    me = function_client("auth").get("/me", headers=bearer(token))
    assert me.status_code == 200 and me.get_json() == {"user_id": uid, "role": "user", "method": "firebase"}


def test_clock_skew_is_tolerated_within_a_minute(firebase_env, minter, uid):
    now = int(time.time())
    token = minter.token(uid, exp=now - 20, iat=now - 3600, auth_time=now - 3600)
    assert function_client("auth").get("/me", headers=bearer(token)).status_code == 200
    early = minter.token(uid, iat=now + 20, auth_time=now + 20)
    assert function_client("auth").get("/me", headers=bearer(early)).status_code == 200


def _tampered(minter: TokenMinter, uid: str) -> str:
    header, _, signature = minter.token(uid).split(".")
    return f"{header}.{b64json(minter.claims('someone-else', admin=True))}.{signature}"


BAD_TOKENS = {
    "expired": (lambda m, u: m.token(u, iat=int(time.time()) - 7200, exp=int(time.time()) - 3600), "token_expired"),
    "issued_in_the_future": (lambda m, u: m.token(u, iat=int(time.time()) + 600), "token_not_yet_valid"),
    "signed_in_the_future": (lambda m, u: m.token(u, auth_time=int(time.time()) + 600), "token_not_yet_valid"),
    "wrong_audience": (lambda m, u: m.token(u, aud="another-project"), "wrong_audience"),
    "wrong_issuer": (lambda m, u: m.token(u, iss="https://securetoken.google.com/another-project"), "wrong_issuer"),
    "google_oauth_issuer": (lambda m, u: m.token(u, iss="https://accounts.google.com"), "wrong_issuer"),
    "tampered_payload": (_tampered, "invalid_signature"),
    "another_key_same_kid": (lambda m, u: m.token(u, key=IMPOSTOR), "invalid_signature"),
    "unpublished_key": (lambda m, u: m.token(u, key=SigningKey("key-unknown")), "unknown_signing_key"),
    "no_kid": (lambda m, u: m.token(u, header={"alg": "RS256", "typ": "JWT"}), "unknown_signing_key"),
    "alg_none": (lambda m, u: f"{b64json({'alg': 'none', 'typ': 'JWT'})}.{b64json(m.claims(u))}.",
                 "unsupported_algorithm"),
    "alg_hs256": (lambda m, u: m.token(u, header={"alg": "HS256", "kid": "key-good"}), "unsupported_algorithm"),
    "empty_signature": (lambda m, u: m.token(u).rsplit(".", 1)[0] + ".", "invalid_signature"),
    "missing_sub": (lambda m, u: m.token(u, sub=None), "invalid_subject"),
    "empty_sub": (lambda m, u: m.token(u, sub=""), "invalid_subject"),
    "path_in_sub": (lambda m, u: m.token(u, sub="../other-tenant"), "invalid_subject"),
    "no_exp": (lambda m, u: m.token(u, exp=None), "malformed_token"),
    "string_exp": (lambda m, u: m.token(u, exp="tomorrow"), "malformed_token"),
    "no_iat": (lambda m, u: m.token(u, iat=None), "malformed_token"),
    "string_iat": (lambda m, u: m.token(u, iat=str(int(time.time()))), "malformed_token"),
    "bool_exp": (lambda m, u: m.token(u, exp=True), "malformed_token"),
    "two_segments": (lambda m, u: ".".join(m.token(u).split(".")[:2]), "malformed_token"),
    "not_base64": (lambda m, u: "!!!.???.***", "malformed_token"),
    "not_json": (lambda m, u: f"{b64(b'not json')}.{b64(b'{}')}.{b64(b'sig')}", "malformed_token"),
    "json_array_header": (lambda m, u: f"{b64json([1])}.{b64json({})}.{b64(b'sig')}", "malformed_token"),
    # A bearer shaped like an API key is checked as one in every mode (issue #17): this one is no key.
    "an_api_key": (lambda m, u: "ci_0123456789abcdef_" + "a" * 43, "invalid_api_key"),
}


def _times(**claims):
    """Token time claims relative to now; ``json.dumps`` writes NaN and Infinity as the bare words JSON lacks."""
    now = int(time.time())
    return {k: (v(now) if callable(v) else v) for k, v in claims.items()}


# Correctly signed tokens whose times are not numbers a clock can compare, or not a Firebase token's lifetime.
BAD_TIMES = {
    "nan_exp": ({"exp": math.nan}, "malformed_token"),  # NaN compares false: it never "expired"
    "infinite_exp": ({"exp": math.inf}, "malformed_token"),
    "minus_infinite_exp": ({"exp": -math.inf}, "malformed_token"),
    "nan_iat": ({"iat": math.nan}, "malformed_token"),
    "infinite_iat": ({"iat": math.inf}, "malformed_token"),
    "nan_auth_time": ({"auth_time": math.nan}, "malformed_token"),
    "huge_int_exp": ({"exp": 10**30}, "malformed_token"),  # no clock reads that many seconds
    "huge_float_exp": ({"exp": 1e300}, "malformed_token"),
    "far_future_exp": ({"exp": lambda now: now + 10 * 365 * 86400}, "invalid_token_lifetime"),
    "a_day_long": ({"iat": lambda now: now - 5, "exp": lambda now: now + 86400}, "invalid_token_lifetime"),
    "exp_equals_iat": ({"iat": lambda now: now + 30, "exp": lambda now: now + 30}, "invalid_token_lifetime"),
}


@pytest.mark.parametrize("case", sorted(BAD_TIMES))
def test_time_claims_must_be_finite_numbers_within_a_token_lifetime(firebase_env, minter, uid, case):
    claims, code = BAD_TIMES[case]
    token = minter.token(uid, **_times(**claims))
    assert_error(function_client("auth").get("/me", headers=bearer(token)), 401, code)


@pytest.mark.parametrize("case", sorted(BAD_TOKENS))
def test_every_bad_token_is_a_401_with_its_own_code(firebase_env, minter, uid, case):
    make, code = BAD_TOKENS[case]
    resp = function_client("datasets").get("/", headers=bearer(make(minter, uid)))
    assert_error(resp, 401, code)


@pytest.mark.parametrize(("headers", "code"), [
    ({}, "missing_credentials"),
    ({"Authorization": ""}, "missing_credentials"),
    ({"X-User-Id": "alice"}, "missing_credentials"),  # dev headers mean nothing here
    ({"Authorization": "Bearer"}, "malformed_authorization"),
    ({"Authorization": "Bearer "}, "malformed_authorization"),
    ({"Authorization": "Basic YWxpY2U6c2VjcmV0"}, "malformed_authorization"),
    ({"Authorization": "Bearer a b"}, "malformed_authorization"),
    ({"Authorization": "Bearer " + "x" * 9000}, "malformed_authorization"),
])
def test_a_missing_or_malformed_header_is_a_401(firebase_env, headers, code):
    error = assert_error(function_client("auth").get("/me", headers=headers), 401, code)
    assert "Bearer" in error["message"] or "too long" in error["message"]


def test_the_tampered_token_does_not_grant_its_claims(firebase_env, minter, uid):
    resp = function_client("auth").get("/users/someone-else/keys", headers=bearer(_tampered(minter, uid)))
    assert_error(resp, 401, "invalid_signature")


@pytest.mark.parametrize(("claims", "role"), [({}, "user"), ({"admin": True}, "admin"), ({"role": "admin"}, "admin"),
                                              ({"admin": "true"}, "user"), ({"role": "Admin"}, "user")])
def test_the_admin_role_comes_from_custom_claims(firebase_env, minter, uid, claims, role):
    client, token = function_client("auth"), minter.token(uid, **claims)
    assert client.get("/me", headers=bearer(token)).get_json()["role"] == role
    admin_only = client.get("/users/someone-else/keys", headers=bearer(token))
    if role == "admin":
        assert admin_only.status_code == 200 and admin_only.get_json() == {"user_id": "someone-else", "keys": []}
    else:
        assert_error(admin_only, 403, "admin_required")


def test_certificates_are_fetched_once_per_max_age(firebase_env, minter, uid):
    certs.CACHE.clear()
    before = firebase_env.hits.get("/certs", 0)
    client = function_client("datasets")
    for _ in range(3):
        assert client.get("/", headers=bearer(minter.token(uid))).status_code == 200
    assert firebase_env.hits["/certs"] == before + 1


def test_max_age_zero_means_fetching_every_time(firebase_env, minter, uid):
    os.environ["FIREBASE_CERTS_URL"] = firebase_env.url("/certs-nocache")
    get_settings.cache_clear()
    client = function_client("datasets")
    for _ in range(2):
        assert client.get("/", headers=bearer(minter.token(uid))).status_code == 200
    assert firebase_env.hits["/certs-nocache"] == 2


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("where", ["unreachable", "http_500"])
def test_certificates_unavailable_is_a_503_not_a_401(firebase_env, minter, uid, where):
    url = f"http://127.0.0.1:{_closed_port()}/certs" if where == "unreachable" else firebase_env.url("/broken")
    os.environ["FIREBASE_CERTS_URL"] = url
    get_settings.cache_clear()
    resp = function_client("datasets").get("/", headers=bearer(minter.token(uid)))
    assert_error(resp, 503, "auth_certs_unavailable")
    assert resp.headers["Retry-After"] == "5"


def test_the_token_never_reaches_a_log_line(firebase_env, minter, uid, caplog):
    caplog.set_level(logging.DEBUG)
    good, expired = minter.token(uid), minter.token(uid, exp=int(time.time()) - 3600)
    client = function_client("datasets")
    client.get("/", headers=bearer(good))
    client.get("/", headers=bearer(expired))
    logged = json.dumps([{**r.__dict__, "msg": r.getMessage()} for r in caplog.records], default=str)
    assert "GET / 200" in logged and "GET / 401" in logged
    for token in (good, expired):
        assert token.split(".")[2] not in logged and token.split(".")[1] not in logged
