"""A checked question, rewritten to run whole on the tenant's PostgreSQL (all its tables are linked there).

The model writes SQL over the domain's names (``customers``); the database knows the linked table as
``"crm"."Customers"``. Every reference to a REAL table becomes the quoted, schema-qualified real table,
aliased by the name the query uses, so ``customers.id`` and unqualified columns keep resolving exactly as
before. A CTE that happens to share a linked table's name is left alone inside its scope: sqlglot's scope
analysis tells a CTE reference from a table reference, and the guard's own CTE rule must agree with it,
else the query is refused (an unqualified name left in the SQL would read whatever table the
connection's search_path finds under that name).

SQL is generated for PostgreSQL from the AnalystPostgres tree, which keeps ``to_char`` / ``to_date`` /
``to_timestamp`` as the model wrote them (sqlglot's PostgreSQL parser would reinterpret their templates).
No database access here: the caller runs the text.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlglot import exp
from sqlglot.optimizer.scope import traverse_scope

from convoinsight.errors import SqlRefused
from convoinsight.sql.guard import check_select, ctes_in_scope, identifier_name

TARGET_DIALECT = "postgres"


def pushdown_sql(checked_sql: str, linked: Mapping[str, tuple[str, str]]) -> str:
    """PostgreSQL text of ``checked_sql`` with each linked domain table replaced by its real table.

    ``linked``: domain table name (lower case) -> (real schema, real table), as the catalog spells them.
    Raises SqlRefused when the query reads a table that is not linked.
    """
    mapping = {name.lower(): real for name, real in linked.items()}
    # The guard again, with the linked tables as the allow-list: it refuses any other real table, and its
    # tree is the one the checked text parses to (AnalystPostgres).
    checked = check_select(checked_sql, mapping.keys())
    tree = checked.tree.copy()
    references = _table_references(tree)
    for table in references:
        name = identifier_name(table.this)
        if name in ctes_in_scope(table):
            raise SqlRefused("the query's table references could not be resolved unambiguously")
        if name not in mapping:
            raise SqlRefused(f"table '{table.this.name}' is not available in this domain")
        schema, real = mapping[name]
        alias = table.args.get("alias")
        if alias is None:
            alias = exp.TableAlias(this=table.this.copy())  # the name as written (quoting included)
        table.replace(exp.Table(this=exp.to_identifier(real, quoted=True),
                                db=exp.to_identifier(schema, quoted=True), alias=alias.copy()))
    _check_nothing_left(tree)
    return tree.sql(dialect=TARGET_DIALECT)


def _table_references(tree: exp.Expr) -> list[exp.Table]:
    """The Table nodes that scope analysis resolves to real tables (not CTEs, not generate_series)."""
    found: dict[int, exp.Table] = {}
    for scope in traverse_scope(tree):
        for _node, source in scope.selected_sources.values():
            if isinstance(source, exp.Table) and isinstance(source.this, exp.Identifier):
                found[id(source)] = source
    return list(found.values())


def _check_nothing_left(tree: exp.Expr) -> None:
    """Every unqualified table name still in the tree must be a CTE the guard also sees as one."""
    for table in tree.find_all(exp.Table):
        if not isinstance(table.this, exp.Identifier) or table.args.get("db"):
            continue
        if identifier_name(table.this) not in ctes_in_scope(table):
            raise SqlRefused(f"table '{table.this.name}' could not be mapped to a linked table")
