"""Compact views of the state that go into prompts (bounded in size whatever the data)."""

from __future__ import annotations

import re
from typing import Any

from convoinsight.pipeline.state import JobState

MAX_COLUMNS = 60
SAMPLE_ROWS = 3
HISTORY_TURNS = 4
RESULT_ROWS_FOR_ANALYSIS = 50


_WORD = re.compile(r"[a-z0-9]+")


def _words(text: str) -> set[str]:
    words = set(_WORD.findall(str(text).lower()))
    return words | {w[:-1] for w in words if len(w) > 3 and w.endswith("s")}  # crude plural folding


def _relevance(column: dict[str, Any], question_words: set[str]) -> int:
    names = _words(column["name"].replace("_", " ")) | _words(column.get("label", ""))
    values = set()
    for top in column.get("top_values", []):
        values |= _words(top["value"])
    return 3 * len(names & question_words) + len(values & question_words)


def dataset_view(profile: dict[str, Any], question: str = "") -> dict[str, Any]:
    """A dataset as prompts see it: for wide tables only the columns the question is most likely about.

    The prompt stays bounded whatever the width: at most MAX_COLUMNS columns, ranked by how many of
    the question's words their names, labels or frequent values share, then in table order.
    """
    columns = profile["columns"]
    keep = list(range(len(columns)))
    if len(columns) > MAX_COLUMNS:
        words = _words(question)
        ranked = sorted(keep, key=lambda i: (-_relevance(columns[i], words), i))
        keep = sorted(ranked[:MAX_COLUMNS])
    view = {
        "name": profile["name"],
        "rows": profile["rows"],
        "columns": [columns[i] for i in keep],
        "sample_rows": [[row[i] for i in keep if i < len(row)] for row in profile.get("sample_rows", [])[:SAMPLE_ROWS]],
    }
    if len(keep) < len(columns):
        view["columns_omitted"] = len(columns) - len(keep)
    return view


def history_view(state: JobState) -> list[dict[str, Any]]:
    return [
        {"question": t.get("question"), "sql": t.get("sql"), "answer": (t.get("answer") or "")[:500]}
        for t in state.history[-HISTORY_TURNS:]
    ]


def result_columns(state: JobState) -> list[dict[str, str]]:
    table = state.table or {}
    return [{"name": n, "dtype": t} for n, t in zip(table.get("columns", []), table.get("column_types", []),
                                                     strict=False)]
