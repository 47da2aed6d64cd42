"""PDF export of a 20-turn session with 20 charts: time and peak memory (goal: under 3 s and 300 MiB).

The session is made through the real ask path (offline planner, one chart per answer) in this process.
Each export then runs in a fresh process, as a cold function instance would serve it: ``cold`` is the
first export (every chart drawn by the render worker at print resolution, fpdf2 and the fonts imported),
``warm`` the next ones in new processes (images read back from the blob store, imports paid again).
Peak memory is the export process's own peak RSS (VmHWM), and separately the largest of its render worker
processes' (children of its forkserver).
"""

from __future__ import annotations

import io
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from bench.stack import local_stack

REPO = Path(__file__).resolve().parents[1]
TURNS = 20
WARM_RUNS = 3
QUESTIONS = ("total revenue by region", "total units by product", "average revenue by region",
             "monthly revenue trend", "total revenue by product", "average units by region")
USER = "bench-export"

CHILD = r"""
import json, os, sys, time


def status(pid):
    try:
        with open(f"/proc/{pid}/status") as fh:
            return dict(line.split(":", 1) for line in fh if ":" in line)
    except OSError:
        return {}


def hwm_mib(fields):  # VmHWM: this process's own peak RSS (ru_maxrss would report the parent's after fork+exec)
    return round(int(fields.get("VmHWM", "0 kB").split()[0]) / 1024, 1)


def descendants(root):
    parents = {int(p): int(status(p).get("PPid", "0").strip() or 0) for p in os.listdir("/proc") if p.isdigit()}
    found, frontier = [], {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier}
        found += frontier
    return found


started = time.perf_counter()
from convoinsight.services import get_services
from convoinsight.sessions.export import ExportOptions, export_session
from convoinsight.settings import get_settings
services = get_services(get_settings())
ready = time.perf_counter()
rendered = export_session(services, sys.argv[1], sys.argv[2], ExportOptions(include_sql=True))
done = time.perf_counter()
workers = [hwm_mib(status(pid)) for pid in descendants(os.getpid())]
print(json.dumps({
    "export_s": round(done - ready, 3), "with_imports_s": round(done - started, 3), "pages": rendered.pages,
    "turns": rendered.turns_rendered, "partial": rendered.partial, "bytes": len(rendered.data),
    "self_peak_mib": hwm_mib(status("self")), "worker_peak_mib": max(workers, default=0.0),
}))
"""

def _session() -> str:
    from tests.conftest import function_client

    datasets, queries = function_client("datasets"), function_client("queries")
    h = {"X-User-Id": USER}
    sample = (REPO / "local_emulator" / "sample_data" / "sales.csv").read_bytes()
    assert datasets.post("/shop", headers=h, data={"file": (io.BytesIO(sample), "sales.csv")}).status_code == 201
    session_id, charts = None, 0
    for n in range(TURNS):
        body = {"domain": "shop", "prompt": QUESTIONS[n % len(QUESTIONS)], "model": "offline", "use_cache": False,
                **({"session_id": session_id} if session_id else {})}
        answer = queries.post("/", headers=h, json=body).get_json()
        if "session_id" not in answer:
            raise RuntimeError(f"the question failed: {answer}")
        session_id, charts = answer["session_id"], charts + bool(answer["chart"])
    assert charts == TURNS, f"only {charts} of {TURNS} answers have a chart"
    return session_id


def _export(session_id: str) -> dict:
    done = subprocess.run([sys.executable, "-c", CHILD, USER, session_id], cwd=REPO, env=dict(os.environ),
                          capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def run() -> dict:
    with local_stack():
        session_id = _session()
        cold = _export(session_id)
        warm = [_export(session_id) for _ in range(WARM_RUNS)]
    return {
        "turns": cold["turns"], "pages": cold["pages"], "pdf_kib": round(cold["bytes"] / 1024, 1),
        "cold_export_s": cold["export_s"], "cold_with_imports_s": cold["with_imports_s"],
        "warm_export_s_median": statistics.median(w["export_s"] for w in warm),
        "warm_with_imports_s_median": statistics.median(w["with_imports_s"] for w in warm),
        "self_peak_mib_max": max(r["self_peak_mib"] for r in (cold, *warm)),
        "render_worker_peak_mib": cold["worker_peak_mib"],
        "goal": "under 3 s and 300 MiB",
    }
