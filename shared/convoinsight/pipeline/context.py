"""Compact views of the state that go into prompts (bounded in size whatever the data)."""

from __future__ import annotations

import re
from typing import Any

from convoinsight.pipeline.state import JobState

MAX_COLUMNS = 60
SAMPLE_ROWS = 3
HISTORY_TURNS = 4
RESULT_ROWS_FOR_ANALYSIS = 50
# What later agents see of a result, whatever its size: a bounded sample plus statistics of every column.
RESULT_SAMPLE_BYTES = 16 * 1024
RESULT_SAMPLE_CELL_CHARS = 200
RESULT_COLUMNS_FOR_AGENTS = 60


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
    if profile.get("source") == "postgres":  # a linked table: where it lives and how it joins
        view["source"] = "postgres"
        if profile.get("foreign_keys"):
            view["foreign_keys"] = profile["foreign_keys"]
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


def _cell(value: Any) -> Any:
    if isinstance(value, str) and len(value) > RESULT_SAMPLE_CELL_CHARS:
        return value[: RESULT_SAMPLE_CELL_CHARS - 1] + "…"
    if isinstance(value, (list, dict)):
        return _cell(str(value))
    return value


def result_sample(table: dict[str, Any], rows: int = RESULT_ROWS_FOR_ANALYSIS) -> list[list[Any]]:
    """The first ``rows`` rows with cut cells and at most RESULT_COLUMNS_FOR_AGENTS columns, within
    RESULT_SAMPLE_BYTES of JSON: what a prompt may quote of a result."""
    out: list[list[Any]] = []
    size = 0
    for row in table.get("rows", [])[:rows]:
        cut = [_cell(v) for v in row[:RESULT_COLUMNS_FOR_AGENTS]]
        size += sum(len(str(v)) + 4 for v in cut)
        if out and size > RESULT_SAMPLE_BYTES:
            break
        out.append(cut)
    return out


def result_stats(table: dict[str, Any]) -> list[dict[str, Any]]:
    """Per column of the returned rows: non-null count, distinct count, min/max (and mean for numbers)."""
    stats = []
    rows = table.get("rows", [])
    for i, (name, kind) in enumerate(zip(table.get("columns", [])[:RESULT_COLUMNS_FOR_AGENTS],
                                         table.get("column_types", []), strict=False)):
        values = [r[i] for r in rows if i < len(r) and r[i] is not None]
        entry: dict[str, Any] = {"name": name, "dtype": kind, "non_null": len(values)}
        numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if kind in ("integer", "float", "decimal") and numbers:
            entry.update(min=min(numbers), max=max(numbers), mean=round(sum(numbers) / len(numbers), 6))
        elif kind in ("date", "datetime", "time") and values:
            entry.update(min=min(map(str, values)), max=max(map(str, values)))
        else:
            entry["distinct"] = len({str(v) for v in values})
        stats.append(entry)
    return stats
