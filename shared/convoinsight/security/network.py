"""Server-side request forgery guard for user-supplied hosts: PostgreSQL sources and model endpoints.

A tenant names a host; we resolve it ourselves and refuse unless EVERY address is a public one
(``is_global``, after unwrapping IPv4-mapped, 6to4 and Teredo IPv6 addresses), and never a
multicast, reserved, unspecified or cloud metadata address. The caller then connects to one of
the addresses checked here (see ``sources.postgres``), so a DNS answer that changes between the
check and the connect (rebinding) cannot redirect it. Local mode may allow private ranges
(SOURCES_ALLOW_PRIVATE_HOSTS); metadata endpoints stay refused even then.
"""

from __future__ import annotations

import ipaddress
import socket
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from convoinsight.errors import Unprocessable

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata.goog", "metadata"})
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254",  # Google Cloud, AWS, Azure
    "169.254.170.2",  # AWS ECS task metadata
    "100.100.100.200",  # Alibaba Cloud
    "fd00:ec2::254",  # AWS over IPv6
))
MAX_HOST_CHARS = 253
_resolver_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="resolve")


class HostRefused(Unprocessable):
    """The database host resolves to an address that connections may not reach."""

    code = "source_host_refused"


def system_resolve(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for ``host`` (tests replace ``resolver``)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return [info[4][0] for info in infos]


resolver = system_resolve


def embedded_ipv4(address: Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped ``::ffff:a.b.c.d``, 6to4, Teredo), if any."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.sixtofour is not None:
            return address.sixtofour
        if address.teredo is not None:
            return address.teredo[1]
    return None


def refusal(address: Address, allow_private: bool) -> str | None:
    """Why connections may not reach ``address``, or None when they may."""
    inner = embedded_ipv4(address)
    if inner is not None:
        why = refusal(inner, allow_private)
        return f"{why} (inside the IPv6 address {address})" if why else None
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_global:
        return None
    if address.is_loopback:  # before is_reserved: Python counts ::1 as reserved
        return None if allow_private else "a loopback address"
    if address.is_reserved:  # checked first: Python counts 240.0.0.0/4 as "private" too
        return "a reserved address"
    if allow_private and (address.is_private or address.is_link_local
                          or address in ipaddress.ip_network("100.64.0.0/10")):
        return None
    if address.is_link_local:
        return "a link-local address"
    if isinstance(address, ipaddress.IPv4Address) and address in ipaddress.ip_network("100.64.0.0/10"):
        return "a carrier-grade NAT address"
    return "a private address"


def normalise_host(host: str) -> str:
    host = host.strip().lower().rstrip(".")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host or len(host) > MAX_HOST_CHARS or any(c.isspace() or c in "/@?#\\\x00" for c in host):
        raise Unprocessable("host must be a host name or an IP address", code="invalid_host")
    return host


def checked_addresses(host: str, port: int, *, allow_private: bool, timeout: float) -> list[str]:
    """The addresses of ``host`` that may be connected to, every one checked; raises HostRefused."""
    name = normalise_host(host)
    if name in METADATA_HOSTS or name.endswith(".metadata.google.internal"):
        raise HostRefused(f"host {host!r} is a cloud metadata endpoint")
    try:
        literal = ipaddress.ip_address(name.split("%", 1)[0])
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [str(literal)]
    else:
        future = _resolver_pool.submit(resolver, name, port)
        try:
            addresses = list(dict.fromkeys(future.result(timeout=timeout)))
        except FutureTimeout:
            raise Unprocessable(f"host {host!r} did not resolve within {timeout:g} s",
                                code="source_host_not_found") from None
        except (OSError, UnicodeError):
            raise Unprocessable(f"host {host!r} could not be resolved", code="source_host_not_found") from None
    if not addresses:
        raise Unprocessable(f"host {host!r} could not be resolved", code="source_host_not_found")
    for text in addresses:
        try:
            address = ipaddress.ip_address(text.split("%", 1)[0])
        except ValueError:
            raise HostRefused(f"host {host!r} resolved to something that is not an address") from None
        why = refusal(address, allow_private)
        if why:
            raise HostRefused(f"host {host!r} resolves to {why}; connections may only reach public addresses",
                              details={"host": host})
    return addresses
