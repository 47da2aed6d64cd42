"""Which classes of PostgreSQL features a gold query exercises, found from its text (for coverage counts)."""

from __future__ import annotations

import re
from types import ModuleType

CLASSES: dict[str, str] = {
    "join": r"\bjoin\b",
    "left_join": r"\bleft\s+(outer\s+)?join\b",
    "join_using": r"\busing\s*\(",
    "cte": r"^\s*with\b",
    "cte_multi_level": r"^\s*with\b[\s\S]*\)\s*,\s*\w+\s+as\s*\(",
    "subquery": r"\(\s*select\b",
    "exists": r"(?<!not )\bexists\s*\(",
    "not_exists": r"\bnot\s+exists\s*\(",
    "in_subquery": r"\bin\s*\(\s*select\b",
    "set_operation": r"\b(union|intersect|except)\b",
    "window": r"\bover\s*\(",
    "window_ranking": r"\b(row_number|rank|dense_rank|ntile)\s*\(",
    "window_lag_lead": r"\b(lag|lead)\s*\(",
    "window_frame": r"\b(rows|range)\s+between\b",
    "window_percent_rank_first_value": r"\b(percent_rank|cume_dist|first_value|last_value)\s*\(",
    "window_share_of_total": r"\bover\s*\(\s*\)",
    "date_trunc": r"\bdate_trunc\s*\(",
    "extract_date_part": r"\b(extract|date_part)\s*\(",
    "to_char": r"\bto_char\s*\(",
    "to_date_to_timestamp": r"\bto_(date|timestamp)\s*\(",
    "age": r"\bage\s*\(",
    "interval": r"\binterval\s+'",
    "generate_series": r"\bgenerate_series\s*\(",
    "make_date": r"\bmake_(date|timestamp)\s*\(",
    "cast_operator": r"::",
    "round": r"\bround\s*\(",
    "nullif": r"\bnullif\s*\(",
    "greatest_least": r"\b(greatest|least)\s*\(",
    "ceil_floor_abs_mod": r"\b(ceil|ceiling|floor|abs|mod|trunc)\s*\(|\w\s+%\s+\w",
    "power_sqrt": r"\b(power|sqrt|exp|ln)\s*\(",
    "cast_decimal": r"\bcast\s*\([^)]*\b(decimal|numeric)\b",
    "count_distinct": r"\bcount\s*\(\s*distinct\b",
    "aggregate_filter": r"\bfilter\s*\(\s*where\b",
    "percentile": r"\bpercentile_(cont|disc)\s*\(",
    "string_agg": r"\b(string_agg|array_agg)\s*\(",
    "bool_and_or": r"\b(bool_and|bool_or|every)\s*\(",
    "stddev_variance": r"\b(stddev|stddev_samp|stddev_pop|variance|var_samp|var_pop)\s*\(",
    "having": r"\bhaving\b",
    "group_by_ordinal": r"\bgroup\s+by\s+\d",
    "rollup_grouping_sets": r"\b(rollup|cube|grouping\s+sets)\s*\(",
    "string_concat": r"\|\||\bconcat(_ws)?\s*\(",
    "string_case": r"\b(upper|lower|initcap)\s*\(",
    "string_slice": r"\b(substring|substr|left|right|position|strpos|split_part|length|char_length)\s*\(",
    "string_replace": r"\b(replace|regexp_replace|translate)\s*\(",
    "string_trim_pad": r"\b(trim|btrim|ltrim|rtrim|lpad|rpad)\s*\(",
    "like_ilike": r"\b(i?like)\b",
    "regex_match": r"\s!?~\*?\s",
    "is_null": r"\bis\s+(not\s+)?null\b",
    "is_distinct_from": r"\bis\s+(not\s+)?distinct\s+from\b",
    "coalesce": r"\bcoalesce\s*\(",
    "nulls_first_last": r"\bnulls\s+(first|last)\b",
    "distinct_on": r"\bdistinct\s+on\s*\(",
    "fetch_first": r"\bfetch\s+(first|next)\b",
    "limit_offset": r"\blimit\s+\d+\s+offset\b|\boffset\s+\d+",
    "limit": r"\blimit\s+\d+",
    "in_list": r"\bin\s*\(\s*('|\d)",
    "between": r"\bbetween\b",
    "case": r"\bcase\b",
}
COMPILED = {name: re.compile(pattern, re.I) for name, pattern in CLASSES.items()}
LITERAL = re.compile(r"'(?:[^']|'')*'")


def strip_literals(sql: str) -> str:
    """The SQL with every string literal replaced by ''."""
    return LITERAL.sub("''", sql)


def _identifiers(schema: ModuleType) -> set[str]:
    names = set(schema.TABLES)
    for table in schema.TABLES.values():
        names.update(table.frame.columns)
    return names


def classify(sql: str, schema: ModuleType) -> list[str]:
    """The classes (keys of CLASSES, plus self_join and mixed_case_identifiers) that `sql` exercises."""
    bare = strip_literals(sql)
    found = [name for name, pattern in COMPILED.items() if pattern.search(bare if name != "interval" else sql)]
    joined_twice = re.finditer(r"\b(?:from|join)\s+([A-Za-z_]\w*)\b[^()]*?\bjoin\s+\1\b", bare, re.I)
    if any(m.group(1).lower() in schema.TABLES for m in joined_twice):
        found.append("self_join")
    known = _identifiers(schema)
    aliases = {a.lower() for a in re.findall(r"\bas\s+([A-Za-z_]\w*)", bare, re.I)}
    words = set(re.findall(r"\b[A-Za-z_]\w*\b", bare))
    if any(w != w.lower() and w != w.upper() and w.lower() in known | aliases for w in words) or any(
            w == w.upper() and len(w) > 1 and w.lower() in known - KEYWORDS for w in words):
        found.append("mixed_case_identifiers")
    return found


KEYWORDS = {"date", "year", "month", "day", "week", "quarter", "name", "level", "status", "type", "time", "timestamp",
            "interval", "text", "order", "position", "left", "right", "value", "rank", "mode", "size"}
