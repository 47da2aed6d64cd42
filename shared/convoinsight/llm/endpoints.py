"""Custom model endpoints a tenant names (``api_base``): checked like database hosts, and pinned.

``checked`` resolves the URL's host and refuses it unless every address is public (``security.network``,
``SOURCES_ALLOW_PRIVATE_HOSTS`` in local mode). ``pinned_client`` is the OpenAI client litellm then uses for
the call: its HTTP connections go to an address checked at that moment, whatever the name resolves to
later (DNS rebinding), while TLS still verifies the certificate against the host name in the URL.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from convoinsight.errors import Unprocessable
from convoinsight.security import network


class EndpointRefused(Unprocessable):
    code = "llm_endpoint_refused"


def checked(settings, api_base: str) -> tuple[str, int, list[str]]:
    """(host, port, the addresses that may be connected to); EndpointRefused when any address is not allowed."""
    parts = urlsplit(api_base)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = network.checked_addresses(parts.hostname or "", port,
                                              allow_private=settings.sources_allow_private_hosts,
                                              timeout=settings.source_connect_timeout_seconds)
    except network.HostRefused as exc:
        raise EndpointRefused(exc.message.replace("connections may only", "model endpoints may only"),
                              details={"api_base": api_base}) from None
    except Unprocessable as exc:
        raise EndpointRefused(exc.message, details={"api_base": api_base}) from None
    return parts.hostname or "", port, addresses


def pinned_client(settings, api_base: str, api_key: str) -> Any:
    """An ``openai.OpenAI`` client for ``api_base`` whose connections are pinned to a checked address."""
    import httpcore
    import httpx
    import openai

    host, checked_port, addresses = checked(settings, api_base)
    checked_host = host.lower()

    class PinnedBackend(httpcore.SyncBackend):
        def connect_tcp(self, host: str, port: int, timeout=None, local_address=None, socket_options=None):
            if host.lower().strip("[]") != checked_host or int(port) != checked_port:
                raise httpcore.ConnectError(f"this client may only reach {checked_host}:{checked_port}")
            return super().connect_tcp(addresses[0], checked_port, timeout=timeout, local_address=local_address,
                                       socket_options=socket_options)

    transport = httpx.HTTPTransport(trust_env=False, retries=0)
    transport._pool = httpcore.ConnectionPool(ssl_context=httpx.create_ssl_context(),
                                              network_backend=PinnedBackend(), max_connections=4)
    http_client = httpx.Client(transport=transport, trust_env=False, timeout=settings.llm_timeout_seconds)
    return openai.OpenAI(api_key=api_key, base_url=api_base, http_client=http_client, max_retries=0,
                         timeout=settings.llm_timeout_seconds)
