"""AUTH_MODE=apikey through real function entry points: issue, use, list, revoke; no secret in storage or logs."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from convoinsight.auth import apikeys
from convoinsight.services import get_services
from convoinsight.settings import get_settings
from tests.conftest import function_client
from tests.support.http import assert_error, bearer

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def no_rate_limits() -> None:
    # Many failed sign-ins from one address on purpose; throttling them is another suite's subject. Set before
    # local_env, which clears the cached settings.
    os.environ["RATE_LIMIT_ENABLED"] = "false"


@pytest.fixture
def apikey_env(local_env) -> dict:
    os.environ["AUTH_MODE"] = "apikey"
    get_settings.cache_clear()
    return local_env


@pytest.fixture
def documents(apikey_env):
    return get_services(get_settings()).documents


@pytest.fixture
def auth_client(apikey_env):
    return function_client("auth")




def test_a_valid_key_signs_in_on_every_function(documents, auth_client, user_id):
    key, record = apikeys.issue(documents, user_id)
    assert key.startswith(f"ci_{record['id']}_") and len(key) == 3 + 16 + 1 + 43
    assert function_client("datasets").get("/", headers=bearer(key)).status_code == 200
    me = auth_client.get("/me", headers=bearer(key))
    assert me.get_json() == {"user_id": user_id, "role": "user", "method": "apikey"}


def test_keys_are_stored_hashed_and_the_owner_copy_has_no_digest(documents, user_id):
    key, record = apikeys.issue(documents, user_id, name="laptop")
    secret = key.split("_", 2)[2]
    index = documents.get(apikeys.INDEX, record["id"])
    assert index["hash"] == hashlib.sha256(secret.encode()).hexdigest()
    assert index["user_id"] == user_id and index["role"] == "user" and index["revoked_at"] is None
    owned = documents.get(apikeys.tenant_collection(user_id), record["id"])
    assert "hash" not in owned and owned["name"] == "laptop"
    assert secret not in json.dumps([index, owned])


@pytest.mark.parametrize(("credential", "code"), [
    ("ci_0123456789abcdef_" + "A" * 43, "invalid_api_key"),  # well-formed, no such key
    ("ci_short_secret", "malformed_api_key"),
    ("sk-0123456789", "malformed_api_key"),
    ("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln", "malformed_api_key"),  # a JWT is not a key
])
def test_unknown_and_malformed_keys_are_401(auth_client, credential, code):
    assert_error(auth_client.get("/me", headers=bearer(credential)), 401, code)


def test_a_wrong_secret_for_a_real_key_id_is_refused(documents, auth_client, user_id):
    key, _ = apikeys.issue(documents, user_id)
    prefix, secret = key[:20], key[20:]  # "ci_" + 16-hex id + "_"
    wrong = prefix + ("B" if secret[0] != "B" else "C") + secret[1:]
    assert_error(auth_client.get("/me", headers=bearer(wrong)), 401, "invalid_api_key")
    assert auth_client.get("/me", headers=bearer(key)).status_code == 200


@pytest.mark.parametrize(("headers", "code"), [
    ({}, "missing_credentials"),
    ({"X-User-Id": "alice"}, "missing_credentials"),
    ({"Authorization": "Bearer"}, "malformed_authorization"),
    ({"Authorization": "Token ci_0123456789abcdef_" + "A" * 43}, "malformed_authorization"),
])
def test_a_missing_or_malformed_header_is_a_401(auth_client, headers, code):
    assert_error(function_client("datasets").get("/", headers=headers), 401, code)


def test_issue_list_use_and_revoke_through_the_api(documents, auth_client, user_id):
    bootstrap, _ = apikeys.issue(documents, user_id, name="bootstrap")
    created = auth_client.post("/keys", headers=bearer(bootstrap), json={"name": "ci runner"})
    assert created.status_code == 201 and created.headers["Cache-Control"] == "no-store"
    body = created.get_json()
    key, key_id = body["key"], body["id"]
    assert body["name"] == "ci runner" and body["user_id"] == user_id and body["role"] == "user"
    assert function_client("datasets").get("/", headers=bearer(key)).status_code == 200

    listed = auth_client.get("/keys", headers=bearer(key)).get_json()["keys"]
    assert [k["name"] for k in listed] == ["ci runner", "bootstrap"]
    assert listed[0]["prefix"] == f"ci_{key_id}_" and listed[0]["last_used_at"] and not listed[0]["revoked"]
    assert key.split("_", 2)[2] not in json.dumps(listed) and all("key" not in k and "hash" not in k for k in listed)

    revoked = auth_client.delete(f"/keys/{key_id}", headers=bearer(bootstrap))
    assert revoked.status_code == 200 and revoked.get_json()["revoked"] is True
    # Refused on the very next request: nothing caches a positive lookup.
    assert_error(function_client("datasets").get("/", headers=bearer(key)), 401, "revoked_key")
    assert auth_client.delete(f"/keys/{key_id}", headers=bearer(bootstrap)).status_code == 200  # idempotent
    assert [k["revoked"] for k in auth_client.get("/keys", headers=bearer(bootstrap)).get_json()["keys"]] == [
        True, False]


def test_a_key_can_revoke_itself(documents, auth_client, user_id):
    key, record = apikeys.issue(documents, user_id)
    assert auth_client.delete(f"/keys/{record['id']}", headers=bearer(key)).status_code == 200
    assert_error(auth_client.get("/me", headers=bearer(key)), 401, "revoked_key")


def test_a_revoked_key_with_a_wrong_secret_says_invalid_not_revoked(documents, auth_client, user_id):
    key, record = apikeys.issue(documents, user_id)
    apikeys.revoke(documents, user_id, record["id"])
    assert_error(auth_client.get("/me", headers=bearer(key[:-1] + ("x" if key[-1] != "x" else "y"))), 401,
                 "invalid_api_key")


def test_another_users_key_is_404_and_keeps_working(documents, auth_client, user_id):
    mine, _ = apikeys.issue(documents, user_id)
    theirs, record = apikeys.issue(documents, f"other-{uuid.uuid4().hex[:8]}")
    assert_error(auth_client.delete(f"/keys/{record['id']}", headers=bearer(mine)), 404, "api_key_not_found")
    assert_error(auth_client.delete("/keys/not-a-key-id", headers=bearer(mine)), 404, "api_key_not_found")
    assert auth_client.get("/me", headers=bearer(theirs)).status_code == 200
    assert auth_client.get("/keys", headers=bearer(mine)).get_json()["keys"][0]["id"] != record["id"]


def test_admin_only_routes_refuse_users_and_serve_admins(documents, auth_client, user_id):
    user_key, _ = apikeys.issue(documents, user_id)
    admin_key, _ = apikeys.issue(documents, f"admin-{uuid.uuid4().hex[:8]}", role="admin")
    target = f"target-{uuid.uuid4().hex[:8]}"
    _, target_record = apikeys.issue(documents, target)
    assert_error(auth_client.get(f"/users/{target}/keys", headers=bearer(user_key)), 403, "admin_required")
    listed = auth_client.get(f"/users/{target}/keys", headers=bearer(admin_key))
    assert listed.status_code == 200 and [k["id"] for k in listed.get_json()["keys"]] == [target_record["id"]]
    assert_error(auth_client.delete(f"/users/{target}/keys/{target_record['id']}", headers=bearer(user_key)), 403,
                 "admin_required")
    cut = auth_client.delete(f"/users/{target}/keys/{target_record['id']}", headers=bearer(admin_key))
    assert cut.status_code == 200 and cut.get_json()["revoked"] is True


def test_only_admins_issue_keys_for_others_or_with_the_admin_role(documents, auth_client, user_id):
    user_key, _ = apikeys.issue(documents, user_id)
    admin_key, _ = apikeys.issue(documents, f"admin-{uuid.uuid4().hex[:8]}", role="admin")
    other = f"other-{uuid.uuid4().hex[:8]}"
    for body in ({"user_id": other}, {"role": "admin"}, {"user_id": other, "role": "admin"}):
        assert_error(auth_client.post("/keys", headers=bearer(user_key), json=body), 403, "admin_required")
    issued = auth_client.post("/keys", headers=bearer(admin_key), json={"user_id": other, "role": "admin"})
    assert issued.status_code == 201
    me = auth_client.get("/me", headers=bearer(issued.get_json()["key"])).get_json()
    assert me == {"user_id": other, "role": "admin", "method": "apikey"}
    assert_error(auth_client.post("/keys", headers=bearer(admin_key), json={"user_id": "../x"}), 400,
                 "invalid_user_id")
    assert_error(auth_client.post("/keys", headers=bearer(admin_key), json={"role": "root"}), 422, "invalid_request")


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"name": 5}, 422, "invalid_request"), ({"name": "x" * 101}, 422, "invalid_request"),
    ({"name": "bell\a"}, 400, "invalid_parameter"), ({"nmae": "typo"}, 422, "invalid_request"),
])
def test_bad_issue_bodies_are_refused(documents, auth_client, user_id, body, status, code):
    key, _ = apikeys.issue(documents, user_id)
    assert_error(auth_client.post("/keys", headers=bearer(key), json=body), status, code)


def test_a_user_has_a_bounded_number_of_active_keys(documents, auth_client, user_id):
    keys = [apikeys.issue(documents, user_id)[0] for _ in range(apikeys.MAX_ACTIVE_KEYS)]
    assert_error(auth_client.post("/keys", headers=bearer(keys[0])), 409, "too_many_keys")
    apikeys.revoke(documents, user_id, keys[1].split("_")[1])
    assert auth_client.post("/keys", headers=bearer(keys[0])).status_code == 201


def test_secrets_never_reach_a_log_line_but_key_ids_do(documents, auth_client, user_id, caplog):
    caplog.set_level(logging.DEBUG)
    bootstrap, record = apikeys.issue(documents, user_id)
    issued = auth_client.post("/keys", headers=bearer(bootstrap)).get_json()
    auth_client.get("/me", headers=bearer(issued["key"]))
    auth_client.get("/me", headers=bearer(issued["key"][:-1] + "!"))  # malformed: must not be echoed either
    auth_client.delete(f"/keys/{issued['id']}", headers=bearer(bootstrap))
    auth_client.get("/me", headers=bearer(issued["key"]))
    logged = json.dumps([{**r.__dict__, "msg": r.getMessage()} for r in caplog.records], default=str)
    for key in (bootstrap, issued["key"]):
        assert key.split("_", 2)[2][:-1] not in logged
    assert issued["id"] in logged and record["id"] in logged
    assert "api_key_issued" in logged and "api_key_revoked" in logged


def test_dev_mode_can_issue_the_keys_an_apikey_deployment_will_accept(local_env, user_id):
    issued = function_client("auth").post("/keys", headers={"X-User-Id": user_id}, json={"name": "from dev"})
    assert issued.status_code == 201
    me = function_client("auth").get("/me", headers={"X-User-Id": user_id, "X-User-Role": "admin"}).get_json()
    assert me == {"user_id": user_id, "role": "admin", "method": "dev"}
    os.environ["AUTH_MODE"] = "apikey"
    get_settings.cache_clear()
    assert function_client("auth").get("/me", headers=bearer(issued.get_json()["key"])).get_json()["method"] == "apikey"


def test_the_cli_prints_the_first_admin_key_once(apikey_env, auth_client, user_id):
    env = {**os.environ, "PYTHONPATH": str(REPO / "shared")}
    done = subprocess.run([sys.executable, "-m", "convoinsight.auth.issue", "--user", user_id, "--role", "admin",
                           "--name", "bootstrap"], capture_output=True, text=True, timeout=60, env=env, cwd=REPO)
    assert done.returncode == 0, done.stderr
    key = done.stdout.strip()
    assert done.stdout.count("\n") == 1 and key.startswith("ci_") and key not in done.stderr
    assert auth_client.get("/me", headers=bearer(key)).get_json() == {"user_id": user_id, "role": "admin",
                                                                      "method": "apikey"}
    bad = subprocess.run([sys.executable, "-m", "convoinsight.auth.issue", "--user", "../x"], capture_output=True,
                         text=True, timeout=60, env=env, cwd=REPO)
    assert bad.returncode == 1 and "invalid_user_id" in bad.stderr and not bad.stdout


def test_the_key_lifecycle_on_firestore(cloud_env, user_id):
    # The same queries (ordered listing, usage by owner, compare-and-set of last use) on the cloud store.
    os.environ["AUTH_MODE"] = "apikey"
    get_settings.cache_clear()
    documents, client = get_services(get_settings()).documents, function_client("auth")
    key, record = apikeys.issue(documents, user_id, name="first")
    second = client.post("/keys", headers=bearer(key), json={"name": "second"}).get_json()
    listed = client.get("/keys", headers=bearer(second["key"])).get_json()["keys"]
    assert [k["name"] for k in listed] == ["second", "first"] and all(k["last_used_at"] for k in listed)
    assert client.delete(f"/keys/{record['id']}", headers=bearer(second["key"])).status_code == 200
    assert_error(client.get("/me", headers=bearer(key)), 401, "revoked_key")
    assert documents.get(apikeys.tenant_collection(user_id), record["id"])["revoked_at"]


# --- An API key is an API key in every AUTH_MODE (issue #17: the MCP function forwards its caller's key) ---------

def _mode(mode: str) -> None:
    os.environ["AUTH_MODE"] = mode
    if mode == "firebase":
        os.environ["FIREBASE_PROJECT_ID"] = "convoinsight-test"
    get_settings.cache_clear()


@pytest.mark.parametrize("mode", ["dev", "firebase"])
def test_a_key_is_verified_as_a_key_in_every_mode(local_env, user_id, mode):
    key, _ = apikeys.issue(get_services(get_settings()).documents, user_id, name="script")
    _mode(mode)
    auth = function_client("auth")
    assert auth.get("/me", headers=bearer(key)).get_json() == {"user_id": user_id, "role": "user",
                                                               "method": "apikey"}
    # Over X-User-Id in dev mode: the verified key says who is calling.
    me = auth.get("/me", headers={**bearer(key), "X-User-Id": "someone-else", "X-User-Role": "admin"}).get_json()
    assert me == {"user_id": user_id, "role": "user", "method": "apikey"}
    # It reaches the data routes as that user too.
    datasets = function_client("datasets")
    assert datasets.get("/", headers=bearer(key)).get_json() == {"domains": []}


@pytest.mark.parametrize("mode", ["dev", "firebase"])
@pytest.mark.parametrize("credential, code", [
    ("ci_0123456789abcdef_" + "A" * 43, "invalid_api_key"),
    ("ci_short_secret", "malformed_api_key"),
])
def test_a_bad_key_is_401_in_every_mode_never_ignored(local_env, user_id, mode, credential, code):
    _mode(mode)
    resp = function_client("auth").get("/me", headers={**bearer(credential), "X-User-Id": user_id})
    assert_error(resp, 401, code)


@pytest.mark.parametrize("mode", ["dev", "firebase"])
def test_a_revoked_key_is_refused_in_every_mode(local_env, user_id, mode):
    documents = get_services(get_settings()).documents
    key, record = apikeys.issue(documents, user_id)
    apikeys.revoke(documents, user_id, record["id"])
    _mode(mode)
    assert_error(function_client("auth").get("/me", headers={**bearer(key), "X-User-Id": user_id}), 401,
                 "revoked_key")


def test_dev_mode_still_trusts_x_user_id_beside_a_bearer_that_is_not_a_key(local_env, user_id):
    me = function_client("auth").get("/me", headers={"X-User-Id": user_id, "Authorization": "Bearer eyJhbGciOi"})
    assert me.get_json() == {"user_id": user_id, "role": "user", "method": "dev"}
