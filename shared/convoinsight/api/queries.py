"""Routes of the ``queries`` function: ask a question (sync)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from convoinsight.llm.prompts import PromptStore
from convoinsight.queries.ask import ask
from convoinsight.web.app import FunctionApp, RequestContext, json_body

app = FunctionApp("queries")


@lru_cache(maxsize=4)
def prompt_store(directory: Path) -> PromptStore:
    return PromptStore(directory)


@app.route("POST", "/", limit="query")
def ask_question(ctx: RequestContext):
    body = json_body(ctx.request)
    return ask(ctx.services, prompt_store(ctx.settings.prompts_dir), ctx.user_id, body)
