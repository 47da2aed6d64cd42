"""Cloud Function `pipeline`: a thin adapter; the stage runner lives in convoinsight.jobs."""

import functions_framework

from convoinsight.api.pipeline import app
from convoinsight.web.framework import start_function

start_function()  # at cold start: refuse bad settings; Flask's own errors in the JSON error shape


@functions_framework.http
def pipeline(request):
    return app(request)
