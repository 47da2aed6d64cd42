"""The ask use case: validate, load the domain, run the pipeline, keep the conversation."""

from __future__ import annotations

import uuid
from typing import Any, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from convoinsight.datasets import service as datasets
from convoinsight.datasets.naming import check_domain
from convoinsight.errors import BadRequest, Unprocessable
from convoinsight.llm.client import LLMClient
from convoinsight.llm.prompts import PromptStore
from convoinsight.llm.usage import UsageMeter
from convoinsight.pipeline.deps import StageDeps
from convoinsight.pipeline.runner import run_sync
from convoinsight.pipeline.state import JobState
from convoinsight.services import Services
from convoinsight.sessions import store

ChartHint = Literal["auto", "none", "bar", "line", "area", "scatter", "pie", "table"]


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    domain: str = Field(min_length=1, max_length=64)
    prompt: str = Field(min_length=1, max_length=4000)
    session_id: str | None = Field(default=None, max_length=64)
    model: str | None = Field(default=None, max_length=200)
    mode: Literal["sync"] = "sync"
    chart: ChartHint = "auto"


def parse_ask(body: dict[str, Any]) -> AskRequest:
    try:
        return AskRequest.model_validate(body)
    except ValidationError as exc:
        problems = [{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()]
        first = problems[0]
        raise Unprocessable(f"{first['field']}: {first['message']}", code="invalid_request",
                            details={"problems": problems}) from None


def ask(services: Services, prompts: PromptStore, user_id: str, body: dict[str, Any]) -> dict[str, Any]:
    req = parse_ask(body)
    check_domain(req.domain)
    records = datasets.domain_records(services, user_id, req.domain)
    by_name = {r["name"]: r for r in records}
    docs = services.documents
    session = store.get_session(docs, user_id, req.session_id) if req.session_id else None
    if session is not None and session.get("domain") != req.domain:
        raise BadRequest("this session belongs to another domain", code="session_domain_mismatch")
    session_id = req.session_id or store.new_id()

    state = JobState(
        job_id=uuid.uuid4().hex,
        user_id=user_id,
        domain=req.domain,
        question=req.prompt,
        session_id=session_id,
        model=req.model,
        chart_hint=req.chart,
        history=store.recent_turns(docs, user_id, session_id) if session else [],
        datasets=[{"name": r["name"], "version": r["version"], **r["profile"]} for r in records],
    )

    def frames(names: set[str]) -> dict[str, pl.LazyFrame]:
        # Only the referenced datasets of this tenant's domain are ever registered.
        return {name: datasets.scan(services, by_name[name]) for name in names if name in by_name}

    llm = LLMClient(services.settings, prompts)
    # Resolve the model before any work so an unknown one is a clean 400.
    llm.resolve_model(req.model, prompts.get("router"))
    meter = UsageMeter()
    result = run_sync(state, StageDeps(services.settings, llm, meter, frames))

    chart = None
    if result.chart:
        chart_id = store.save_chart(docs, user_id, result.chart, session_id=session_id)
        chart = {"id": chart_id, "title": result.chart["title"], "spec": result.chart["spec"]}
    response: dict[str, Any] = {
        "session_id": session_id,
        "answer": result.answer,
        "sql": result.sql,
        "sql_status": result.sql_status,
        "table": result.table,
        "chart": chart,
        "insights": (result.analysis or {}).get("insights", []),
        "follow_ups": result.follow_ups,
        "usage": meter.summary(),
        "timings": {**result.timings, "sql": result.sql_ms},
    }
    payload = {k: v for k, v in response.items() if k not in ("session_id", "chart")}
    # The message refers to its chart by id: the bound spec lives once, in the chart document.
    payload["chart"] = {"id": chart["id"], "title": chart["title"]} if chart else None
    payload["question"] = req.prompt
    response["message_id"] = store.record_turn(docs, user_id, session, session_id=session_id, domain=req.domain,
                                               question=req.prompt, answer=result.answer, payload=payload)
    return response
