"""Cloud Function `llm`: a thin adapter; the routes live in convoinsight.api.llm."""

import functions_framework

from convoinsight.api.llm import app
from convoinsight.web.framework import start_function

start_function()  # at cold start: refuse bad settings; Flask's own errors in the JSON error shape


@functions_framework.http
def llm(request):
    return app(request)
