"""Loopback-only networking for the test session: a connect anywhere else raises before any packet leaves.

Why: the PostgreSQL sources feature connects to addresses that tenants type in. A test that gets the
address check wrong must fail loudly here rather than quietly reach 169.254.169.254 or the internet.
``install()`` wraps ``socket.socket.connect`` and ``connect_ex`` (``socket.create_connection``, ``ssl``
and asyncio's socket connects all end there). Every TCP/UDP connect is recorded in ``attempts`` as
``(host, port)``, refused ones also in ``refused``, so a test can assert that a refused host never got
a connect attempt, or that a connect went to exactly the address that was checked. The tests' conftest
clears both lists before each test.

What this does not see: sockets opened by C extensions that never call Python's ``socket.socket``
(for example gRPC's C core) and datagrams sent with ``sendto`` on an unconnected socket.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

LOOPBACK_NAMES = frozenset({"localhost", "localhost.", "ip6-localhost", "ip6-loopback"})

attempts: list[tuple[str, int]] = []
refused: list[tuple[str, int]] = []

_originals: dict[str, Any] = {}


class NonLoopbackConnect(OSError):
    """A test tried to connect somewhere other than this machine's loopback interface."""


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1, ::ffff:127.x and the names of localhost; False for anything else.

    Other host names are refused without resolving them: the C-level connect would resolve them itself,
    out of reach of the test's monkeypatched resolvers, so only literal addresses can be checked.
    """
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])  # drop an IPv6 zone (fe80::1%eth0)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def _check(sock: socket.socket, address: Any) -> None:
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return  # AF_UNIX and friends never leave the machine
    host, port = (str(address[0]), int(address[1])) if isinstance(address, tuple) else (str(address), 0)
    attempts.append((host, port))
    if not is_loopback(host):
        refused.append((host, port))
        raise NonLoopbackConnect(
            f"NETWORK GUARD: refused a connect to {host!r} port {port}: tests may only connect to loopback "
            f"(127.0.0.0/8, ::1). Something tried to leave the machine; fix the test or the address check.")


def _guarded_connect(self: socket.socket, address: Any) -> None:
    _check(self, address)
    return _originals["connect"](self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> int:
    _check(self, address)
    return _originals["connect_ex"](self, address)


def install() -> None:
    """Wrap the socket connects (idempotent)."""
    if _originals:
        return
    _originals["connect"] = socket.socket.connect
    _originals["connect_ex"] = socket.socket.connect_ex
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]


def uninstall() -> None:
    if not _originals:
        return
    socket.socket.connect = _originals.pop("connect")  # type: ignore[method-assign]
    socket.socket.connect_ex = _originals.pop("connect_ex")  # type: ignore[method-assign]


def installed() -> bool:
    return bool(_originals)


def clear() -> None:
    attempts.clear()
    refused.clear()
