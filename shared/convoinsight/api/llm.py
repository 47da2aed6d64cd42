"""Routes of the ``llm`` function: the providers offered, the models you can use, and your own model keys."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from convoinsight.llm import keys
from convoinsight.observability import audit
from convoinsight.web.app import FunctionApp, RequestContext, json_body

app = FunctionApp("llm")


class ModelsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider: str | None = Field(None, max_length=40)


@app.route("GET", "/providers", summary="The model providers offered")
def providers(ctx: RequestContext):
    from convoinsight.llm import directory

    return {"providers": directory.providers(ctx.services, ctx.user_id)}


@app.route("GET", "/models", query=ModelsQuery, summary="The models you can use now")
def models(ctx: RequestContext):
    from convoinsight.llm import directory
    from convoinsight.llm.prompts import prompt_store  # the prompt files (yaml): only this route reads them

    provider = ctx.query.provider and keys.check_provider(ctx.query.provider)
    return {"models": directory.models(ctx.services, ctx.user_id, prompt_store(ctx.settings.prompts_dir),
                                       provider)}


@app.route("POST", "/keys", limit="dataset_ops", body=keys.KeyIn, summary="Store your key for a provider",
           responses={201: "application/json"})
def add_key(ctx: RequestContext):
    body = json_body(ctx.request)
    record, data = keys.create(ctx.services, ctx.user_id, body)
    audit.record(ctx.services, ctx.user_id, "llm_key.create", record["provider"], api_base=record["api_base"])
    return _with_check(ctx, record, data.api_key, data.verify, data.verify_model), 201


@app.route("GET", "/keys", limit="dataset_ops", summary="Your provider keys, masked")
def list_keys(ctx: RequestContext):
    return {"keys": [keys.public(r) for r in keys.list_all(ctx.services, ctx.user_id)]}


@app.route("PUT", "/keys/<provider>", limit="dataset_ops", body=keys.KeyUpdate, summary="Rotate your key")
def rotate_key(ctx: RequestContext, provider: str):
    from convoinsight.security import crypto  # cryptography: on use, not at cold start

    body = json_body(ctx.request)
    record, data = keys.rotate(ctx.services, ctx.user_id, provider, body)
    audit.record(ctx.services, ctx.user_id, "llm_key.rotate", provider, api_base=record["api_base"],
                 new_key=data.api_key is not None)
    api_key = data.api_key or crypto.decrypt(ctx.settings, record["token"])
    return _with_check(ctx, record, api_key, data.verify, data.verify_model)


@app.route("DELETE", "/keys/<provider>", limit="dataset_ops", summary="Remove your key")
def delete_key(ctx: RequestContext, provider: str):
    keys.delete(ctx.services, ctx.user_id, provider)
    audit.record(ctx.services, ctx.user_id, "llm_key.delete", provider)
    return {"deleted": True, "provider": provider}


def _with_check(ctx: RequestContext, record: dict, api_key: str, verify: bool, model: str | None) -> dict:
    from convoinsight.llm import directory

    shown = keys.public(record)
    if verify:
        credential = keys.Credential(record["provider"], "user", api_key, record.get("api_base"))
        shown["check"] = directory.verify(ctx.services, credential, model)
    return shown
