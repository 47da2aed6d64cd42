"""Run every benchmark and print its numbers (`make bench`; `python -m bench datasets` runs one)."""

from __future__ import annotations

import json
import os
import sys
import time

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


def main() -> int:
    from bench import (
        charts_render,
        datasets,
        first_request,
        grounding,
        http_paths,
        ingest,
        jobs,
        mcp,
        pipeline,
        result_stats,
        session_export,
        sources,
        sql_engine,
        web_stack,
    )

    wanted = set(sys.argv[1:])
    results = {}
    suites = (("sql_engine", sql_engine), ("pipeline", pipeline), ("datasets", datasets), ("grounding", grounding),
              ("result_stats", result_stats),
              ("web_stack", web_stack), ("first_request", first_request), ("http_paths", http_paths), ("jobs", jobs),
              ("charts_render", charts_render), ("ingest", ingest), ("sources", sources),
              ("session_export", session_export), ("mcp", mcp))
    for name, module in suites:
        if wanted and name not in wanted:
            continue
        started = time.perf_counter()
        results[name] = module.run()
        results[name]["bench_seconds"] = round(time.perf_counter() - started, 1)
        print(f"{name}: {json.dumps(results[name])}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
