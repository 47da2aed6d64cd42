"""Where a question's SQL runs when the domain has linked PostgreSQL tables.

- Only uploaded datasets: the engine, as always.
- Only linked tables of one connection: pushed down whole to that PostgreSQL (``sources.pushdown``),
  read-only, under its statement timeout and the answer's row cap.
- Linked tables with uploaded datasets (or tables of several connections): the engine runs the
  query after each linked table's needed columns and rows, with its null-rejecting filters pushed
  down (``sources.federation``), were pulled into a temporary Parquet file, at most
  SOURCE_PULL_MAX_ROWS rows each.

Every failure reaches the manipulator as ``SqlExecutionError`` with ``details`` ``{"code", "stage"}``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from typing import Any

from convoinsight.errors import ConvoInsightError, NotFound, SqlExecutionError, SqlRefused
from convoinsight.settings import Settings
from convoinsight.sources import connections, execute
from convoinsight.sources.federation import plan_pulls, pull_sql
from convoinsight.sources.pushdown import pushdown_sql
from convoinsight.sql.compile import CompiledSql
from convoinsight.sql.execute import ResultTable, SqlLimits, run_select


def is_linked(source: Any) -> bool:
    return isinstance(source, dict) and source.get("kind") == "postgres"


def linked_source(link: dict[str, Any], connection: dict[str, Any]) -> dict[str, Any]:
    """What ``StageDeps.tables`` hands over for a linked table."""
    return {"kind": "postgres", "link": link, "connection": connection}


def table_entries(records: list[dict[str, Any]], linked: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A domain's tables as a question's state lists them (``JobState.datasets``): each dataset's profile with its
    name and version, then the linked tables (``links.state_entries``). The manipulator compiles SQL against
    these, and so does custom SQL over the domain (``datasets.custom_sql``)."""
    from convoinsight.sources import links

    return [{"name": r["name"], "version": r["version"], **r["profile"]} for r in records] \
        + links.state_entries(linked)


def compile_context(entries: Sequence[Mapping[str, Any]]) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """(the guard and rewrites' ``TableInfo`` by table, the column names by table) of ``table_entries``."""
    from convoinsight.sql.compile import table_info

    return ({d["name"]: table_info(d) for d in entries},
            {d["name"]: [c["name"] for c in d.get("columns", [])] for d in entries})


def sources_for(records: list[dict[str, Any]], linked: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """What a question may read, by table name: a dataset's pinned Parquet object, or a link (JSON, so an
    async job can keep it). A dataset wins over a link of the same name (links refuse such names)."""
    pinned: dict[str, Any] = {r["name"]: r["blobs"]["parquet"] for r in records}
    for link in linked:
        pinned.setdefault(link["name"], {"kind": "postgres", "link": {
            k: link[k] for k in ("name", "connection", "schema", "table")}})
    return pinned


def resolve_sources(services, user_id: str, pinned: dict[str, Any], names: set[str]) -> dict[str, Any]:
    """The engine's sources of ``names``: datasets' files, and links with their connection read now
    (a password rotated since the job was accepted is the one used)."""
    from convoinsight.datasets import service as datasets

    out: dict[str, Any] = {}
    for name in names:
        source = pinned.get(name)
        if isinstance(source, str):
            out[name] = datasets.engine_source(services, source)
        elif is_linked(source):
            try:
                connection = connections.get(services, user_id, source["link"]["connection"])
            except NotFound:
                continue  # the connection was deleted: the table has no data any more
            out[name] = linked_source(source["link"], connection)
    return out


def run_question_sql(compiled: CompiledSql, sources: dict[str, Any], limits: SqlLimits, engine,
                     settings: Settings, columns: Mapping[str, Sequence[str]]) -> ResultTable:
    linked = {name: source for name, source in sources.items() if is_linked(source)}
    if not linked:
        return run_select(compiled, sources, limits, engine)
    try:
        return _run_linked(compiled, sources, linked, limits, engine, settings, columns)
    except (SqlExecutionError, SqlRefused):
        raise
    except ConvoInsightError as exc:  # unreachable server, refused sign-in: no retry will help
        raise SqlExecutionError(exc.message, details={"code": exc.code, "stage": "execute"}) from None


def pushed_down(compiled: CompiledSql, sources: Mapping[str, Any]) -> tuple[dict[str, Any], str] | None:
    """(the connection, the SQL it runs) when every table of ``compiled`` is linked through one connection, so
    its PostgreSQL runs the checked SQL whole; None when the engine runs it (uploads, or several connections)."""
    linked = {name: source for name, source in sources.items() if is_linked(source)}
    owners = {source["connection"]["name"] for source in linked.values()}
    if not compiled.tables or not set(compiled.tables) <= set(linked) or len(owners) != 1:
        return None
    connection = next(iter(linked.values()))["connection"]
    return connection, pushdown_sql(compiled.source, {name: (s["link"]["schema"], s["link"]["table"])
                                                      for name, s in linked.items()})


def _run_linked(compiled, sources, linked, limits, engine, settings, columns) -> ResultTable:
    pool = execute.source_pool(settings)
    timeout = settings.source_statement_timeout_seconds
    pushed = pushed_down(compiled, linked)
    if pushed is not None:
        connection, sql = pushed
        return execute.query(pool, connections.target(settings, connection), sql, connection["schema"], limits,
                             timeout)
    pulls = plan_pulls(compiled.source, columns, set(linked))
    folder = tempfile.mkdtemp(prefix="convoinsight-pull-")
    try:
        local = {name: source for name, source in sources.items() if not is_linked(source)}
        for name, plan in sorted(pulls.items()):
            source = linked[name]
            link, connection = source["link"], source["connection"]
            path = os.path.join(folder, f"{name}.parquet")
            cap = settings.source_pull_max_rows
            execute.pull(pool, connections.target(settings, connection),
                         pull_sql(plan, link["schema"], link["table"], cap), name, cap, path, timeout)
            local[name] = path
        return run_select(compiled, local, limits, engine)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
