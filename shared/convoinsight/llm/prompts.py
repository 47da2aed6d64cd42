"""Agent prompts: the files ``prompts/<agent>.yaml`` are the defaults; an operator's edit overrides its file.

``PromptStore(directory)`` reads the files only (re-reading one whose modification
time changed, looked at no more than once per ``FILE_CHECK_SECONDS``: not a stat
per agent on every request). The process-wide store of ``prompt_store(directory)`` also serves
the edits kept in the document store (``convoinsight.llm.prompt_records``): it
caches the effective prompts and reads the "current" pointers again when the
generation in Redis moved, checking Redis at most every ``PROMPTS_CHECK_SECONDS``;
with Redis down or unset it reads them again every ``FALLBACK_FACTOR`` times that.
A store never fails a ``get`` for a backend it cannot reach: it serves what it
last knew (the files, before it ever read anything).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import string
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from convoinsight.errors import ConfigError

# The deployment's own files: libyaml's safe loader where PyYAML has it (about 9x faster at a cold start).
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

AGENTS = ("router", "orchestrator", "manipulator", "visualizer", "analyzer", "compiler")
_REQUIRED = ("name", "version", "description", "parameters", "system", "user_template", "output_schema")
FALLBACK_FACTOR = 5  # without Redis, pointers are read again every 5 checks (5 s by default)
FILE_CHECK_SECONDS = 1.0  # a prompt file's modification time is looked at most this often (an edit shows within it)
MAX_AGE_SECONDS = 60.0  # and at least this often whatever Redis says (a flushed Redis can repeat a generation)

log = logging.getLogger("convoinsight.prompts")


@dataclass(frozen=True)
class Prompt:
    name: str
    version: int
    description: str
    system: str
    user_template: str
    output_schema: dict[str, Any]
    parameters: dict[str, Any]
    fallbacks: tuple[str, ...]
    source: str = "file"  # "file": prompts/<agent>.yaml; "edit": an operator's stored version

    @property
    def model(self) -> str:
        return str(self.parameters.get("model", ""))

    def messages(self, context: dict[str, Any]) -> list[dict[str, str]]:
        """The chat messages for one call; the context travels as a JSON block in the user turn."""
        user = string.Template(self.user_template).safe_substitute(
            # Compact: fewer tokens, and json's C encoder (``indent`` falls back to the pure-Python one).
            context=json.dumps(context, ensure_ascii=False, default=str)
        )
        return [{"role": "system", "content": self.system}, {"role": "user", "content": user}]

    def data(self) -> dict[str, Any]:
        """The prompt in the shape of its YAML file."""
        return {"name": self.name, "version": self.version, "description": self.description,
                "parameters": dict(self.parameters), "fallbacks": list(self.fallbacks), "system": self.system,
                "user_template": self.user_template, "output_schema": self.output_schema}


def parse_prompt(data: Any, source: str) -> Prompt:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: a prompt file must be a mapping")
    missing = [k for k in _REQUIRED if k not in data]
    if missing:
        raise ConfigError(f"{source}: missing {', '.join(missing)}")
    if "$context" not in str(data["user_template"]):
        raise ConfigError(f"{source}: user_template must contain $context")
    schema = data["output_schema"]
    if not isinstance(schema, dict) or schema.get("type") != "object":
        raise ConfigError(f"{source}: output_schema must be a JSON schema of an object")
    params = data["parameters"]
    if not isinstance(params, dict):
        raise ConfigError(f"{source}: parameters must be a mapping")
    return Prompt(
        name=str(data["name"]),
        version=int(data["version"]),
        description=str(data["description"]),
        system=str(data["system"]),
        user_template=str(data["user_template"]),
        output_schema=schema,
        parameters=params,
        fallbacks=tuple(str(m) for m in data.get("fallbacks") or ()),
    )


def _current_services():
    # Imported on first use, never at import: a function's cold start does not build its services.
    from convoinsight.services import get_services
    from convoinsight.settings import get_settings

    return get_services(get_settings())


class PromptStore:
    """The agents' prompts: the files, and with ``services`` (a callable giving the Services) the stored edits."""

    def __init__(self, directory: Path, services: Callable[[], Any] | None = None, *,
                 file_check_seconds: float = FILE_CHECK_SECONDS):
        self.directory = Path(directory)
        self._services = services
        self._lock = threading.Lock()
        # agent -> (modification time, prompt, when the time was last looked at)
        self._cache: dict[str, tuple[float, Prompt, float]] = {}
        self._file_check_seconds = file_check_seconds
        # The current stored prompt of each agent that has one, as last read; replaced whole, never mutated,
        # so a get never sees half of a refresh.
        self._edits: dict[str, Prompt] = {}
        self._refresh_lock = threading.Lock()
        self._source: Any = None  # the Services the pointers were read from
        self._generation: Any = None
        self._redis_answered = True
        self._checked = self._loaded = float("-inf")
        self._force = True  # read the pointers at the next get, whatever the interval
        self._failing = False

    def file_prompt(self, agent: str) -> Prompt:
        """The default of ``agent``: its file, read again when its modification time changed."""
        now = time.monotonic()
        cached = self._cache.get(agent)
        if cached and now - cached[2] < self._file_check_seconds:
            return cached[1]  # looked at less than file_check_seconds ago: no stat on a request's path
        if agent not in AGENTS:
            raise ConfigError(f"unknown agent {agent!r}")
        path = self.directory / f"{agent}.yaml"
        try:
            mtime = path.stat().st_mtime
        except FileNotFoundError:
            raise ConfigError(f"prompt file {path} is missing") from None
        with self._lock:
            cached = self._cache.get(agent)
            if cached and cached[0] == mtime:
                self._cache[agent] = (mtime, cached[1], now)
                return cached[1]
        prompt = parse_prompt(yaml.load(path.read_text(encoding="utf-8"), Loader=_SAFE_LOADER), str(path))  # noqa: S506 - a safe loader
        if prompt.name != agent:
            raise ConfigError(f"{path}: name must be {agent!r}")
        with self._lock:
            self._cache[agent] = (mtime, prompt, now)
        return prompt

    def get(self, agent: str) -> Prompt:
        """The effective prompt of ``agent``: the current edit when there is one, else its file."""
        default = self.file_prompt(agent)
        return self.current_edits().get(agent) or default

    def current_edits(self) -> dict[str, Prompt]:
        """The stored edits in effect, by agent (read again when due); never mutated, so safe to keep."""
        if self._services is None:
            return {}
        self._refresh()
        return self._edits

    def pinned(self) -> PinnedPrompts:
        """A view that answers every ``get`` of one question with the same prompt (edits land between questions)."""
        return PinnedPrompts(self)

    def versions(self) -> dict[str, int]:
        return {agent: self.get(agent).version for agent in AGENTS}

    def invalidate(self) -> None:
        """This process changed a prompt: read the pointers again at the next ``get``."""
        self._force = True

    def _refresh(self) -> None:
        now = time.monotonic()
        interval = self._interval()
        if not self._force and now - self._checked < interval and self._same_source():
            return
        # One thread reads; the others keep serving what is known (unless nothing is yet).
        if not self._refresh_lock.acquire(blocking=self._source is None):
            return
        try:
            now = time.monotonic()
            if not self._force and now - self._checked < interval and self._same_source():
                return
            self._checked = now
            try:
                services = self._services()
            except Exception as exc:  # settings or backends unavailable: the files still answer
                self._fail(exc)
                return
            if services is not self._source:  # new settings (tests): nothing known holds any more
                self._source, self._edits, self._generation = services, {}, None
                self._force = True
            from convoinsight.llm import prompt_records as records

            answered, generation = records.generation(services.redis)
            if answered:
                records.retry_pending_bump(services.redis)
            # Redis back after an outage: a change made meanwhile may not have bumped the generation.
            back = answered and not self._redis_answered
            self._redis_answered = answered
            due = self._force or self._failing or back or now - self._loaded >= MAX_AGE_SECONDS or (
                generation != self._generation if answered else now - self._loaded >= interval * FALLBACK_FACTOR)
            if due:
                self._load(services, generation if answered else self._generation)
        finally:
            self._refresh_lock.release()

    def _same_source(self) -> bool:
        """Whether the services are still those the pointers were read from (new settings start afresh)."""
        try:
            return self._services() is self._source
        except Exception:  # unavailable: keep serving what is known until the interval says to look
            return True

    def _interval(self) -> float:
        source = self._source
        return float(getattr(getattr(source, "settings", None), "prompts_check_seconds", 1.0))

    def _load(self, services, generation: Any) -> None:
        from convoinsight.llm import prompt_records as records

        try:
            docs = services.documents
            edits: dict[str, Prompt] = {}
            for current in docs.list(records.POINTERS):
                agent = current.get("agent")
                if agent not in AGENTS or current.get("mode") != "stored":
                    continue
                version = int(current["version"])
                known = self._edits.get(agent)
                edits[agent] = known if known and known.version == version else self._read(docs, agent, version)
        except Exception as exc:
            self._fail(exc)
            return
        self._edits = {agent: prompt for agent, prompt in edits.items() if prompt is not None}
        self._generation, self._loaded, self._force = generation, time.monotonic(), False
        if self._failing:
            log.info("prompt edits are read again")
        self._failing = False

    @staticmethod
    def _read(docs, agent: str, version: int) -> Prompt | None:
        from convoinsight.llm import prompt_records as records

        doc = docs.get(records.versions(agent), records.version_id(version))
        if doc is None:
            log.error("prompt %s points at version %s, which is not stored: serving the file", agent, version)
            return None
        return dataclasses.replace(parse_prompt(records.prompt_data(doc), f"{agent} v{version}"),
                                   source=doc.get("source") or "edit")

    def _fail(self, exc: Exception) -> None:
        # Logged once per outage; the next check tries again.
        if not self._failing:
            log.warning("prompt edits could not be read (%s); serving the prompts last known",
                        type(exc).__name__)
        self._failing, self._force = True, False


class PinnedPrompts:
    """One question's prompts: the first ``get`` of each agent is kept (its version, cache keys and calls agree)."""

    def __init__(self, store: PromptStore):
        self.store = store
        self._seen: dict[str, Prompt] = {}
        self._edits: dict[str, Prompt] | None = None  # as of the question's first get: one check per question

    def get(self, agent: str) -> Prompt:
        prompt = self._seen.get(agent)
        if prompt is None:
            default = self.store.file_prompt(agent)
            if self._edits is None:
                self._edits = self.store.current_edits()
            prompt = self._seen[agent] = self._edits.get(agent) or default
        return prompt

    def file_prompt(self, agent: str) -> Prompt:
        return self.store.file_prompt(agent)

    def pinned(self) -> PinnedPrompts:
        return self

    def versions(self) -> dict[str, int]:
        return {agent: self.get(agent).version for agent in AGENTS}


@lru_cache(maxsize=4)
def prompt_store(directory: Path) -> PromptStore:
    """One store per prompts folder per process, serving the edits of the process's services."""
    return PromptStore(directory, _current_services)
