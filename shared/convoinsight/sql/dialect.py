"""The SQL dialect we accept: PostgreSQL as analysts and models write it, parsed by sqlglot.

sqlglot's own PostgreSQL parser rewrites ``to_char``/``to_date``/``to_timestamp`` format strings
into its internal strftime form at parse time, losing the tokens it does not know (``Mon``,
``Q``, ``FM``...). Our dialect keeps those three functions as written (anonymous calls with
their original arguments) so that ``convoinsight.sql.formats`` can translate each PostgreSQL
template exactly, and refusals can name the function the SQL actually used.
"""

from __future__ import annotations

from sqlglot import exp
from sqlglot.dialects.postgres import Postgres


def _as_written(name: str):
    def build(args: list[exp.Expr]) -> exp.Anonymous:
        return exp.Anonymous(this=name, expressions=args)

    return build


class AnalystPostgres(Postgres):
    class Parser(Postgres.Parser):
        FUNCTIONS = {  # noqa: RUF012 - sqlglot's parser reads this class attribute
            **Postgres.Parser.FUNCTIONS,
            "TO_CHAR": _as_written("to_char"),
            "TO_DATE": _as_written("to_date"),
            "TO_TIMESTAMP": _as_written("to_timestamp"),
        }


DIALECT = AnalystPostgres
