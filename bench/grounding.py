"""The grounding check on a 1,000 x 20 result table (it runs on every answer): median and p95 ms."""

from __future__ import annotations

import time

from bench.stack import percentile


def run() -> dict:
    from convoinsight.analysis.grounding import check_grounding
    from tests.unit.test_grounding import wide_table_case

    summary, insights, columns, types, rows = wide_table_case()
    timings = []
    for _ in range(200):
        started = time.perf_counter()
        check_grounding(summary, insights, columns, types, rows, 1000)
        timings.append((time.perf_counter() - started) * 1000)
    return {"table": "1000x20", "check_ms_p50": round(percentile(timings, 50), 2),
            "check_ms_p95": round(percentile(timings, 95), 2)}
