"""The ask request: validated with pydantic; unknown fields are refused (422)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from convoinsight.validation import validated

ChartHint = Literal["auto", "none", "bar", "line", "area", "scatter", "pie", "table"]


IGNORED_FIELDS = ("userId", "user_id")  # the original API's identity field: accepted and ignored


def _document_ignored_fields(schema: dict[str, Any]) -> None:
    for key in IGNORED_FIELDS:
        schema.setdefault("properties", {})[key] = {
            "deprecated": True, "description": "Ignored (the original API's field): the identity comes from "
                                               "authentication"}


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, populate_by_name=True,
                              json_schema_extra=_document_ignored_fields)

    domain: str = Field(min_length=1, max_length=64)
    prompt: str = Field(min_length=1, max_length=4000)
    session_id: str | None = Field(default=None, max_length=64)
    model: str | None = Field(default=None, max_length=200)
    mode: Literal["sync", "async", "auto"] = "sync"
    chart: ChartHint = "auto"
    use_cache: bool = True
    # Server-sent events on the response itself (queries/streaming.py): progress, the answer's draft as
    # token events, then the answer. Sync questions only (an async job streams on its events_url).
    stream: bool = False
    # Direct per-agent overrides for this question (highest precedence); validated by llm/overrides.py.
    agents: dict[str, Any] | None = None
    # The original API's fields: `provider` with `model` choose the model; `apiKey` pays for this one request
    # (sync only), never stored or logged.
    provider: str | None = Field(default=None, max_length=40)
    api_key: str | None = Field(default=None, alias="apiKey", min_length=8, max_length=512, repr=False)

    @model_validator(mode="before")
    @classmethod
    def _drop_legacy_user_id(cls, data: Any) -> Any:
        """The original API's ``userId`` (or ``user_id``): accepted whatever it holds, then dropped unread. Whose
        data a question reads comes from authentication alone; the model has no such field, so nothing can read,
        keep or log it."""
        if isinstance(data, dict) and any(key in data for key in IGNORED_FIELDS):
            return {key: value for key, value in data.items() if key not in IGNORED_FIELDS}
        return data


def parse_ask(body: dict[str, Any]) -> AskRequest:
    return validated(AskRequest, body)
