"""Cloud Function `pipeline`: a thin adapter; the stage runner lives in convoinsight.jobs."""

import functions_framework

from convoinsight.api.pipeline import app


@functions_framework.http
def pipeline(request):
    return app(request)
