"""``make demo``: start the stack, upload the bundled sample, ask offline, print the answer, stop."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import requests

from local_emulator.backing import free_port

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "local_emulator" / "sample_data" / "sales.csv"
QUESTIONS = ("What is the total revenue by region?", "Monthly revenue trend")


def print_table(table: dict) -> None:
    columns, rows = table["columns"], table["rows"]
    shown = [[_fmt(v) for v in row] for row in rows[:15]]
    widths = [max(len(str(c)), *(len(r[i]) for r in shown)) for i, c in enumerate(columns)]
    print("  " + " | ".join(str(c).ljust(w) for c, w in zip(columns, widths, strict=True)))
    print("  " + "-+-".join("-" * w for w in widths))
    for row in shown:
        print("  " + " | ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))
    if table["row_count"] > len(shown):
        print(f"  ... {table['row_count'] - len(shown)} more rows")


def _fmt(value) -> str:
    return f"{value:,.2f}" if isinstance(value, float) else str(value)


def main() -> int:
    port = free_port()
    state = Path(os.environ.get("LOCAL_STATE_DIR", REPO / ".local")).resolve() / "demo"
    env = {**os.environ, "PORT": str(port), "LOCAL_STATE_DIR": str(state), "LOG_LEVEL": "WARNING"}
    for name in ("LLM_MODEL", "LLM_API_BASE", "LLM_API_KEY", "POSTGRES_URL", "REDIS_URL"):
        env.pop(name, None)  # the demo runs on its own services with the offline planner
    base = f"http://127.0.0.1:{port}/api/v1"
    proc = subprocess.Popen([sys.executable, "-m", "local_emulator"], cwd=REPO, env=env)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                print("the emulator exited early", file=sys.stderr)
                return 1
            try:
                if requests.get(f"{base}/health/ready", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                print("the emulator did not become ready in 60 s", file=sys.stderr)
                return 1
            time.sleep(0.2)
        user = {"X-User-Id": "demo-user"}
        with SAMPLE.open("rb") as fh:
            up = requests.post(f"{base}/datasets/demo", headers=user, files={"file": ("sales.csv", fh)}, timeout=60)
        up.raise_for_status()
        record = up.json()
        print(f"\nUploaded '{record['name']}' (version {record['version']}): {record['rows']} rows, columns "
              + ", ".join(c["name"] for c in record["columns"]))
        for question in QUESTIONS:
            resp = requests.post(f"{base}/queries/", headers=user, timeout=120,
                                 json={"domain": "demo", "prompt": question, "model": "offline"})
            body = resp.json()
            if resp.status_code != 200:
                print(f"\n{question}\n  error: {body}", file=sys.stderr)
                return 1
            print(f"\nQ: {question}\n\nSQL: {body['sql']}\n")
            print_table(body["table"])
            print(f"\n{body['answer']}\n")
            if body["chart"]:
                spec = body["chart"]["spec"]
                mark = spec["mark"]["type"] if isinstance(spec["mark"], dict) else spec["mark"]
                print(f"Chart {body['chart']['id']}: {mark}, {len(spec['data']['values'])} points bound")
            print("Follow-ups: " + " / ".join(body["follow_ups"]))
            print(f"Timings (ms): {body['timings']}")
        return 0
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
