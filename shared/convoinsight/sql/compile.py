"""The one place model SQL becomes engine SQL: parse as PostgreSQL, guard, rewrite, transpile.

    model SQL --guard (fail-closed allow-list on the tree)--> checked tree
              --rewrite (PostgreSQL semantics)--> DuckDB tree --generate--> engine SQL

Nothing else in the code base builds SQL strings from model output.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from convoinsight.errors import SqlRefused
from convoinsight.sql.guard import check_select
from convoinsight.sql.rewrite import TableInfo, rewrite

ENGINE_DIALECT = "duckdb"


@dataclass(frozen=True)
class CompiledSql:
    source: str  # the checked PostgreSQL text, as the model wrote it (stripped)
    engine_sql: str  # what the engine runs
    tables: frozenset[str]  # the real tables it reads


def table_info(profile: Mapping[str, Any]) -> TableInfo:
    """What the rewrites need of a dataset profile: column names, and the columns that are unique keys.

    A key is a column without nulls whose distinct count equals the row count (exact below the
    profile's estimate threshold; within 0.5 % of it above, where counts are HyperLogLog estimates).
    """
    rows = int(profile.get("rows") or 0)
    estimate = bool(profile.get("distinct_is_estimate"))
    keys = set()
    for column in profile.get("columns", []):
        distinct, nulls = int(column.get("distinct") or 0), int(column.get("nulls") or 0)
        if rows and not nulls and (distinct == rows or (estimate and abs(distinct - rows) <= rows * 0.005)):
            keys.add(column["name"])
    columns = profile.get("columns", [])
    return TableInfo(columns=frozenset(c["name"] for c in columns), keys=frozenset(keys),
                     temporal=frozenset(c["name"] for c in columns if c.get("dtype") in ("date", "datetime")))


def compile_select(sql: str, tables: Mapping[str, TableInfo] | Iterable[str]) -> CompiledSql:
    """Check ``sql`` against the allowed ``tables`` and translate it; raises SqlRefused."""
    if not isinstance(tables, Mapping):
        tables = {name: TableInfo(columns=frozenset()) for name in tables}
    checked = check_select(sql, tables.keys())
    return _translate(checked.sql, checked.tables, _freeze(tables))


def _freeze(tables: Mapping[str, TableInfo]) -> tuple[tuple[str, TableInfo], ...]:
    return tuple(sorted(tables.items()))


@lru_cache(maxsize=1024)
def _translate(text: str, referenced: frozenset[str], tables: tuple[tuple[str, TableInfo], ...]) -> CompiledSql:
    checked = check_select(text, [name for name, _ in tables])
    tree = checked.tree.copy()
    try:
        engine_sql = rewrite(tree, dict(tables)).sql(dialect=ENGINE_DIALECT)
    except SqlRefused:
        raise
    except Exception as exc:  # a construct the translator cannot express: refuse with the reason, fail closed
        raise SqlRefused(f"the SQL could not be translated for the engine: {str(exc).splitlines()[0][:200]}") \
            from None
    return CompiledSql(source=text, engine_sql=engine_sql, tables=referenced)
