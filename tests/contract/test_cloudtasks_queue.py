"""CloudTasksQueue against gcloud-tasks-emulator, delivering to HTTP servers these tests start and record.

Where the emulator and the real service differ (duplicate names, ALREADY_EXISTS, OIDC), the test says which
behaviour it pins down; the real service's answers that the emulator never gives are played by a small stub
client, the one thing here that is not run for real.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from convoinsight.errors import ConfigError, ServiceUnavailable
from convoinsight.jobs.cloudtasks import DISPATCH_DEADLINE_SECONDS, CloudTasksQueue
from convoinsight.jobs.queue import StageTask
from local_emulator.backing import free_port

PROJECT, LOCATION = "convoinsight-test", "europe-west1"
SERVICE_ACCOUNT = "tasks-invoker@convoinsight-test.iam.gserviceaccount.com"


class Target:
    """An HTTP target that records every request and answers with the next scripted status (then 200)."""

    def __init__(self, statuses: tuple[int, ...] = ()):
        self.requests: list[dict] = []
        self._statuses = list(statuses)
        self._changed = threading.Condition()
        target = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # the emulator sends whatever method the task names
                self._record()

            def do_GET(self):
                self._record()

            def _record(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with target._changed:
                    status = target._statuses.pop(0) if target._statuses else 200
                    target.requests.append({"at": time.monotonic(), "method": self.command, "path": self.path,
                                            "headers": {k.lower(): v for k, v in self.headers.items()},
                                            "body": body, "status": status})
                    target._changed.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/pipeline"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def wait_for(self, count: int, timeout: float = 5) -> list[dict]:
        with self._changed:
            self._changed.wait_for(lambda: len(self.requests) >= count, timeout=timeout)
            return list(self.requests)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def target():
    server = Target()
    yield server
    server.close()


@pytest.fixture
def make_queue(tasks_emulator):
    """A fresh queue per test (the emulator gives each its own delivery thread, which ends when it is deleted)."""
    made: list[CloudTasksQueue] = []

    def make(target_url: str, **kwargs) -> CloudTasksQueue:
        queue = CloudTasksQueue(PROJECT, LOCATION, f"q-{uuid.uuid4().hex[:12]}", target_url,
                                emulator_host=tasks_emulator.host, **kwargs)
        queue.ensure_queue()
        made.append(queue)
        return queue

    yield make
    for queue in made:
        queue._get_client().delete_queue(name=queue.queue_path)
        queue.close()


def stage_task(stage: str = "router") -> StageTask:
    return StageTask(user_id="user-1", job_id=f"job-{uuid.uuid4().hex[:8]}", stage=stage)


def test_enqueue_delivers_the_stage_to_the_target(make_queue, target):
    queue = make_queue(target.url)
    task = stage_task()
    queue.enqueue(task)

    [request] = target.wait_for(1)
    assert request["method"] == "POST"
    assert request["path"] == "/pipeline"
    assert json.loads(request["body"]) == task.body()
    assert request["headers"]["content-type"] == "application/json"
    assert request["headers"]["x-cloudtasks-taskname"] == task.name()
    assert request["headers"]["x-cloudtasks-taskretrycount"] == "0"


def test_the_outbound_task_is_exactly_the_pipeline_task(make_queue, target):
    # Delayed, so it is still queued when read back (the emulator has no GetTask; ListTasks shows queued ones).
    from google.cloud import tasks_v2

    queue = make_queue(target.url, service_account_email=SERVICE_ACCOUNT)
    task = stage_task("manipulator")
    before = time.time()
    queue.enqueue(task, delay_seconds=1)

    [queued] = queue._get_client().list_tasks(parent=queue.queue_path)
    assert queued.name == f"{queue.queue_path}/tasks/{task.name()}"
    assert queued.http_request == tasks_v2.HttpRequest(
        url=target.url, http_method=tasks_v2.HttpMethod.POST, headers={"Content-Type": "application/json"},
        body=json.dumps(task.body(), separators=(",", ":")).encode(),
        # The audience defaults to the target URL: what Cloud Run / Functions gen2 expect of an ID token.
        oidc_token=tasks_v2.OidcToken(service_account_email=SERVICE_ACCOUNT, audience=target.url),
    )
    assert queued.dispatch_deadline.total_seconds() == DISPATCH_DEADLINE_SECONDS
    assert before + 1 <= queued.schedule_time.timestamp() <= time.time() + 1
    # The emulator ignores the token (it sends none); the request still arrives.
    [request] = target.wait_for(1)
    assert "authorization" not in request["headers"]


def test_delay_seconds_holds_the_task_back(make_queue, target):
    queue = make_queue(target.url)
    start = time.monotonic()
    queue.enqueue(stage_task(), delay_seconds=1.0)

    assert target.wait_for(1, timeout=0.7) == []
    [request] = target.wait_for(1, timeout=3)
    # Not before the delay; the emulator polls every 0.1 s, so well within a second after it.
    assert 1.0 <= request["at"] - start < 2.0


def test_5xx_is_retried_until_the_target_succeeds(make_queue):
    target = Target(statuses=(500, 500))  # then 200
    try:
        queue = make_queue(target.url)
        task = stage_task()
        queue.enqueue(task)

        requests = target.wait_for(3)
        time.sleep(0.3)  # after the 200 nothing more is sent
        assert [r["status"] for r in target.requests] == [500, 500, 200]
        assert [r["headers"]["x-cloudtasks-taskretrycount"] for r in requests] == ["0", "1", "2"]
        assert {r["headers"]["x-cloudtasks-taskname"] for r in requests} == {task.name()}
        assert all(json.loads(r["body"]) == task.body() for r in requests)
    finally:
        target.close()


def test_the_same_task_twice_is_delivered_twice_on_the_emulator(make_queue, target):
    # The real service refuses the second create (ALREADY_EXISTS, swallowed: see the stub tests below); the
    # emulator keeps both and delivers both. Delivery is at least once either way, so the pipeline handler has
    # to survive this: two deliveries of one stage, with the same task name.
    queue = make_queue(target.url)
    task = stage_task()
    queue.enqueue(task)
    queue.enqueue(task)

    requests = target.wait_for(2)
    assert len(requests) == 2
    assert [r["headers"]["x-cloudtasks-taskname"] for r in requests] == [task.name()] * 2
    assert [json.loads(r["body"]) for r in requests] == [task.body()] * 2


def test_concurrent_enqueues_share_one_lazily_built_client(make_queue, target):
    queue = make_queue(target.url)
    client = queue._get_client()
    tasks = [stage_task(f"stage-{i}") for i in range(8)]
    threads = [threading.Thread(target=queue.enqueue, args=(task,)) for task in tasks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert queue._get_client() is client
    names = {r["headers"]["x-cloudtasks-taskname"] for r in target.wait_for(len(tasks))}
    assert names == {task.name() for task in tasks}


def test_ensure_queue_is_idempotent(tasks_emulator):
    queue = CloudTasksQueue(PROJECT, LOCATION, f"q-{uuid.uuid4().hex[:12]}", "http://127.0.0.1:9/pipeline",
                            emulator_host=tasks_emulator.host)
    try:
        queue.ensure_queue()
        queue.ensure_queue()
        assert queue._get_client().get_queue(name=queue.queue_path).name == queue.queue_path
    finally:
        queue._get_client().delete_queue(name=queue.queue_path)
        queue.close()


def test_enqueue_on_a_missing_queue_is_a_config_error(tasks_emulator):
    queue = CloudTasksQueue(PROJECT, LOCATION, "never-created", "http://127.0.0.1:9/pipeline",
                            emulator_host=tasks_emulator.host)
    try:
        with pytest.raises(ConfigError) as caught:
            queue.enqueue(stage_task())
        assert caught.value.code == "tasks_queue_missing"
    finally:
        queue.close()


def test_unreachable_service_raises_service_unavailable_quickly():
    calls = []
    queue = CloudTasksQueue(PROJECT, LOCATION, "q", "http://127.0.0.1:9/pipeline",
                            emulator_host=f"127.0.0.1:{free_port()}")  # nothing listens there
    real = queue._get_client()

    class Counting:
        transport = real.transport

        def create_task(self, **kwargs):
            calls.append(time.monotonic())
            return real.create_task(**kwargs)

    queue._client = Counting()
    start = time.monotonic()
    try:
        with pytest.raises(ServiceUnavailable) as caught:
            queue.enqueue(stage_task())
    finally:
        queue.close()
    elapsed = time.monotonic() - start

    assert caught.value.code == "tasks_unavailable"
    assert caught.value.retryable and caught.value.status == 503
    assert len(calls) == 3  # bounded retries, with a backoff between them
    assert calls[1] - calls[0] >= 0.2 and calls[2] - calls[1] >= 0.4
    assert elapsed < 5, elapsed


# -- answers only the real service gives, played by a stub client ------------------------------------------------

class StubClient:
    """Raises the scripted exceptions in turn, then succeeds; records the requests."""

    def __init__(self, *errors: Exception):
        self.errors = list(errors)
        self.requests: list[dict] = []

    def create_task(self, *, request, retry, timeout):
        self.requests.append(request)
        if self.errors:
            raise self.errors.pop(0)
        return request["task"]


def test_already_exists_is_an_idempotent_success(caplog):
    from google.api_core import exceptions as gx

    stub = StubClient(gx.AlreadyExists("task name already used"))
    queue = CloudTasksQueue(PROJECT, LOCATION, "q", "https://pipeline.example/", client=stub)
    task = stage_task()
    with caplog.at_level(logging.INFO, logger="convoinsight.jobs"):
        queue.enqueue(task)

    assert len(stub.requests) == 1
    [record] = [r for r in caplog.records if r.name == "convoinsight.jobs"]
    assert record.levelno == logging.INFO and task.name() in record.getMessage()


def test_a_lost_answer_is_retried_and_the_duplicate_refusal_swallowed():
    # DEADLINE_EXCEEDED although the task landed: the retry meets ALREADY_EXISTS, which means it is queued.
    from google.api_core import exceptions as gx

    stub = StubClient(gx.DeadlineExceeded("slow"), gx.AlreadyExists("task name already used"))
    queue = CloudTasksQueue(PROJECT, LOCATION, "q", "https://pipeline.example/", client=stub)
    queue.enqueue(stage_task())

    assert len(stub.requests) == 2
    assert stub.requests[0] == stub.requests[1]


def test_no_oidc_token_without_a_service_account():
    queue = CloudTasksQueue(PROJECT, LOCATION, "q", "https://pipeline.example/", client=StubClient())
    assert "oidc_token" not in queue.build_task(stage_task())["http_request"]
    assert "schedule_time" not in queue.build_task(stage_task(), delay_seconds=0)


@pytest.mark.parametrize("kwargs", [{"queue": ""}, {"queue": "a/b"}, {"target_url": "ftp://x"},
                                    {"dispatch_deadline_seconds": 5}, {"dispatch_deadline_seconds": 3600}])
def test_bad_configuration_is_refused(kwargs):
    args = {"project": PROJECT, "location": LOCATION, "queue": "q", "target_url": "https://pipeline.example/"}
    deadline = kwargs.pop("dispatch_deadline_seconds", DISPATCH_DEADLINE_SECONDS)
    with pytest.raises(ConfigError):
        CloudTasksQueue(**{**args, **kwargs}, dispatch_deadline_seconds=deadline)


def test_importing_the_module_does_not_import_the_tasks_client():
    # google.cloud.tasks_v2 costs ~0.37 s: a function that never enqueues must not pay for it at cold start.
    code = ("import sys; from convoinsight.jobs.cloudtasks import CloudTasksQueue; "
            "CloudTasksQueue('p', 'l', 'q', 'https://x/', emulator_host='127.0.0.1:1'); "
            "print('google.cloud.tasks_v2' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert done.stdout.strip() == "False", done.stderr
