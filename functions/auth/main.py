"""Cloud Function `auth`: a thin adapter; the routes live in convoinsight.api.auth."""

import functions_framework

from convoinsight.api.auth import app
from convoinsight.web.framework import start_function

start_function()  # at cold start: refuse bad settings; Flask's own errors in the JSON error shape


@functions_framework.http
def auth(request):
    return app(request)
