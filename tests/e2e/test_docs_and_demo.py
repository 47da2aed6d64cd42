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


ASSIGN = re.compile(r"^([A-Z_]+)=\$\((curl .*)\)$")  # SESSION=$(curl ... | python3 -c ...): kept for later lines


def readme_curl_commands() -> list[str]:
    text = (REPO / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", text, re.DOTALL)
    commands = []
    for block in blocks:
        joined = block.replace("\\\n", " ")
        commands += [line.strip() for line in joined.splitlines()
                     if line.strip().startswith("curl ") or ASSIGN.match(line.strip())]
    return commands


def check_download(target: Path) -> None:
    if target.suffix == ".pdf":  # a session's export: a real PDF with the renamed title on its first page
        from pypdf import PdfReader

        reader = PdfReader(target)
        assert len(reader.pages) >= 2 and "Revenue review" in reader.pages[0].extract_text()
    else:
        assert pl.read_csv(target).height == 600


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
    env = dict(os.environ)
    for command in readme_curl_commands():
        command = command.replace("http://127.0.0.1:8080/api/v1", emulator.base).replace("alice", user)
        command = command.replace("@.local/sample-source.json", f"@{sample}")
        assign = ASSIGN.match(command)
        if assign:  # a shell variable later lines use: run it and keep its value
            done = subprocess.run(["bash", "-c", f'{command}; printf %s "${assign.group(1)}"'], cwd=REPO, env=env,
                                  capture_output=True, text=True, timeout=60)
            assert done.returncode == 0 and done.stdout.strip(), (command, done.stdout, done.stderr)
            env[assign.group(1)] = done.stdout.strip()
            continue
        output = re.search(r" -o (\S+)", command)
        if output:  # a download: write it to a temp file and check that instead of stdout
            target = tmp_path / Path(output.group(1)).name
            done = subprocess.run(["bash", "-c", command.replace(output.group(1), str(target))], cwd=REPO, env=env,
                                  capture_output=True, text=True, timeout=60)
            assert done.returncode == 0, (command, done.stderr)
            check_download(target)
            continue
        # The README asks with the configured model; here the configured model is the stub, so ask offline.
        command = command.replace('"prompt":', '"model": "offline", "prompt":')
        done = subprocess.run(["bash", "-c", command + " -w '\\n%{http_code}'"], cwd=REPO, capture_output=True,
                              env=env, text=True, timeout=60)
        body, _, status = done.stdout.rpartition("\n")
        assert done.returncode == 0 and status in ("200", "201"), (command, done.stdout, done.stderr)
        assert "error" not in json.loads(body), body
        if "/queries/" in command:
            answer = json.loads(body)
            assert answer["sql_status"] == "ok" and answer["table"]["row_count"] == 4
        if command.startswith("curl -s -X DELETE") and command.rstrip("'").endswith("/datasets/demo"):
            assert json.loads(body)["deleted"]["domain"] == "demo"
        if "/sessions/$SESSION" in command and command.startswith("curl -s -X DELETE"):
            assert json.loads(body)["deleted"] is True and json.loads(body)["messages"] >= 2
        if command.startswith("curl -s -X PATCH") and "/sessions/" in command:
            assert json.loads(body)["title"] == "Revenue review"
    assert answer
    listing = subprocess.run(["curl", "-s", f"{emulator.base}/datasets/", "-H", f"X-User-Id: {user}"],
                             capture_output=True, text=True, timeout=30)
    assert json.loads(listing.stdout) == {"domains": []}  # the clean-up really removed everything


def test_make_demo_prints_the_correct_totals():
    state = Path(tempfile.mkdtemp(prefix="convoinsight-demo-"))
    os.chmod(state, 0o755)  # noqa: S103 - the postgres server user must traverse it
    from local_emulator.backing import free_port

    # PORT names a port nothing listens on: the demo starts its own stack instead of using a running `make dev`.
    env = {**os.environ, "LOCAL_STATE_DIR": str(state), "PORT": str(free_port())}
    done = subprocess.run([sys.executable, "-m", "local_emulator.demo"], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    # One session of two turns, exported: the PDF holds both questions and the SQL.
    from pypdf import PdfReader

    text = " ".join(page.extract_text() for page in PdfReader(state / "demo-session.pdf").pages)
    for question in ("What is the total revenue by region?", "Monthly revenue trend"):
        assert question in text
    assert "SUM(" in text.upper() and re.search(r"Session [0-9a-f]{32} kept for user alice \(2 turns\)", done.stdout)
    sales = pl.read_csv(SALES_CSV, try_parse_dates=True)
    for region, total in sales.group_by("Region").agg(pl.col("Revenue").sum()).iter_rows():
        assert re.search(rf"{region}\s+\|\s+{total:,.2f}", done.stdout), (region, total, done.stdout)
    monthly = sales.group_by(pl.col("Order Date").dt.truncate("1mo")).agg(pl.col("Revenue").sum())
    for month, total in monthly.iter_rows():
        assert re.search(rf"{month.isoformat()}\s+\|\s+{total:,.2f}", done.stdout), (month, total)
