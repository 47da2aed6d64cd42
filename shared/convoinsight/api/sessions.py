"""Routes of the ``sessions`` function: list, history, rename, delete (with everything of it), PDF export."""

from __future__ import annotations

import re

from flask import Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from convoinsight.api import public_urls
from convoinsight.observability import audit
from convoinsight.sessions import cascade, history
from convoinsight.sessions.export import ExportOptions, export_session
from convoinsight.validation import validated
from convoinsight.web.app import FunctionApp, RequestContext, json_body

app = FunctionApp("sessions")
MAX_PAGE = 100
MAX_TITLE = 200
_CURSOR = 400  # characters: a cursor is base64 of a number and an id


class ListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(20, ge=1, le=MAX_PAGE)
    cursor: str | None = Field(None, max_length=_CURSOR)


class RenameBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(..., max_length=MAX_TITLE)

    @field_validator("title")
    @classmethod
    def _one_line(cls, title: str) -> str:
        if any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 for c in title.replace("\t", " ")):
            raise ValueError("a title cannot hold control characters or line breaks")
        title = " ".join(title.split())
        if not title:
            raise ValueError("a title needs at least one visible character")
        return title


@app.route("GET", "/", query=ListQuery, limit="dataset_ops", summary="Your sessions, newest activity first")
def sessions(ctx: RequestContext):
    return history.list_sessions(ctx.services.documents, ctx.user_id, limit=ctx.query.limit,
                                 cursor=ctx.query.cursor)


@app.route("GET", "/<session_id>", query=ListQuery, limit="dataset_ops", summary="A session and its turns")
def session(ctx: RequestContext, session_id: str):
    body = history.read_session(ctx.services.documents, ctx.user_id, session_id, limit=ctx.query.limit,
                                cursor=ctx.query.cursor)
    body["turns"] = [public_urls.with_chart_link(ctx.settings, ctx.user_id, turn) for turn in body["turns"]]
    return body


@app.route("PATCH", "/<session_id>", limit="dataset_ops", body=RenameBody, summary="Rename a session")
def rename(ctx: RequestContext, session_id: str):
    body = validated(RenameBody, json_body(ctx.request))
    result = history.rename(ctx.services.documents, ctx.user_id, session_id, body.title)
    audit.record(ctx.services, ctx.user_id, "session.rename", session_id)
    return result


@app.route("DELETE", "/<session_id>", limit="dataset_ops", summary="Delete a session and everything of it")
def delete(ctx: RequestContext, session_id: str):
    result = cascade.delete_session(ctx.services, ctx.user_id, session_id)
    audit.record(ctx.services, ctx.user_id, "session.delete", session_id, messages=result["messages"],
                 charts=result["charts"], jobs=result["jobs"])
    return result


@app.route("POST", "/<session_id>/export", limit="export", body=ExportOptions | None,
           summary="Export a session as PDF", responses={200: "application/pdf"})
def export(ctx: RequestContext, session_id: str):
    options = validated(ExportOptions, json_body(ctx.request, optional=True), code="bad_export_options")
    rendered = export_session(ctx.services, ctx.user_id, session_id, options)
    audit.record(ctx.services, ctx.user_id, "session.export", session_id, pages=rendered.pages,
                 turns=rendered.turns_rendered, partial=rendered.partial, include_sql=options.include_sql,
                 include_tables=options.include_tables, bytes=len(rendered.data))
    headers = {
        "Content-Disposition": f'attachment; filename="{_filename(session_id)}"',
        "Cache-Control": "private, no-store",
        "X-Content-Type-Options": "nosniff",
        "X-Export-Pages": str(rendered.pages),
        "X-Export-Turns": str(rendered.turns_rendered),
    }
    if rendered.partial:
        headers["X-Export-Partial"] = rendered.partial
    return Response(rendered.data, mimetype="application/pdf", headers=headers)


def _filename(session_id: str) -> str:
    return f"convoinsight-session-{re.sub(r'[^A-Za-z0-9]', '', session_id)[:64]}.pdf"
