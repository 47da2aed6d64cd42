"""The SQL engine: our path (compile + worker round trip + sandboxed DuckDB) vs raw DuckDB on the same Parquet.

Reports, at 10^5, 10^6 and 10^7 rows: the median ratio of our time (compile, worker round trip,
sandboxed fresh database, streamed result) to a plain in-process DuckDB connection that is already
open, running the same transpiled SQL on the same file (goal <= 1.2x); the compile (guard + rewrite +
transpile) cost of a new SQL text; the isolation overhead (a trivial query through the worker pool
minus the same query in-process, p50/p95; goal < 5 ms at p50), paced as questions are (other stages
run between two queries) and back to back; the workers' peak memory; and a question over a Cloud
Storage object (the GCS emulator, ranged reads) against the same question over the local file.
"""

from __future__ import annotations

import datetime as dt
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

from bench.stack import percentile

SIZES = (100_000, 1_000_000, 10_000_000)
QUERIES = (
    "SELECT region, sum(amount) AS total, count(*) AS n FROM sales GROUP BY region ORDER BY region",
    "SELECT count(*) FROM sales WHERE qty = 3 AND region = 'north'",
    "SELECT date_trunc('month', day) AS month, round(avg(amount), 2) AS avg_amount FROM sales GROUP BY 1 ORDER BY 1",
    "SELECT id, amount FROM sales ORDER BY amount DESC, id LIMIT 10",
    "SELECT * FROM sales WHERE id = 12345",
)
ROUNDS = 5


def _write(folder: Path, rows: int) -> Path:
    rng = np.random.default_rng(rows)
    frame = pl.DataFrame({"id": np.arange(rows), "region": rng.choice(["north", "south", "east", "west"], rows),
                          "amount": rng.random(rows) * 100, "qty": rng.integers(1, 10, rows)})
    frame = frame.with_columns((pl.lit(dt.date(2020, 1, 1)) + pl.duration(days=pl.col("id") % 1000))
                               .cast(pl.Date).alias("day"))
    path = folder / f"sales_{rows}.parquet"
    frame.write_parquet(path, row_group_size=122_880)
    return path


def _raw_ms(con, engine_sql: str) -> float:
    started = time.perf_counter()
    con.sql(engine_sql).fetchall()
    return (time.perf_counter() - started) * 1000


def _vm_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def run() -> dict:
    from convoinsight.settings import load_settings
    from convoinsight.sql import engine
    from convoinsight.sql.compile import _translate, compile_select
    from convoinsight.sql.execute import SqlLimits, engine_pool, run_select

    settings = load_settings({})
    limits = SqlLimits.from_settings(settings)
    pool = engine_pool(settings)
    pool.warm()
    out: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        for rows in SIZES:
            path = _write(Path(tmp), rows)
            import duckdb

            raw_con = duckdb.connect(config={"threads": settings.sql_threads})
            raw_con.execute(f"CREATE VIEW sales AS SELECT * FROM read_parquet('{path}')")
            ratios = []
            for sql in QUERIES:
                compiled = compile_select(sql, {"sales"})
                run_select(compiled, {"sales": str(path)}, limits, pool)  # warm the file cache
                ours, raw = [], []
                for _ in range(ROUNDS):
                    started = time.perf_counter()
                    run_select(compile_select(sql, {"sales"}), {"sales": str(path)}, limits, pool)
                    ours.append((time.perf_counter() - started) * 1000)
                    raw.append(_raw_ms(raw_con, compiled.engine_sql))
                    time.sleep(0.03)  # a question's other stages run between two of its queries
                ratios.append(statistics.median(ours) / statistics.median(raw))
            out[f"engine_vs_raw_duckdb_{rows}_rows_median_ratio"] = round(statistics.median(ratios), 2)
            out[f"engine_vs_raw_duckdb_{rows}_rows_worst_ratio"] = round(max(ratios), 2)
            if rows >= 1_000_000:
                out.update(_cloud_vs_local(path, rows, limits))
            raw_con.close()
        small = _write(Path(tmp), 1000)
        compile_ms = []
        for i in range(200):
            sql = f"SELECT region, sum(amount) AS s{i} FROM sales WHERE qty > {i} GROUP BY region ORDER BY 1"
            _translate.cache_clear()
            started = time.perf_counter()
            compile_select(sql, {"sales"})
            compile_ms.append((time.perf_counter() - started) * 1000)
        trivial = compile_select("SELECT id FROM sales WHERE id = 7", {"sales"})
        task = {"sql": trivial.engine_sql, "tables": {"sales": str(small)}, "limits": limits.as_task()}
        pooled, local, back_to_back = [], [], []
        for _ in range(200):
            started = time.perf_counter()
            pool.run(task, 30)
            pooled.append((time.perf_counter() - started) * 1000)
            time.sleep(0.03)  # a question's other stages give the worker time to prepare its next database
        for _ in range(200):
            started = time.perf_counter()
            engine.run(task)
            local.append((time.perf_counter() - started) * 1000)
            time.sleep(0.03)
        for _ in range(100):
            started = time.perf_counter()
            pool.run(task, 30)
            back_to_back.append((time.perf_counter() - started) * 1000)
        out.update({
            "compile_ms_p50": round(percentile(compile_ms, 50), 2),
            "compile_ms_p95": round(percentile(compile_ms, 95), 2),
            "trivial_query_in_worker_ms_p50": round(percentile(pooled, 50), 2),
            "trivial_query_in_process_ms_p50": round(percentile(local, 50), 2),
            "isolation_overhead_ms_p50": round(percentile(pooled, 50) - percentile(local, 50), 2),
            "isolation_overhead_ms_p95": round(percentile(pooled, 95) - percentile(local, 95), 2),
            "trivial_query_back_to_back_ms_p50": round(percentile(back_to_back, 50), 2),
            "worker_peak_rss_mb": round(max(_vm_hwm_mb(pid) for pid in pool.pids()), 1),
        })
    return out


def _cloud_vs_local(path: Path, rows: int, limits) -> dict:
    """The same questions over the object in the GCS emulator (ranged reads) and over the local file, each
    in a fresh pool so that the workers' peak memory is the question's."""
    from convoinsight.sql.compile import compile_select
    from convoinsight.sql.execute import run_select
    from convoinsight.workers.pool import WorkerPool
    from tests.support.gcp_emulators import GcsEmulator

    emulator = GcsEmulator().start()
    try:
        bucket = emulator.create_bucket(f"bench-{rows}")
        emulator.client().bucket(bucket).blob("sales.parquet").upload_from_filename(str(path))
        sources = {"local": str(path), "gcs": {"bucket": bucket, "object": "sales.parquet", "project": "bench",
                                               "endpoint": emulator.host}}
        times, peaks = {}, {}
        for kind, source in sources.items():
            pool = WorkerPool("convoinsight.sql.engine:run", 1, memory_bytes=4 << 30)
            try:
                per_query = []
                for sql in QUERIES:
                    compiled = compile_select(sql, {"sales"})
                    run_select(compiled, {"sales": source}, limits, pool)
                    runs = []
                    for _ in range(ROUNDS):
                        started = time.perf_counter()
                        run_select(compiled, {"sales": source}, limits, pool)
                        runs.append((time.perf_counter() - started) * 1000)
                        time.sleep(0.03)
                    per_query.append(statistics.median(runs))
                times[kind] = per_query
                peaks[kind] = max(_vm_hwm_mb(pid) for pid in pool.pids())
            finally:
                pool.close()
    finally:
        emulator.stop()
    ratios = [g / loc for g, loc in zip(times["gcs"], times["local"], strict=True)]
    return {f"gcs_vs_local_{rows}_rows_time_median_ratio": round(statistics.median(ratios), 2),
            f"gcs_vs_local_{rows}_rows_time_worst_ratio": round(max(ratios), 2),
            f"gcs_vs_local_{rows}_rows_peak_rss_ratio": round(peaks["gcs"] / peaks["local"], 2),
            f"gcs_{rows}_rows_worker_peak_rss_mb": round(peaks["gcs"], 1)}
