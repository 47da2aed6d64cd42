"""Compact views of the state that go into prompts (bounded in size whatever the data)."""

from __future__ import annotations

from typing import Any

from convoinsight.pipeline.state import JobState

MAX_COLUMNS = 60
SAMPLE_ROWS = 3
HISTORY_TURNS = 4
RESULT_ROWS_FOR_ANALYSIS = 50


def dataset_view(profile: dict[str, Any]) -> dict[str, Any]:
    columns = profile["columns"][:MAX_COLUMNS]
    return {
        "name": profile["name"],
        "rows": profile["rows"],
        "columns": columns,
        "sample_rows": [row[:MAX_COLUMNS] for row in profile.get("sample_rows", [])[:SAMPLE_ROWS]],
    }


def history_view(state: JobState) -> list[dict[str, Any]]:
    return [
        {"question": t.get("question"), "sql": t.get("sql"), "answer": (t.get("answer") or "")[:500]}
        for t in state.history[-HISTORY_TURNS:]
    ]


def result_columns(state: JobState) -> list[dict[str, str]]:
    table = state.table or {}
    return [{"name": n, "dtype": t} for n, t in zip(table.get("columns", []), table.get("column_types", []),
                                                     strict=False)]
