"""The stage queue on Google Cloud Tasks (cloud mode), or on gcloud-tasks-emulator when ``emulator_host`` is set.

Each stage becomes one HTTP task: a JSON ``POST`` of ``StageTask.body()`` to the
``pipeline`` function, named after ``StageTask.name()``. The name is what makes
an enqueue safe to repeat: the real service refuses a name it has seen within
about an hour (``AlreadyExists``), which this queue treats as success, so a
create whose answer was lost (DEADLINE_EXCEEDED after the task landed) can be
retried without running the stage twice. The emulator does not dedupe, and even
the real service delivers at least once, so the handler stays idempotent anyway.

``google.cloud.tasks_v2`` costs ~0.37 s to import: it is imported, and the
client built, on the first call only, never at import of this module.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from convoinsight.errors import ConfigError, ServiceUnavailable
from convoinsight.jobs.queue import StageTask

log = logging.getLogger("convoinsight.jobs")

T = TypeVar("T")

# Cloud Tasks waits this long for the pipeline function to answer before it counts the attempt as failed and
# sends the task again, even though the stage may still be running. So it must exceed the slowest stage (a
# manipulator can make several model calls of up to LLM_TIMEOUT_SECONDS each, with retries, plus the SQL) and
# stay within the pipeline function's own timeout (Terraform must give it at least this much), or a slow stage
# would run twice concurrently. The service accepts 15 s to 30 min.
DISPATCH_DEADLINE_SECONDS = 600
_MIN_DEADLINE, _MAX_DEADLINE = 15, 1800
CALL_TIMEOUT_SECONDS = 10.0  # one CreateTask RPC; the service answers in milliseconds when it is up
ATTEMPTS = 3  # RPC attempts on UNAVAILABLE / DEADLINE_EXCEEDED, with 0.2 s then 0.4 s (+jitter) between them


class CloudTasksQueue:
    """``StageQueue`` over Cloud Tasks. Thread-safe: one instance (and one gRPC client) serves every request."""

    def __init__(self, project: str, location: str, queue: str, target_url: str, *,
                 service_account_email: str | None = None, audience: str | None = None,
                 emulator_host: str | None = None, client=None,
                 dispatch_deadline_seconds: int = DISPATCH_DEADLINE_SECONDS,
                 call_timeout_seconds: float = CALL_TIMEOUT_SECONDS, attempts: int = ATTEMPTS):
        for name, value in (("project", project), ("location", location), ("queue", queue)):
            if not value or "/" in value:
                raise ConfigError(f"Cloud Tasks {name} must be a plain, non-empty id, not {value!r}")
        if not target_url.startswith(("https://", "http://")):
            raise ConfigError(f"Cloud Tasks target URL must be http(s), not {target_url!r}")
        if not _MIN_DEADLINE <= dispatch_deadline_seconds <= _MAX_DEADLINE:
            raise ConfigError(f"Cloud Tasks dispatch deadline must be {_MIN_DEADLINE}-{_MAX_DEADLINE} s")
        self.project, self.location, self.queue = project, location, queue
        self.parent = f"projects/{project}/locations/{location}"
        self.queue_path = f"{self.parent}/queues/{queue}"
        self.target_url = target_url
        self.service_account_email = service_account_email
        # Cloud Run / Cloud Functions gen2 accept an ID token whose audience is the service URL.
        self.audience = audience or target_url
        self.emulator_host = emulator_host
        self.dispatch_deadline_seconds = dispatch_deadline_seconds
        self.call_timeout_seconds = call_timeout_seconds
        self.attempts = max(1, attempts)
        self._client = client
        self._owns_client = client is None
        self._lock = threading.Lock()

    # -- the StageQueue interface -------------------------------------------------------------------------------

    def enqueue(self, task: StageTask, *, delay_seconds: float = 0) -> None:
        from google.api_core import exceptions as gx

        request = {"parent": self.queue_path, "task": self.build_task(task, delay_seconds=delay_seconds)}
        client = self._get_client()
        try:
            self._call(lambda: client.create_task(request=request, retry=None, timeout=self.call_timeout_seconds))
        except gx.AlreadyExists:
            # The real service saw this name within the last hour: the stage is already queued (or ran). Also the
            # normal outcome of retrying a create whose first attempt landed but whose answer was lost.
            log.info("stage task %s (job %s, stage %s) already enqueued; not enqueued again",
                     task.name(), task.job_id, task.stage)
        except (gx.NotFound, gx.FailedPrecondition) as exc:  # the emulator says FAILED_PRECONDITION
            raise ConfigError(f"Cloud Tasks queue {self.queue_path} does not exist",
                              code="tasks_queue_missing") from exc
        except (gx.PermissionDenied, gx.Unauthenticated) as exc:
            raise ConfigError(f"not allowed to enqueue on {self.queue_path}: {exc.message}",
                              code="tasks_forbidden") from exc

    def build_task(self, task: StageTask, *, delay_seconds: float = 0) -> dict[str, Any]:
        """The Cloud Tasks ``Task`` (as the dict the client accepts) that carries ``task``; tests assert it."""
        import json

        http_request: dict[str, Any] = {
            "url": self.target_url,
            "http_method": "POST",
            "headers": {"Content-Type": "application/json"},
            "body": json.dumps(task.body(), separators=(",", ":")).encode(),
        }
        if self.service_account_email:
            # The pipeline function is not public: the service signs an ID token as this account for the target.
            http_request["oidc_token"] = {"service_account_email": self.service_account_email,
                                          "audience": self.audience}
        built: dict[str, Any] = {
            "name": f"{self.queue_path}/tasks/{task.name()}",
            "http_request": http_request,
            "dispatch_deadline": dt.timedelta(seconds=self.dispatch_deadline_seconds),
        }
        if delay_seconds > 0:
            built["schedule_time"] = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=delay_seconds)
        return built

    # -- set-up -------------------------------------------------------------------------------------------------

    def ensure_queue(self) -> None:
        """Create the queue when it is missing (emulator and local runs; in the cloud Terraform owns it). Idempotent."""
        from google.api_core import exceptions as gx

        client = self._get_client()
        try:
            self._call(lambda: client.get_queue(name=self.queue_path, retry=None, timeout=self.call_timeout_seconds))
            return
        except (gx.NotFound, gx.Unknown):  # the emulator answers UNKNOWN (a KeyError inside it) for a missing queue
            pass
        try:
            self._call(lambda: client.create_queue(parent=self.parent, queue={"name": self.queue_path}, retry=None,
                                                   timeout=self.call_timeout_seconds))
            log.info("created Cloud Tasks queue %s", self.queue_path)
        except gx.AlreadyExists:
            pass  # created concurrently by another instance

    def close(self) -> None:
        """Close the gRPC channel of a client this queue created (tests; functions keep theirs for the process)."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None and self._owns_client:
            client.transport.close()

    # -- internals ----------------------------------------------------------------------------------------------

    def _get_client(self):
        client = self._client
        if client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._new_client()
                client = self._client
        return client

    def _new_client(self):
        from google.cloud import tasks_v2

        if self.emulator_host:
            # The emulator speaks plain gRPC without credentials; the default transport would insist on TLS and ADC.
            import grpc
            from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport

            channel = grpc.insecure_channel(self.emulator_host.removeprefix("http://"))
            return tasks_v2.CloudTasksClient(transport=CloudTasksGrpcTransport(channel=channel))
        return tasks_v2.CloudTasksClient()

    def _call(self, fn: Callable[[], T]) -> T:
        """``fn`` with a few quick retries on transient gRPC errors; still failing, ``ServiceUnavailable`` (503).

        Bounded on purpose: the caller is usually an HTTP request (or a stage) that must answer; a job that cannot
        be enqueued now is retried by its own caller (the client, or Cloud Tasks redelivering the stage).
        """
        from google.api_core import exceptions as gx
        from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

        transient = (gx.ServiceUnavailable, gx.DeadlineExceeded)
        retrying = Retrying(stop=stop_after_attempt(self.attempts), reraise=True,
                            wait=wait_exponential_jitter(multiplier=0.2, max=2.0, jitter=0.1),
                            retry=retry_if_exception_type(transient))
        try:
            return retrying(fn)
        except transient as exc:
            raise ServiceUnavailable(f"Cloud Tasks is unavailable ({self.attempts} attempts): {exc.message}",
                                     code="tasks_unavailable") from exc
