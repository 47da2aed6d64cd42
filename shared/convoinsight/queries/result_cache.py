"""Whole answers cached per tenant and domain.

The key holds everything an answer depends on: the normalised question, the
versions of the domain's datasets, the model, every agent's prompt version,
the chart hint, and the conversation's last turn (a follow-up means something
else in another conversation). It lives in the domain's cache scope, so any
write to a dataset of the domain invalidates it.
"""

from __future__ import annotations

import re
from typing import Any

from convoinsight.cache import Cache
from convoinsight.datasets import paths
from convoinsight.llm.prompts import AGENTS, PromptStore

_SPACES = re.compile(r"\s+")


def normalise(question: str) -> str:
    return _SPACES.sub(" ", question.strip().lower()).rstrip(" ?.!")


def key_parts(question: str, records: list[dict[str, Any]], model: str, prompts: PromptStore, chart: str,
              history: list[dict[str, Any]]) -> tuple:
    last = history[-1] if history else None
    return (
        "answer",
        normalise(question),
        sorted((r["name"], r["version"]) for r in records),
        model,
        [(agent, prompts.get(agent).version) for agent in AGENTS],
        chart,
        (last.get("question"), last.get("sql")) if last else None,
    )


def lookup(cache: Cache, user_id: str, domain: str, parts: tuple) -> tuple[str | None, dict[str, Any] | None]:
    return cache.get_json(user_id, paths.domain_scope(domain), "result", *parts)


def store(cache: Cache, key: str | None, answer: dict[str, Any]) -> None:
    cache.set_json(key, "result", answer)
