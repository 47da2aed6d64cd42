"""Connecting to a tenant's PostgreSQL: pinned to a checked address, TLS per sslmode, errors that say what to do.

``connect`` resolves and checks the host (``security.network``), opens the TCP connection itself to a
checked address, and hands that socket to pg8000 (``sock=``), so DNS cannot change under us. TLS is
verified against the host name the tenant gave, not the address. Errors map to the service's
error classes: wrong credentials are 422, an unreachable server is 503 with Retry-After.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from convoinsight.errors import ServiceUnavailable, Unprocessable
from convoinsight.security import network

if TYPE_CHECKING:  # pg8000 is imported when a connection is opened, not at a function's cold start
    import pg8000.native

SSL_MODES = ("disable", "prefer", "require", "verify-ca", "verify-full")
RETRY_AFTER_SECONDS = 10
AUTH_SQLSTATES = {"28P01", "28000"}


class SourceUnavailable(ServiceUnavailable):
    """The tenant's PostgreSQL could not be reached; try again shortly."""

    code = "source_unavailable"
    retry_after = RETRY_AFTER_SECONDS


@dataclass(frozen=True)
class Target:
    """Everything needed to open one connection; the password never appears in its repr."""

    host: str
    port: int
    database: str
    user: str
    password: str = field(repr=False)
    sslmode: str = "verify-full"
    ssl_root_cert: str | None = field(default=None, repr=False)  # PEM of the CA to trust; None: the system's
    connect_timeout: float = 5.0
    allow_private: bool = False

    def as_task(self) -> dict[str, Any]:
        """For a worker process (the pipe stays on this machine)."""
        return {"host": self.host, "port": self.port, "database": self.database, "user": self.user,
                "password": self.password, "sslmode": self.sslmode, "ssl_root_cert": self.ssl_root_cert,
                "connect_timeout": self.connect_timeout, "allow_private": self.allow_private}

    @classmethod
    def from_task(cls, task: dict[str, Any]) -> Target:
        return cls(**task)


def ssl_context(mode: str, root_cert: str | None) -> ssl.SSLContext | bool | None:
    """pg8000's ``ssl_context``: False (no TLS), None (try TLS, else plaintext), or a context (TLS required)."""
    if mode == "disable":
        return False
    if mode in ("prefer", "require"):
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        return None if mode == "prefer" else context
    context = ssl.create_default_context(cadata=root_cert) if root_cert else ssl.create_default_context()
    context.check_hostname = mode == "verify-full"
    return context


def _open_socket(target: Target, addresses: list[str]) -> socket.socket:
    last: OSError | None = None
    deadline = time.monotonic() + target.connect_timeout
    for address in addresses:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        try:
            sock = socket.create_connection((address, target.port), timeout=left)
            # Without it each statement's last short write waits for the server's delayed ACK (~40 ms).
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return sock
        except OSError as exc:
            last = exc
    raise SourceUnavailable(f"PostgreSQL at {target.host}:{target.port} is not reachable"
                            f"{f' ({last.strerror or last})' if last else ''}; check that it is running and "
                            "accepts connections from this service") from None


def connect(target: Target, statement_timeout: float | None = None) -> pg8000.native.Connection:
    """An open connection to ``target`` (read and write as its role allows); raises the mapped errors."""
    import pg8000.native
    from pg8000.exceptions import DatabaseError, InterfaceError

    addresses = network.checked_addresses(target.host, target.port, allow_private=target.allow_private,
                                          timeout=target.connect_timeout)
    sock = _open_socket(target, addresses)
    context = ssl_context(target.sslmode, target.ssl_root_cert)
    try:
        conn = pg8000.native.Connection(
            target.user, host=network.normalise_host(target.host), database=target.database,
            password=target.password, sock=sock, ssl_context=context, timeout=target.connect_timeout,
            application_name="convoinsight")
    except ssl.SSLCertVerificationError as exc:
        sock.close()
        raise Unprocessable(f"the server's TLS certificate was not accepted ({exc.verify_message}); with "
                            "sslmode verify-ca or verify-full give its CA as ssl_root_cert",
                            code="source_tls_failed") from None
    except (ssl.SSLError, ConnectionResetError) as exc:
        sock.close()
        raise Unprocessable(f"the TLS handshake with the server failed ({exc})", code="source_tls_failed") from None
    except InterfaceError as exc:
        sock.close()
        if "refuses SSL" in str(exc):
            raise Unprocessable(f"the server does not offer TLS, which sslmode {target.sslmode} requires",
                                code="source_tls_unavailable") from None
        raise SourceUnavailable(f"PostgreSQL at {target.host}:{target.port} closed the connection ({exc})") \
            from None
    except (TimeoutError, OSError) as exc:
        sock.close()
        raise SourceUnavailable(f"PostgreSQL at {target.host}:{target.port} did not answer ({exc})") from None
    except DatabaseError as exc:
        sock.close()
        raise sign_in_error(exc, target) from None
    conn.password = None  # not kept in memory past sign-in
    # The socket pg8000 reads from (the TLS wrapper when there is one): past the statement limit plus a margin,
    # a server that stopped answering is an error, not a hang.
    conn._usock.settimeout(None if statement_timeout is None else statement_timeout + target.connect_timeout)
    return conn


def sqlstate(exc: Exception) -> str:
    info = exc.args[0] if exc.args and isinstance(exc.args[0], dict) else {}
    return str(info.get("C", ""))


def server_message(exc: Exception) -> str:
    info = exc.args[0] if exc.args and isinstance(exc.args[0], dict) else {}
    return str(info.get("M") or exc)[:500]


def sign_in_error(exc: Exception, target: Target):
    state = sqlstate(exc)
    if state in AUTH_SQLSTATES:
        return Unprocessable(f"PostgreSQL refused the sign-in of user {target.user!r}: {server_message(exc)}",
                             code="source_auth_failed")
    if state == "3D000":
        return Unprocessable(f"database {target.database!r} does not exist on that server",
                             code="source_database_not_found")
    if state in ("53300", "57P03"):  # too many connections, starting up
        return SourceUnavailable(f"PostgreSQL cannot take a connection now: {server_message(exc)}")
    return Unprocessable(f"PostgreSQL refused the connection: {server_message(exc)}", code="source_connect_failed")


def tls_state(conn: pg8000.native.Connection) -> dict[str, Any]:
    sock = getattr(conn, "_usock", None)
    if isinstance(sock, ssl.SSLSocket):
        return {"enabled": True, "version": sock.version(), "cipher": (sock.cipher() or [None])[0]}
    return {"enabled": False, "version": None, "cipher": None}


def close_quietly(conn: pg8000.native.Connection | None) -> None:
    if conn is not None:
        with contextlib.suppress(Exception):
            conn.close()


@contextlib.contextmanager
def transaction(conn: pg8000.native.Connection, *, read_only: bool, timeout_s: float,
                search_path: str | None = None) -> Iterator[pg8000.native.Connection]:
    """One transaction, READ ONLY when asked, with ``SET LOCAL`` of statement_timeout, TimeZone UTC (and
    search_path).

    Committed when the block ends normally, rolled back on any error: nothing is ever half-written."""
    conn.run("BEGIN READ ONLY" if read_only else "BEGIN READ WRITE")
    try:
        # UTC like the engine: a timestamptz compared with a date, or written out, means the same on both sides.
        conn.run("SELECT set_config('statement_timeout', :ms, true), set_config('lock_timeout', :ms, true), "
                 "set_config('idle_in_transaction_session_timeout', :ms, true), set_config('TimeZone', 'UTC', true)",
                 ms=f"{int(timeout_s * 1000)}")
        if search_path is not None:
            conn.run("SELECT set_config('search_path', quote_ident(:schema), true)", schema=search_path)
        yield conn
    except BaseException:
        with contextlib.suppress(Exception):
            conn.run("ROLLBACK")
        raise
    else:
        conn.run("COMMIT")
