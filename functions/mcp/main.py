"""Cloud Function `mcp`: a thin adapter; the routes live in convoinsight.api.mcp (MCP over Streamable HTTP)."""

import functions_framework

from convoinsight.api.mcp import app
from convoinsight.mcp import warm
from convoinsight.web.framework import start_function

# At cold start: refuse bad settings; Flask's own errors in the JSON error shape. Under functions-framework's
# server the MCP SDK and the API's HTTP client (about 0.8 s) are made before the port opens; elsewhere on the
# first MCP request.
start_function(preload=warm)


@functions_framework.http
def mcp(request):
    return app(request)
