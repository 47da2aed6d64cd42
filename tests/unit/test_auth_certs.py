"""The certificate cache honours Cache-Control, and a bad certificate endpoint is a 503, never a 401."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest

from convoinsight.auth.certs import DEFAULT_TTL_SECONDS, MAX_TTL_SECONDS, CertCache, ttl_from_cache_control
from convoinsight.errors import ServiceUnavailable


@pytest.mark.parametrize(("header", "ttl"), [
    ("public, max-age=19323, must-revalidate, no-transform", 19323),  # what Google sends
    ("max-age=0", 0), ("no-store", 0), ("no-cache, max-age=600", 0), ('max-age="60"', 60),
    (None, DEFAULT_TTL_SECONDS), ("public", DEFAULT_TTL_SECONDS), ("s-maxage=5", DEFAULT_TTL_SECONDS),
    ("max-age=99999999", MAX_TTL_SECONDS),
])
def test_ttl_follows_cache_control(header, ttl):
    assert ttl_from_cache_control(header) == ttl


@dataclass
class FakeResponse:
    status: int = 200
    data: bytes = b'{"k1": "PEM"}'
    headers: dict = field(default_factory=lambda: {"Cache-Control": "max-age=100"})


class FakeTransport:
    def __init__(self, *responses: FakeResponse):
        self.responses, self.calls = list(responses), 0

    def __call__(self, url, method="GET", timeout=None):
        self.calls += 1
        return self.responses[min(self.calls, len(self.responses)) - 1]


def cache_with(transport: FakeTransport) -> tuple[CertCache, list[float]]:
    now = [1000.0]
    cache = CertCache(clock=lambda: now[0])
    cache._transport = transport
    return cache, now


def test_certificates_are_reused_until_max_age_then_refetched():
    transport = FakeTransport(FakeResponse(), FakeResponse(data=b'{"k2": "PEM2"}'))
    cache, now = cache_with(transport)
    assert cache.get("u") == {"k1": "PEM"} and cache.get("u") == {"k1": "PEM"} and transport.calls == 1
    now[0] += 101
    assert cache.get("u") == {"k2": "PEM2"} and transport.calls == 2


@pytest.mark.parametrize("response", [FakeResponse(status=500), FakeResponse(status=404), FakeResponse(data=b"<html>"),
                                      FakeResponse(data=b'["PEM"]'), FakeResponse(data=json.dumps({"k": 1}).encode()),
                                      FakeResponse(data=b"\xff\xfe")])
def test_a_bad_answer_is_service_unavailable_and_not_cached(response):
    transport = FakeTransport(response, FakeResponse())
    cache, _ = cache_with(transport)
    with pytest.raises(ServiceUnavailable) as caught:
        cache.get("u")
    assert caught.value.code == "auth_certs_unavailable" and caught.value.status == 503 and caught.value.retry_after
    assert cache.get("u") == {"k1": "PEM"}  # the next request tries again


def test_an_unreachable_endpoint_is_service_unavailable():
    cache = CertCache()
    with pytest.raises(ServiceUnavailable, match="certificates are unavailable"):
        cache.get("http://127.0.0.1:1/certs")  # nothing listens on port 1
