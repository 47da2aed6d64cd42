"""The offline planner as a model (``convoinsight/offline-planner``), run in-process without litellm.

It answers each agent's contract deterministically from the JSON context in
the user message, so the pipeline runs the same code with or without a model.
``complete`` takes the same request a remote model gets (``llm/client.py`` builds it) and returns a
reply of the same shape as litellm's (``choices[0].message.content``, ``usage``, ``model``): the client's
one seam (``LLMClient._completion``) is the only place that knows which one answered. The agent is told
apart by the ``X-ConvoInsight-Agent`` header, as any gateway would.

Running it directly, not as a litellm custom provider, is what keeps a deployment with no model from
ever importing litellm (seconds and ~170 MiB at the first question).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from convoinsight.charts.suggest import suggest_spec
from convoinsight.charts.titles import clean_title
from convoinsight.llm.jsonout import extract_json
from convoinsight.llm.offline import planner

_CHAT = re.compile(r"^\s*(hi|hello|hey|thanks|thank you|good (morning|afternoon|evening)|who are you|"
                   r"what can you do|help)\b", re.IGNORECASE)


def _context(messages: list[dict[str, Any]]) -> dict[str, Any]:
    for message in reversed(messages):
        if message.get("role") == "user":
            try:
                return extract_json(str(message.get("content", "")))
            except ValueError:
                return {}
    return {}


def answer(agent: str, ctx: dict[str, Any]) -> dict[str, Any]:
    """The offline answer of one agent to its context."""
    return _AGENTS[agent](ctx)


def _router(ctx: dict[str, Any]) -> dict[str, Any]:
    question, datasets = ctx.get("question", ""), ctx.get("datasets", [])
    plan = planner.plan_query(question, datasets) if datasets else None
    if plan is None and (_CHAT.match(question) or not datasets):
        return {"route": "chat", "datasets": [], "chart": "none", "analysis": False}
    hint = ctx.get("chart_hint") or "auto"
    chart = hint if hint != "auto" else (plan or {}).get("chart", "auto")
    names = plan.get("tables", [plan["table"]]) if plan else [d["name"] for d in datasets]
    return {"route": "data", "datasets": names, "chart": chart if chart else "auto", "analysis": True}


def _orchestrator(ctx: dict[str, Any]) -> dict[str, Any]:
    question = ctx.get("question", "")
    return {
        "manipulator_prompt": question,
        "visualizer_prompt": f"Chart the result of: {question}",
        "analyzer_prompt": f"Summarise the result of: {question}",
        "compiler_instruction": "Answer directly, then list the key facts.",
    }


def _manipulator(ctx: dict[str, Any]) -> dict[str, Any]:
    if ctx.get("error"):  # the planner's SQL is deterministic: retrying the same would fail the same way
        return {"sql": "", "explanation": "The offline planner cannot repair this query."}
    datasets = with_hints(ctx.get("datasets", []), ctx.get("value_hints") or [])
    plan = planner.plan_query(ctx.get("question", ""), datasets)
    if plan is None:
        return {"sql": "", "explanation": "without a language model only simple single-table questions "
                                          "can be answered"}
    return {"sql": plan["sql"], "explanation": plan["explanation"]}


def with_hints(datasets: list[dict[str, Any]], hints: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The datasets with the values the server found in the data added to their columns' known values, so the
    planner matches "carrier HA" as it matches a profiled top value (copies: the context is not changed)."""
    if not hints:
        return datasets
    out = []
    for d in datasets:
        columns = []
        for c in d.get("columns") or []:
            found = [h["value"] for h in hints if h.get("table") == d.get("name") and h.get("column") == c.get("name")
                     and isinstance(h.get("value"), str)]
            known = {str(t.get("value")) for t in c.get("top_values") or [] if isinstance(t, dict)}
            extra = [{"value": v, "count": 0} for v in found if v not in known]
            columns.append({**c, "top_values": [*(c.get("top_values") or []), *extra]} if extra else c)
        out.append({**d, "columns": columns})
    return out


def _visualizer(ctx: dict[str, Any]) -> dict[str, Any]:
    title = clean_title(ctx.get("question", ""))
    chart, columns = ctx.get("chart", "auto"), ctx.get("columns", [])
    numeric = [c for c in columns if c.get("dtype") in ("integer", "float", "decimal")]
    if chart == "table" and ctx.get("chart_hint", "auto") == "auto" and len(columns) == 3 and len(numeric) == 1:
        # The planner says "table" for two dimensions and a measure; the user did not: a grouped bar shows it.
        chart = "auto"
    spec = suggest_spec(columns, chart, ctx.get("row_count", 0), title)
    return {"spec": spec, "title": title}


def _analyzer(ctx: dict[str, Any]) -> dict[str, Any]:
    # ``rows`` is a sample; ``result_stats`` (when the engine computed them) cover every row of the result.
    return planner.summarize(ctx.get("question", ""), ctx.get("columns", []), ctx.get("rows", []),
                             ctx.get("row_count", 0), _whole_stats(ctx))


def _whole_stats(ctx: dict[str, Any]) -> dict[str, Any] | None:
    """The prompt's ``result_stats`` with each measure's position in ``columns`` (the prompt names them)."""
    stats = ctx.get("result_stats")
    if not isinstance(stats, dict):
        return None
    names = [str(c.get("name")) for c in ctx.get("columns", [])]
    measures = [{**m, "index": names.index(m["name"])} for m in stats.get("measures", [])
                if isinstance(m, dict) and m.get("name") in names]
    return {**stats, "measures": measures}


def _compiler(ctx: dict[str, Any]) -> dict[str, Any]:
    question, datasets = ctx.get("question", ""), ctx.get("datasets", [])
    plan = planner.plan_query(question, datasets) if datasets else None
    follow = planner.follow_ups(question, datasets, plan)[:4] if datasets else []
    if ctx.get("route") == "chat":
        text = "I answer questions about your datasets. " + planner.capabilities()
        return {"answer": text, "follow_ups": follow}
    if ctx.get("sql_status") != "ok":
        # The server states what happened to the SQL; here: what can be asked instead.
        return {"answer": "Try rephrasing the question. " + planner.capabilities(), "follow_ups": follow}
    analysis = ctx.get("analysis") or {}
    parts = [analysis.get("summary") or f"The result has {ctx.get('row_count', 0)} rows."]
    parts += [f"- {insight}" for insight in analysis.get("insights", [])]
    return {"answer": "\n\n".join(parts[:1]) + ("\n\n" + "\n".join(parts[1:]) if parts[1:] else ""),
            "follow_ups": follow}


_AGENTS = {
    "router": _router,
    "orchestrator": _orchestrator,
    "manipulator": _manipulator,
    "visualizer": _visualizer,
    "analyzer": _analyzer,
    "compiler": _compiler,
}


@dataclass(frozen=True)
class Message:
    content: str
    role: str = "assistant"


@dataclass(frozen=True)
class Choice:
    message: Message
    index: int = 0
    finish_reason: str = "stop"


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


@dataclass(frozen=True)
class Reply:
    """What litellm's ``completion`` returns, as far as the client reads it."""

    choices: list[Choice]
    model: str = "offline-planner"
    usage: Usage = field(default_factory=Usage)


def complete(request: dict[str, Any]) -> Reply:
    """The offline planner's reply to one model request (``model``, ``messages``, ``extra_headers``)."""
    headers = {k.lower(): v for k, v in (request.get("extra_headers") or {}).items()}
    agent = headers.get("x-convoinsight-agent", "")
    if agent not in _AGENTS:
        content = json.dumps({"error": f"the offline planner does not serve agent {agent!r}"})
    else:
        content = json.dumps(answer(agent, _context(request.get("messages") or [])), default=str)
    return Reply([Choice(Message(content))])
