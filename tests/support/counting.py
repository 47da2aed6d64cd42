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


class RoundTrips:
    """Every Redis round trip and every PostgreSQL statement made by this thread while ``recording``.

    A Redis round trip is one write of packed commands (a command, a pipeline, a script call), recorded as the
    names of the commands it held (a new connection's handshake apart, in ``setup``); a statement is recorded
    as its SQL with its ``c``/``i`` parameters (the document store's collection and document id), whether it is
    run as text or as a statement the connection prepared (preparing it is per connection, not per request)."""

    def __init__(self, monkeypatch):
        import threading

        import pg8000.native
        import redis.connection

        self.redis: list[list[str]] = []
        self.setup: list[list[str]] = []
        self.sql: list[tuple[str, dict]] = []
        self._thread: int | None = None
        self._ident = threading.get_ident
        send, run = redis.connection.AbstractConnection.send_packed_command, pg8000.native.Connection.run
        prepare, run_prepared = pg8000.native.PreparedStatement.__init__, pg8000.native.PreparedStatement.run
        recorder = self

        def send_packed_command(conn, command, check_health=True):
            if recorder._mine():
                data = command if isinstance(command, bytes | bytearray) else b"".join(bytes(c) for c in command)
                names = _command_names(bytes(data))
                # A new connection's handshake (and its health-check PING) is per connection, not per request.
                (recorder.setup if set(names) <= _SETUP else recorder.redis).append(names)
            return send(conn, command, check_health)

        def run_statement(conn, sql, **params):
            if recorder._mine():
                recorder.sql.append((" ".join(sql.split()), {k: v for k, v in params.items() if k in ("c", "i")}))
            return run(conn, sql, **params)

        def prepare_statement(statement, con, sql, types=None):
            statement.sql_text = sql
            prepare(statement, con, sql, types)

        def run_prepared_statement(statement, stream=None, **params):
            if recorder._mine():
                recorder.sql.append((" ".join(getattr(statement, "sql_text", statement.statement).split()),
                                     {k: v for k, v in params.items() if k in ("c", "i")}))
            return run_prepared(statement, stream=stream, **params)

        monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", send_packed_command)
        monkeypatch.setattr(pg8000.native.Connection, "run", run_statement)
        monkeypatch.setattr(pg8000.native.PreparedStatement, "__init__", prepare_statement)
        monkeypatch.setattr(pg8000.native.PreparedStatement, "run", run_prepared_statement)

    def _mine(self) -> bool:
        return self._thread is not None and self._ident() == self._thread

    def recording(self):
        from contextlib import contextmanager

        @contextmanager
        def block():
            self.redis.clear()
            self.setup.clear()
            self.sql.clear()
            self._thread = self._ident()
            try:
                yield self
            finally:
                self._thread = None

        return block()

    @property
    def reads(self) -> list[tuple[str, dict]]:
        return [s for s in self.sql if s[0].startswith("SELECT")]

    @property
    def writes(self) -> list[tuple[str, dict]]:
        return [s for s in self.sql if not s[0].startswith("SELECT")]


_SETUP = {"HELLO", "CLIENT", "AUTH", "SELECT", "PING", "READONLY"}


def _command_names(data: bytes) -> list[str]:
    """The command names in a packed RESP write (``*n`` arrays of ``$len`` bulk strings)."""
    names, i = [], 0
    while i < len(data):
        end = data.index(b"\r\n", i)
        count, i = int(data[i + 1:end]), end + 2
        for n in range(count):
            end = data.index(b"\r\n", i)
            length, i = int(data[i + 1:end]), end + 2
            if n == 0:
                names.append(data[i:i + length].decode().upper())
            i += length + 2
    return names
