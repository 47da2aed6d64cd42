"""The session's loopback guard: connects elsewhere raise before any packet leaves, and every attempt is recorded."""

from __future__ import annotations

import socket

import pytest

from tests.support import network_guard
from tests.support.network_guard import NonLoopbackConnect

OUTSIDE = ["10.0.0.1", "169.254.169.254", "8.8.8.8"]


@pytest.fixture
def listener():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(4)
        yield server


@pytest.fixture
def real_connects(monkeypatch) -> list:
    """Every call that reaches the real socket connect (the guard's saved originals), spied on."""
    calls = []
    for name in ("connect", "connect_ex"):
        original = network_guard._originals[name]

        def spy(sock, address, _original=original, _name=name):
            calls.append((_name, address))
            return _original(sock, address)

        monkeypatch.setitem(network_guard._originals, name, spy)
    return calls


def test_the_guard_is_installed_for_the_whole_session():
    assert network_guard.installed()
    assert socket.socket.connect is network_guard._guarded_connect


@pytest.mark.parametrize("host", OUTSIDE)
def test_connects_outside_loopback_raise_before_connecting(host, real_connects, listener):
    sock = socket.socket()
    sock.setblocking(False)  # a connect that really started would leave the socket "in progress"
    try:
        with pytest.raises(NonLoopbackConnect, match="NETWORK GUARD") as refused:
            sock.connect((host, 5432))
        assert isinstance(refused.value, OSError)
        with pytest.raises(NonLoopbackConnect):
            sock.connect_ex((host, 5432))
        assert real_connects == []
        with pytest.raises(OSError):
            sock.getpeername()  # never connected
        # The socket is still fresh: had a connect to `host` started, this would fail with EALREADY.
        sock.setblocking(True)
        sock.connect(listener.getsockname())
    finally:
        sock.close()
    assert (host, 5432) in network_guard.refused


@pytest.mark.parametrize("host", OUTSIDE)
def test_create_connection_is_refused_too(host, real_connects):
    with pytest.raises(NonLoopbackConnect):
        socket.create_connection((host, 443), timeout=0.5)
    assert real_connects == []
    assert network_guard.attempts == [(host, 443)]


@pytest.mark.parametrize("host", ["::ffff:10.0.0.1", "fe80::1%lo", "2001:4860:4860::8888", "0.0.0.0", "",  # noqa: S104 - refused, never bound
                                  "example.com", "db.customer.test"])
def test_other_addresses_and_host_names_are_refused(host):
    assert not network_guard.is_loopback(host)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1", "localhost"])
def test_loopback_is_allowed(host):
    assert network_guard.is_loopback(host)


def test_loopback_connects_go_through_and_are_recorded(listener, network_attempts):
    port = listener.getsockname()[1]
    with socket.create_connection(("127.0.0.1", port), timeout=2):
        pass
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) == 0
    assert network_attempts == [("127.0.0.1", port), ("127.0.0.1", port)]
    assert network_guard.refused == []


def test_ipv6_loopback_is_allowed():
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        server = socket.socket(socket.AF_INET6)
        server.bind(("::1", 0))
    except OSError:
        pytest.skip("no ::1 on this machine")
    with server:
        server.listen(1)
        with socket.create_connection(("::1", server.getsockname()[1]), timeout=2):
            pass
    assert network_guard.attempts[0][0] == "::1"


def test_unix_sockets_stay_allowed_and_unrecorded(tmp_path):
    path = str(tmp_path / "s")
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(path)
        server.listen(1)
        with socket.socket(socket.AF_UNIX) as client:
            client.connect(path)
    assert network_guard.attempts == []


def test_attempts_start_empty_for_each_test(network_attempts):
    assert network_attempts == [] and network_guard.refused == []
