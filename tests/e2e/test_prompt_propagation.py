"""A prompt edited through one process changes the answers of another, running one, within seconds.

This test process edits through the in-process ``prompts`` function; the emulator
(a subprocess on the same PostgreSQL and Redis) answers the questions over HTTP.
Nothing restarts: the emulator learns of each change from the generation in Redis.
"""

from __future__ import annotations

import time
import uuid

import pytest
import requests

from tests.conftest import function_client
from tests.support.data import SALES_CSV
from tests.unit.test_prompt_editing import FILES, QUESTION, body_of, from_answer_cache, reset_prompts, script

pytestmark = pytest.mark.slow

ADMIN = {"X-User-Id": "ops-e2e", "X-User-Role": "admin"}


def emulator_version(emulator, name: str) -> int:
    resp = requests.get(emulator.url("prompts", f"/{name}"), headers={"X-User-Id": "reader"}, timeout=10)
    assert resp.status_code == 200, resp.text
    return resp.json()["version"]


def wait_for_version(emulator, name: str, version: int, timeout: float = 5) -> float:
    started = time.monotonic()
    while emulator_version(emulator, name) != version:
        assert time.monotonic() - started < timeout, f"the emulator still serves another version of {name}"
        time.sleep(0.02)
    return time.monotonic() - started


def ask(emulator, user: str, **extra) -> dict:
    resp = requests.post(emulator.url("queries", "/"), headers={"X-User-Id": user}, json={**QUESTION, **extra},
                         timeout=60)
    assert resp.status_code == 200, resp.text
    return resp.json()


def compiler_system(stub) -> str:
    return stub.calls("compiler")[-1]["body"]["messages"][0]["content"]


@pytest.fixture
def clean_prompts(emulator, local_env):
    reset_prompts(local_env)
    wait_for_version(emulator, "compiler", FILES.file_prompt("compiler").version)
    yield function_client("prompts")
    reset_prompts(local_env)
    wait_for_version(emulator, "compiler", FILES.file_prompt("compiler").version)  # later tests see the files


def test_an_edit_in_one_process_changes_the_next_answer_of_another_and_a_rollback_restores_it(
        emulator, clean_prompts, stub):
    prompts, user = clean_prompts, f"e2e-{uuid.uuid4().hex[:10]}"
    script(stub)
    resp = requests.post(emulator.url("datasets", "/shop"), headers={"X-User-Id": user},
                         files={"file": ("sales.csv", SALES_CSV.read_bytes())}, timeout=30)
    assert resp.status_code == 201, resp.text
    first = ask(emulator, user)
    assert first["prompt_versions"]["compiler"] == 1 and "ELSEWHERE" not in compiler_system(stub)

    edit = prompts.put("/compiler", headers=ADMIN, json=body_of("compiler", system="Compile. EDITED-ELSEWHERE"))
    assert edit.status_code == 200 and edit.get_json()["version"] == 2
    seen = wait_for_version(emulator, "compiler", 2)
    answer = ask(emulator, user)
    assert not from_answer_cache(answer) and answer["prompt_versions"]["compiler"] == 2
    assert compiler_system(stub) == "Compile. EDITED-ELSEWHERE"  # the emulator's model call used the edit

    assert prompts.post("/compiler/rollback", headers=ADMIN, json={"version": 1}).status_code == 200
    restored = wait_for_version(emulator, "compiler", 1)
    calls = len(stub.calls("compiler"))
    assert from_answer_cache(ask(emulator, user))  # the file's prompt again: its cached answer again
    fresh = ask(emulator, user, prompt="revenue per region, again")  # a new question: the model is asked
    assert fresh["prompt_versions"]["compiler"] == 1 and len(stub.calls("compiler")) == calls + 1
    assert compiler_system(stub) == FILES.file_prompt("compiler").system
    print(f"\nanother process saw the edit after {seen:.2f}s and the rollback after {restored:.2f}s")
    assert seen < 3 and restored < 3  # PROMPTS_CHECK_SECONDS is 1 there
