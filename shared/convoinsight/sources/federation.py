"""What the engine needs of each linked PostgreSQL table before it runs a federated question.

A question joining linked tables with uploaded datasets runs in the engine (DuckDB) after each linked
table was pulled; pulling whole tables is slow and passes the row cap for nothing. So the plan pulls
only the referenced columns and, where provably harmless, only the rows that can matter. Every doubt
resolves toward pulling MORE:

- Columns: sqlglot's qualification (schema from the tables' columns; stars expanded, USING/NATURAL
  spelled out), united with a name-based net (a column the query names unqualified where the table is
  visible), so a resolution sqlglot might make differently from the engine cannot drop a column. When
  qualification fails (unknown or ambiguous column), all columns, no filter.
- Rows: a WHERE conjunct of a SELECT scope where the table is a direct source, over that table's
  columns alone, NULL-rejecting: comparisons of a column with a literal, IN lists, BETWEEN, LIKE, and
  AND / OR / NOT of those. It is never TRUE on a NULL-extended row, so filtering before an outer join
  only removes rows the WHERE removes anyway. IS [NOT] NULL, IS [NOT] DISTINCT FROM, COALESCE,
  functions, subqueries and column-to-column comparisons are never pushed.
- PostgreSQL must not drop a row the engine keeps: a range over a string literal is pushed only for
  an ISO date/time (other strings order by collation there, by code point here); no LIKE pattern with
  a backslash (an escape there, a character here); ILIKE folds case by the server's locale, so it goes
  as an ASCII case-insensitive regex OR "has a non-ASCII character" (a superset).
- A table read several times (two aliases, a CTE and the main query) is pulled once: columns united,
  per-reference filters ORed; a reference without a filter means no filter.

No database access here: ``pull_sql`` builds the SELECT the caller runs.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import Scope, traverse_scope, walk_in_scope
from sqlglot.schema import MappingSchema

from convoinsight.sql.guard import check_select

DIALECT = "postgres"

# A string literal that orders the same way under any collation as by code point (for date/time columns
# stored as text too): an ISO date with an optional time.
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?")
_RANGE = (exp.GT, exp.GTE, exp.LT, exp.LTE)
_COMPARISONS = (exp.EQ, exp.NEQ, *_RANGE)
_FLIPPED = {exp.GT: exp.LT, exp.GTE: exp.LTE, exp.LT: exp.GT, exp.LTE: exp.GTE, exp.EQ: exp.EQ, exp.NEQ: exp.NEQ}
_NUMBER_TYPES = ("SMALLINT", "INT", "BIGINT", "DECIMAL", "FLOAT", "DOUBLE")
_TEMPORAL_TYPES = ("DATE", "TIMESTAMP")  # not TIMESTAMPTZ: its literal depends on the session's time zone
_NON_ASCII = "[^\\x01-\\x7f]"


@dataclass(frozen=True)
class Pull:
    """What to read of one linked table: ``columns`` (real names, table order) where ``where`` holds."""

    table: str  # the domain table name
    columns: tuple[str, ...]
    where: str | None = None  # a PostgreSQL boolean expression over the real (quoted) column names


class _Table:
    """A linked table's columns: real names in table order, looked up case-insensitively (as the engine does)."""

    def __init__(self, name: str, columns: Sequence[str]):
        self.name = name
        self.columns = tuple(columns)
        self.real: dict[str, str] = {}
        for column in self.columns:
            self.real.setdefault(column.lower(), column)
        self.ambiguous = len(self.real) != len(self.columns)  # two names differing only in case

    def everything(self) -> Pull:
        return Pull(self.name, self.columns, None)


@dataclass
class _Plan:
    tables: dict[str, _Table]
    needed: dict[str, set[str]]  # lower-case column names
    whole: set[str]  # tables whose every column is needed (a star)
    filters: dict[str, list[exp.Expr | None]]  # per reference: the pushable filter, None for none
    references: Counter


def plan_pulls(checked_sql: str, columns: Mapping[str, Sequence[str]], linked: Collection[str]) -> dict[str, Pull]:
    """For each linked table the query reads: the columns to pull and the rows (a filter) that can matter."""
    domain = {name.lower(): cols for name, cols in columns.items()}
    checked = check_select(checked_sql, domain.keys())  # which real tables the query reads (CTEs excluded)
    wanted = {name.lower() for name in linked}
    tables = {name: _Table(name, domain[name]) for name in sorted(checked.tables) if name in wanted}
    if not tables:
        return {}
    base = _lowered(checked.tree.copy())
    schema = MappingSchema({name: {c.lower(): "text" for c in cols} for name, cols in domain.items()},
                           dialect=DIALECT, normalize=False)
    plan = _Plan(tables, {n: set() for n in tables}, set(), {n: [] for n in tables}, Counter())
    net = _Plan(tables, plan.needed, plan.whole, {n: [] for n in tables}, Counter())  # shares the columns
    try:
        qualified = qualify(base.copy(), schema=schema, dialect=DIALECT, quote_identifiers=False,
                            validate_qualify_columns=True)
        for scope in traverse_scope(qualified):
            _visit(scope, plan, with_filters=True)
        for scope in traverse_scope(base):
            _visit(scope, net, with_filters=False)
    except Exception:  # an unknown or ambiguous column, or a shape sqlglot cannot qualify: pull all
        return {name: table.everything() for name, table in tables.items()}

    pulls = {}
    for name, table in tables.items():
        count = plan.references[name]
        if table.ambiguous or count == 0 or count != net.references[name]:
            pulls[name] = table.everything()  # the analyses disagree or cannot see the table: take no risk
            continue
        chosen = table.columns if name in plan.whole else tuple(
            c for c in table.columns if c.lower() in plan.needed[name])
        pulls[name] = Pull(name, chosen or table.columns[:1], _disjunction(plan.filters[name]))
    return pulls


def pull_sql(pull: Pull, schema: str, table: str, cap: int) -> str:
    """``SELECT "c", ... FROM "schema"."table" [WHERE ...] LIMIT cap + 1`` (one more: the caller sees a cap passed)."""
    if not pull.columns:
        raise ValueError("a pull needs at least one column")
    if isinstance(cap, bool) or not isinstance(cap, int) or cap < 0:
        raise ValueError("the row cap must be a non-negative integer")
    select = exp.select(*(exp.column(exp.to_identifier(c, quoted=True)) for c in pull.columns)).from_(
        exp.Table(this=exp.to_identifier(table, quoted=True), db=exp.to_identifier(schema, quoted=True)))
    if pull.where:
        select = select.where(sqlglot.parse_one(pull.where, dialect=DIALECT))
    return select.limit(cap + 1).sql(dialect=DIALECT)


# --------------------------------------------------------------------------- references and columns


def _lowered(tree: exp.Expr) -> exp.Expr:
    """Every name in lower case: the engine matches names case-insensitively, quoted or not."""
    for ident in tree.find_all(exp.Identifier):
        ident.set("this", ident.this.lower())
    return tree


def _linked_sources(scope: Scope, plan: _Plan) -> dict[str, exp.Table]:
    """Alias -> Table for this scope's own FROM / JOIN sources that are linked tables (not CTEs)."""
    return {alias: source for alias, (_node, source) in scope.selected_sources.items()
            if isinstance(source, exp.Table) and isinstance(source.this, exp.Identifier)
            and source.name in plan.tables}


def _owner(scope: Scope, qualifier: str, plan: _Plan) -> str | None:
    """The linked table that ``qualifier`` names from ``scope`` (nearest scope defining it), or None."""
    current: Scope | None = scope
    while current is not None:
        if qualifier in current.sources:
            source = current.sources[qualifier]
            linked = isinstance(source, exp.Table) and source.name in plan.tables
            return source.name if linked else None
        current = current.parent
    return None


def _visit(scope: Scope, plan: _Plan, with_filters: bool) -> None:
    direct = _linked_sources(scope, plan)
    for source in direct.values():
        plan.references[source.name] += 1
    # (USING and NATURAL joins need no case here: qualification spells them out as ON conditions.)
    for node in walk_in_scope(scope.expression):
        if isinstance(node, exp.Column):
            _attribute(node, scope, plan)
    if isinstance(scope.expression, exp.Select):
        for item in scope.expression.expressions:
            if isinstance(item, exp.Star):
                plan.whole.update(source.name for source in direct.values())
        if with_filters:
            _collect_filters(scope.expression, direct, plan)


def _attribute(column: exp.Column, scope: Scope, plan: _Plan) -> None:
    if isinstance(column.this, exp.Star):  # t.*
        owner = _owner(scope, column.table, plan) if column.table else None
        if owner is not None:
            plan.whole.add(owner)
        return
    name = column.name
    if column.table:
        owner = _owner(scope, column.table, plan)
        if owner is not None and name in plan.tables[owner].real:
            plan.needed[owner].add(name)
        return
    current: Scope | None = scope
    while current is not None:  # unqualified: every linked table it could mean, here or in an outer scope
        for source in _linked_sources(current, plan).values():
            if name in plan.tables[source.name].real:
                plan.needed[source.name].add(name)
        current = current.parent


# --------------------------------------------------------------------------- filters


def _collect_filters(select: exp.Select, direct: dict[str, exp.Table], plan: _Plan) -> None:
    where = select.args.get("where")
    conjuncts = list(_conjuncts(where.this)) if where is not None else []
    for alias, source in direct.items():
        table = plan.tables[source.name]
        parts = [p for p in (_translate(c, alias, table, False) for c in conjuncts) if p is not None]
        plan.filters[source.name].append(exp.and_(*parts, copy=False) if parts else None)


def _conjuncts(node: exp.Expr):
    node = node.unnest() if isinstance(node, exp.Paren) else node
    if isinstance(node, exp.And):
        yield from _conjuncts(node.this)
        yield from _conjuncts(node.expression)
    else:
        yield node


def _disjunction(filters: list[exp.Expr | None]) -> str | None:
    if not filters or any(f is None for f in filters):
        return None
    distinct = {f.sql(dialect=DIALECT): f for f in filters}  # the same filter twice: once
    if len(distinct) == 1:
        return next(iter(distinct))
    return exp.or_(*(exp.paren(f) for f in distinct.values()), copy=False).sql(dialect=DIALECT)


def _translate(node: exp.Expr, alias: str, table: _Table, negated: bool) -> exp.Expr | None:
    """A PostgreSQL predicate over real column names, TRUE on (at least) every row where ``node`` (negated
    if asked) is TRUE; None when ``node`` is not a NULL-rejecting predicate on this table alone.

    NOT is pushed down to the atoms (De Morgan holds in SQL's three-valued logic), so every atom knows
    its polarity and a superset atom (ILIKE) stays a superset of the whole."""
    while isinstance(node, exp.Paren):
        node = node.this
    if type(node) is exp.Not:
        return _translate(node.this, alias, table, not negated)
    if type(node) in (exp.And, exp.Or):
        left = _translate(node.this, alias, table, negated)
        right = _translate(node.expression, alias, table, negated)
        if left is None or right is None:
            return None
        conjunction = (type(node) is exp.And) != negated
        both = (exp.paren(left), exp.paren(right))
        return exp.and_(*both, copy=False) if conjunction else exp.or_(*both, copy=False)
    if node.args.get("negate"):  # x NOT LIKE / NOT IN / NOT BETWEEN written as one node
        inner = node.copy()
        inner.set("negate", None)
        return _translate(inner, alias, table, not negated)
    atom = _atom(node, alias, table)
    if atom is None:
        return None
    exact, superset = atom
    if superset is not None:  # (exact for ASCII text) OR (non-ASCII text): a superset in either polarity
        return exp.or_(exp.not_(exact) if negated else exact, superset, copy=False)
    return exp.not_(exact) if negated else exact


def _atom(node: exp.Expr, alias: str, table: _Table) -> tuple[exp.Expr, exp.Expr | None] | None:
    kind = type(node)
    if kind in _COMPARISONS:
        column, literal, flipped = _column(node.this, alias, table), node.expression, False
        if column is None:
            column, literal, flipped = _column(node.expression, alias, table), node.this, True
        what = _literal(literal)
        if column is None or what is None or (kind in _RANGE and not _orders(what, literal)):
            return None
        if what == "bool" and kind not in (exp.EQ, exp.NEQ):
            return None
        op = _FLIPPED[kind] if flipped else kind
        return op(this=column, expression=literal.copy()), None
    if kind is exp.In:
        column, items = _column(node.this, alias, table), node.expressions
        if column is None or not items or node.args.get("query") or node.args.get("unnest") \
                or node.args.get("field") or any(_literal(i) is None for i in items):
            return None
        return exp.In(this=column, expressions=[i.copy() for i in items]), None
    if kind is exp.Between:
        column = _column(node.this, alias, table)
        low, high = node.args.get("low"), node.args.get("high")
        bounds = [(b, _literal(b)) for b in (low, high)]
        if column is None or node.args.get("symmetric") or any(w is None or not _orders(w, b) for b, w in bounds):
            return None
        return exp.Between(this=column, low=low.copy(), high=high.copy()), None
    if kind in (exp.Like, exp.ILike):
        column, pattern = _column(node.this, alias, table), node.expression
        if column is None or not (isinstance(pattern, exp.Literal) and pattern.is_string) or "\\" in pattern.this:
            return None
        if kind is exp.Like:
            return exp.Like(this=column, expression=pattern.copy()), None
        regex = _ascii_ilike(pattern.this)
        if regex is None:
            return None
        return (exp.RegexpLike(this=column, expression=exp.Literal.string(regex)),
                exp.RegexpLike(this=column.copy(), expression=exp.Literal.string(_NON_ASCII)))
    return None


def _column(node: exp.Expr, alias: str, table: _Table) -> exp.Column | None:
    """The real (quoted, unqualified) column when ``node`` is a column of this table reference."""
    if type(node) is not exp.Column or isinstance(node.this, exp.Star) or node.table != alias:
        return None
    real = table.real.get(node.name)
    return exp.column(exp.to_identifier(real, quoted=True)) if real is not None else None


def _literal(node: exp.Expr) -> str | None:
    """The kind of a constant both sides read alike: number, string, temporal, bool; None otherwise."""
    if isinstance(node, exp.Literal):
        return "string" if node.is_string else "number"
    if type(node) is exp.Neg and isinstance(node.this, exp.Literal) and not node.this.is_string:
        return "number"
    if type(node) is exp.Boolean:
        return "bool"
    if type(node) is exp.Cast and isinstance(node.this, exp.Literal) and node.this.is_string:
        target = node.to
        if target.is_type(*_TEMPORAL_TYPES) and not target.expressions:
            return "temporal"
        if target.is_type(*_NUMBER_TYPES):
            return "number"
    return None


def _orders(kind: str, node: exp.Expr) -> bool:
    """Whether a range comparison with this literal orders the same in PostgreSQL and the engine."""
    if kind in ("number", "temporal"):
        return True
    return kind == "string" and bool(_ISO.fullmatch(node.this))


def _ascii_ilike(pattern: str) -> str | None:
    """The ILIKE pattern as a regular expression matching exactly the same ASCII strings (any locale)."""
    if any(ord(ch) > 127 for ch in pattern):
        return None  # non-ASCII letters fold differently by locale (and some fold to ASCII letters)
    parts = ["(?s)^"]
    for ch in pattern:
        if ch == "%":
            parts.append(".*")
        elif ch == "_":
            parts.append(".")
        elif ch in string.ascii_letters:
            parts.append(f"[{ch.lower()}{ch.upper()}]")
        elif ch in string.digits:
            parts.append(ch)
        elif ch in string.punctuation:
            parts.append("\\" + ch)
        else:
            parts.append(f"[{ch}]")  # space, tab, newline
    return "".join(parts) + "$"
