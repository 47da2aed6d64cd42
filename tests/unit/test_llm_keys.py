"""The llm function and per-user model keys, through the real litellm path against the stub server.

A user's key must reach the provider on that user's requests only (the stub records every Authorization
header), be stored encrypted, shown masked, never logged; custom endpoints pass the SSRF guard and are
pinned to the address checked.
"""

from __future__ import annotations

import io
import json
import time

import pytest
from cryptography.fernet import Fernet

from convoinsight.llm import keys
from convoinsight.security import network
from convoinsight.services import get_services
from convoinsight.settings import get_settings
from tests.conftest import function_client
from tests.support.data import SALES_CSV
from tests.support.http import assert_error
from tests.unit.test_overrides import script

ALICE_KEY = "sk-alice-own-key-0001-abcd"
BOB_REQUEST_KEY = "sk-bob-request-key-9876"
SERVER_KEY = "sk-test-not-a-real-key"
QUESTION = {"domain": "shop", "prompt": "revenue by region", "use_cache": False}


@pytest.fixture
def fernet_key(local_env, monkeypatch):
    key = Fernet.generate_key().decode()
    monkeypatch.setenv("FERNET_KEY", key)
    monkeypatch.setenv("SOURCES_ALLOW_PRIVATE_HOSTS", "true")  # custom endpoints here are the loopback stub
    get_settings.cache_clear()
    return key


@pytest.fixture
def world(use_stub_model, fernet_key, user_id):
    """Alice and Bob, each with the sales dataset; the stub scripted for a whole data answer."""
    script(use_stub_model)
    use_stub_model.always("key-check", "OK")
    datasets = function_client("datasets")
    alice, bob = {"X-User-Id": f"{user_id}-alice"}, {"X-User-Id": f"{user_id}-bob"}
    for h in (alice, bob):
        assert datasets.post("/shop", headers=h, data={"file": (io.BytesIO(SALES_CSV.read_bytes()),
                                                                 "sales.csv")}).status_code == 201
    return use_stub_model, function_client("llm"), function_client("queries"), alice, bob


def authorizations(stub, since: int = 0) -> set[str]:
    return {r["headers"].get("Authorization", "") for r in stub.requests[since:]}


def test_a_users_key_reaches_the_provider_on_that_users_requests_only(world):
    stub, llm, queries, alice, bob = world
    keys._touched.clear()
    added = llm.post("/keys", headers=alice, json={"provider": "openai", "api_key": ALICE_KEY})
    assert added.status_code == 201
    assert added.get_json()["key"] == "…abcd" and ALICE_KEY not in added.get_data(as_text=True)

    before = len(stub.requests)
    mine = queries.post("/", headers=alice, json=QUESTION).get_json()
    assert mine["sql_status"] == "ok" and mine["usage"]["paid_by"] == {"user": 6}
    assert authorizations(stub, before) == {f"Bearer {ALICE_KEY}"}
    (listed,) = llm.get("/keys", headers=alice).get_json()["keys"]
    assert listed["last_used_at"] >= listed["created_at"]  # the listing says when the key was last used

    before = len(stub.requests)
    theirs = queries.post("/", headers=bob, json=QUESTION).get_json()
    assert theirs["usage"]["paid_by"] == {"server": 6}
    assert authorizations(stub, before) == {f"Bearer {SERVER_KEY}"}  # never Alice's


def test_async_stages_use_the_callers_key_too(world):
    stub, llm, queries, alice, _ = world
    llm.post("/keys", headers=alice, json={"provider": "openai", "api_key": ALICE_KEY})
    before = len(stub.requests)
    job = queries.post("/", headers=alice, json={**QUESTION, "mode": "async"}).get_json()
    for _ in range(300):
        done = queries.get(f"/{job['job_id']}", headers=alice).get_json()
        if done["status"] in ("succeeded", "failed"):
            break
        time.sleep(0.05)
    assert done["status"] == "succeeded" and done["result"]["usage"]["paid_by"] == {"user": 6}
    assert authorizations(stub, before) == {f"Bearer {ALICE_KEY}"}


def test_the_original_apis_provider_model_and_api_key_pay_for_one_request(world):
    stub, llm, queries, _, bob = world
    before = len(stub.requests)
    resp = queries.post("/", headers=bob, json={**QUESTION, "provider": "openai", "model": "stub-model",
                                                "apiKey": BOB_REQUEST_KEY})
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["usage"]["paid_by"] == {"request": 6}
    assert authorizations(stub, before) == {f"Bearer {BOB_REQUEST_KEY}"}
    assert llm.get("/keys", headers=bob).get_json() == {"keys": []}  # never stored
    stored = get_services(get_settings()).documents.list(f"tenants/{bob['X-User-Id']}/jobs")
    assert BOB_REQUEST_KEY not in json.dumps(stored)
    # The next request without it is on the server's key again (another question: no cached model replies).
    before = len(stub.requests)
    queries.post("/", headers=bob, json={**QUESTION, "prompt": "revenue by region, again"})
    assert authorizations(stub, before) == {f"Bearer {SERVER_KEY}"}


@pytest.mark.parametrize("extra, code", [
    ({"mode": "async"}, "api_key_sync_only"),
    ({"model": "nobody-knows-this-model"}, "unknown_provider"),
    ({"provider": "acme", "model": "m1"}, "unknown_provider"),
])
def test_an_api_key_without_a_usable_provider_or_for_an_async_job_is_refused(world, extra, code):
    stub, _, queries, _, bob = world
    before = len(stub.requests)
    assert_error(queries.post("/", headers=bob, json={**QUESTION, "apiKey": BOB_REQUEST_KEY, **extra}), 400, code)
    assert len(stub.requests) == before


def test_an_api_key_over_plain_http_is_refused_in_cloud_mode(world, monkeypatch):
    from convoinsight.api import queries as queries_routes

    _, _, queries, _, bob = world
    monkeypatch.setattr(queries_routes, "_needs_https", lambda ctx: True)  # what DEPLOYMENT_MODE=cloud decides
    body = {**QUESTION, "provider": "openai", "model": "stub-model", "apiKey": BOB_REQUEST_KEY}
    assert_error(queries.post("/", headers=bob, json=body), 400, "insecure_transport")
    assert queries.post("/", headers={**bob, "X-Forwarded-Proto": "https"}, json=body).status_code == 200


def test_a_key_opens_its_providers_models_to_its_owner_only(world):
    stub, llm, queries, alice, bob = world
    llm.post("/keys", headers=alice, json={"provider": "openai", "api_key": ALICE_KEY})
    chosen = {**QUESTION, "model": "openai/gpt-4o-mini"}
    before = len(stub.requests)
    resp = queries.post("/", headers=alice, json=chosen)
    assert resp.status_code == 200, resp.get_json()
    assert {r["body"]["model"] for r in stub.requests[before:]} == {"gpt-4o-mini"}
    assert_error(queries.post("/", headers=bob, json=chosen), 400, "unknown_model")


def test_adding_or_removing_a_key_is_seen_by_the_next_question_cached_or_not(world):
    _, llm, queries, alice, _ = world
    chosen = {"domain": "shop", "prompt": "revenue by region", "model": "openai/gpt-4o-mini"}
    assert_error(queries.post("/", headers=alice, json=chosen), 400, "unknown_model")  # no key yet
    assert llm.post("/keys", headers=alice, json={"provider": "openai", "api_key": ALICE_KEY}).status_code == 201
    assert queries.post("/", headers=alice, json=chosen).status_code == 200
    assert list(queries.post("/", headers=alice, json=chosen).get_json()["timings"]) == ["cache"]  # cached
    assert llm.delete("/keys/openai", headers=alice).status_code == 200
    # The answer is cached, but the model it was asked of is no longer the caller's to use.
    assert_error(queries.post("/", headers=alice, json=chosen), 400, "unknown_model")


def test_providers_and_models_listings(world):
    _, llm, _, alice, bob = world
    llm.post("/keys", headers=alice, json={"provider": "deepseek", "api_key": "sk-alice-deepseek-key-77"})
    providers = {p["name"]: p for p in llm.get("/providers", headers=alice).get_json()["providers"]}
    assert set(providers) == {"openai", "deepseek", "openrouter", "xai"}
    assert providers["openai"] == {"name": "openai", "label": providers["openai"]["label"], "server_key": True,
                                   "server_endpoint": True, "your_key": False, "custom_endpoint": True,
                                   "models": providers["openai"]["models"]}
    assert providers["deepseek"]["your_key"] and not providers["deepseek"]["server_key"]
    bobs = {p["name"]: p for p in llm.get("/providers", headers=bob).get_json()["providers"]}
    assert not bobs["deepseek"]["your_key"]

    mine = {m["id"]: m for m in llm.get("/models", headers=alice).get_json()["models"]}
    assert mine["openai/stub-model"]["source"] == "default" and len(mine["openai/stub-model"]["agents"]) == 6
    assert mine["convoinsight/offline-planner"]["source"] == "offline"
    deepseek = mine["deepseek/deepseek-chat"]
    assert deepseek["source"] == "your_key" and deepseek["context_window"] > 30_000
    assert deepseek["input_usd_per_million"] > 0 and deepseek["output_usd_per_million"] > 0
    theirs = {m["id"] for m in llm.get("/models", headers=bob).get_json()["models"]}
    assert "deepseek/deepseek-chat" not in theirs and "openai/stub-model" in theirs
    only = llm.get("/models?provider=deepseek", headers=alice).get_json()["models"]
    assert only and {m["provider"] for m in only} == {"deepseek"}
    assert_error(llm.get("/models?provider=acme", headers=alice), 404, "provider_not_found")


def test_keys_are_listed_masked_rotated_and_removed(world):
    _, llm, _, alice, _ = world
    llm.post("/keys", headers=alice, json={"provider": "openai", "api_key": ALICE_KEY})
    (listed,) = llm.get("/keys", headers=alice).get_json()["keys"]
    assert listed["provider"] == "openai" and listed["key"] == "…abcd" and listed["version"] == 1
    assert set(listed) == {"provider", "key", "api_base", "created_at", "updated_at", "last_used_at", "version"}
    rotated = llm.put("/keys/openai", headers=alice, json={"api_key": "sk-alice-second-key-5678"}).get_json()
    assert rotated["key"] == "…5678" and rotated["version"] == 2 and rotated["created_at"] == listed["created_at"]
    assert llm.delete("/keys/openai", headers=alice).get_json() == {"deleted": True, "provider": "openai"}
    assert llm.get("/keys", headers=alice).get_json() == {"keys": []}
    assert_error(llm.delete("/keys/openai", headers=alice), 404, "key_not_found")


@pytest.mark.parametrize("body, status, code", [
    ({"provider": "acme", "api_key": ALICE_KEY}, 422, "unknown_provider"),
    ({"provider": "openai"}, 422, "invalid_request"),
    ({"provider": "openai", "api_key": "short"}, 422, "invalid_request"),
    ({"provider": "openai", "api_key": "sk-with a space-123"}, 422, "invalid_request"),
    ({"provider": "openai", "api_key": ALICE_KEY, "colour": "red"}, 422, "invalid_request"),
    ({"provider": "deepseek", "api_key": ALICE_KEY, "api_base": "https://llm.example.com/v1"}, 422,
     "custom_endpoint_not_supported"),
    ({"provider": "openai", "api_key": ALICE_KEY, "api_base": "ftp://llm.example.com"}, 422, "invalid_api_base"),
    ({"provider": "openai", "api_key": ALICE_KEY, "api_base": "https://u:p@llm.example.com/v1"}, 422,
     "invalid_api_base"),
])
def test_bad_keys_are_refused_and_nothing_is_stored(world, body, status, code):
    _, llm, _, alice, _ = world
    assert_error(llm.post("/keys", headers=alice, json=body), status, code)
    assert llm.get("/keys", headers=alice).get_json() == {"keys": []}


def test_a_second_key_for_a_provider_is_a_conflict(world):
    _, llm, _, alice, _ = world
    assert llm.post("/keys", headers=alice, json={"provider": "openai", "api_key": ALICE_KEY}).status_code == 201
    assert_error(llm.post("/keys", headers=alice, json={"provider": "openai", "api_key": ALICE_KEY}), 409,
                 "key_exists")


def test_keys_are_encrypted_at_rest_and_rotate_between_fernet_keys(world, monkeypatch, fernet_key):
    stub, llm, queries, alice, _ = world
    llm.post("/keys", headers=alice, json={"provider": "openai", "api_key": ALICE_KEY})
    docs = get_services(get_settings()).documents
    stored = docs.get(keys.collection(alice["X-User-Id"]), "openai")
    assert ALICE_KEY not in json.dumps(stored)
    assert Fernet(fernet_key.encode()).decrypt(stored["token"].encode()).decode() == ALICE_KEY
    new_key = Fernet.generate_key().decode()
    monkeypatch.setenv("FERNET_KEY", f"{new_key},{fernet_key}")  # the new key first: it encrypts from now on
    get_settings.cache_clear()
    before = len(stub.requests)
    assert queries.post("/", headers=alice, json=QUESTION).get_json()["usage"]["paid_by"] == {"user": 6}
    assert authorizations(stub, before) == {f"Bearer {ALICE_KEY}"}  # the old token still decrypts
    llm.put("/keys/openai", headers=alice, json={"api_key": "sk-alice-second-key-5678"})
    token = docs.get(keys.collection(alice["X-User-Id"]), "openai")["token"].encode()
    assert Fernet(new_key.encode()).decrypt(token).decode() == "sk-alice-second-key-5678"
    from cryptography.fernet import InvalidToken

    with pytest.raises(InvalidToken):
        Fernet(fernet_key.encode()).decrypt(token)


REFUSED_ENDPOINTS = [
    "https://127.0.0.1/v1", "https://10.1.2.3/v1", "https://192.168.0.10/v1", "https://172.16.5.4/v1",
    "https://169.254.169.254/v1", "https://[::1]/v1", "https://[::ffff:127.0.0.1]/v1", "https://[fe80::1]/v1",
    "https://100.64.0.1/v1", "https://0.0.0.0/v1", "https://224.0.0.1/v1", "https://240.0.0.1/v1",
    "https://[2002:7f00:1::]/v1", "https://metadata.google.internal/computeMetadata/v1",
    "https://private.example.test/v1", "https://rebinding.example.test/v1",
]


@pytest.mark.parametrize("api_base", REFUSED_ENDPOINTS)
def test_custom_endpoints_pass_the_ssrf_guard(world, monkeypatch, api_base):
    _, llm, _, alice, _ = world
    monkeypatch.setenv("SOURCES_ALLOW_PRIVATE_HOSTS", "false")
    get_settings.cache_clear()
    answers = {"private.example.test": ["10.9.8.7"], "rebinding.example.test": ["93.184.216.34", "127.0.0.1"]}
    monkeypatch.setattr(network, "resolver", lambda host, port: answers.get(host, ["93.184.216.34"]))
    resp = llm.post("/keys", headers=alice, json={"provider": "openai", "api_key": ALICE_KEY, "api_base": api_base})
    assert_error(resp, 422, "llm_endpoint_refused")
    assert llm.get("/keys", headers=alice).get_json() == {"keys": []}


def test_a_custom_endpoint_is_pinned_to_the_address_checked_when_it_is_used(world, monkeypatch):
    stub, llm, queries, alice, _ = world
    resolved = {"llm.alice.test": ["127.0.0.1"]}
    monkeypatch.setattr(network, "resolver", lambda host, port: resolved[host])
    api_base = f"http://llm.alice.test:{stub.port}/v1"  # a name only our resolver knows: pinned or it fails
    added = llm.post("/keys", headers=alice, json={"provider": "openai", "api_key": ALICE_KEY, "api_base": api_base,
                                                   "verify": True, "verify_model": "stub-model"})
    assert added.status_code == 201 and added.get_json()["check"]["verified"] is True, added.get_json()
    before = len(stub.requests)
    assert queries.post("/", headers=alice, json=QUESTION).get_json()["usage"]["paid_by"] == {"user": 6}
    assert {r["headers"]["Host"] for r in stub.requests[before:]} == {f"llm.alice.test:{stub.port}"}
    # The name now points at a metadata address: the next call is refused before anything is sent.
    monkeypatch.setenv("SOURCES_ALLOW_PRIVATE_HOSTS", "false")
    get_settings.cache_clear()
    resolved["llm.alice.test"] = ["169.254.169.254"]
    before = len(stub.requests)
    answer = queries.post("/", headers=alice, json=QUESTION).get_json()
    assert "user" not in answer["usage"]["paid_by"]
    assert not any(r["headers"].get("Authorization") == f"Bearer {ALICE_KEY}" for r in stub.requests[before:])


def test_verify_reports_a_refused_key_honestly_without_echoing_it(world):
    stub, llm, _, alice, _ = world
    from tests.support.stub_llm import Status

    stub.always("key-check", Status(401))
    resp = llm.post("/keys", headers=alice, json={"provider": "openai", "api_key": ALICE_KEY, "verify": True,
                                                  "verify_model": "stub-model"})
    check = resp.get_json()["check"]
    assert resp.status_code == 201 and check["verified"] is False and check["error"]["status"] == 401
    assert ALICE_KEY not in resp.get_data(as_text=True)


def test_calls_on_a_users_key_do_not_count_against_the_servers_budget(world, monkeypatch):
    _, llm, queries, alice, bob = world
    monkeypatch.setenv("DAILY_TOKEN_BUDGET", "4000")  # an answer spends 720 tokens (6 calls x 120)
    get_settings.cache_clear()
    llm.post("/keys", headers=alice, json={"provider": "openai", "api_key": ALICE_KEY})

    def answers_until_refused(h: dict) -> int:
        for n in range(12):
            resp = queries.post("/", headers=h, json={**QUESTION, "prompt": f"revenue by region {h} {n} {time.time()}"})
            if resp.status_code == 429:
                assert resp.get_json()["error"]["code"] == "token_budget_exceeded"
                return n
            assert resp.status_code == 200, resp.get_json()
        return 12

    assert answers_until_refused(alice) == 12  # her own key: the server's budget is not hers to spend
    assert 1 <= answers_until_refused(bob) < 12
    monkeypatch.setenv("BUDGET_COUNTS_USER_KEYS", "true")
    get_settings.cache_clear()
    assert 1 <= answers_until_refused(alice) < 12  # counted from now on


def test_no_key_is_ever_logged(world, caplog, capfd):
    _, llm, queries, alice, bob = world
    caplog.set_level("DEBUG")
    llm.post("/keys", headers=alice, json={"provider": "openai", "api_key": ALICE_KEY, "verify": True,
                                           "verify_model": "stub-model"})
    queries.post("/", headers=alice, json=QUESTION)
    queries.post("/", headers=alice, json={**QUESTION, "mode": "async"})
    queries.post("/", headers=bob, json={**QUESTION, "provider": "openai", "model": "stub-model",
                                         "apiKey": BOB_REQUEST_KEY})
    queries.post("/", headers=bob, json={**QUESTION, "apiKey": BOB_REQUEST_KEY, "mode": "async"})
    llm.put("/keys/openai", headers=alice, json={"api_key": "sk-alice-second-key-5678"})
    time.sleep(1.0)  # the async job's stages log too
    out, err = capfd.readouterr()
    for secret in (ALICE_KEY, BOB_REQUEST_KEY, "sk-alice-second-key-5678"):
        assert secret not in caplog.text and secret not in out and secret not in err


@pytest.mark.parametrize("provider", ["deepseek", "openrouter", "xai"])
def test_every_offered_provider_carries_the_users_key_to_its_endpoint(world, monkeypatch, provider):
    """Each provider's public endpoint is pointed at the stub (litellm's <PROVIDER>_API_BASE), so the listing
    offers only what this test has exercised: the provider's wire format, with the user's key."""
    from convoinsight.llm.catalog import PROVIDERS

    stub, llm, queries, alice, _ = world
    monkeypatch.setenv(f"{provider.upper()}_API_BASE", stub.base_url)
    own = f"{provider}-alice-key-{provider}-42"
    assert llm.post("/keys", headers=alice, json={"provider": provider, "api_key": own}).status_code == 201
    model = PROVIDERS[provider].probe_model
    before = len(stub.requests)
    resp = queries.post("/", headers=alice, json={**QUESTION, "model": model})
    assert resp.status_code == 200 and resp.get_json()["sql_status"] == "ok", resp.get_json()
    assert resp.get_json()["usage"]["paid_by"] == {"user": 6}
    assert authorizations(stub, before) == {f"Bearer {own}"}
    assert {r["body"]["model"] for r in stub.requests[before:]} == {model.split("/", 1)[1]}
