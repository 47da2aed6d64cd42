"""The offline planner over a corpus of natural questions (tests/planner_corpus): right or honestly declined.

Every question goes through the queries function with no model configured, so the answer comes from the real
pipeline (router, manipulator with the value lookup, guard, engine, compiler); its table is compared with the
gold SQL run by DuckDB directly on the same data. A wrong table is the worst outcome, so the test allows none.
"""

from __future__ import annotations

import io
from collections import Counter

from tests.conftest import function_client
from tests.planner_corpus import corpus
from tests.planner_corpus.datasets import upload

CAN_DO = "Simple questions about one table at a time work"  # planner.capabilities(), told on every refusal


def _ask(queries, h: dict, domain: str, question: str) -> dict:
    resp = queries.post("/", headers=h, json={"domain": domain, "prompt": question})
    assert resp.status_code == 200, (question, resp.get_json())
    return resp.get_json()


def _honest_refusal(body: dict) -> bool:
    return body["sql_status"] == "unanswerable" and body["table"] is None and CAN_DO in body["answer"] \
        and body["verified"] is None


def _grade(body: dict, q: corpus.Question, datasets: tuple) -> str:
    if _honest_refusal(body):
        return "refused"
    if body["sql_status"] != "ok" or body["table"]["truncated"]:
        return "wrong"
    rows = body["table"]["rows"]
    ok = any(corpus.same_table(rows, corpus.gold_rows(sql, datasets), q.ordered) for sql in q.gold)
    return "right" if ok else "wrong"


def test_corpus_answers_are_right_or_honestly_declined(local_env, user_id, capsys):
    datasets, queries = function_client("datasets"), function_client("queries")
    h = {"X-User-Id": user_id}
    domains = corpus.load()
    grades: Counter = Counter()
    verified: Counter = Counter()
    misses, false_answers = [], []
    for d in domains:
        for name in d.datasets:
            filename, data = upload(name)
            resp = datasets.post(f"/{d.name}", headers=h, data={"file": (io.BytesIO(data), filename)})
            assert resp.status_code == 201, resp.get_json()
        for q in d.questions:
            body = _ask(queries, h, d.name, q.text)
            grade = _grade(body, q, d.datasets)
            grades[grade] += 1
            if grade == "right":
                verified[body["verified"]] += 1
            else:
                misses.append(f"  [{grade}] {d.name}: {q.text!r} -> {body['sql']}")
        for text in d.refusals:
            body = _ask(queries, h, d.name, text)
            if not _honest_refusal(body):
                false_answers.append(f"  {d.name}: {text!r} -> {body['sql_status']} {body['sql']}")
    total = sum(grades.values())
    refusals = sum(len(d.refusals) for d in domains)
    with capsys.disabled():
        print(f"\nplanner corpus: {total} questions over {len(domains)} domains: {grades['right']} right, "
              f"{grades['refused']} refused honestly, {grades['wrong']} wrong "
              f"({100 * grades['right'] / total:.1f}% right; verified among the right: {dict(verified)}); "
              f"{refusals - len(false_answers)}/{refusals} refusal questions declined")
        print("\n".join(misses + ["answered instead of declined:"] * bool(false_answers) + false_answers))
    assert total >= 60 and refusals >= 15
    assert grades["wrong"] == 0, "\n".join(misses)
    assert not false_answers, "\n".join(false_answers)
    assert grades["right"] >= 0.9 * total
