"""Self-check of the gold corpus: `python -m tests.analyst_sql.check_gold [--schema NAME ...]`.

Starts its own PostgreSQL, loads every schema three times (rows in their natural order; reversed, queried with hash
aggregation and hash joins disabled; and shuffled), so that rows that tie come out in other orders, checks that each
table round-trips exactly, and that every gold query
- runs, returns at least one row, has unique column names and only finite numbers,
- uses no clock or random function, and no LIMIT/OFFSET/FETCH without a top-level ORDER BY,
- when marked ordered, has a top-level ORDER BY and gives the same rows in the same order in both databases,
- otherwise gives the same multiset of rows in both, and the same result when run twice;
and that compare() finds no difference between a result and its own JSON form. Prints counts per schema and per
class, and exits non-zero on any problem.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from types import ModuleType

from local_emulator.backing import PostgresServer
from tests.analyst_sql import all_schemas
from tests.analyst_sql.classes import classify, strip_literals
from tests.analyst_sql.compare import Interval, compare, expected_json, format_iso_duration, parse_iso_duration
from tests.analyst_sql.model import Query
from tests.analyst_sql.postgres import connect, load_schema, run_on

FORBIDDEN = re.compile(r"\b(now|random|clock_timestamp|statement_timestamp|timeofday|gen_random_uuid)\s*\(|"
                       r"\b(current_date|current_timestamp|current_time|localtimestamp|localtime)\b", re.I)


def as_product_table(columns: list[str], rows: list[list]) -> dict:
    return {"columns": columns, "column_types": [], "rows": [[expected_json(v) for v in row] for row in rows],
            "row_count": len(rows), "truncated": False}


def top_level(sql: str) -> str:
    """The SQL text outside parentheses and string literals."""
    out, depth = [], 0
    for ch in strip_literals(sql):
        depth += ch == "("
        if depth == 0:
            out.append(ch)
        depth -= ch == ")"
    return "".join(out).lower()


def static_problems(query: Query) -> list[str]:
    problems = []
    outer = top_level(query.sql)
    has_order = re.search(r"\border\s+by\b", outer) is not None
    if FORBIDDEN.search(strip_literals(query.sql)):
        problems.append("uses a clock or random function")
    if query.ordered and not has_order:
        problems.append("marked ordered but has no top-level ORDER BY")
    if re.search(r"\b(limit|offset|fetch)\b", outer) and not has_order:
        problems.append("LIMIT/OFFSET/FETCH without a top-level ORDER BY")
    if not query.question.strip() or not re.fullmatch(r"[a-z0-9_]+", query.id):
        problems.append("needs a question and a snake_case id")
    return problems


def result_problems(columns: list[str], rows: list[list]) -> list[str]:
    problems = []
    if not rows:
        problems.append("returns no rows")
    duplicated = [name for name, n in Counter(columns).items() if n > 1]
    if duplicated:
        problems.append(f"duplicate column names {duplicated}")
    try:
        cells = [expected_json(v) for row in rows for v in row]
    except TypeError as exc:
        return [*problems, str(exc)]
    if any((isinstance(v, float) and v != v) or v in (float("inf"), float("-inf")) for v in cells):
        problems.append("non-finite number in the result")
    return problems


def check_query(query: Query, conn, other_conns: list) -> list[str]:
    problems = static_problems(query)
    try:
        columns, rows = run_on(conn, query.sql)
        again = run_on(conn, query.sql)
        others = [run_on(other, query.sql) for other in other_conns]
    except Exception as exc:
        return [*problems, f"error: {exc}"]
    problems += result_problems(columns, rows)
    if problems:
        return problems
    problems += [f"self-compare: {d}" for d in compare(columns, rows, as_product_table(columns, rows), query.ordered)]
    problems += [f"not deterministic: {d}" for d in compare(columns, rows, as_product_table(*again), query.ordered)]
    for other in others:
        differences = compare(columns, rows, as_product_table(*other), query.ordered)
        problems += [f"other physical order: {d}" for d in differences]
    return problems


def verify_load(schema: ModuleType, conn) -> list[str]:
    """Every table reads back exactly as its frame: same column names, same multiset of Python values."""
    problems = []
    for name, table in schema.TABLES.items():
        if not 20 <= table.frame.height <= 3000:
            problems.append(f"{name}: {table.frame.height} rows, outside 20-3000")
        columns, rows = run_on(conn, f"SELECT * FROM {name}")
        if columns != table.frame.columns:
            problems.append(f"{name}: DDL columns {columns} differ from the frame's {table.frame.columns}")
        elif sorted(map(repr, map(tuple, rows))) != sorted(map(repr, table.frame.rows())):
            problems.append(f"{name}: rows read back from PostgreSQL differ from the frame")
    return problems


def selftest_compare() -> None:
    assert parse_iso_duration("P1DT2H") == parse_iso_duration("P1DT2H0M0S") == (0, 1, 7_200_000_000)
    assert parse_iso_duration("P1Y2M3DT4H5M6.5S") == (14, 3, 14_706_500_000)
    assert parse_iso_duration("-P1M") == parse_iso_duration("P-1M") == (-1, 0, 0)
    assert format_iso_duration(0, 0, 0) == "P0D" and format_iso_duration(-14, 3, -1_500_000) == "P-1Y-2M3DT-1.5S"
    gold_columns, gold_rows = ["n", "d", "i"], [[1, Interval(0, 1, 0), Interval(1, 0, 0)]]
    ok = {"columns": ["n", "d", "i"], "rows": [[1.0, "P1D", "P1M"]], "row_count": 1, "truncated": False}
    assert compare(gold_columns, gold_rows, ok, True) == []
    bad = {"columns": ["N", "d", "i"], "rows": [[2, "PT24H", None]], "row_count": 1, "truncated": False}
    diffs = compare(gold_columns, gold_rows, bad, True)
    assert len([d for d in diffs if d.startswith("names:")]) == 1 and len(diffs) == 4, diffs
    assert compare(["x"], [[float("nan")]], {"columns": ["x"], "rows": [[None]], "row_count": 1}, False)
    assert compare(["b"], [[True]], {"columns": ["b"], "rows": [[1]], "row_count": 1}, False)
    many = {"columns": ["x"], "rows": [[i] for i in range(20)], "row_count": 20}
    assert len(compare(["x"], [[i + 100] for i in range(20)], many, False)) == 6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schema", action="append", help="only these schemas (by NAME)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    selftest_compare()
    schemas = [s for s in all_schemas() if not args.schema or s.NAME in args.schema]
    root = Path(tempfile.mkdtemp(prefix="analyst-sql-gold-"))
    os.chmod(root, 0o755)  # noqa: S103 - the postgres server user must traverse it
    server = PostgresServer(root / "postgres", durable=False)
    server.start()
    failures: list[str] = []
    per_schema: Counter = Counter()
    per_class: Counter = Counter()
    try:
        for schema in schemas:
            ids = [q.id for q in schema.QUERIES]
            failures += [f"{schema.NAME}: duplicate query id {i}" for i, n in Counter(ids).items() if n > 1]
            natural = connect(load_schema(server.url, schema))
            others = [connect(load_schema(server.url, schema, database=f"{schema.NAME}_{order}", row_order=order))
                      for order in ("reversed", "shuffled")]
            for conn in others[:1]:
                conn.run("SET enable_hashagg = off")
                conn.run("SET enable_hashjoin = off")
            try:
                failures += [f"{schema.NAME}: {p}" for p in verify_load(schema, natural)]
                for query in schema.QUERIES:
                    per_schema[schema.NAME] += 1
                    per_class.update(classify(query.sql, schema))
                    failures += [f"{query.id}: {p}" for p in check_query(query, natural, others)]
            finally:
                for conn in [natural, *others]:
                    conn.close()
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
    print("queries per schema:")
    for name, n in per_schema.items():
        print(f"  {name:<16}{n:>5}")
    print(f"  {'total':<16}{sum(per_schema.values()):>5}")
    print("queries per class:")
    for name, n in sorted(per_class.items()):
        print(f"  {name:<28}{n:>5}")
    print(f"took {time.monotonic() - started:.1f}s")
    if failures:
        print(f"\n{len(failures)} PROBLEMS:", file=sys.stderr)
        for failure in failures:
            print(f"  {failure}", file=sys.stderr)
        return 1
    print("gold corpus OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
