"""Routes of the ``prompts`` function: read the agents' prompts; keep your own overrides.

Editing the prompt files themselves (``PUT /{name}``) is an operator's task and
arrives with roles; a user's overrides apply to their own questions only.
"""

from __future__ import annotations

from convoinsight.clock import now_iso
from convoinsight.datasets.naming import check_domain
from convoinsight.errors import NotFound
from convoinsight.llm import overrides
from convoinsight.llm.prompts import AGENTS, prompt_store
from convoinsight.observability import audit
from convoinsight.web.app import FunctionApp, RequestContext, json_body

app = FunctionApp("prompts")


@app.route("GET", "/")
def list_prompts(ctx: RequestContext):
    store = prompt_store(ctx.settings.prompts_dir)
    return {"prompts": [{"name": p.name, "version": p.version, "description": p.description, "model": p.model}
                        for p in (store.get(agent) for agent in AGENTS)]}


@app.route("GET", "/overrides")
def get_user_overrides(ctx: RequestContext):
    return _read(ctx, overrides.user_location(ctx.user_id))


@app.route("PUT", "/overrides")
def put_user_overrides(ctx: RequestContext):
    return _write(ctx, overrides.user_location(ctx.user_id))


@app.route("GET", "/overrides/<domain>")
def get_domain_overrides(ctx: RequestContext, domain: str):
    return _read(ctx, overrides.domain_location(ctx.user_id, check_domain(domain)))


@app.route("PUT", "/overrides/<domain>")
def put_domain_overrides(ctx: RequestContext, domain: str):
    return _write(ctx, overrides.domain_location(ctx.user_id, check_domain(domain)))


@app.route("GET", "/<name>")
def get_prompt(ctx: RequestContext, name: str):
    if name not in AGENTS:
        raise NotFound(f"no prompt named {name!r}", code="prompt_not_found")
    p = prompt_store(ctx.settings.prompts_dir).get(name)
    return {"name": p.name, "version": p.version, "description": p.description, "system": p.system,
            "user_template": p.user_template, "output_schema": p.output_schema, "parameters": p.parameters,
            "fallbacks": list(p.fallbacks)}


def _read(ctx: RequestContext, location: tuple[str, str]):
    stored = ctx.services.documents.get(*location) or {"agents": {}}
    return {"agents": stored.get("agents", {}), "updated_at": stored.get("updated_at")}


def _write(ctx: RequestContext, location: tuple[str, str]):
    body = json_body(ctx.request)
    parsed = overrides.parse_overrides(body)
    doc = {"agents": {agent: o.model_dump(exclude_none=True) for agent, o in parsed.agents.items()},
           "updated_at": now_iso()}
    ctx.services.documents.put(*location, doc)
    audit.record(ctx.services, ctx.user_id, "prompt_overrides.update", "/".join(location),
                 agents=sorted(doc["agents"]))
    return doc
