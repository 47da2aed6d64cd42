"""The README's curl commands work against `make dev`, and `make demo` prints a correct answer."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import polars as pl
import pytest

from tests.support.data import SALES_CSV

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


def readme_curl_commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", text, re.DOTALL)
    commands = []
    for block in blocks:
        joined = block.replace("\\\n", " ")
        commands += [line.strip() for line in joined.splitlines() if line.strip().startswith("curl ")]
    return commands


def test_readme_has_upload_list_and_ask_examples():
    commands = readme_curl_commands()
    assert any("-F file=@" in c for c in commands)
    assert any("/queries/" in c for c in commands)
    assert len(commands) >= 5


def test_every_readme_curl_command_works_against_the_emulator(emulator, postgres, tmp_path):
    from local_emulator import sample_source

    user = "readme-user"
    answer = None
    # What `make dev` creates when it starts its own PostgreSQL (this emulator is given the session's).
    sample = sample_source.ensure(postgres.port, tmp_path)
    for command in readme_curl_commands():
        command = command.replace("http://127.0.0.1:8080/api/v1", emulator.base).replace("alice", user)
        command = command.replace("@.local/sample-source.json", f"@{sample}")
        output = re.search(r" -o (\S+)", command)
        if output:  # a download: write it to a temp file and check that instead of stdout
            target = tmp_path / Path(output.group(1)).name
            done = subprocess.run(["bash", "-c", command.replace(output.group(1), str(target))], cwd=REPO,
                                  capture_output=True, text=True, timeout=60)
            assert done.returncode == 0 and pl.read_csv(target).height == 600, (command, done.stderr)
            continue
        # The README asks with the configured model; here the configured model is the stub, so ask offline.
        command = command.replace('"prompt":', '"model": "offline", "prompt":')
        done = subprocess.run(["bash", "-c", command + " -w '\\n%{http_code}'"], cwd=REPO, capture_output=True,
                              text=True, timeout=60)
        body, _, status = done.stdout.rpartition("\n")
        assert done.returncode == 0 and status in ("200", "201"), (command, done.stdout, done.stderr)
        assert "error" not in json.loads(body), body
        if "/queries/" in command:
            answer = json.loads(body)
            assert answer["sql_status"] == "ok" and answer["table"]["row_count"] == 4
        if command.startswith("curl -s -X DELETE") and command.rstrip("'").endswith("/datasets/demo"):
            assert json.loads(body)["deleted"]["domain"] == "demo"
    assert answer
    listing = subprocess.run(["curl", "-s", f"{emulator.base}/datasets/", "-H", f"X-User-Id: {user}"],
                             capture_output=True, text=True, timeout=30)
    assert json.loads(listing.stdout) == {"domains": []}  # the clean-up really removed everything


def test_make_demo_prints_the_correct_totals():
    state = Path(tempfile.mkdtemp(prefix="convoinsight-demo-"))
    os.chmod(state, 0o755)  # noqa: S103 - the postgres server user must traverse it
    env = {**os.environ, "LOCAL_STATE_DIR": str(state)}
    done = subprocess.run([sys.executable, "-m", "local_emulator.demo"], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    sales = pl.read_csv(SALES_CSV, try_parse_dates=True)
    for region, total in sales.group_by("Region").agg(pl.col("Revenue").sum()).iter_rows():
        assert re.search(rf"{region}\s+\|\s+{total:,.2f}", done.stdout), (region, total, done.stdout)
    monthly = sales.group_by(pl.col("Order Date").dt.truncate("1mo")).agg(pl.col("Revenue").sum())
    for month, total in monthly.iter_rows():
        assert re.search(rf"{month.isoformat()}\s+\|\s+{total:,.2f}", done.stdout), (month, total)
