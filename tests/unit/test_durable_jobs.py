"""Async jobs survive what kills a process: queued stage tasks replay after a restart, a stage leased by a
worker that died is taken over once its lease expires, and a job nobody can finish is reported failed."""

from __future__ import annotations

import time

import pytest

from convoinsight.jobs import store
from convoinsight.jobs.inprocess import InProcessQueue
from convoinsight.services import Services, get_services
from convoinsight.settings import get_settings
from tests.unit.test_async_jobs import QUESTION, wait


class _DiesAfterJournaling(InProcessQueue):
    """The queue of a process that died right after accepting tasks: journaled, never delivered."""

    def _schedule(self, body, retry, delay, first):
        return None


def _restart(monkeypatch, **env) -> Services:
    """A fresh process's services (same stack, same state folder): its queue replays the journal."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    get_services.cache_clear()
    return get_services(get_settings())


def test_queued_tasks_survive_a_restart_of_the_local_stack(shop, user_id, monkeypatch):
    queries, h = shop
    services = get_services(get_settings())
    services._queue = _DiesAfterJournaling(lambda body, retry: 200, journal=services.documents,
                                           stack=services.queue_stack())
    job = queries.post("/", headers=h, json={**QUESTION, "mode": "async"}).get_json()
    time.sleep(0.3)
    assert queries.get(f"/{job['job_id']}", headers=h).get_json()["status"] == "queued"  # nothing ran
    restarted = _restart(monkeypatch)
    restarted.queue  # noqa: B018 - starting the queue is what replays it
    assert wait(queries, h, job["job_id"])["status"] == "succeeded"
    deadline = time.monotonic() + 10  # the last delivery clears its entry just after the job settles
    while restarted.documents.list(restarted.queue.collection) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert restarted.documents.list(restarted.queue.collection) == []  # delivered for good: journal empty


def test_a_stage_leased_by_a_dead_worker_is_taken_over_after_its_lease(shop, user_id, monkeypatch):
    queries, h = shop
    monkeypatch.setenv("STAGE_LEASE_SECONDS", "1")
    get_settings.cache_clear()
    get_services.cache_clear()
    services = get_services(get_settings())
    dead = _DiesAfterJournaling(lambda body, retry: 200, journal=services.documents, stack=services.queue_stack())
    services._queue = dead
    job = queries.post("/", headers=h, json={**QUESTION, "mode": "async"}).get_json()
    # The dead process had started the first stage: its lease is held by an owner that will never return.
    assert store.take_lease(services.documents, user_id, job["job_id"], "router", "dead-process", 1) is not None
    _restart(monkeypatch, STAGE_LEASE_SECONDS="1").queue  # noqa: B018
    done = wait(queries, h, job["job_id"])
    assert done["status"] == "succeeded" and done["stages"]["router"]["attempts"] >= 2


def test_a_task_that_keeps_failing_is_dropped_and_its_job_fails(shop, user_id, monkeypatch):
    from convoinsight.jobs.service import drop_task

    queries, h = shop
    services = get_services(get_settings())
    dropped = []
    services._queue = InProcessQueue(lambda body, retry: 503, journal=services.documents,
                                     stack=services.queue_stack(), backoff=0.01, max_backoff=0.05, max_age=0.5,
                                     on_drop=lambda body: (dropped.append(body), drop_task(services, body)))
    job = queries.post("/", headers=h, json={**QUESTION, "mode": "async"}).get_json()
    done = wait(queries, h, job["job_id"], timeout=10)
    assert done["status"] == "failed" and done["error"]["code"] == "stage_not_run"
    assert dropped and dropped[0]["stage"] == "router"


def test_a_job_past_its_time_limit_with_no_stage_running_is_reported_failed(shop, user_id, monkeypatch):
    queries, h = shop
    services = get_services(get_settings())
    services._queue = _DiesAfterJournaling(lambda body, retry: 200, journal=services.documents,
                                           stack=services.queue_stack())
    job = queries.post("/", headers=h, json={**QUESTION, "mode": "async"}).get_json()
    assert queries.get(f"/{job['job_id']}", headers=h).get_json()["status"] == "queued"
    monkeypatch.setenv("JOB_TIMEOUT_SECONDS", "1")
    get_settings.cache_clear()
    get_services.cache_clear()
    time.sleep(1.2)
    body = queries.get(f"/{job['job_id']}", headers=h).get_json()
    assert body["status"] == "failed" and body["error"]["code"] == "job_timed_out"


@pytest.mark.parametrize("status", [200, 404])
def test_a_delivered_task_leaves_the_journal(postgres, tmp_path, status):
    from convoinsight.jobs.queue import StageTask
    from convoinsight.storage.postgres_documents import PostgresDocumentStore
    from convoinsight.storage.postgres_pool import PostgresPool

    pool = PostgresPool(postgres.url)
    try:
        docs = PostgresDocumentStore(pool)
        delivered = []
        queue = InProcessQueue(lambda body, retry: delivered.append(body) or status, journal=docs,
                               stack=tmp_path.name)
        queue.enqueue(StageTask("u1", "j1", "router"))
        deadline = time.monotonic() + 5
        while docs.list(queue.collection) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert delivered and docs.list(queue.collection) == []
    finally:
        pool.close()
