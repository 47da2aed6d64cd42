"""Start and stop our own PostgreSQL and Redis on free ports (never a shared default port).

Used by ``make dev``, ``make demo`` and the test session alike. ``initdb``
refuses to run as root, so as root the server runs as the ``postgres`` user
and owns its data folder.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

_GIVEN: set[int] = set()  # ports this process has handed out: the kernel may offer one again before its user binds


def free_port() -> int:
    """A loopback port free now and not handed out before by this process (its user binds it soon after)."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in _GIVEN:
            _GIVEN.add(port)
            return port


def _pg_bindir() -> Path:
    if shutil.which("pg_ctl"):
        return Path(shutil.which("pg_ctl")).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name))
    for candidate in reversed(candidates):
        if (Path(candidate) / "initdb").exists():
            return Path(candidate)
    raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) not found: run `make setup` "
                       "or install the postgresql package")


def _as_server_user(cmd: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


class PostgresServer:
    def __init__(self, data_dir: Path, port: int | None = None, *, durable: bool = True):
        self.data_dir = Path(data_dir).resolve()
        self.port = port or free_port()
        self.durable = durable
        self.bindir = _pg_bindir()
        self.database = "convoinsight"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{self.database}"

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(_as_server_user([str(self.bindir / args[0]), *args[1:]]), capture_output=True,
                              text=True, timeout=120)

    def start(self) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.data_dir, "postgres", "postgres")
            os.chmod(self.data_dir, 0o700)
        if not (self.data_dir / "PG_VERSION").exists():
            done = self._run("initdb", "-D", str(self.data_dir), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                             "--no-instructions")
            if done.returncode != 0:
                raise RuntimeError(f"initdb failed: {done.stderr.strip()}")
        if self._run("pg_ctl", "-D", str(self.data_dir), "status").returncode == 0:
            self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "stop")  # left over from a crash
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''"
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        done = self._run("pg_ctl", "-D", str(self.data_dir), "-o", options, "-l",
                         str(self.data_dir / "server.log"), "-w", "-t", "60", "start")
        if done.returncode != 0:
            log = (self.data_dir / "server.log")
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"PostgreSQL did not start: {done.stderr.strip()} {tail}")
        self._create_database()
        return self.url

    def _create_database(self) -> None:
        import pg8000.native

        conn = pg8000.native.Connection(user="postgres", host="127.0.0.1", port=self.port, database="postgres")
        try:
            if not conn.run("SELECT 1 FROM pg_database WHERE datname = :d", d=self.database):
                conn.run(f'CREATE DATABASE "{self.database}"')
        finally:
            conn.close()

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop")


class RedisServer:
    def __init__(self, work_dir: Path, port: int | None = None):
        self.work_dir = Path(work_dir).resolve()
        self.port = port or free_port()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> str:
        binary = shutil.which("redis-server")
        if not binary:
            raise RuntimeError("redis-server not found: run `make setup` or install the redis-server package")
        self.work_dir.mkdir(parents=True, exist_ok=True)
        subprocess.run([binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                        "--daemonize", "yes", "--dir", str(self.work_dir),
                        "--pidfile", str(self.work_dir / "redis.pid"),
                        "--logfile", str(self.work_dir / "redis.log")], check=True, timeout=30)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return self.url
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"Redis did not start on port {self.port}")

    def stop(self) -> None:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"SHUTDOWN NOSAVE\r\n")
                sock.recv(16)
        except OSError:
            return  # already gone
        pidfile = self.work_dir / "redis.pid"
        deadline = time.monotonic() + 5
        while pidfile.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
