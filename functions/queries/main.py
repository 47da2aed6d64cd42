"""Cloud Function `queries`: a thin adapter; the routes live in convoinsight.api.queries."""

import functions_framework

from convoinsight.api.queries import app
from convoinsight.web.framework import start_function

start_function()  # at cold start: refuse bad settings; Flask's own errors in the JSON error shape


@functions_framework.http
def queries(request):
    return app(request)
