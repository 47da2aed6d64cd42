"""The MCP function: Model Context Protocol over Streamable HTTP, as a client of the public API only.

- ``api_client``: the HTTP client of the public API that every tool and resource goes through, carrying the
  caller's own ``Authorization: Bearer <API key>`` (so rate limits and tenant isolation are the API's own).
- ``tools``: the tools and the dataset-schema resources, each one or a few API calls.
- ``server``: the official MCP SDK's low-level server over them.
- ``http``: one HTTP request of the function: the credential checked (401 before any MCP work), then the SDK's
  stateless Streamable HTTP transport run for this one request (JSON responses).
"""


def warm() -> None:
    """Import the SDK, build the tools' schemas and the API's pooled HTTP client now rather than on the first
    request (``start_function(preload=...)``: in gunicorn's master, before the port opens)."""
    from convoinsight.mcp import api_client, http, server  # noqa: F401 - importing them is the point
    from convoinsight.settings import get_settings

    server.server()
    server.tool_list()
    settings = get_settings()
    api_client.http_client(settings.mcp_api_connect_timeout_seconds, settings.mcp_api_timeout_seconds)
