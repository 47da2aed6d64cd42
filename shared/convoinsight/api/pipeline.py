"""The ``pipeline`` function: a Cloud Tasks HTTP target that runs one stage of one async job.

Not public: in the cloud only the tasks service account may invoke it (IAM + OIDC). It answers
2xx when the task is done (or failed for good, the job then marked failed) and 5xx when it should
be delivered again.
"""

from __future__ import annotations

from pydantic import BaseModel

from convoinsight.errors import ConvoInsightError
from convoinsight.observability import logs
from convoinsight.web.app import FunctionApp, RequestContext, json_body
from convoinsight.web.responses import json_response

app = FunctionApp("pipeline")


class StageTask(BaseModel):
    """A Cloud Tasks task's body, for the OpenAPI document (``jobs.runner.run_task`` reads it)."""

    user_id: str = ""
    job_id: str = ""
    stage: str = ""


@app.route("POST", "/", auth=False, limit=None, body=StageTask, summary="Run one stage of one async job",
           responses={200: "application/json", 503: "application/json"})
def run_stage(ctx: RequestContext):
    # The pipeline (agents, SQL compiler, model client) loads with the first task, not at cold start (issue #15):
    # the instance starts, and answers its probes and OpenAPI document, without it.
    from convoinsight.jobs.service import handle_task
    from convoinsight.llm.prompts import prompt_store

    logs.update(task=ctx.request.headers.get("X-CloudTasks-TaskName"),
                retry=ctx.request.headers.get("X-CloudTasks-TaskRetryCount"))
    try:
        body = json_body(ctx.request)
    except ConvoInsightError as exc:
        # Cloud Tasks retries every non-2xx answer, 4xx included: a malformed task will never succeed.
        return json_response({"outcome": "rejected", "code": exc.code}, 200)
    status, outcome = handle_task(ctx.services, prompt_store(ctx.settings.prompts_dir), body)
    return json_response(outcome, status, {"Retry-After": "1"} if status >= 500 else {})
