"""A pg8000 connection wrapper that records every statement it runs (to count round trips in tests)."""

from __future__ import annotations


class Counting:
    """A connection that records every statement it is asked to run."""

    def __init__(self, conn):
        self.conn = conn
        self.statements: list[str] = []

    def run(self, sql, **params):
        self.statements.append(sql)
        return self.conn.run(sql, **params)

    @property
    def columns(self):
        return self.conn.columns

    def __getattr__(self, name):
        return getattr(self.conn, name)
