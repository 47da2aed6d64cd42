"""The baseline function: functions-framework answering a small JSON, nothing else (bench/first_request, http_paths)."""

import functions_framework


@functions_framework.http
def hello(request):
    return {"hello": "world"}
