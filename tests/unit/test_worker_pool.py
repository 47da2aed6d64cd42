"""The supervised worker pool: a task that crashes, hangs or exhausts memory fails alone; the pool heals."""

from __future__ import annotations

import threading
import time

import pytest

from convoinsight.workers.pool import TaskFailed, WorkerCrashed, WorkerPool, WorkerTimeout, close_shared, shared_pool

ENTRY = "tests.support.pool_tasks:run"


@pytest.fixture
def pool():
    pool = WorkerPool(ENTRY, 2, memory_bytes=512 * 1024 * 1024)
    yield pool
    pool.close()


def test_results_come_back_and_workers_are_reused(pool):
    first = pool.run({"kind": "echo", "value": [1, "a"]}, 10)
    second = pool.run({"kind": "echo", "value": None}, 10)
    assert first["value"] == [1, "a"] and second["pid"] == first["pid"]  # the idle worker is reused


def test_a_shared_pool_closed_by_its_user_is_replaced_at_the_next_use():
    # A pool closed without close_shared (a benchmark, a shutdown hook) must not fail every later query
    # of the process with "the pool is closed": the next caller gets new workers.
    first = shared_pool(ENTRY, 1, variant="closed-by-user")
    try:
        assert first.run({"kind": "echo", "value": 1}, 10)["value"] == 1
        first.close()
        again = shared_pool(ENTRY, 1, variant="closed-by-user")
        assert again is not first and again.run({"kind": "echo", "value": 2}, 10)["value"] == 2
        assert shared_pool(ENTRY, 1, variant="closed-by-user") is again  # and it is kept while open
    finally:
        close_shared(ENTRY)


def test_an_exception_in_the_task_is_reported_and_the_worker_stays(pool):
    pid = pool.run({"kind": "echo"}, 10)["pid"]
    with pytest.raises(TaskFailed) as failed:
        pool.run({"kind": "raise"}, 10)
    assert failed.value.kind == "ValueError" and failed.value.message == "bad input"
    assert pool.run({"kind": "echo"}, 10)["pid"] == pid and pool.restarts == 0


@pytest.mark.parametrize(("kind", "error", "words"), [
    ("segfault", WorkerCrashed, "SIGSEGV"),
    ("hang", WorkerTimeout, "limit"),
    ("hog", TaskFailed, "MemoryError"),
    ("panic", TaskFailed, "SystemExit"),
])
def test_a_misbehaving_task_fails_alone_and_the_pool_heals(pool, kind, error, words):
    pid = pool.run({"kind": "echo"}, 10)["pid"]
    with pytest.raises(error) as caught:
        pool.run({"kind": kind}, 2)
    assert words in str(caught.value) or words == getattr(caught.value, "kind", "")
    after = pool.run({"kind": "echo", "value": 7}, 10)
    assert after["value"] == 7
    if kind != "hog":  # a MemoryError is an ordinary exception: the worker survives it
        assert after["pid"] != pid and pool.restarts >= 1


def test_other_requests_are_served_while_one_task_hangs(pool):
    def hang() -> None:
        with pytest.raises(WorkerTimeout):
            pool.run({"kind": "hang"}, 3)

    hung = threading.Thread(target=hang)
    hung.start()
    served = [pool.run({"kind": "echo", "value": i}, 10)["value"] for i in range(20)]
    hung.join()
    assert served == list(range(20))


def test_replace_on_error_gives_every_task_after_a_failure_a_fresh_worker():
    pool = WorkerPool(ENTRY, 1, replace_on_error=True)
    try:
        pid = pool.run({"kind": "echo"}, 10)["pid"]
        with pytest.raises(TaskFailed):
            pool.run({"kind": "raise"}, 10)
        assert pool.run({"kind": "echo"}, 10)["pid"] != pid
    finally:
        pool.close()


def test_a_task_waits_for_a_free_worker_at_most_as_long_as_allowed():
    from convoinsight.workers.pool import WorkerBusy

    pool = WorkerPool(ENTRY, 1)
    try:
        pool.run({"kind": "echo"}, 10)
        hung = threading.Thread(target=lambda: _expect_timeout(pool))
        hung.start()
        time.sleep(0.3)
        with pytest.raises(WorkerBusy):
            pool.run({"kind": "echo"}, 10, wait=0.2)
        hung.join()
        assert pool.run({"kind": "echo", "value": 1}, 10)["value"] == 1
    finally:
        pool.close()


def _expect_timeout(pool) -> None:
    with pytest.raises(WorkerTimeout):
        pool.run({"kind": "hang"}, 1.5)


def test_an_entry_warm_up_runs_before_the_worker_is_ready_and_a_failing_one_does_not_stop_it():
    warm = WorkerPool("tests.support.pool_warm_tasks:run", 1)
    failing = WorkerPool("tests.support.pool_warm_fails:run", 1)
    try:
        warm.warm()
        first = warm.run({}, 10)
        assert first["warmed_at"] is not None and first["warmed_at"] <= first["received_at"]
        assert warm.run({}, 10)["warmed_at"] == first["warmed_at"]  # once per worker, not per task
        assert failing.run({"value": 7}, 10) == {"served": 7}
    finally:
        warm.close()
        failing.close()


def test_the_sql_engine_warms_its_first_statement_up():
    from convoinsight.sql import engine

    engine.warm_up()  # what every engine worker runs before it takes a task: its statement must run
