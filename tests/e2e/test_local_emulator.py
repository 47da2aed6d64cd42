"""`make dev`'s emulator starts its own PostgreSQL and Redis, serves every function, and stops them all."""

from __future__ import annotations

import os
import re
import socket
import tempfile
from pathlib import Path

import pytest
import requests

from tests.support.emulator import Emulator

pytestmark = pytest.mark.slow


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def test_emulator_owns_its_services_and_stops_them_on_sigterm():
    state = Path(tempfile.mkdtemp(prefix="convoinsight-dev-"))
    os.chmod(state, 0o755)  # noqa: S103 - the postgres server user must traverse it
    env = {k: v for k, v in os.environ.items() if k not in ("POSTGRES_URL", "REDIS_URL")}
    env["LOG_LEVEL"] = "INFO"
    emu = Emulator({}, state / "state")
    emu.env = {**env, "PORT": str(emu.port), "LOCAL_STATE_DIR": str(state / "state")}
    emu.start()
    try:
        ready = requests.get(emu.url("health", "/ready"), timeout=5).json()
        assert ready["status"] == "ready"
        for function in ("health", "datasets", "queries"):
            # Each function answers under its own prefix (an unknown inner path is that function's JSON 404).
            resp = requests.get(emu.url(function, "/no/such/route/here"), headers={"X-User-Id": "u"}, timeout=5)
            assert resp.status_code in (404, 405) and "error" in resp.json()
        assert requests.get(f"{emu.base}/nope/", timeout=5).json()["error"]["code"] == "route_not_found"
        log = emu.log_path.read_text()
        pg_port = int(re.search(r"PostgreSQL started on port (\d+)", log).group(1))
        redis_port = int(re.search(r"Redis started on port (\d+)", log).group(1))
        assert listening(pg_port) and listening(redis_port)
        assert (state / "state" / "postgres" / "PG_VERSION").exists()
    finally:
        code = emu.stop()
    assert code == 0
    assert not listening(pg_port) and not listening(redis_port) and not listening(emu.port)
