"""Routes of the ``queries`` function: ask a question (sync)."""

from __future__ import annotations

from convoinsight.llm.prompts import prompt_store
from convoinsight.queries.ask import ask
from convoinsight.web.app import FunctionApp, RequestContext, json_body

app = FunctionApp("queries")


@app.route("POST", "/", limit="query")
def ask_question(ctx: RequestContext):
    body = json_body(ctx.request)
    return ask(ctx.services, prompt_store(ctx.settings.prompts_dir), ctx.user_id, body)
