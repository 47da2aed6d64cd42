"""The MCP tools and dataset-schema resources: each one or a few calls of the public API (``api_client``).

Each tool has a pydantic model of its arguments (its input schema, and the check of what a client sends) and a
function ``(api, arguments, max_rows) -> dict``: the API's answer, trimmed to what a model needs. Result tables
are bounded to ``MCP_MAX_ROWS`` rows (``truncated`` then, with the full ``row_count``). An API error is raised as
``ApiError`` and becomes the tool's error result (``server.py``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from convoinsight.mcp.api_client import ApiClient, ApiError, segment

DATASETS = "/api/v1/datasets"
SCHEMA_URI = "convoinsight://datasets/{domain}/{name}/schema"
_SCHEMA_URI = re.compile(r"^convoinsight://datasets/([^/]+)/([^/]+)/schema$")
MAX_RESOURCE_DOMAINS = 50  # resources/list reads each domain's datasets: one API call per domain, at most this many

Name = Field(min_length=1, max_length=200)


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NoArgs(_Args):
    pass


class DomainArgs(_Args):
    domain: str = Field(min_length=1, max_length=200, description="the domain's name, as list_domains shows it")


class DescribeArgs(DomainArgs):
    name: str = Field(min_length=1, max_length=200, description="the dataset's name (its SQL table name), as "
                                                                "list_datasets shows it")
    sample_rows: int = Field(10, ge=0, le=100, description="rows of the dataset to include as a sample (0-100)")


class AskArgs(_Args):
    question: str = Field(min_length=1, max_length=4000, description="the business question, in plain language "
                                                                    "(e.g. 'total revenue by region last quarter')")
    domain: str = Field(min_length=1, max_length=200, description="the domain whose datasets answer it")
    session_id: str | None = Field(None, max_length=200, description="continue this conversation (the session_id "
                                                                     "of an earlier answer): follow-ups such as "
                                                                     "'and by month?' then make sense")
    chart: Literal["auto", "none", "bar", "line", "area", "scatter", "pie", "table"] | None = Field(
        None, description="a hint for the chart type; auto (default) lets the service choose")
    model: str | None = Field(None, max_length=200, description="leave out for the deployment's models; 'offline' "
                                                                "for the deterministic offline planner")


class RunSqlArgs(_Args):
    sql: str = Field(min_length=1, max_length=20000, description="one SELECT in PostgreSQL dialect over the "
                                                                 "domain's tables, named as list_datasets names them "
                                                                 "(datasets and linked tables)")
    domain: str | None = Field(None, max_length=200, description="the domain whose tables the SQL reads")
    connection: str | None = Field(None, max_length=200, description="instead of a domain: one of your PostgreSQL "
                                                                     "connections; the SQL then runs read-only over "
                                                                     "its schema's tables")
    limit: int | None = Field(None, ge=1, le=1000, description="most rows to return (at most MCP_MAX_ROWS)")

    @model_validator(mode="after")
    def _one_target(self) -> RunSqlArgs:
        if (self.domain is None) == (self.connection is None):
            raise ValueError("give exactly one of domain or connection")
        return self


class ListSessionsArgs(_Args):
    limit: int = Field(20, ge=1, le=100, description="sessions per page (1-100)")
    cursor: str | None = Field(None, max_length=500, description="next_cursor of the previous page")


class GetSessionArgs(_Args):
    session_id: str = Field(min_length=1, max_length=200, description="the session's id (list_sessions, or an "
                                                                      "answer's session_id)")
    limit: int = Field(20, ge=1, le=100, description="turns per page (1-100)")
    cursor: str | None = Field(None, max_length=500, description="next_cursor of the previous page")


def bound_table(table: dict[str, Any] | None, max_rows: int) -> dict[str, Any] | None:
    """A result table with at most ``max_rows`` rows; ``row_count`` stays the full count."""
    if not table or not isinstance(table.get("rows"), list) or len(table["rows"]) <= max_rows:
        return table
    shown = {**table, "rows": table["rows"][:max_rows], "truncated": True}
    shown["note"] = (f"{max_rows} of {table.get('row_count', len(table['rows']))} rows shown (MCP_MAX_ROWS); "
                     "use run_sql with aggregation or filters to see other rows")
    return shown


def list_domains(api: ApiClient, _args: NoArgs, _max_rows: int) -> dict[str, Any]:
    return api.get(f"{DATASETS}/")


def list_datasets(api: ApiClient, args: DomainArgs, _max_rows: int) -> dict[str, Any]:
    return api.get(f"{DATASETS}/{segment(args.domain)}")


def describe_dataset(api: ApiClient, args: DescribeArgs, _max_rows: int) -> dict[str, Any]:
    record = api.get(f"{DATASETS}/{segment(args.domain)}/{segment(args.name)}", {"limit": args.sample_rows})
    record.pop("download_urls", None)  # signed browser links: of no use to a model, and not to be passed around
    preview = record.pop("preview", None) or {}
    record["sample"] = {"columns": preview.get("columns"), "rows": preview.get("rows", []),
                        "total_rows": preview.get("total_rows")}
    return record


def ask(api: ApiClient, args: AskArgs, max_rows: int) -> dict[str, Any]:
    body: dict[str, Any] = {"domain": args.domain, "prompt": args.question, "mode": "sync"}
    for key in ("session_id", "chart", "model"):
        if getattr(args, key) is not None:
            body[key] = getattr(args, key)
    answer = api.post("/api/v1/queries/", body)
    chart = answer.get("chart")
    return {
        "answer": answer.get("answer"),
        "session_id": answer.get("session_id"),
        "message_id": answer.get("message_id"),
        "sql": answer.get("sql"),
        "sql_status": answer.get("sql_status"),
        "sql_error": answer.get("sql_error"),
        "table": bound_table(answer.get("table"), max_rows),
        "chart": {"id": chart.get("id"), "title": chart.get("title"), "spec": chart.get("spec")} if chart else None,
        "insights": answer.get("insights", []),
        "follow_ups": answer.get("follow_ups", []),
        "verified": answer.get("verified"),
    }


def run_sql(api: ApiClient, args: RunSqlArgs, max_rows: int) -> dict[str, Any]:
    limit = min(args.limit or max_rows, max_rows)
    if args.connection is not None:
        path = f"/api/v1/sources/postgres/{segment(args.connection)}/query"
    else:
        path = f"{DATASETS}/{segment(args.domain or '')}/query"
    result = api.post(path, {"sql": args.sql, "limit": limit})
    result["table"] = bound_table(result.get("table"), max_rows)
    return result


def list_sessions(api: ApiClient, args: ListSessionsArgs, _max_rows: int) -> dict[str, Any]:
    return api.get("/api/v1/sessions/", {"limit": args.limit, "cursor": args.cursor})


def get_session(api: ApiClient, args: GetSessionArgs, max_rows: int) -> dict[str, Any]:
    session = api.get(f"/api/v1/sessions/{segment(args.session_id)}", {"limit": args.limit, "cursor": args.cursor})
    for turn in session.get("turns") or []:
        turn["table"] = bound_table(turn.get("table"), max_rows)
        turn.pop("usage", None)
        turn.pop("timings", None)
        if isinstance(turn.get("chart"), dict):
            turn["chart"].pop("image_url", None)  # a signed browser link
    return session


@dataclass(frozen=True)
class ToolSpec:
    name: str
    title: str
    description: str
    arguments: type[_Args]
    run: Callable[[ApiClient, Any, int], dict[str, Any]]
    read_only: bool = True


TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec("list_domains", "List domains",
             "List your domains (folders of datasets), with how many datasets and linked PostgreSQL tables each "
             "holds. Start here to find which domain can answer a question.", NoArgs, list_domains),
    ToolSpec("list_datasets", "List a domain's datasets",
             "List the datasets of one domain (name, rows, columns with their types, version) and the PostgreSQL "
             "tables linked into it. A dataset's name is its SQL table name in run_sql.", DomainArgs, list_datasets),
    ToolSpec("describe_dataset", "Describe a dataset",
             "One dataset's schema and profile (each column's type, label, null and distinct counts, top values, "
             "min/max) and a sample of its rows. Read it before writing SQL over the dataset.", DescribeArgs,
             describe_dataset),
    ToolSpec("ask", "Ask a question",
             "Ask a business question in plain language about a domain's data. The service writes and runs the SQL "
             "itself and returns the answer (markdown), the SQL, the result table (at most MCP_MAX_ROWS rows, with "
             "the full row_count), a Vega-Lite chart spec with its data, insights and follow-up questions, and a "
             "session_id to continue the conversation. Questions count against the caller's question rate limit "
             "and daily model budget.", AskArgs, ask, read_only=False),
    ToolSpec("run_sql", "Run SQL",
             "Run one read-only SELECT (PostgreSQL dialect) over a domain's datasets and linked tables, or over one "
             "PostgreSQL connection's schema. It passes the same safety check as the service's own SQL (one "
             "statement; no DDL/DML, file readers, settings or sleep functions; only the domain's tables), runs "
             "sandboxed under the same time and memory limits, and returns the columns, their types and at most "
             "MCP_MAX_ROWS rows with the full row_count. A refused statement is an error with code sql_refused "
             "and the reason.", RunSqlArgs, run_sql),
    ToolSpec("list_sessions", "List conversations",
             "List your conversations (sessions), newest activity first: id, title, domain, number of turns, last "
             "question. Paged with limit and cursor.", ListSessionsArgs, list_sessions),
    ToolSpec("get_session", "Read a conversation",
             "One conversation's turns in order: each question, answer, SQL, result table (bounded), chart spec "
             "and insights. Paged with limit and cursor.", GetSessionArgs, get_session),
)
BY_NAME = {tool.name: tool for tool in TOOLS}


# --- Resources: each dataset's schema ---------------------------------------------------------------------------

def schema_uri(domain: str, name: str) -> str:
    return SCHEMA_URI.format(domain=segment(domain), name=segment(name))


def list_schema_resources(api: ApiClient) -> list[dict[str, Any]]:
    """Every dataset of the caller's domains (the first MAX_RESOURCE_DOMAINS), as resource descriptions."""
    found = []
    for domain in api.get(f"{DATASETS}/").get("domains", [])[:MAX_RESOURCE_DOMAINS]:
        if not domain.get("dataset_count"):
            continue
        try:
            listed = api.get(f"{DATASETS}/{segment(domain['name'])}")
        except ApiError as exc:
            if exc.status == 404:  # deleted between the two calls
                continue
            raise
        for dataset in listed.get("datasets", []):
            found.append({"uri": schema_uri(domain["name"], dataset["name"]),
                          "name": f"{domain['name']}/{dataset['name']}",
                          "title": f"Schema of {dataset['name']} ({domain['name']})",
                          "description": f"{dataset.get('rows')} rows, {len(dataset.get('columns', []))} columns: "
                                         "column names, types and labels",
                          "mime_type": "application/json"})
    return found


def read_schema(api: ApiClient, uri: str) -> dict[str, Any]:
    """The schema behind ``convoinsight://datasets/{domain}/{name}/schema``; ApiError 404 for anything else."""
    from urllib.parse import unquote

    match = _SCHEMA_URI.fullmatch(uri)
    if not match:
        raise ApiError(404, "resource_not_found", f"no resource {uri!r}; dataset schemas are {SCHEMA_URI}")
    domain, name = unquote(match.group(1)), unquote(match.group(2))
    record = api.get(f"{DATASETS}/{segment(domain)}/{segment(name)}", {"limit": 0})
    return {"domain": domain, "name": record.get("name", name), "version": record.get("version"),
            "rows": record.get("rows"),
            "columns": [{"name": c.get("name"), "type": c.get("dtype"), "label": c.get("label")}
                        for c in record.get("columns", [])]}
