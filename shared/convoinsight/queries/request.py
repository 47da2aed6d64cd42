"""The ask request: validated with pydantic; unknown fields are refused (422)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from convoinsight.validation import validated

ChartHint = Literal["auto", "none", "bar", "line", "area", "scatter", "pie", "table"]


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, populate_by_name=True)

    domain: str = Field(min_length=1, max_length=64)
    prompt: str = Field(min_length=1, max_length=4000)
    session_id: str | None = Field(default=None, max_length=64)
    model: str | None = Field(default=None, max_length=200)
    mode: Literal["sync", "async", "auto"] = "sync"
    chart: ChartHint = "auto"
    use_cache: bool = True
    # Direct per-agent overrides for this question (highest precedence); validated by llm/overrides.py.
    agents: dict[str, Any] | None = None
    # The original API's fields: `provider` with `model` choose the model; `apiKey` pays for this one request
    # (sync only), never stored or logged.
    provider: str | None = Field(default=None, max_length=40)
    api_key: str | None = Field(default=None, alias="apiKey", min_length=8, max_length=512, repr=False)


def parse_ask(body: dict[str, Any]) -> AskRequest:
    return validated(AskRequest, body)
