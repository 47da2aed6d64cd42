"""The corpus as data: every ``*.yaml`` here, read into (domain, datasets, questions, refusals) entries,
and the comparison of an answer's table with the gold SQL's result.

A result is right when it has the gold's rows (as a multiset, or in order for ``ordered: true``), column by
column in the gold's order, numbers equal within a relative 1e-6 and dates equal as calendar values
(``2013-01-01`` and ``2013-01-01T00:00:00`` are the same day). Column names are not compared: aliases are free.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import duckdb
import yaml

from tests.planner_corpus.datasets import frame

HERE = Path(__file__).parent


@dataclass(frozen=True)
class Question:
    text: str
    gold: tuple[str, ...]  # acceptable gold SQL (DuckDB), any one matching is right
    ordered: bool = False


@dataclass(frozen=True)
class Domain:
    name: str
    datasets: tuple[str, ...]
    questions: tuple[Question, ...]
    refusals: tuple[str, ...]
    source: str


def _domain(entry: dict, source: str) -> Domain:
    questions = []
    for q in entry.get("questions") or []:
        gold = q["gold"] if isinstance(q["gold"], list) else [q["gold"]]
        questions.append(Question(q["q"], tuple(gold), bool(q.get("ordered"))))
    return Domain(entry["domain"], tuple(entry["datasets"]), tuple(questions), tuple(entry.get("refusals") or []),
                  source)


def load() -> list[Domain]:
    out = []
    for path in sorted(HERE.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text())
        for entry in doc.get("domains") or [doc]:
            out.append(_domain(entry, path.name))
    return out


def gold_rows(sql: str, datasets: tuple[str, ...]) -> list[tuple]:
    """The gold SQL run by DuckDB directly over the uploaded tables (not through the service)."""
    con = duckdb.connect()
    try:
        for name in datasets:
            con.register(name, frame(name).to_arrow())
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _norm(value: object) -> object:
    if value is None or (isinstance(value, (bool, str)) and not _is_iso(value)):
        return value
    if isinstance(value, (int, float, Decimal)):
        return float(value)
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if isinstance(value, dt.datetime):
        value = value.replace(tzinfo=None)
        return value.date() if value.time() == dt.time(0) else value
    return value


def _is_iso(text: str) -> bool:
    try:
        dt.datetime.fromisoformat(text)
    except ValueError:
        return False
    return len(text) >= 10 and text[4] == "-"


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9) or (math.isnan(a) and math.isnan(b))
    return a == b


def _key(row: tuple) -> tuple:
    return tuple((0, "") if v is None else (1, f"{v:.6g}") if isinstance(v, float) else (2, str(v)) for v in row)


def same_table(got: list[list], want: list[tuple], ordered: bool) -> bool:
    a = [tuple(_norm(v) for v in r) for r in got]
    b = [tuple(_norm(v) for v in r) for r in want]
    if len(a) != len(b) or any(len(x) != len(y) for x, y in zip(a, b, strict=False)):
        return False
    if not ordered:
        a, b = sorted(a, key=_key), sorted(b, key=_key)
    return all(_same(x, y) for ra, rb in zip(a, b, strict=True) for x, y in zip(ra, rb, strict=True))
