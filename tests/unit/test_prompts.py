"""Every prompt file parses, validates and renders; a changed file is reloaded."""

from __future__ import annotations

import json
import os
import shutil
import time
import types

import pytest
import yaml

from convoinsight.errors import ConfigError
from convoinsight.llm import prompts
from convoinsight.llm.prompts import AGENTS, FILE_CHECK_SECONDS, PromptStore, parse_prompt
from convoinsight.settings import DEFAULT_PROMPTS_DIR


@pytest.mark.parametrize("agent", AGENTS)
def test_each_agent_prompt_is_valid_and_renders_the_context_as_json(agent):
    prompt = PromptStore(DEFAULT_PROMPTS_DIR).get(agent)
    assert prompt.name == agent and prompt.version >= 1 and prompt.description
    assert prompt.output_schema["type"] == "object" and prompt.output_schema["required"]
    messages = prompt.messages({"question": "Total revenue in 'North' ${x}?"})
    assert messages[0] == {"role": "system", "content": prompt.system}
    body = messages[1]["content"]
    inner = body[body.index("```json") + 7: body.rindex("```")]
    assert json.loads(inner) == {"question": "Total revenue in 'North' ${x}?"}


def test_no_stray_prompt_files():
    assert sorted(p.stem for p in DEFAULT_PROMPTS_DIR.glob("*.yaml")) == sorted(AGENTS)


@pytest.mark.parametrize("broken", [
    {},
    {"name": "router"},
    "just text",
])
def test_invalid_prompt_files_are_refused(broken):
    with pytest.raises(ConfigError):
        parse_prompt(broken, "test.yaml")


def _edit_router_file(folder) -> None:
    """router.yaml as version 2, with a modification time that cannot equal the one already read."""
    path = folder / "router.yaml"
    data = yaml.safe_load(path.read_text())
    data["version"] = 2
    path.write_text(yaml.safe_dump(data))
    later = time.time() + 5
    os.utime(path, (later, later))


def test_a_changed_file_is_reloaded(tmp_path):
    shutil.copytree(DEFAULT_PROMPTS_DIR, tmp_path / "prompts")
    store = PromptStore(tmp_path / "prompts", file_check_seconds=0)
    assert store.get("router").version == 1
    _edit_router_file(tmp_path / "prompts")
    assert store.get("router").version == 2


def test_a_changed_file_shows_once_its_check_interval_passed(tmp_path, monkeypatch):
    """The files' times are looked at once per FILE_CHECK_SECONDS, not on every request's gets."""
    shutil.copytree(DEFAULT_PROMPTS_DIR, tmp_path / "prompts")
    clock = [1000.0]
    monkeypatch.setattr(prompts, "time", types.SimpleNamespace(monotonic=lambda: clock[0]))
    store = PromptStore(tmp_path / "prompts")
    assert store.get("router").version == 1
    _edit_router_file(tmp_path / "prompts")
    clock[0] += FILE_CHECK_SECONDS / 2
    assert store.get("router").version == 1  # within the interval: what was read
    clock[0] += FILE_CHECK_SECONDS
    assert store.get("router").version == 2


class _Documents:
    """The two collections the store reads: the pointers and the versions of the one edited agent."""

    def __init__(self, edits: dict[str, str]):
        from convoinsight.llm import prompt_records as records

        self.records = records
        self.pointers = [records.pointer(agent, mode="stored", version=2, source="edit", seq=1, user_id="admin",
                                         at="2026-12-04T00:00:00Z") for agent in edits]
        base = yaml.safe_load((DEFAULT_PROMPTS_DIR / "router.yaml").read_text(encoding="utf-8"))
        self.versions = {records.versions(agent): records.version_doc(
            agent, 2, {**base, "name": agent, "system": system}, source="edit", created_at=None, created_by=None,
            note=None) for agent, system in edits.items()}

    def list(self, collection):
        assert collection == self.records.POINTERS
        return list(self.pointers)

    def get(self, collection, doc_id):
        return self.versions.get(collection)


def _services(edits: dict[str, str]):
    return types.SimpleNamespace(settings=types.SimpleNamespace(prompts_check_seconds=3600.0), redis=None,
                                 documents=_Documents(edits))


def test_new_services_are_read_at_once_whatever_the_interval():
    # New settings (another deployment's backends, a test's) must not serve the old backends' edits until
    # the interval ends: a request made just after the switch reads the new pointers.
    first, second = _services({}), _services({"router": "Route. SECOND"})
    current = [first]
    store = PromptStore(DEFAULT_PROMPTS_DIR, lambda: current[0])
    assert store.get("router").source == "file"
    current[0] = second
    prompt = store.get("router")
    assert (prompt.version, prompt.system) == (2, "Route. SECOND")
    for _ in range(100):  # and with the same services, the interval holds: no read per get
        store.get("router")
    second.documents.pointers = []
    assert store.get("router").version == 2


def test_one_question_checks_for_edits_once_and_sees_them_all_from_one_snapshot():
    # A question's agents get their prompts from one look at the edits: a check per agent would cost a
    # question six, and an edit landing between two of them would mix two deployments' prompts in one answer.
    services, calls = _services({"router": "Route. EDIT", "compiler": "Compile. EDIT"}), []

    def counted():
        calls.append(1)
        return services

    store = PromptStore(DEFAULT_PROMPTS_DIR, counted)
    store.get("router")  # the first read, outside any question
    calls.clear()
    pinned = store.pinned()
    got = {agent: pinned.get(agent) for agent in AGENTS}
    assert len(calls) == 1
    assert got["router"].system == "Route. EDIT" and got["compiler"].system == "Compile. EDIT"
    assert got["analyzer"].source == "file" and pinned.get("router") is got["router"]
    services.documents.pointers = []  # an edit rolled back meanwhile: the question keeps what it started with
    store.invalidate()
    assert pinned.get("compiler").system == "Compile. EDIT" and store.get("compiler").source == "file"
