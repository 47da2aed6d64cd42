"""Cloud Function `auth`: a thin adapter; the routes live in convoinsight.api.auth."""

import functions_framework

from convoinsight.api.auth import app


@functions_framework.http
def auth(request):
    return app(request)
