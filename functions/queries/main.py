"""Cloud Function `queries`: a thin adapter; the routes live in convoinsight.api.queries."""

import functions_framework

from convoinsight.api.queries import app
from convoinsight.web.framework import start_function

start_function(calls_models=True, runs_sql=True)  # settings checked; JSON errors; litellm, engine ahead


@functions_framework.http
def queries(request):
    return app(request)
