"""Fail-closed safety check for LLM-written SQL, run before anything executes it.

The SQL comes from a language model, so it is untrusted input. We parse it with
sqlglot (dialect "postgres", the strictest target we push down to) and walk
EVERY node of the tree. A node passes only if its exact class is on an
allow-list; anything sqlglot knows that we did not list (a new function, a DML
node, a table function, a locking clause ...) is refused. That way a sqlglot
upgrade or an exotic construct can only make the guard stricter, never looser.

Exact-type checks (``type(node) in ...``) are deliberate: an allowed class's
subclasses are NOT allowed implicitly.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

from sqlglot import exp

from convoinsight.errors import SqlRefused
from convoinsight.sql.dialect import AnalystPostgres

DIALECT = "postgres"
MAX_SQL_CHARS = 20_000  # a generous cap; longer "queries" are not analytics questions
# generate_series is allowed with constant bounds only, for calendars and buckets of at most this many rows.
MAX_SERIES_ROWS = 10_000

# The tables below read better packed than one name per line.
# fmt: off

# The shapes a whole statement may take.
_QUERY_TYPES = (exp.Select, exp.Union, exp.Intersect, exp.Except)

# Clauses, references and operators of a plain read-only query.
_STRUCTURE = {
    exp.Select, exp.Union, exp.Intersect, exp.Except, exp.With, exp.CTE, exp.Subquery,
    exp.From, exp.Join, exp.Where, exp.Group, exp.Having, exp.Qualify, exp.Order, exp.Ordered,
    exp.Limit, exp.Fetch, exp.LimitOptions, exp.Offset, exp.Distinct, exp.Window, exp.WindowSpec, exp.Filter,
    exp.WithinGroup,
    exp.Column, exp.Table, exp.TableAlias, exp.Alias, exp.Identifier, exp.Star,
    exp.Literal, exp.Null, exp.Boolean, exp.Paren, exp.Tuple,
    exp.Add, exp.Sub, exp.Mul, exp.Div, exp.Mod, exp.Neg, exp.DPipe,
    exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.NullSafeEQ, exp.NullSafeNEQ,
    exp.And, exp.Or, exp.Not, exp.Is, exp.In, exp.Between, exp.Like, exp.ILike,
    exp.Case, exp.If, exp.Exists, exp.Any, exp.All,
    exp.Cast, exp.TryCast, exp.DataType, exp.DataTypeParam, exp.Interval,
    exp.IntDiv, exp.SimilarTo, exp.Escape, exp.RegexpILike, exp.Rollup, exp.Cube, exp.GroupingSets,
    exp.Grouping, exp.AtTimeZone,
}

# Functions sqlglot parses into typed classes (e.g. date_trunc -> TimestampTrunc,
# string_agg -> GroupConcat, bool_and -> LogicalAnd, now() -> CurrentTimestamp).
_FUNCTIONS = {
    # aggregates
    exp.Count, exp.Sum, exp.Avg, exp.Min, exp.Max, exp.Median, exp.Quantile,
    exp.PercentileCont, exp.PercentileDisc, exp.Stddev, exp.StddevPop, exp.StddevSamp,
    exp.Variance, exp.VariancePop, exp.Corr, exp.CovarPop, exp.CovarSamp, exp.Mode,
    exp.GroupConcat, exp.ArrayAgg, exp.LogicalAnd, exp.LogicalOr, exp.AnyValue, exp.First, exp.Last,
    # window functions
    exp.RowNumber, exp.Rank, exp.DenseRank, exp.Ntile, exp.CumeDist, exp.PercentRank,
    exp.Lag, exp.Lead, exp.FirstValue, exp.LastValue, exp.NthValue,
    # numbers
    exp.Round, exp.Abs, exp.Ceil, exp.Floor, exp.Trunc, exp.Sqrt, exp.Cbrt, exp.Pow, exp.Ln, exp.Log,
    exp.Exp, exp.Sign, exp.Greatest, exp.Least, exp.Coalesce, exp.Nullif,
    # strings
    exp.Lower, exp.Upper, exp.Length, exp.Trim, exp.Substring, exp.Concat, exp.Replace, exp.StrPosition,
    exp.Left, exp.Right, exp.StartsWith, exp.EndsWith, exp.RegexpLike, exp.RegexpReplace,
    exp.Initcap, exp.Reverse, exp.SplitPart, exp.Pad,
    # dates and times
    exp.TimestampTrunc, exp.DateTrunc, exp.Extract, exp.Year, exp.Quarter, exp.Month, exp.Week,
    exp.Day, exp.DayOfWeek, exp.DayOfYear, exp.Hour, exp.Minute, exp.Second, exp.Date,
    exp.DateAdd, exp.DateDiff, exp.CurrentDate, exp.CurrentTimestamp, exp.CurrentTime,
    exp.UnixToTime, exp.TimestampFromParts, exp.DateFromParts, exp.JustifyDays, exp.JustifyHours,
    exp.JustifyInterval, exp.ConcatWs, exp.Repeat, exp.Translate, exp.Chr, exp.Ascii, exp.MD5, exp.WidthBucket,
}

# Functions sqlglot does not know become exp.Anonymous; only these names pass.
_ANONYMOUS_FUNCTIONS = {
    "quantile_cont", "quantile_disc", "strftime", "make_date", "to_char", "to_date", "to_timestamp", "age",
    "isfinite", "date_part", "char_length", "character_length", "octet_length", "initcap", "lpad", "rpad",
    "btrim", "ltrim", "rtrim", "strpos", "substr", "regexp_match", "regexp_matches", "split_part",
    "date_bin", "isodow", "dayofweek", "dayofyear", "quarter", "epoch", "trunc", "log10", "log2", "div",
}

# Set-returning functions allowed with constant arguments only (see MAX_SERIES_ROWS).
_SERIES = (exp.ExplodingGenerateSeries, exp.GenerateSeries)

# Bare keywords (Var) are only meaningful as a date/interval unit argument.
_UNIT_HOLDERS = {exp.Extract, exp.Interval, exp.TimestampTrunc, exp.DateTrunc, exp.DateAdd, exp.DateDiff}

_CAST_TYPES = {
    exp.DataType.Type[name]
    for name in (
        "BOOLEAN", "SMALLINT", "INT", "BIGINT", "FLOAT", "DOUBLE", "DECIMAL", "TEXT", "VARCHAR", "CHAR",
        "DATE", "TIME", "TIMESTAMP", "TIMESTAMPTZ", "DATETIME", "INTERVAL",
    )
}

# Only these types may carry parameters, as in NUMERIC(10, 2) or VARCHAR(20).
_PARAM_TYPES = {exp.DataType.Type[name] for name in ("DECIMAL", "VARCHAR", "CHAR")}

# In PostgreSQL these unquoted "columns" are really functions revealing session details.
_SESSION_KEYWORDS = {
    "user", "current_user", "session_user", "current_role", "current_schema", "current_catalog",
    "system_user",
}

# Friendlier names for refusals that are common enough to deserve one.
_FRIENDLY = {
    exp.Into: "SELECT ... INTO",
    exp.Lock: "FOR UPDATE / FOR SHARE",
    exp.Values: "VALUES lists",
    exp.TruncateTable: "TRUNCATE",
    exp.Dot: "a schema-qualified name",
    exp.Placeholder: "query parameters",
    exp.Parameter: "query parameters",
}

# fmt: on

_BARE = (exp.Alias, exp.Column, exp.Identifier, exp.Literal, exp.Paren)


@dataclass(frozen=True)
class CheckedSql:
    sql: str  # the original SQL text, stripped, without a trailing ';'
    tables: frozenset[str]  # lower-cased names of the real tables referenced (CTE names excluded)
    tree: exp.Expr | None = field(default=None, compare=False, repr=False)  # shared: copy before changing it


def check_select(sql: str, allowed_tables: Iterable[str]) -> CheckedSql:
    """Raise SqlRefused with a short human reason, or return CheckedSql."""
    allowed = frozenset(t.lower() for t in ([allowed_tables] if isinstance(allowed_tables, str) else allowed_tables))
    # The verdict is a pure function of the text and the allowed tables, and the same SQL recurs (cached
    # model replies, follow-ups, retries): remember accepted ones. Refusals are not cached (they raise).
    return _check_cached(sql, allowed)


@lru_cache(maxsize=1024)
def _check_cached(sql: str, allowed: frozenset[str]) -> CheckedSql:
    return _check(sql, allowed)


def _check(sql: str, allowed_tables: frozenset[str]) -> CheckedSql:
    text = _strip(sql)
    if not text:
        raise SqlRefused("the SQL is empty")
    if len(text) > MAX_SQL_CHARS:
        raise SqlRefused(f"the SQL is longer than {MAX_SQL_CHARS} characters")
    odd = next((ch for ch in text if unicodedata.category(ch)[0] in "CZ" and ch not in " \t\r\n"), None)
    if odd is not None:
        # sqlglot treats e.g. U+00A0 or \v as whitespace, PostgreSQL as part of a name; such
        # tokenizer disagreements are how code gets past a checker, so refuse them outright.
        raise SqlRefused(f"the SQL contains an invisible or control character (U+{ord(odd):04X})")
    # The cleaned text is what we parse AND what we hand back, so what runs is what was checked.
    dialect = AnalystPostgres()
    try:
        tokens = dialect.tokenize(text)
        parsed = dialect.parser().parse(tokens, text)
    except Exception as err:  # ParseError, TokenError, RecursionError on deep nesting...: all mean "no"
        reason = (str(err).splitlines() or [type(err).__name__])[0][:200]
        raise SqlRefused(f"the SQL could not be parsed: {reason}") from None
    if any("/*" in c or "*/" in c for token in tokens for c in token.comments):
        # Parsers disagree about nested block comments (PostgreSQL nests them, others do not);
        # a disagreement could hide code from this check, so refuse rather than guess.
        raise SqlRefused("nested comments are not allowed")
    # parse() yields None for empty statements and Semicolon for a comment after the last ';'.
    statements = [s for s in parsed if s is not None and not isinstance(s, exp.Semicolon)]
    if len(statements) != 1:
        raise SqlRefused("only one statement is allowed" if statements else "the SQL is empty")
    tree = statements[0]

    top = tree.unnest() if isinstance(tree, exp.Subquery) else tree
    if type(top) not in _QUERY_TYPES:
        # Unknown statements sometimes parse as a bare expression (INSTALL x -> an Alias);
        # then the first word names the statement better than the node does.
        what = text.split(None, 1)[0].upper() if isinstance(top, _BARE) else _describe(top)
        raise SqlRefused(f"{what} is not allowed; only a single SELECT query is")

    allowed = allowed_tables
    tables: set[str] = set()
    for node in tree.walk():
        _check_node(node)
        if type(node) is exp.Table:
            name = _check_table(node, allowed)
            if name is not None:
                tables.add(name)
    return CheckedSql(sql=text, tables=frozenset(tables), tree=tree)


def _strip(sql: str) -> str:
    text = (sql or "").strip()
    while text.endswith(";"):
        text = text[:-1].rstrip()
    return text


def _check_node(node: exp.Expr) -> None:
    kind = type(node)
    if kind in _SERIES:
        _check_series(node)
    elif kind is exp.Anonymous:
        if node.name.lower() not in _ANONYMOUS_FUNCTIONS:
            raise SqlRefused(f"function {node.name.lower()} is not allowed")
    elif kind is exp.Var:
        if type(node.parent) not in _UNIT_HOLDERS:
            raise SqlRefused(f"the keyword {node.name} is not allowed here")
    elif kind in _FUNCTIONS:
        pass
    elif kind not in _STRUCTURE:
        raise SqlRefused(f"{_describe(node)} is not allowed")
    elif kind is exp.DataType:
        if node.this not in _CAST_TYPES or (node.expressions and node.this not in _PARAM_TYPES):
            raise SqlRefused(f"casting to {node.sql(dialect=DIALECT)} is not allowed")
    elif kind is exp.Column:
        if node.args.get("db") or node.args.get("catalog"):
            raise SqlRefused(f"the column reference {node.sql(dialect=DIALECT)} is not allowed")
        ident = node.this
        bare = not node.table and isinstance(ident, exp.Identifier) and not ident.quoted
        if bare and ident.name.lower() in _SESSION_KEYWORDS:
            raise SqlRefused(f"{ident.name.lower()} is not allowed")
    elif kind is exp.With and node.args.get("recursive"):
        raise SqlRefused("WITH RECURSIVE is not allowed")
    elif kind is exp.Select and not node.expressions:
        raise SqlRefused("the SELECT list is empty")
    elif kind is exp.Select and node.args.get("kind"):
        raise SqlRefused(f"SELECT {str(node.args['kind']).upper()} is not allowed")


def _check_table(table: exp.Table, allowed: set[str]) -> str | None:
    """Validate a FROM/JOIN table; return its name if it is a real table, None for a CTE."""
    if type(table.this) in _SERIES:
        return None  # a bounded calendar or number series (checked as a node)
    if not isinstance(table.this, exp.Identifier):
        # read_csv(...), unnest(...) and friends: table functions read files, URLs or generate
        # unbounded rows, so none are allowed.
        raise SqlRefused(f"{_describe(table.this)} is not allowed as a table")
    if table.args.get("db") or table.args.get("catalog"):
        raise SqlRefused(f"qualified table name {table.sql(dialect=DIALECT)} is not allowed")
    extra = [k for k, v in table.args.items() if v and k not in ("this", "alias")]
    if extra:
        raise SqlRefused(f"table option {extra[0].upper()} is not allowed")
    name = identifier_name(table.this)
    if name in ctes_in_scope(table):
        return None
    if name not in allowed:
        raise SqlRefused(f"table '{table.this.name}' is not available in this domain")
    return name


def identifier_name(ident: exp.Identifier) -> str:
    # PostgreSQL folds unquoted names to lower case; quoted ones are taken literally, so
    # "FLIGHTS" is a different (unavailable) table than flights.
    return ident.name if ident.quoted else ident.name.lower()


def ctes_in_scope(table: exp.Table) -> set[str]:
    """The CTE names a table reference can see, following PostgreSQL's (non-recursive) scoping.

    A CTE is visible in the body of the query that owns the WITH and in LATER siblings of the
    same WITH, never in itself or earlier siblings, and never outside its query. Anything
    else with that name is a real table and must pass the allow-list.
    """
    names: set[str] = set()
    child, node = table, table.parent
    while node is not None:
        if isinstance(node, exp.With):
            # identity, not ==: sqlglot compares expressions structurally
            earlier = next((i for i, c in enumerate(node.expressions) if c is child), 0)
            names.update(_cte_name(c) for c in node.expressions[:earlier])
        else:
            with_ = node.args.get("with_")
            if isinstance(with_, exp.With) and with_ is not child:
                names.update(_cte_name(c) for c in with_.expressions)
        child, node = node, node.parent
    return names


def _cte_name(cte: exp.Expr) -> str:
    alias = cte.args.get("alias")
    return identifier_name(alias.this) if isinstance(alias, exp.TableAlias) else ""


def _check_series(node: exp.Expr) -> None:
    """generate_series(start, stop[, step]) with constant arguments and at most MAX_SERIES_ROWS rows."""
    from convoinsight.sql.series import series_length

    rows = series_length(node)
    if rows is None:
        raise SqlRefused("generate_series is allowed only with constant start, stop and step (a calendar or a "
                         "fixed range)")
    if rows > MAX_SERIES_ROWS:
        raise SqlRefused(f"generate_series would make {rows} rows; at most {MAX_SERIES_ROWS} are allowed")


def _describe(node: exp.Expr) -> str:
    """A short human name for a refused node, as the SQL wrote it: DELETE, CALL, function read_csv, ..."""
    if type(node) in _FRIENDLY:
        return _FRIENDLY[type(node)]
    if isinstance(node, exp.Command):
        return str(node.this).upper()
    if isinstance(node, exp.Anonymous):
        return f"function {node.name.lower()}"
    if isinstance(node, exp.Func):
        return f"function {written_name(node)}"
    return node.key.upper()


def written_name(node: exp.Func) -> str:
    """The function's name as PostgreSQL spells it (sqlglot's class names are its own: StrToDate, ...)."""
    try:
        text = node.sql(dialect=DIALECT)
    except Exception:  # an unprintable node still deserves a name
        return node.sql_name().lower()
    head = text.split("(", 1)[0].strip()
    return head.lower() if head and head.replace("_", "").isalnum() else node.sql_name().lower()
