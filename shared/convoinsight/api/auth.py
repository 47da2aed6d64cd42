"""Routes of the ``auth`` function: who am I, and the caller's API keys.

Keys can be managed under any ``AUTH_MODE`` (sign in with Firebase, or with
``X-User-Id`` locally, and create a key for a script); they are accepted as
credentials when ``AUTH_MODE=apikey``. The very first key of an apikey-only
deployment comes from the ``python -m convoinsight.auth.issue`` CLI.

A key's owner sees it in full once, in the 201 of ``POST /keys``; afterwards
only its id and prefix. Another user's key answers 404, as everywhere else.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from convoinsight.auth import apikeys
from convoinsight.errors import BadRequest, Forbidden
from convoinsight.observability import audit
from convoinsight.validation import validated
from convoinsight.web.app import FunctionApp, RequestContext, json_body
from convoinsight.web.auth import check_user_id
from convoinsight.web.responses import json_response

app = FunctionApp("auth")


class IssueKey(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str | None = Field(default=None, max_length=100)
    user_id: str | None = Field(default=None, max_length=128)
    role: Literal["user", "admin"] = "user"


# Class poll: clients check a credential with it before their own work (the mcp function, before each MCP request).
@app.route("GET", "/me", limit="poll", summary="Who you are: user id, role and how you signed in")
def me(ctx: RequestContext):
    return {"user_id": ctx.identity.user_id, "role": ctx.identity.role, "method": ctx.identity.method}


@app.route("POST", "/keys", body=IssueKey | None, summary="Issue an API key (shown in full only in this answer)",
           responses={201: "application/json"})
def issue_key(ctx: RequestContext):
    body = validated(IssueKey, json_body(ctx.request, optional=True))
    owner = _user(body.user_id) if body.user_id else ctx.user_id
    role = body.role
    if (owner != ctx.user_id or role != "user") and ctx.identity.role != "admin":
        # Only an administrator may mint keys for someone else or with the admin role.
        raise Forbidden("only administrators may issue keys for another user or with another role",
                        code="admin_required")
    key, record = apikeys.issue(ctx.services.documents, owner, role, body.name, issued_by=ctx.user_id)
    audit.record(ctx.services, owner, "apikey.issue", record["id"], role=role, issued_by=ctx.user_id)
    response = json_response({**record, "user_id": owner, "key": key,
                              "note": "store this key now: it is shown only once"}, 201)
    response.headers["Cache-Control"] = "no-store"  # the body holds a secret: no proxy or browser may keep it
    return response


@app.route("GET", "/keys", summary="Your API keys, masked")
def list_keys(ctx: RequestContext):
    return {"keys": apikeys.list_keys(ctx.services.documents, ctx.user_id)}


@app.route("DELETE", "/keys/<key_id>", summary="Revoke one of your API keys")
def revoke_key(ctx: RequestContext, key_id: str):
    result = apikeys.revoke(ctx.services.documents, ctx.user_id, key_id)
    audit.record(ctx.services, ctx.user_id, "apikey.revoke", key_id)
    return result


@app.route("GET", "/users/<user_id>/keys", role="admin", summary="Another user's API keys")
def list_user_keys(ctx: RequestContext, user_id: str):
    return {"user_id": _user(user_id), "keys": apikeys.list_keys(ctx.services.documents, user_id)}


@app.route("DELETE", "/users/<user_id>/keys/<key_id>", role="admin", summary="Revoke another user's API key")
def revoke_user_key(ctx: RequestContext, user_id: str, key_id: str):
    # An operator's way to cut off a leaked key without the owner's help.
    result = apikeys.revoke(ctx.services.documents, _user(user_id), key_id, revoked_by=ctx.user_id)
    audit.record(ctx.services, user_id, "apikey.revoke", key_id, revoked_by=ctx.user_id)
    return result


def _user(user_id: str) -> str:
    if not check_user_id(user_id):
        raise BadRequest("user_id must be 1-128 letters, digits or _ . @ -", code="invalid_user_id")
    return user_id
