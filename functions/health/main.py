"""Cloud Function `health`: a thin adapter; the routes live in convoinsight.api.health."""

import functions_framework

from convoinsight.api.health import app


@functions_framework.http
def health(request):
    return app(request)
