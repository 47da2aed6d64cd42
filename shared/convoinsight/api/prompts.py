"""Routes of the ``prompts`` function: the agents' prompts, edited by operators; your own overrides.

``PUT /{name}`` (admin) stores a whole prompt as a new version and makes it current
everywhere within seconds; ``GET /{name}/versions`` lists them and
``POST /{name}/rollback`` makes any one current again
(``convoinsight.llm.prompt_editing``). A user's overrides apply to their own
questions only.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from flask import Response
from pydantic import BaseModel, ConfigDict, Field

from convoinsight import errors
from convoinsight.clock import now_iso
from convoinsight.datasets.naming import check_domain
from convoinsight.errors import NotFound
from convoinsight.llm import overrides, prompt_checks, prompt_editing
from convoinsight.llm.prompts import AGENTS, prompt_store
from convoinsight.observability import audit
from convoinsight.validation import validated
from convoinsight.web.app import FunctionApp, RequestContext, json_body, read_body, refuse_nul

app = FunctionApp("prompts")


class FormatQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: Literal["json", "yaml"] = "json"


class VersionsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(100, ge=1, le=500)
    before: int | None = Field(None, ge=1)  # from next_before: the versions older than this one


class RollbackBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=1)
    note: str | None = Field(None, max_length=prompt_checks.MAX_NOTE)


class PromptBody(BaseModel):
    """A whole prompt in the shape of ``prompts/<agent>.yaml``, for the OpenAPI document: ``prompt_checks``
    checks it (and lists every problem at once); a test holds these fields to its FIELDS and REQUIRED."""

    model_config = ConfigDict(extra="forbid")
    media_types: ClassVar[tuple[str, ...]] = ("application/json", "application/yaml")

    name: Literal[AGENTS] = Field(description="the agent: the name in the path")  # type: ignore[valid-type]
    version: int | None = Field(None, description="ignored: the server numbers versions")
    description: str = Field(min_length=1, max_length=prompt_checks.MAX_DESCRIPTION)
    parameters: dict[str, Any] = Field(description="model, temperature, max_tokens, seed, reasoning_effort")
    system: str = Field(min_length=1, max_length=prompt_checks.MAX_TEXT)
    user_template: str = Field(min_length=1, max_length=prompt_checks.MAX_TEXT)
    output_schema: dict[str, Any] = Field(description="a JSON Schema (draft 2020-12) with type: object")
    fallbacks: list[str] | None = Field(None, max_length=prompt_checks.MAX_FALLBACKS)
    note: str | None = Field(None, max_length=prompt_checks.MAX_NOTE, description="what the edit is for")


@app.route("GET", "/", summary="The agents' effective prompts")
def list_prompts(ctx: RequestContext):
    store = prompt_store(ctx.settings.prompts_dir)
    return {"prompts": [{"name": p.name, "version": p.version, "source": p.source, "description": p.description,
                         "model": p.model} for p in (store.get(agent) for agent in AGENTS)]}


@app.route("GET", "/overrides", summary="Your prompt overrides")
def get_user_overrides(ctx: RequestContext):
    return _read(ctx, overrides.user_location(ctx.user_id))


@app.route("PUT", "/overrides", body=overrides.Overrides, summary="Replace your prompt overrides")
def put_user_overrides(ctx: RequestContext):
    return _write(ctx, overrides.user_location(ctx.user_id))


@app.route("GET", "/overrides/<domain>", summary="Your prompt overrides for one domain")
def get_domain_overrides(ctx: RequestContext, domain: str):
    return _read(ctx, overrides.domain_location(ctx.user_id, check_domain(domain)))


@app.route("PUT", "/overrides/<domain>", body=overrides.Overrides, summary="Replace your overrides for one domain")
def put_domain_overrides(ctx: RequestContext, domain: str):
    return _write(ctx, overrides.domain_location(ctx.user_id, check_domain(domain)))


@app.route("GET", "/<name>", query=FormatQuery, summary="An agent's effective prompt, as JSON or YAML",
           responses={200: ("application/json", "application/yaml")})
def get_prompt(ctx: RequestContext, name: str):
    if name not in AGENTS:
        raise NotFound(f"no prompt named {name!r}", code="prompt_not_found")
    prompt = prompt_store(ctx.settings.prompts_dir).get(name)
    return _yaml(prompt) if ctx.query.format == "yaml" else prompt_editing.view(prompt)


@app.route("PUT", "/<name>", role="admin", body=PromptBody, summary="Store a new version of a prompt")
def put_prompt(ctx: RequestContext, name: str):
    prompt_editing.check_name(name)
    data = _prompt_body(ctx)
    return prompt_editing.put(ctx.services, prompt_store(ctx.settings.prompts_dir), ctx.user_id, name, data)


@app.route("GET", "/<name>/versions", role="admin", query=VersionsQuery, summary="A prompt's versions, newest first")
def list_versions(ctx: RequestContext, name: str):
    return prompt_editing.list_versions(ctx.services, prompt_store(ctx.settings.prompts_dir), name,
                                        ctx.query.limit, ctx.query.before)


@app.route("GET", "/<name>/versions/<version>", role="admin", query=FormatQuery, summary="One version of a prompt",
           responses={200: ("application/json", "application/yaml")})
def get_version(ctx: RequestContext, name: str, version: str):
    prompt, body = prompt_editing.get_version(ctx.services, prompt_store(ctx.settings.prompts_dir), name, version)
    return _yaml(prompt) if ctx.query.format == "yaml" else body


@app.route("POST", "/<name>/rollback", role="admin", body=RollbackBody, summary="Make a version current again")
def rollback(ctx: RequestContext, name: str):
    prompt_editing.check_name(name)
    body = validated(RollbackBody, json_body(ctx.request), code="invalid_rollback")
    return prompt_editing.rollback(ctx.services, prompt_store(ctx.settings.prompts_dir), ctx.user_id, name,
                                   body.version, body.note)


def _prompt_body(ctx: RequestContext):
    """The prompt of a PUT: a JSON object, or a YAML document (Content-Type application/yaml or text/yaml)."""
    request = ctx.request
    try:
        data = read_body(request, prompt_checks.MAX_PROMPT_BYTES)
    except errors.PayloadTooLarge:
        raise errors.PayloadTooLarge(f"a prompt may be at most {prompt_checks.MAX_PROMPT_BYTES:,} bytes",
                                     code="body_too_large") from None
    if request.mimetype in prompt_checks.YAML_TYPES:
        if not data:
            raise errors.BadRequest("a YAML body is required", code="missing_body")
        parsed = prompt_checks.load_yaml(data)
        refuse_nul(parsed, "the YAML body")
        return parsed
    if data and not request.is_json:
        raise errors.UnsupportedMediaType("send the prompt as application/json or application/yaml",
                                          code="unsupported_content_type")
    return json_body(request)


def _yaml(prompt) -> Response:
    return Response(prompt_editing.yaml_text(prompt), mimetype="application/yaml",
                    headers={"Content-Disposition": f'inline; filename="{prompt.name}.yaml"'})


def _read(ctx: RequestContext, location: tuple[str, str]):
    stored = ctx.services.documents.get(*location) or {"agents": {}}
    return {"agents": stored.get("agents", {}), "updated_at": stored.get("updated_at")}


def _write(ctx: RequestContext, location: tuple[str, str]):
    body = json_body(ctx.request)
    parsed = overrides.parse_overrides(body)
    doc = {"agents": {agent: o.model_dump(exclude_none=True) for agent, o in parsed.agents.items()},
           "updated_at": now_iso()}
    overrides.save(ctx.services, ctx.user_id, location, doc)
    audit.record(ctx.services, ctx.user_id, "prompt_overrides.update", "/".join(location),
                 agents=sorted(doc["agents"]))
    return doc
