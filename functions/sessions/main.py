"""Cloud Function `sessions`: a thin adapter; the routes live in convoinsight.api.sessions."""

import functions_framework

from convoinsight.api.sessions import app
from convoinsight.web.framework import start_function

start_function()  # at cold start: refuse bad settings; Flask's own errors in the JSON error shape


@functions_framework.http
def sessions(request):
    return app(request)
