"""Cloud Function `charts`: a thin adapter; the routes live in convoinsight.api.charts."""

import functions_framework

from convoinsight.api.charts import app


@functions_framework.http
def charts(request):
    return app(request)
