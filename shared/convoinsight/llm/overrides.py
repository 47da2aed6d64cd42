"""Per-agent overrides of the prompt defaults, with precedence direct > domain > user > defaults.

A user may keep overrides for all their domains and for one domain, and may
send them with a question (direct). For each agent and each field the
highest level that sets it wins. ``instructions`` are appended to the agent's
system prompt; they cannot change its output contract, and whatever the model
returns still passes the same validation and SQL guard.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from convoinsight.llm.prompts import AGENTS, Prompt
from convoinsight.validation import validated

Agent = Literal["router", "orchestrator", "manipulator", "visualizer", "analyzer", "compiler"]


class AgentOverride(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    instructions: str | None = Field(default=None, max_length=2000)
    temperature: float | None = Field(default=None, ge=0, le=2)
    model: str | None = Field(default=None, max_length=200)
    reasoning_effort: Literal["low", "medium", "high"] | None = None


class Overrides(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agents: dict[Agent, AgentOverride] = Field(default_factory=dict)


def parse_overrides(value: Any) -> Overrides:
    return validated(Overrides, value or {}, code="invalid_overrides")


def merge(*levels: Overrides | None) -> dict[str, dict[str, Any]]:
    """Levels from lowest to highest precedence -> {agent: {field: value}} of the fields that are set."""
    merged: dict[str, dict[str, Any]] = {}
    for level in levels:
        if level is None:
            continue
        for agent, override in level.agents.items():
            merged.setdefault(agent, {}).update(override.model_dump(exclude_none=True))
    return {agent: fields for agent, fields in merged.items() if fields and agent in AGENTS}


def apply(prompt: Prompt, override: dict[str, Any] | None) -> Prompt:
    """The prompt as this request sees it: parameters replaced, instructions appended to the system prompt."""
    if not override:
        return prompt
    parameters = {**prompt.parameters, **{k: v for k, v in override.items() if k in ("temperature",
                                                                                      "reasoning_effort")}}
    system = prompt.system
    if override.get("instructions"):
        system = f"{system}\n\nAdditional instructions from the user (the output rules above still apply):\n" \
                 f"{override['instructions']}"
    return dataclasses.replace(prompt, system=system, parameters=parameters)


def save(services, user_id: str, location: tuple[str, str], doc: dict[str, Any]) -> None:
    """Store the overrides at ``location`` (``user_location`` or ``domain_location`` of ``user_id``). Questions
    read them from the cache (queries/ask.py): the write bumps the tenant's settings scope, whatever its outcome."""
    from convoinsight.cache import CONFIG_SCOPE

    try:
        services.documents.put(*location, doc)
    finally:
        services.cache.invalidate(user_id, CONFIG_SCOPE)


def user_location(user_id: str) -> tuple[str, str]:
    return f"tenants/{user_id}/config", "agents"


def domain_location(user_id: str, domain: str) -> tuple[str, str]:
    return f"tenants/{user_id}/domains/{domain}/config", "agents"
