"""The DocumentStore contract: every implementation must behave exactly like this."""

from __future__ import annotations

import threading

import pytest

from convoinsight.errors import Conflict


def test_put_get_replace_delete(documents, tenant):
    col = f"{tenant}/things"
    assert documents.get(col, "a") is None
    documents.put(col, "a", {"n": 1, "nested": {"x": [1, 2]}, "text": "é €"})
    assert documents.get(col, "a") == {"n": 1, "nested": {"x": [1, 2]}, "text": "é €"}
    documents.put(col, "a", {"n": 2})
    assert documents.get(col, "a") == {"n": 2}
    assert documents.delete(col, "a") is True
    assert documents.delete(col, "a") is False
    assert documents.get(col, "a") is None


def test_create_refuses_an_existing_id(documents, tenant):
    col = f"{tenant}/things"
    documents.create(col, "a", {"v": 1})
    with pytest.raises(Conflict):
        documents.create(col, "a", {"v": 2})
    assert documents.get(col, "a") == {"v": 1}


def test_put_many_writes_every_document_or_none(documents, tenant):
    a, b = f"{tenant}/turns", f"{tenant}/sessions"
    documents.put(a, "old", {"v": 0})
    documents.put_many([(a, "old", {"v": 1}), (a, "new", {"v": 2, "rows": [[1, "x"]]}), (b, "s", {"n": 2}),
                        (a, "new", {"v": 3})])  # the same key twice: the last one is kept
    assert documents.get(a, "old") == {"v": 1} and documents.get(a, "new") == {"v": 3}
    assert documents.get(b, "s") == {"n": 2}
    # One document that cannot be stored, anywhere in the batch: nothing of it is written.
    for bad in ({"text": "a\x00b"}, {"k\x00": 1}, {"nested": [{"deep": "\x00"}]}):
        with pytest.raises(ValueError):
            documents.put_many([(a, "x1", {"v": 9}), (b, "s", {"n": 9}), (a, "x2", bad)])
        assert documents.get(a, "x1") is None and documents.get(b, "s") == {"n": 2}
    with pytest.raises(ValueError):
        documents.put_many([(a, f"d{i}", {"i": i}) for i in range(501)])
    assert documents.get(a, "d0") is None
    documents.put_many([])
    # The six characters backslash-u0000 are text, not a NUL: stored as written.
    documents.put_many([(a, "literal", {"text": "\\u0000 is how JSON writes a NUL", "é": "数据"})])
    assert documents.get(a, "literal") == {"text": "\\u0000 is how JSON writes a NUL", "é": "数据"}


@pytest.mark.parametrize("value", ["a\x00b", "\x00"])
def test_nul_is_refused_by_every_write_and_nothing_is_stored(documents, tenant, value):
    # PostgreSQL cannot hold U+0000 in text or JSONB; both stores refuse it alike (ValueError, not a crash).
    col = f"{tenant}/things"
    for data in ({"text": value}, {value: 1}, {"list": ["ok", value]}, {"n": {"deep": value}}):
        for write in (lambda d: documents.put(col, "a", d), lambda d: documents.create(col, "a", d),
                      lambda d: documents.put_if_newer(col, "a", {**d, "v": 1}, "v")):
            with pytest.raises(ValueError):
                write(data)
        assert documents.get(col, "a") is None
    with pytest.raises(ValueError):
        documents.put(col, f"id{value}", {"v": 1})
    with pytest.raises(ValueError):
        documents.list(col, where={"text": value})
    assert documents.list(col) == []


def test_concurrent_creates_of_one_id_let_exactly_one_win(documents, tenant):
    col = f"{tenant}/claims"
    wins, barrier = [], threading.Barrier(8)

    def claim(i: int) -> None:
        barrier.wait()
        try:
            documents.create(col, "v1", {"by": i})
            wins.append(i)
        except Conflict:
            return

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1 and documents.get(col, "v1") == {"by": wins[0]}


def test_list_filters_orders_and_limits_within_one_collection(documents, tenant):
    col = f"{tenant}/msgs"
    for i, role in enumerate(["user", "assistant", "user", "assistant", "assistant"]):
        documents.put(col, f"m{i}", {"seq": i * 10 if i != 4 else 5, "role": role})
    documents.put(f"{tenant}/msgs/m0/children", "c", {"seq": 1, "role": "assistant"})  # a sub-collection
    documents.put(f"{tenant}-other/msgs", "x", {"seq": 1, "role": "assistant"})
    assert [d["seq"] for d in documents.list(col)] == [0, 10, 20, 30, 5]  # by id
    assert [d["seq"] for d in documents.list(col, order_by="seq")] == [0, 5, 10, 20, 30]  # numeric order
    got = documents.list(col, where={"role": "assistant"}, order_by="seq", descending=True, limit=2)
    assert [d["seq"] for d in got] == [30, 10]
    assert documents.list(f"{tenant}/none") == []


def test_ordered_lists_page_with_a_value_and_id_cursor_in_both_directions(documents, tenant):
    col = f"{tenant}/sessions"
    # Ties on the ordered field (seq 2 three times) are broken by id, in the list's direction.
    for doc_id, seq in (("a", 2), ("b", 1), ("c", 2), ("d", 3), ("e", 2)):
        documents.put(col, doc_id, {"seq": seq, "_id": doc_id, "role": "assistant"})
    documents.put(col, "f", {"_id": "f", "role": "assistant"})  # no seq: not in an ordered list, in either store
    assert len(documents.list(col)) == 6

    def pairs(docs):
        return [(d["seq"], d["_id"]) for d in docs]

    assert pairs(documents.list(col, order_by="seq")) == [(1, "b"), (2, "a"), (2, "c"), (2, "e"), (3, "d")]
    assert pairs(documents.list(col, order_by="seq", descending=True)) == [(3, "d"), (2, "e"), (2, "c"), (2, "a"),
                                                                           (1, "b")]
    for descending in (False, True):
        full = pairs(documents.list(col, order_by="seq", descending=descending))
        paged, after = [], None
        while True:
            page = documents.list(col, where={"role": "assistant"}, order_by="seq", descending=descending,
                                  limit=2, after=after)
            if not page:
                break
            paged += pairs(page)
            after = (page[-1]["seq"], page[-1]["_id"])
        assert paged == full, descending
    assert documents.list(col, order_by="seq", after=(3, "d")) == []
    with pytest.raises(ValueError):
        documents.list(col, after=(1, "b"))  # a cursor without an order


def test_collections_are_isolated_by_path(documents, tenant):
    documents.put(f"{tenant}/a", "same-id", {"who": "a"})
    documents.put(f"{tenant}/b", "same-id", {"who": "b"})
    assert documents.get(f"{tenant}/a", "same-id") == {"who": "a"}
    assert documents.get(f"{tenant}/b", "same-id") == {"who": "b"}


def test_list_rejects_an_unsafe_order_field(documents, tenant):
    with pytest.raises(ValueError):
        documents.list(f"{tenant}/a", order_by="seq'; DROP TABLE documents; --")


def test_ping(documents):
    documents.ping()


def test_delete_tree_removes_a_collection_and_everything_below_it_only(documents, tenant):
    documents.put(f"{tenant}/domains/d1/datasets", "a", {"v": 1})
    documents.put(f"{tenant}/domains/d1/datasets/a/versions", "v1", {"v": 1})
    documents.put(f"{tenant}/domains/d1/settings", "meta", {"v": 1})
    documents.put(f"{tenant}/domains/d10/datasets", "b", {"v": 1})  # a sibling that shares the prefix text
    assert documents.delete_tree(f"{tenant}/domains/d1") == 3
    assert documents.list(f"{tenant}/domains/d1/datasets") == []
    assert documents.get(f"{tenant}/domains/d10/datasets", "b") == {"v": 1}
    assert documents.delete_tree(f"{tenant}/nothing") == 0


def test_put_if_newer_never_moves_backwards(documents, tenant):
    col = f"{tenant}/pointers"
    assert documents.put_if_newer(col, "p", {"version": 2, "who": "b"}, "version") is True
    assert documents.put_if_newer(col, "p", {"version": 1, "who": "a"}, "version") is False
    assert documents.put_if_newer(col, "p", {"version": 2, "who": "c"}, "version") is False
    assert documents.get(col, "p") == {"version": 2, "who": "b"}
    assert documents.put_if_newer(col, "p", {"version": 3, "who": "d"}, "version") is True
    assert documents.get(col, "p")["who"] == "d"


def test_put_if_newer_under_concurrency_keeps_the_highest(documents, tenant):
    col = f"{tenant}/pointers"
    barrier = threading.Barrier(6)

    def write(v: int) -> None:
        barrier.wait()
        documents.put_if_newer(col, "p", {"version": v}, "version")

    threads = [threading.Thread(target=write, args=(v,)) for v in (3, 1, 6, 2, 5, 4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert documents.get(col, "p") == {"version": 6}


def _exact(value) -> str:
    """JSON text with sorted keys: tells 1 from 1.0 and from True, which == does not."""
    import json

    return json.dumps(value, sort_keys=True, ensure_ascii=False)


ROUND_TRIP = {
    "int": 1, "big": 2**53 + 1, "negative": -(2**62), "float": 1.0, "tenth": 0.1, "sum": 0.1 + 0.2,
    "tiny": 1e-300, "negative_float": -2.5e-7, "true": True, "false": False, "none": None,
    "empty": "", "empty_list": [], "empty_dict": {},
    "text": "é € 日本語 עברית 👩🏽‍💻 e\u0301 \n\t\"quotes\" \\ back",
    "nested": {"a": {"b": {"c": [1, {"d": [True, None, "x"]}]}}},
    # Table rows: arrays directly inside arrays (Firestore cannot store those natively).
    "rows": [[1, "a", 0.5, None], [2, "b", 1.5, True], []],
    "deep_rows": [[[1, 2], [3]], [[]]],
    "mixed": [1, "two", 3.0, False, None, {"k": [[]]}],
    "keys": {"a.b": 1, "with space": 2, "$schema": 3, "ünï": 4, "1": 5, "`tick`": 6},
}


def test_values_round_trip_exactly(documents, tenant):
    col = f"{tenant}/values"
    documents.put(col, "v", ROUND_TRIP)
    assert _exact(documents.get(col, "v")) == _exact(ROUND_TRIP)
    assert [_exact(d) for d in documents.list(col)] == [_exact(ROUND_TRIP)]
    documents.create(col, "w", {"rows": ROUND_TRIP["rows"]})
    matches = documents.list(col, where={"rows": ROUND_TRIP["rows"]})
    assert [_exact(d) for d in matches] == [_exact(ROUND_TRIP), _exact({"rows": ROUND_TRIP["rows"]})]


def test_a_document_of_500_kb_round_trips(documents, tenant):
    import json

    col = f"{tenant}/big"
    doc = {"rows": [[i, f"row {i} ü", i * 0.5, i % 2 == 0] for i in range(12_000)], "text": "é" * 50_000}
    assert 450_000 < len(json.dumps(doc, ensure_ascii=False).encode()) < 600_000
    documents.put(col, "d", doc)
    assert _exact(documents.get(col, "d")) == _exact(doc)


def test_values_that_are_not_json_are_refused(documents, tenant):
    import datetime

    with pytest.raises(TypeError):
        documents.put(f"{tenant}/bad", "d", {"when": datetime.datetime.now(datetime.UTC)})
    assert documents.get(f"{tenant}/bad", "d") is None


def test_stage_leases_are_exclusive_until_they_expire_then_taken_over_once(documents, tenant):
    import time as _time

    from convoinsight.jobs import store as jobs_store

    user = tenant.split("/", 1)[1]
    assert jobs_store.take_lease(documents, user, "job1", "router", "worker-a", 2.0) == 1
    assert jobs_store.take_lease(documents, user, "job1", "router", "worker-b", 2.0) is None  # held
    _time.sleep(2.1)
    winners = []
    barrier = threading.Barrier(4)

    def take(owner: str) -> None:
        barrier.wait()
        epoch = jobs_store.take_lease(documents, user, "job1", "router", owner, 30)
        if epoch is not None:
            winners.append((owner, epoch))

    threads = [threading.Thread(target=take, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1 and winners[0][1] == 2  # exactly one take-over, the second attempt


def test_increment_creates_then_adds_atomically(documents, tenant):
    from concurrent.futures import ThreadPoolExecutor

    col = f"{tenant}/counters"
    documents.increment(col, "day", "tokens", 5)
    assert documents.get(col, "day") == {"tokens": 5}
    documents.put(col, "other", {"tokens": 1, "note": "kept"})
    documents.increment(col, "other", "tokens", 2)
    assert documents.get(col, "other") == {"tokens": 3, "note": "kept"}
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda _: documents.increment(col, "day", "tokens", 10), range(40)))
    assert documents.get(col, "day")["tokens"] == 405  # no lost update


def test_get_many_reads_documents_of_several_collections_at_once(documents, tenant):
    jobs, outputs = f"{tenant}/jobs", f"{tenant}/jobs/j1/outputs"
    documents.put(jobs, "j1", {"id": "j1", "rows": [[1, "x"]]})
    documents.put(outputs, "router", {"stage": "router"})
    documents.put(outputs, "compiler", {"stage": "compiler"})
    refs = [(outputs, "compiler"), (jobs, "j1"), (outputs, "orchestrator"), (f"{tenant}/none", "x"),
            (outputs, "router"), (jobs, "j1")]  # in any order, missing ones and the same ref twice
    assert documents.get_many(refs) == [{"stage": "compiler"}, {"id": "j1", "rows": [[1, "x"]]}, None, None,
                                        {"stage": "router"}, {"id": "j1", "rows": [[1, "x"]]}]
    assert documents.get_many(iter([(jobs, "j1")])) == [{"id": "j1", "rows": [[1, "x"]]}]
    assert documents.get_many([]) == []
    with pytest.raises(ValueError):
        documents.get_many([(jobs, "j1"), (jobs, "a\x00b")])
    with pytest.raises(ValueError):
        documents.get_many([(jobs, f"d{i}") for i in range(501)])
