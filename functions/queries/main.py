"""Cloud Function `queries`: a thin adapter; the routes live in convoinsight.api.queries."""

import functions_framework

from convoinsight.api.queries import app


@functions_framework.http
def queries(request):
    return app(request)
