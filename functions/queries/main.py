"""Cloud Function `queries`: a thin adapter; the routes live in convoinsight.api.queries."""

import functions_framework

from convoinsight.api.queries import app
from convoinsight.web.framework import start_function

start_function(calls_models=True)  # at cold start: settings checked, JSON errors, litellm preloaded if needed


@functions_framework.http
def queries(request):
    return app(request)
