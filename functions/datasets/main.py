"""Cloud Function `datasets`: a thin adapter; the routes live in convoinsight.api.datasets."""

import functions_framework

from convoinsight.api.datasets import app


@functions_framework.http
def datasets(request):
    return app(request)
