"""What stages may use besides the state: the model client, the tenant's tables, limits."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from convoinsight.llm.client import LLMClient
from convoinsight.llm.streaming import Draft
from convoinsight.llm.usage import UsageMeter
from convoinsight.pipeline.draft import TokenSink
from convoinsight.pipeline.state import JobState
from convoinsight.settings import Settings


@dataclass
class StageDeps:
    settings: Settings
    llm: LLMClient
    meter: UsageMeter
    # The engine's sources of the named datasets ({name: Parquet location}), bound to the job's tenant and
    # domain (and, for async jobs, the pinned versions) by whoever builds the deps.
    # Linked PostgreSQL tables are {"kind": "postgres", "link", "connection"} (see convoinsight.sources.federate).
    tables: Callable[[set[str]], dict[str, Any]]
    # Per-agent overrides after precedence (direct > domain > user > defaults), see llm/overrides.py.
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The SQL engine's worker pool (see convoinsight.sql.execute.engine_pool).
    engine: Any = None
    # Where the compiler's answer streams as it is written (pipeline/draft.py), or None: no streaming.
    tokens: TokenSink | None = None

    def run_sql(self, compiled, columns: dict[str, list[str]]):
        """Run compiled SQL where its tables live: the engine, the tenant's PostgreSQL, or both (federated)."""
        from convoinsight.sources.federate import run_question_sql
        from convoinsight.sql.execute import SqlLimits

        return run_question_sql(compiled, self.tables(set(compiled.tables)), SqlLimits.from_settings(self.settings),
                                self.engine, self.settings, columns)

    def ask(self, agent: str, context: dict[str, Any], state: JobState, draft: Draft | None = None) -> dict[str, Any]:
        return self.llm.complete_json(agent, context, model=state.model, meter=self.meter,
                                      override=self.overrides.get(agent), draft=draft)

    def reject(self, agent: str, context: dict[str, Any], state: JobState) -> None:
        """The reply to ``context`` was unusable: do not serve it from the cache again."""
        self.llm.forget(agent, context, model=state.model, override=self.overrides.get(agent))
