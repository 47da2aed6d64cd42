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
