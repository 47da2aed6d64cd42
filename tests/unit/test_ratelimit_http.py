"""Rate limits through real function entry points: headers, 429 and 503 shapes, keys, Redis outages and recovery."""

from __future__ import annotations

import io
import ipaddress
import os
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from convoinsight import ratelimit
from convoinsight.services import REDIS_COOLDOWN_SECONDS, get_services
from convoinsight.settings import get_settings
from local_emulator.backing import RedisServer
from tests.conftest import function_client


def configure(**env: str) -> None:
    os.environ.update(env)
    get_settings.cache_clear()


def limit_headers(resp) -> tuple[str | None, str | None, str | None]:
    return (resp.headers.get("X-RateLimit-Limit"), resp.headers.get("X-RateLimit-Remaining"),
            resp.headers.get("X-RateLimit-Reset"))


def an_address() -> str:
    return f"2001:db8::{uuid.uuid4().hex[:4]}:{uuid.uuid4().hex[:4]}"  # documentation range, new per test


def test_headers_on_200_and_429_and_the_error_shape(local_env, user_id):
    configure(RATE_LIMITS="dataset_ops=2/minute")
    client = function_client("datasets")
    me = {"X-User-Id": user_id}
    first, second = client.get("/", headers=me), client.get("/", headers=me)
    assert (first.status_code, second.status_code) == (200, 200)
    assert limit_headers(first) == ("2", "1", "60") and limit_headers(second) == ("2", "0", "60")
    refused = client.get("/", headers={**me, "X-Request-Id": "req-ratelimit-1"})
    assert refused.status_code == 429
    retry_after = int(refused.headers["Retry-After"])
    assert 1 <= retry_after <= 60 and limit_headers(refused) == ("2", "0", str(retry_after))
    error = refused.get_json()["error"]
    assert set(error) == {"code", "message", "request_id"}
    assert error["code"] == "rate_limited" and error["request_id"] == "req-ratelimit-1"
    assert "dataset ops" in error["message"] and f"{retry_after}s" in error["message"]
    # Keyed by user: someone else is not limited.
    other = client.get("/", headers={"X-User-Id": f"{user_id}-other"})
    assert other.status_code == 200 and limit_headers(other)[1] == "1"


def test_each_route_counts_in_its_class(local_env, user_id):
    configure(RATE_LIMITS="query=1/minute,upload=1/minute")
    me = {"X-User-Id": user_id}
    queries = function_client("queries")
    # Limited before the body is read: a bad request still counts, and the next one is refused.
    assert limit_headers(queries.post("/", headers=me))[:2] == ("1", "0")
    assert queries.post("/", headers=me).status_code == 429
    datasets = function_client("datasets")
    upload = datasets.post("/shop", headers=me, data={"file": (io.BytesIO(b"a,b\n1,2\n"), "t.csv")})
    assert upload.status_code == 201 and limit_headers(upload)[:2] == ("1", "0")
    assert datasets.post("/shop/uploads", headers=me, json={"filename": "big.csv"}).status_code == 429
    listing = datasets.get("/shop", headers=me)  # dataset_ops, its own budget
    assert listing.status_code == 200 and listing.headers["X-RateLimit-Limit"] == "200"


def test_unauthenticated_routes_are_keyed_by_the_trusted_forwarded_address(local_env):
    # Behind Google's front end (TRUSTED_PROXY_HOPS=1) the caller is the entry it appended: the last one.
    configure(RATE_LIMITS="default=2/minute", TRUSTED_PROXY_HOPS="1")
    health = function_client("health")
    address = an_address()
    via = {"X-Forwarded-For": f"10.0.0.1, {address}"}  # whatever the client sent, then the front end's entry
    assert [health.get("/", headers=via).status_code for _ in range(3)] == [200, 200, 429]
    spoofed = health.get("/", headers={"X-Forwarded-For": f"{an_address()}, {address}"})
    assert spoofed.status_code == 429  # a made-up address on the left changes nothing
    assert health.get("/", headers={"X-Forwarded-For": an_address()}).status_code == 200
    redis = get_services(get_settings()).redis
    assert redis.zcard(f"ci:v1:rl:default:ip:{ipaddress.ip_address(address)}") == 2  # keyed in canonical form
    for path in ("/live", "/ready"):  # probes are exempt: never refused, no headers
        for _ in range(3):
            resp = health.get(path, headers=via)
            assert resp.status_code == 200 and limit_headers(resp) == (None, None, None)


def test_failed_sign_ins_are_limited_per_address(local_env):
    configure(RATE_LIMITS="auth=2/minute")  # no trusted proxy: the socket peer, whatever X-Forwarded-For says
    client, peer = function_client("datasets"), an_address()
    statuses = [client.get("/", headers={"X-Forwarded-For": an_address()}, environ_base={"REMOTE_ADDR": peer})
                .status_code for _ in range(3)]
    assert statuses == [401, 401, 429]
    assert client.get("/", environ_base={"REMOTE_ADDR": an_address()}).status_code == 401


def test_redis_down_fail_open_serves_and_counts(local_env, user_id):
    configure(REDIS_URL="redis://127.0.0.1:1/0")  # nothing listens on port 1
    before = ratelimit.stats()["fail_open"]
    resp = function_client("datasets").get("/", headers={"X-User-Id": user_id})
    assert resp.status_code == 200 and limit_headers(resp) == (None, None, None)
    assert ratelimit.stats()["fail_open"] == before + 1


def test_redis_down_fail_closed_is_503_with_retry_after(local_env, user_id):
    configure(REDIS_URL="redis://127.0.0.1:1/0", RATE_LIMIT_FAIL_OPEN="false")
    resp = function_client("datasets").get("/", headers={"X-User-Id": user_id, "X-Request-Id": "req-ratelimit-2"})
    assert resp.status_code == 503 and resp.headers["Retry-After"] == "5"
    assert resp.get_json() == {"error": {"code": "rate_limit_unavailable",
                                         "message": "rate limiting is unavailable; try again shortly",
                                         "request_id": "req-ratelimit-2"}}


@pytest.fixture
def own_redis(local_env):
    """A Redis of this test's own to stop and start (never the session's)."""
    server = RedisServer(Path(tempfile.mkdtemp(prefix="convoinsight-ratelimit-")) / "redis")
    configure(REDIS_URL=server.start())
    yield server
    server.stop()


@pytest.mark.parametrize("fail_open", [True, False])
def test_limits_apply_again_when_redis_comes_back(own_redis, user_id, fail_open):
    configure(RATE_LIMITS="dataset_ops=2/minute", RATE_LIMIT_FAIL_OPEN=str(fail_open).lower())
    client, me = function_client("datasets"), {"X-User-Id": user_id}
    assert limit_headers(client.get("/", headers=me))[1] == "1"
    own_redis.stop()
    during = client.get("/", headers=me)
    assert during.status_code == (200 if fail_open else 503) and limit_headers(during) == (None, None, None)
    own_redis.start()  # same port, empty (no persistence), its scripts gone: the client reloads ours
    time.sleep(REDIS_COOLDOWN_SECONDS + 0.1)  # the client waits out its short cooldown, then tries again
    statuses = [client.get("/", headers=me) for _ in range(3)]
    assert [r.status_code for r in statuses] == [200, 200, 429]
    assert [limit_headers(r)[1] for r in statuses] == ["1", "0", "0"]
