"""Custom SQL over a domain (``POST /api/v1/datasets/{domain}/query``): the manipulator's path for SQL a user writes.

Nothing here is a second way of running SQL. The domain's tables are listed as a question's state lists them
(``federate.table_entries``), the SQL is compiled against them exactly as the manipulator compiles the model's
(``compile_select``: the fail-closed guard, PostgreSQL semantics, the engine's dialect), and it runs where a
question's SQL runs (``federate.run_question_sql``: the engine's sandboxed workers over this tenant's Parquet
only, the tenant's PostgreSQL for linked tables, or both) under the same limits (``SqlLimits.from_settings``),
which ``limit`` may only lower.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from convoinsight.services import Services
from convoinsight.sources import links


def run(services: Services, user_id: str, domain: str, sql: str, limit: int | None = None) -> dict[str, Any]:
    """``{"domain", "sql", "executed_sql", "table"}``; 404 ``domain_not_found``, 422 ``sql_refused`` (the guard's
    reason in the message) or ``sql_execution_error`` (``details``: ``code``, ``stage``, as an answer's
    ``sql_error``)."""
    from convoinsight.sources.federate import (  # sqlglot and the engine: loaded on use, not at cold start
        compile_context,
        pushed_down,
        resolve_sources,
        run_question_sql,
        sources_for,
        table_entries,
    )
    from convoinsight.sql.compile import compile_select
    from convoinsight.sql.execute import SqlLimits, engine_pool

    records, linked = links.domain_tables(services, user_id, domain)
    tables, columns = compile_context(table_entries(records, linked))
    compiled = compile_select(sql, tables)
    settings = services.settings
    limits = SqlLimits.from_settings(settings)
    if limit is not None:
        limits = dataclasses.replace(limits, max_rows=min(limit, limits.max_rows))
    # Only the tables the SQL names, of this tenant's domain, are ever handed to the engine.
    sources = resolve_sources(services, user_id, sources_for(records, linked), set(compiled.tables))
    table = run_question_sql(compiled, sources, limits, engine_pool(settings), settings, columns)
    pushed = pushed_down(compiled, sources)  # linked tables of one connection: its PostgreSQL ran this SQL
    executed = pushed[1] if pushed is not None else compiled.engine_sql
    return {"domain": domain, "sql": compiled.source, "executed_sql": executed, "table": table.as_dict()}
