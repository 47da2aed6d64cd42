"""Backend clients, created lazily on first use and cached per process.

Nothing here connects at import time (cold starts, and tests swap the
settings). ``get_services(settings)`` returns one ``Services`` per settings
object; tests build their own with ``Services(settings)``.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from functools import lru_cache
from typing import TYPE_CHECKING

from convoinsight.errors import ConfigError, ServiceUnavailable
from convoinsight.settings import Settings

if TYPE_CHECKING:  # imported lazily: only the functions that use them pay the import
    import redis

    from convoinsight.storage.blobs import BlobStore
    from convoinsight.storage.documents import DocumentStore


class Services:
    def __init__(self, settings: Settings):
        self.settings = settings
        self._lock = threading.Lock()
        self._documents: DocumentStore | None = None
        self._blobs: BlobStore | None = None
        self._redis: redis.Redis | None = None
        self._pool = None
        self._queue = None

    @property
    def documents(self) -> DocumentStore:
        with self._lock:
            if self._documents is None:
                self._documents = self._make_documents()
            return self._documents

    @property
    def blobs(self) -> BlobStore:
        with self._lock:
            if self._blobs is None:
                self._blobs = self._make_blobs()
            return self._blobs

    @property
    def redis(self) -> redis.Redis | None:
        """The Redis client, or None when no REDIS_URL is set (features that use it degrade)."""
        if not self.settings.redis_url:
            return None
        with self._lock:
            if self._redis is None:
                import redis as redis_lib
                from redis.backoff import ExponentialBackoff
                from redis.retry import Retry

                # Short timeouts and one quick retry: Redis only ever makes things faster, so waiting long
                # for it would turn an outage of the cache into an outage of the service.
                self._redis = _fast_failing(redis_lib).from_url(
                    self.settings.redis_url, socket_timeout=0.5, socket_connect_timeout=0.5,
                    health_check_interval=30, retry=Retry(ExponentialBackoff(cap=0.2, base=0.02), 1),
                    max_connections=512,
                    retry_on_error=[redis_lib.ConnectionError, redis_lib.TimeoutError],
                )
            return self._redis

    def queue_stack(self) -> str:
        """The local stack's name for the queue journal: its state folder (survives restarts, differs per stack)."""
        return hashlib.sha256(str(self.settings.local_state_dir.resolve()).encode()).hexdigest()[:16]

    def _make_documents_once(self):
        # Called under self._lock (from the queue property): build the store without re-taking the lock.
        if self._documents is None:
            self._documents = self._make_documents()
        return self._documents

    @property
    def queue(self):
        """The stage queue of async jobs, per the QUEUE_BACKEND preset."""
        with self._lock:
            if self._queue is None:
                self._queue = self._make_queue()
            return self._queue

    def _make_queue(self):
        backend = self.settings.queue_backend
        if backend == "inprocess":
            from convoinsight.jobs.inprocess import InProcessQueue
            from convoinsight.jobs.service import drop_task, handle_task
            from convoinsight.llm.prompts import prompt_store

            prompts = prompt_store(self.settings.prompts_dir)
            queue = InProcessQueue(lambda body, retry: handle_task(self, prompts, body)[0],
                                   workers=self.settings.queue_workers, journal=self._make_documents_once(),
                                   stack=self.queue_stack(),
                                   max_age=self.settings.job_timeout_seconds,
                                   on_drop=lambda body: drop_task(self, body))
            # Tasks a previous process left queued (a crash, a restart of the stack) run again now.
            threading.Thread(target=queue.recover, daemon=True, name="queue-recover").start()
            return queue
        if backend == "cloudtasks":
            from convoinsight.jobs.cloudtasks import CloudTasksQueue

            s = self.settings
            missing = [n for n, v in (("GCP_PROJECT_ID", s.gcp_project_id), ("TASKS_LOCATION", s.tasks_location),
                                      ("TASKS_TARGET_URL", s.tasks_target_url)) if not v]
            if missing:
                raise ConfigError(f"QUEUE_BACKEND=cloudtasks needs {', '.join(missing)}")
            queue = CloudTasksQueue(s.gcp_project_id, s.tasks_location, s.tasks_queue, s.tasks_target_url,
                                    service_account_email=s.tasks_service_account or None,
                                    audience=s.tasks_audience or None,
                                    emulator_host=s.cloud_tasks_emulator_host or None,
                                    dispatch_deadline_seconds=s.tasks_dispatch_deadline_seconds)
            if s.cloud_tasks_emulator_host:
                queue.ensure_queue()  # in the cloud Terraform creates the queue
            return queue
        raise ConfigError(f"queue backend {backend!r} is not available in this version")

    @property
    def cache(self):
        from convoinsight.cache import Cache

        return Cache(self.redis, enabled=self.settings.cache_enabled)

    def _make_documents(self) -> DocumentStore:
        backend = self.settings.document_backend
        if backend == "postgres":
            from convoinsight.storage.postgres_documents import PostgresDocumentStore
            from convoinsight.storage.postgres_pool import PostgresPool

            if not self.settings.postgres_url:
                raise ConfigError("POSTGRES_URL is required for the postgres document store")
            self._pool = PostgresPool(self.settings.postgres_url)
            return PostgresDocumentStore(self._pool)
        if backend == "firestore":
            from convoinsight.storage.firestore_documents import FirestoreDocumentStore

            if not self.settings.gcp_project_id:
                raise ConfigError("GCP_PROJECT_ID is required for the firestore document store")
            return FirestoreDocumentStore(self.settings.gcp_project_id)
        raise ConfigError(f"document backend {backend!r} is not available in this version")

    def _make_blobs(self) -> BlobStore:
        backend = self.settings.blob_backend
        if backend == "local":
            from convoinsight.storage.local_blobs import LocalBlobStore

            # The local GCS stand-in lives at the one origin (the emulator), as the bucket does in the cloud.
            origin = self.settings.public_base_url or f"http://127.0.0.1:{self.settings.port}"
            return LocalBlobStore(self.settings.local_state_dir / "blobs", upload_url=f"{origin}/_storage/upload",
                                  key_dir=self.settings.local_state_dir)
        if backend == "gcs":
            from convoinsight.storage.gcs_blobs import GcsBlobStore

            if not self.settings.gcs_bucket:
                raise ConfigError("GCS_BUCKET is required for the gcs blob store")
            signer = None
            if self.settings.gcs_signing_key_file:
                from google.oauth2 import service_account

                signer = service_account.Credentials.from_service_account_file(self.settings.gcs_signing_key_file)
            # With the emulator, signed URLs must point at it; otherwise the library's default endpoint.
            emulator = os.environ.get("STORAGE_EMULATOR_HOST") or None
            return GcsBlobStore(self.settings.gcs_bucket, project=self.settings.gcp_project_id or None,
                                signing_credentials=signer, api_access_endpoint=emulator)
        raise ConfigError(f"blob backend {backend!r} is not available in this version")

    def check_redis(self) -> None:
        client = self.redis
        if client is None:
            raise ServiceUnavailable("REDIS_URL is not set", code="redis_not_configured")
        try:
            client.ping()
        except Exception as exc:  # redis raises several connection error types
            raise ServiceUnavailable("Redis is unreachable", code="redis_unavailable") from exc

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
        for store in (self._documents, self._blobs):
            if hasattr(store, "close") and store is not None:
                store.close()
        if self._redis is not None:
            self._redis.close()


REDIS_COOLDOWN_SECONDS = 1.0


def _fast_failing(redis_lib):
    """A Redis client that, once a call found Redis unreachable, fails at once for a short cooldown.

    Callers already treat a Redis error as a miss; without this every one of a request's Redis calls
    would wait for its own timeout and retry while Redis is down. Recovery needs no restart: the next
    call after the cooldown tries the server again.
    """

    class FastFailingRedis(redis_lib.Redis):
        _down_until = 0.0

        def _check(self) -> None:
            if time.monotonic() < self._down_until:
                raise redis_lib.ConnectionError("Redis was unreachable moments ago; not retrying yet")

        def execute_command(self, *args, **options):
            self._check()
            try:
                return super().execute_command(*args, **options)
            except (redis_lib.ConnectionError, redis_lib.TimeoutError):
                self._down_until = time.monotonic() + REDIS_COOLDOWN_SECONDS
                raise

        def pipeline(self, *args, **kwargs):
            self._check()
            return super().pipeline(*args, **kwargs)

    return FastFailingRedis


@lru_cache(maxsize=4)
def get_services(settings: Settings) -> Services:
    return Services(settings)
