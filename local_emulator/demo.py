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
USER = {"X-User-Id": "alice"}  # the README's user: its curl lines find the demo's session


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
    """Ask the sample's questions as user ``alice`` in one session, export it to a PDF, and leave it there.

    The demo uses the stack of ``make dev`` when one answers on ``PORT`` (8080); otherwise it starts its own
    on the same ``LOCAL_STATE_DIR``, so ``make dev`` afterwards serves the conversation it left.
    """
    port = int(os.environ.get("PORT", "8080"))
    base = f"http://127.0.0.1:{port}/api/v1"
    proc = None
    if not _ready(base):
        port = free_port()
        base = f"http://127.0.0.1:{port}/api/v1"
        env = {**os.environ, "PORT": str(port), "LOG_LEVEL": "WARNING"}
        for name in ("LLM_MODEL", "LLM_API_BASE", "LLM_API_KEY", "POSTGRES_URL", "REDIS_URL"):
            env.pop(name, None)  # the demo runs on its own services with the offline planner
        proc = subprocess.Popen([sys.executable, "-m", "local_emulator"], cwd=REPO, env=env)
    try:
        if proc is not None and not _wait_ready(base, proc):
            return 1
        return _converse(base)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)


def _ready(base: str) -> bool:
    try:
        return requests.get(f"{base}/health/ready", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def _wait_ready(base: str, proc: subprocess.Popen) -> bool:
    deadline = time.monotonic() + 60
    while not _ready(base):
        if proc.poll() is not None:
            print("the emulator exited early", file=sys.stderr)
            return False
        if time.monotonic() > deadline:
            print("the emulator did not become ready in 60 s", file=sys.stderr)
            return False
        time.sleep(0.2)
    return True


def _converse(base: str) -> int:
    with SAMPLE.open("rb") as fh:
        up = requests.post(f"{base}/datasets/demo", headers=USER, files={"file": ("sales.csv", fh)}, timeout=60)
    up.raise_for_status()
    record = up.json()
    print(f"\nUploaded '{record['name']}' (version {record['version']}): {record['rows']} rows, columns "
          + ", ".join(c["name"] for c in record["columns"]))
    session_id = None
    for question in QUESTIONS:
        resp = requests.post(f"{base}/queries/", headers=USER, timeout=120,
                             json={"domain": "demo", "prompt": question, "model": "offline",
                                   **({"session_id": session_id} if session_id else {})})
        body = resp.json()
        if resp.status_code != 200:
            print(f"\n{question}\n  error: {body}", file=sys.stderr)
            return 1
        session_id = body["session_id"]
        print(f"\nQ: {question}\n\nSQL: {body['sql']}\n")
        print_table(body["table"])
        print(f"\n{body['answer']}\n")
        if body["chart"]:
            spec = body["chart"]["spec"]
            mark = spec["mark"]["type"] if isinstance(spec["mark"], dict) else spec["mark"]
            print(f"Chart {body['chart']['id']}: {mark}, {len(spec['data']['values'])} points bound")
        print("Follow-ups: " + " / ".join(body["follow_ups"]))
        print(f"Timings (ms): {body['timings']}")
    return _export(base, session_id)


def _export(base: str, session_id: str) -> int:
    resp = requests.post(f"{base}/sessions/{session_id}/export", headers=USER, json={"include_sql": True},
                         timeout=120)
    if resp.status_code != 200:
        print(f"\nexport failed: {resp.text}", file=sys.stderr)
        return 1
    target = Path(os.environ.get("LOCAL_STATE_DIR", REPO / ".local")).resolve() / "demo-session.pdf"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(resp.content)
    print(f"\nSession {session_id} kept for user alice ({len(QUESTIONS)} turns); "
          f"exported to {target} ({resp.headers.get('X-Export-Pages')} pages).")
    print("With `make dev` running, the README's sessions commands list, read, rename, export and delete it:")
    print(f"  curl -s http://127.0.0.1:8080/api/v1/sessions/{session_id} -H 'X-User-Id: alice'")
    return 0


if __name__ == "__main__":
    sys.exit(main())
