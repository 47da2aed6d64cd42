"""PostgreSQL sources: a question's SQL pushed down over a 10^6-row table vs the same SQL sent directly with pg8000.

Our path for one question's SQL: the guard and PostgreSQL compile, the pushdown rewrite (linked names to
real tables), a round trip to a PostgreSQL worker process, a READ ONLY transaction with SET LOCAL
statement_timeout and search_path, a cursor read of the kept rows and MOVE for the rest, and the
answer's JSON encoding. The direct path: an open pg8000 connection running the transpiled SQL and
fetching every row. Reported: median ratio per query (goal <= 1.2x plus the fixed per-question
overhead), that fixed overhead (a trivial SELECT through our path minus directly), and the cost of the
schema introspection (catalog + pg_stats profile) cold and from the cache.
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from bench.stack import local_stack, percentile

QUERIES = (
    "SELECT kind, count(*) AS n, sum(amount) AS total FROM events GROUP BY kind ORDER BY kind",
    "SELECT count(*) FROM events WHERE customer_id = 42 AND kind = 'purchase'",
    "SELECT date_trunc('month', at) AS month, round(avg(amount), 2) AS avg_amount FROM events GROUP BY 1 ORDER BY 1",
    "SELECT id, amount FROM events WHERE amount IS NOT NULL ORDER BY amount DESC, id LIMIT 10",
    "SELECT * FROM events WHERE id = 123456",
)
ROUNDS = 7


def _ms(fn) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


def run() -> dict:
    from tests.support.customer_db import CustomerDatabase

    root = Path(tempfile.mkdtemp(prefix="convoinsight-bench-sources-"))
    os.chmod(root, 0o755)  # noqa: S103 - the postgres server user must traverse it
    db = CustomerDatabase(root / "customer").start()
    try:
        db.ensure_big_table(1_000_000)
        with local_stack():
            os.environ["SOURCES_ALLOW_PRIVATE_HOSTS"] = "true"
            return _measure(db)
    finally:
        db.stop()
        shutil.rmtree(root, ignore_errors=True)


def _measure(db) -> dict:
    from convoinsight.services import get_services
    from convoinsight.settings import get_settings
    from convoinsight.sources import connections, execute, pushdown, service
    from convoinsight.sql.execute import SqlLimits
    from convoinsight.sql.guard import check_select

    get_settings.cache_clear()
    settings = get_settings()
    services = get_services(settings)
    user = "bench-user"
    connections.create(services, user, {"name": "crm", "host": db.host, "port": db.port, "database": "shop",
                                        "user": "reader", "password": db.reader_password, "schema": "crm",
                                        "sslmode": "disable"})
    record = connections.get(services, user, "crm")
    pool = execute.source_pool(settings)
    limits = SqlLimits.from_settings(settings)
    direct = db.connect("reader")

    def ours(sql: str):
        checked = check_select(sql, {"events"})
        text = pushdown.pushdown_sql(checked.sql, {"events": ("crm", "events")})
        return execute.query(pool, connections.target(settings, record), text, "crm", limits,
                             settings.source_statement_timeout_seconds)

    def theirs(sql: str):
        text = pushdown.pushdown_sql(check_select(sql, {"events"}).sql, {"events": ("crm", "events")})
        return direct.run(text)

    for sql in QUERIES:  # warm: worker started, connection kept, plans cached by the server
        ours(sql), theirs(sql)
    per_query = {}
    for index, sql in enumerate(QUERIES):
        ratios, our_ms, raw_ms = [], [], []
        for _ in range(ROUNDS):
            a, b = _ms(lambda sql=sql: ours(sql)), _ms(lambda sql=sql: theirs(sql))
            our_ms.append(a)
            raw_ms.append(b)
            ratios.append(a / b)
        per_query[f"q{index + 1}"] = {"ours_ms": round(statistics.median(our_ms), 2),
                                      "direct_ms": round(statistics.median(raw_ms), 2),
                                      "ratio": round(statistics.median(ratios), 3)}
    trivial = [(_ms(lambda: ours("SELECT 1 AS one")) - _ms(lambda: direct.run("SELECT 1 AS one")))
               for _ in range(50)]
    overhead = statistics.median(trivial)
    net = {name: round((q["ours_ms"] - overhead) / q["direct_ms"], 3) for name, q in per_query.items()}
    cold, cached = [], []
    for _ in range(5):
        service.forget_catalog(services, user, "crm")
        cold.append(_ms(lambda: service.tables(services, user, "crm")))
        cached.append(_ms(lambda: service.tables(services, user, "crm")))
    profile_ms = []
    for _ in range(5):
        meta = next(t for t in service.tables(services, user, "crm") if t["name"] == "events")

        def profile(meta=meta):
            with service.session(services, record) as conn:
                from convoinsight.sources import catalog

                catalog.table_profile(conn, "crm", meta)

        profile_ms.append(_ms(profile))
    direct.close()
    return {
        "rows": 1_000_000, "queries": per_query,
        "ratio_median": round(statistics.median(q["ratio"] for q in per_query.values()), 3),
        "fixed_overhead_ms_p50": round(overhead, 2), "fixed_overhead_ms_p95": round(percentile(trivial, 95), 2),
        "ratio_after_fixed_overhead": net,
        "catalog_cold_ms": round(statistics.median(cold), 2), "catalog_cached_ms": round(statistics.median(cached), 2),
        "profile_one_table_ms": round(statistics.median(profile_ms), 2),
    }
