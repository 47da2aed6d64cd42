"""The whole-result statistics statement (sql/stats.py): its cost beside the query it describes.

At 10^5 and 10^6 rows of data, for three result shapes (a 1,000-day series whose result is under the
display cap, a listing of every row, truncated to 1,000 for display, and a per-customer total with one
row per 10 rows of data), the median over ROUNDS runs of the query alone and of the statistics
statement, both through the engine's worker pool exactly as an answer runs them.
"""

from __future__ import annotations

import datetime as dt
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

SIZES = (100_000, 1_000_000)
ROUNDS = 7
SHAPES = {
    "series_1000_days": "SELECT day, SUM(amount) AS revenue FROM sales GROUP BY day ORDER BY day",
    "all_rows_listed": "SELECT id, region, amount FROM sales",
    "per_customer_total": "SELECT customer, SUM(amount) AS revenue, COUNT(*) AS orders FROM sales GROUP BY customer",
}


def _write(folder: Path, rows: int) -> Path:
    rng = np.random.default_rng(rows)
    frame = pl.DataFrame({"id": np.arange(rows), "region": rng.choice(["north", "south", "east", "west"], rows),
                          "customer": [f"c{i}" for i in rng.integers(0, rows // 10, rows)],
                          "amount": rng.random(rows) * 100})
    frame = frame.with_columns((pl.lit(dt.date(2020, 1, 1)) + pl.duration(days=pl.col("id") % 1000))
                               .cast(pl.Date).alias("day"))
    path = folder / f"sales_{rows}.parquet"
    frame.write_parquet(path, row_group_size=122_880)
    return path


def _ms(fn) -> tuple[float, object]:
    started = time.perf_counter()
    out = fn()
    return (time.perf_counter() - started) * 1000, out


def run() -> dict:
    from convoinsight.settings import load_settings
    from convoinsight.sql.compile import compile_select
    from convoinsight.sql.execute import SqlLimits, engine_pool, run_select
    from convoinsight.sql.rewrite import TableInfo
    from convoinsight.sql.stats import plan_stats, read_stats
    from convoinsight.workers.pool import close_shared

    settings = load_settings({})
    limits = SqlLimits.from_settings(settings)
    pool = engine_pool(settings)
    tables = {"sales": TableInfo(columns=frozenset({"id", "region", "customer", "amount", "day"}))}
    out: dict = {"rounds": ROUNDS}
    try:
        with tempfile.TemporaryDirectory() as folder:
            for rows in SIZES:
                sources = {"sales": str(_write(Path(folder), rows))}
                for shape, sql in SHAPES.items():
                    compiled = compile_select(sql, tables)
                    query, stats = [], []
                    for _ in range(ROUNDS):
                        ms, result = _ms(lambda c=compiled, s=sources: run_select(c, s, limits, pool))
                        query.append(ms)
                        plan = plan_stats(compiled.source, result.columns, result.column_types,
                                          top=settings.result_stats_top_groups,
                                          max_columns=settings.result_stats_max_columns)
                        ms, figures = _ms(lambda p=plan, src=sources: read_stats(p, run_select(
                            compile_select(p.sql, tables), src, limits, pool).rows[0]))
                        stats.append(ms)
                    q, s = statistics.median(query), statistics.median(stats)
                    out[f"{shape}@{rows}"] = {"result_rows": result.row_count, "query_ms_p50": round(q, 1),
                                              "stats_ms_p50": round(s, 1), "stats_over_query": round(s / q, 2),
                                              "checked_rows": figures["row_count"]}
    finally:
        close_shared(pool=pool)  # stopped and forgotten: the benchmarks after this one get new workers
    return out
