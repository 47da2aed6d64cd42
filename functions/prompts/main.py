"""Cloud Function `prompts`: a thin adapter; the routes live in convoinsight.api.prompts."""

import functions_framework

from convoinsight.api.prompts import app


@functions_framework.http
def prompts(request):
    return app(request)
