"""Cloud Function `pipeline`: a thin adapter; the stage runner lives in convoinsight.jobs."""

import functions_framework

from convoinsight.api.pipeline import app
from convoinsight.web.framework import start_function

start_function(calls_models=True, runs_sql=True)  # settings checked; JSON errors; litellm, engine ahead


@functions_framework.http
def pipeline(request):
    return app(request)
