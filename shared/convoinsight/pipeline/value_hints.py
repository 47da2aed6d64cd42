"""Values the question names that the profile does not know, looked up in the data before the SQL is written.

A profile keeps only the 10 most frequent values of a text column, so in a large table "flights for carrier HA"
or "life expectancy in Norway" names a value no prompt has seen: a model guesses its spelling and the offline
planner cannot place it at all. So, as WrenAI and Vanna do, the server looks the question's unknown words up in
the data first, with one bounded statement (a few text columns, a few terms, LIMIT, a short time limit, through
the same guard and engine workers as any question), and hands what it finds to the manipulator as
``value_hints``: ``[{"table", "column", "value"}]``, the value as stored.

Only uploaded datasets are searched: a linked PostgreSQL table is the tenant's own database, which a question's
hint is not worth a scan of. Any failure (a refusal, a timeout) just means no hints.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import time
from typing import Any

from convoinsight.errors import SqlExecutionError, SqlRefused
from convoinsight.llm.offline.planner import lit, qi
from convoinsight.llm.offline.question import (
    AGG_WORDS,
    ASC_WORDS,
    DERIVED,
    DESC_WORDS,
    DISTINCT_WORDS,
    NUMBER_WORDS,
    SHARE_WORDS,
    STOPWORDS,
    UNIT_WORDS,
    name_words,
    singular,
)

log = logging.getLogger("convoinsight.pipeline")

MAX_HITS = 50  # rows the lookup returns at most: hints, not a listing
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'&-]*")
_VOCABULARY = (set(AGG_WORDS) | DESC_WORDS | ASC_WORDS | SHARE_WORDS | DISTINCT_WORDS | set(NUMBER_WORDS)
               | set(UNIT_WORDS) | DERIVED | {"count", "number", "trend", "time", "times", "average", "rows"})


def _names(datasets: list[dict[str, Any]]) -> set[str]:
    """Words that name a table or a column, lower-cased and singular."""
    words = set()
    for d in datasets:
        words |= name_words(d["name"])
        for c in d.get("columns") or []:
            words |= name_words(c["name"]) | name_words(c.get("label") or "")
    return words


def _listed(column: dict[str, Any]) -> set[str]:
    return {str(t["value"]).lower() for t in column.get("top_values") or [] if isinstance(t, dict)}


def terms(question: str, datasets: list[dict[str, Any]], limit: int) -> list[str]:
    """Lower-cased words and phrases of up to three words that may be values: not grammar, not the planner's
    vocabulary, not a table's or column's name, not a bare number."""
    words = _names(datasets)
    spans = [m.group() for m in _WORD.finditer(question or "")]

    def candidate(word: str) -> bool:
        low = word.lower()
        if low in STOPWORDS:  # "US" or "AS" (carriers) count only when written as codes
            return word.isupper() and len(word) >= 2
        return not low.isdigit() and low not in _VOCABULARY and singular(low) not in words

    out: list[str] = []
    run: list[str] = []
    for word in [*spans, ""]:
        if word and candidate(word):
            run.append(word.lower())
            continue
        for size in (3, 2, 1):
            for i in range(len(run) - size + 1):
                phrase = " ".join(run[i:i + size])
                if phrase not in out:
                    out.append(phrase)
        run = []
    return out[:limit]


def _columns(datasets: list[dict[str, Any]], limit: int) -> list[tuple[str, dict[str, Any]]]:
    """Text columns whose profile does not list every value, fewest distinct values first (categories before
    free text), at most ``limit``."""
    found = []
    for d in datasets:
        if d.get("source") == "postgres":
            continue
        for c in d.get("columns") or []:
            listed = len(c.get("top_values") or [])
            if c.get("dtype") == "string" and int(c.get("distinct") or 0) > listed:
                found.append((int(c.get("distinct") or 0), d["name"], c["name"], c))
    return [(t, c) for _, t, _, c in sorted(found, key=lambda f: f[:3])[:limit]]


def lookup_sql(question: str, datasets: list[dict[str, Any]], max_columns: int, max_terms: int) -> str | None:
    """The one statement that finds the question's terms among the stored values, or None: nothing to look up."""
    if max_columns <= 0:
        return None
    cols = _columns(datasets, max_columns)
    found = terms(question, datasets, max_terms) if cols else []
    if not found:
        return None
    parts = []
    for table, col in cols:
        wanted = [t for t in found if t not in _listed(col)]  # a value this column's profile lists is known
        if wanted:
            name = col["name"]
            parts.append(f"SELECT {lit(table)} AS t, {lit(name)} AS c, {qi(name)} AS v FROM {qi(table)} "  # noqa: S608
                         f"WHERE LOWER({qi(name)}) IN ({', '.join(lit(t) for t in wanted)}) GROUP BY {qi(name)}")
    if not parts:
        return None
    return f"SELECT t, c, v FROM ({' UNION ALL '.join(parts)}) AS hits LIMIT {MAX_HITS}"  # noqa: S608


def find(question: str, datasets: list[dict[str, Any]], deps) -> tuple[list[dict[str, str]], float]:
    """The hints for ``question`` over ``datasets`` (profiles), run in the engine's workers under its limits, and
    the milliseconds its statement took (0.0 when there was nothing to look up)."""
    from convoinsight.sql.compile import compile_select, table_info
    from convoinsight.sql.execute import SqlLimits, run_select

    settings = deps.settings
    sql = lookup_sql(question, datasets, settings.value_lookup_columns, settings.value_lookup_terms)
    if sql is None:
        return [], 0.0
    started = time.perf_counter()
    limits = SqlLimits.from_settings(settings)
    limits = dataclasses.replace(limits, timeout_s=min(limits.timeout_s, settings.value_lookup_timeout_seconds),
                                 max_rows=min(limits.max_rows, MAX_HITS))
    try:
        compiled = compile_select(sql, {d["name"]: table_info(d) for d in datasets})
        result = run_select(compiled, deps.tables(set(compiled.tables)), limits, deps.engine)
    except (SqlRefused, SqlExecutionError) as exc:
        log.warning("value lookup skipped: %s", exc.message)
        return [], round((time.perf_counter() - started) * 1000, 2)
    hints = [{"table": t, "column": c, "value": v} for t, c, v in result.rows if isinstance(v, str)]
    return hints, round((time.perf_counter() - started) * 1000, 2)
