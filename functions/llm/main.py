"""Cloud Function `llm`: a thin adapter; the routes live in convoinsight.api.llm."""

import functions_framework

from convoinsight.api.llm import app
from convoinsight.web.framework import start_function

start_function(calls_models=True)  # at cold start: settings checked, JSON errors, litellm preloaded if needed


@functions_framework.http
def llm(request):
    return app(request)
