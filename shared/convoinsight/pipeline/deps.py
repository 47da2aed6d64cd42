"""What stages may use besides the state: the model client, the tenant's tables, limits."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from convoinsight.llm.client import LLMClient
from convoinsight.llm.usage import UsageMeter
from convoinsight.pipeline.state import JobState
from convoinsight.settings import Settings


@dataclass
class StageDeps:
    settings: Settings
    llm: LLMClient
    meter: UsageMeter
    # Lazy frames of the named datasets, bound to the job's tenant and domain by whoever builds the deps.
    frames: Callable[[set[str]], dict[str, pl.LazyFrame]]
    # Per-agent overrides after precedence (direct > domain > user > defaults), see llm/overrides.py.
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)

    def ask(self, agent: str, context: dict[str, Any], state: JobState) -> dict[str, Any]:
        return self.llm.complete_json(agent, context, model=state.model, meter=self.meter,
                                      override=self.overrides.get(agent))

    def reject(self, agent: str, context: dict[str, Any], state: JobState) -> None:
        """The reply to ``context`` was unusable: do not serve it from the cache again."""
        self.llm.forget(agent, context, model=state.model, override=self.overrides.get(agent))
