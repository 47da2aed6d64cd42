"""``python -m local_emulator`` (``make dev``): start backing services, serve every function.

PostgreSQL and Redis are started here on free ports unless ``POSTGRES_URL`` /
``REDIS_URL`` are given; everything started is stopped on Ctrl-C or SIGTERM.
State lives under ``LOCAL_STATE_DIR`` (default ``.local/``).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from contextlib import ExitStack
from pathlib import Path

from werkzeug.serving import make_server

from local_emulator.backing import PostgresServer, RedisServer

log = logging.getLogger("local_emulator")


def start_backing(stack: ExitStack, state_dir: Path) -> None:
    """Start what is not configured and export its URL to the functions' settings."""
    if not os.environ.get("POSTGRES_URL"):
        pg = PostgresServer(state_dir / "postgres")
        os.environ["POSTGRES_URL"] = pg.start()
        stack.callback(pg.stop)
        log.info("PostgreSQL started on port %s (data in %s)", pg.port, pg.data_dir)
        from local_emulator import sample_source

        sample = sample_source.ensure(pg.port, state_dir)
        log.info("sample PostgreSQL source (database shop, schema crm): POST %s to /api/v1/sources/postgres",
                 sample)
    if not os.environ.get("REDIS_URL"):
        redis = RedisServer(state_dir / "redis")
        os.environ["REDIS_URL"] = redis.start()
        stack.callback(redis.stop)
        log.info("Redis started on port %s", redis.port)


def main() -> int:
    level = os.environ.get("LOG_LEVEL", "INFO").upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("werkzeug").setLevel(level)  # access logs follow LOG_LEVEL too
    state_dir = Path(os.environ.get("LOCAL_STATE_DIR", ".local")).resolve()
    os.environ["LOCAL_STATE_DIR"] = str(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    port = int(os.environ.get("PORT", "8080"))
    # The emulator is the one origin, as the load balancer is in the cloud: returned URLs point at it.
    os.environ.setdefault("PUBLIC_BASE_URL", f"http://127.0.0.1:{port}")

    from convoinsight.settings import load_settings

    if os.environ.get("DEPLOYMENT_MODE", "local").strip().lower() == "local":
        # The sample source and a developer's own databases live on this machine or its network.
        os.environ.setdefault("SOURCES_ALLOW_PRIVATE_HOSTS", "true")
    load_settings()  # fail fast, before starting anything, on a bad setting
    with ExitStack() as stack:
        start_backing(stack, state_dir)
        from local_emulator.server import JsonErrorRequestHandler, build_app, function_names

        server = make_server("127.0.0.1", port, build_app(), threaded=True, request_handler=JsonErrorRequestHandler)
        from convoinsight.services import get_services
        from convoinsight.settings import get_settings

        if get_settings().queue_backend == "inprocess":
            get_services(get_settings()).queue  # noqa: B018 - replays stage tasks a previous run left queued
        stop = threading.Event()

        def shutdown(signum, _frame):
            log.info("signal %s: stopping", signum)
            stop.set()
            threading.Thread(target=server.shutdown, daemon=True).start()

        signal.signal(signal.SIGTERM, shutdown)
        signal.signal(signal.SIGINT, shutdown)
        base = f"http://127.0.0.1:{server.server_port}/api/v1"
        print(f"ConvoInsight local emulator serving {', '.join(function_names())} under {base}/<function>/",
              flush=True)
        print(f"Web console: http://127.0.0.1:{server.server_port}/ (sign in as any user name)", flush=True)
        print(f"Ready when {base}/health/ready answers 200. Ctrl-C stops everything.", flush=True)
        server.serve_forever()
    log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
