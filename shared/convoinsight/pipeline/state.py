"""The job state every stage reads and updates. Plain data: it can be stored between stages."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

STAGES = ("router", "orchestrator", "manipulator", "visualizer", "analyzer", "compiler")


class JobState(BaseModel):
    model_config = ConfigDict(extra="forbid")

    job_id: str
    user_id: str
    domain: str
    question: str
    session_id: str
    model: str | None = None
    chart_hint: str = "auto"
    history: list[dict[str, Any]] = Field(default_factory=list)
    # Profiles of the domain's datasets: {"name", "version", "rows", "columns", "sample_rows"}.
    datasets: list[dict[str, Any]] = Field(default_factory=list)
    # The version of each agent's prompt when the question was accepted (what its answer was cached under).
    prompt_versions: dict[str, int] = Field(default_factory=dict)

    route: dict[str, Any] | None = None
    plan: dict[str, Any] | None = None
    sql: str | None = None
    explanation: str = ""
    sql_status: str | None = None  # ok | refused | failed | unanswerable
    sql_error: dict[str, Any] | None = None  # {"code", "message", "stage": guard|execute|timeout|limit}
    sql_attempts: int = 0
    sql_ms: float = 0.0  # guard + execution time of the SQL that produced the table
    lookup_ms: float = 0.0  # the value lookup before the manipulator wrote its SQL (pipeline/value_hints.py)
    table: dict[str, Any] | None = None
    # Statistics of the whole result computed by the engine (analysis/whole_result.py), None when unavailable.
    result_stats: dict[str, Any] | None = None
    chart: dict[str, Any] | None = None  # {"spec": <Vega-Lite with data bound>, "title": str}
    analysis: dict[str, Any] | None = None
    answer: str = ""
    follow_ups: list[str] = Field(default_factory=list)
    # Every number in the prose equals a cell or a whole-result aggregate of the result (None: no table).
    verified: bool | None = None
    timings: dict[str, float] = Field(default_factory=dict)

    def dataset(self, name: str) -> dict[str, Any] | None:
        return next((d for d in self.datasets if d["name"] == name), None)

    def routed_datasets(self) -> list[dict[str, Any]]:
        names = (self.route or {}).get("datasets") or []
        chosen = [d for d in self.datasets if d["name"] in names]
        return chosen or self.datasets
