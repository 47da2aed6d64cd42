"""Agent prompts from ``prompts/<agent>.yaml``: loaded, checked, cached until the file changes."""

from __future__ import annotations

import json
import string
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from convoinsight.errors import ConfigError

AGENTS = ("router", "orchestrator", "manipulator", "visualizer", "analyzer", "compiler")
_REQUIRED = ("name", "version", "description", "parameters", "system", "user_template", "output_schema")


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

    @property
    def model(self) -> str:
        return str(self.parameters.get("model", ""))

    def messages(self, context: dict[str, Any]) -> list[dict[str, str]]:
        """The chat messages for one call; the context travels as a JSON block in the user turn."""
        user = string.Template(self.user_template).safe_substitute(
            context=json.dumps(context, ensure_ascii=False, default=str, indent=1)
        )
        return [{"role": "system", "content": self.system}, {"role": "user", "content": user}]


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


class PromptStore:
    """Reads prompt files on demand and re-reads one whose modification time changed."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, Prompt]] = {}

    def get(self, agent: str) -> Prompt:
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
                return cached[1]
        prompt = parse_prompt(yaml.safe_load(path.read_text(encoding="utf-8")), str(path))
        if prompt.name != agent:
            raise ConfigError(f"{path}: name must be {agent!r}")
        with self._lock:
            self._cache[agent] = (mtime, prompt)
        return prompt


@lru_cache(maxsize=4)
def prompt_store(directory: Path) -> PromptStore:
    """One store per prompts folder per process (it re-reads a file only when it changes)."""
    return PromptStore(directory)
