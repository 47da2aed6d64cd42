"""Cold starts stay small: no function imports litellm, or connects anywhere, at module import."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PROBE = """
import json, sys, time
sys.path.insert(0, {folder!r})
started = time.perf_counter()
import main
print(json.dumps({{"seconds": time.perf_counter() - started,
                  "heavy": sorted(m for m in ("litellm", "redis", "pg8000", "openai", "jsonschema", "fpdf",
                                            "uharfbuzz", "markdown_it", "prometheus_client")
                                  if m in sys.modules)}}))
"""


@pytest.mark.parametrize("function", sorted(p.parent.name for p in (REPO / "functions").glob("*/main.py")))
def test_function_import_is_light(function):
    # No backend is configured: importing must not need one.
    env = {"PATH": "/usr/bin:/bin", "DEPLOYMENT_MODE": "local"}
    done = subprocess.run([sys.executable, "-c", PROBE.format(folder=str(REPO / "functions" / function))],
                          capture_output=True, text=True, timeout=60, env=env, cwd=REPO)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["heavy"] == [], f"{function} imports {report['heavy']} at cold start"
