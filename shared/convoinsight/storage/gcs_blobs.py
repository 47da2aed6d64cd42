"""Blobs in Google Cloud Storage (cloud mode), held to the same contract suite as the local folder store.

Paths are object names in one bucket; a "folder" is a name prefix ending in
``/``, so ``list("t/a")`` is ``t/a`` itself (if it is an object) plus
everything under ``t/a/``, never ``t/ab``. Every call has a timeout and keeps
google's default retry policy (exponential backoff on 429/5xx/connection
errors), cut to a 30 s deadline; what still fails is ``ServiceUnavailable``.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from convoinsight.errors import ConfigError, NotFound, ServiceUnavailable
from convoinsight.storage.blobs import check_path

TIMEOUT = (5.0, 60.0)  # (connect, read) seconds per HTTP attempt
RETRY_DEADLINE = 30.0  # seconds for all attempts (google's default is 120 s, longer than a request can wait)
# Whole files (up to MAX_SIGNED_UPLOAD_BYTES) take longer than one request's worth: the client streams them in
# chunks, each read bounded by the timeout, the whole transfer by the deadline.
FILE_TIMEOUT = (5.0, 120.0)
FILE_DEADLINE = 600.0
PING_TIMEOUT = 5.0  # a readiness probe must answer quickly, retries included
MAX_SIGNED_URL_SECONDS = 7 * 24 * 3600  # the V4 signing limit
_BATCH = 100  # the JSON API's limit of calls per batch request
_SCOPES = ["https://www.googleapis.com/auth/cloud-platform"]


def _calls(deadline: float = RETRY_DEADLINE, timeout: float | tuple = TIMEOUT) -> dict:
    """Google's default retry policy (errors retried, backoff) with a deadline a request can wait for."""
    from google.cloud.storage.retry import DEFAULT_RETRY

    return {"retry": DEFAULT_RETRY.with_timeout(deadline), "timeout": timeout}


@contextmanager
def _unavailable() -> Iterator[None]:
    import requests
    from google.api_core import exceptions as gx
    from google.auth.exceptions import TransportError

    try:
        yield
    except (gx.ServiceUnavailable, gx.InternalServerError, gx.BadGateway, gx.GatewayTimeout, gx.TooManyRequests,
            gx.RetryError, gx.DeadlineExceeded, TransportError, requests.ConnectionError, requests.Timeout) as exc:
        raise ServiceUnavailable(f"Cloud Storage is unavailable: {exc}", code="gcs_unavailable") from exc


class GcsBlobStore:
    def __init__(self, bucket: str, *, project: str | None = None, client=None, signing_credentials=None,
                 api_access_endpoint: str | None = None):
        self.bucket_name = bucket
        self.project = project
        self.signing_credentials = signing_credentials
        self.api_access_endpoint = api_access_endpoint
        self._client = client
        self._owns_client = client is None
        self._bucket = None
        self._default_credentials = None
        self._lock = threading.Lock()

    def _get_bucket(self):
        # Created on first use, never at import: functions that never touch storage do not pay for it.
        # With STORAGE_EMULATOR_HOST set the client talks to the emulator anonymously.
        bucket = self._bucket
        if bucket is None:
            with self._lock:
                if self._bucket is None:
                    if self._client is None:
                        from google.cloud import storage

                        self._client = storage.Client(project=self.project)
                    self._bucket = self._client.bucket(self.bucket_name)
                bucket = self._bucket
        return bucket

    def _blob(self, path: str):
        return self._get_bucket().blob(check_path(path))

    def put(self, path: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        blob = self._blob(path)
        with _unavailable():
            blob.upload_from_string(data, content_type=content_type, **_calls())

    def get(self, path: str) -> bytes:
        from google.api_core.exceptions import NotFound as GcsNotFound

        blob = self._blob(path)
        try:
            with _unavailable():
                return blob.download_as_bytes(**_calls())
        except GcsNotFound:
            raise NotFound("blob not found", code="blob_not_found") from None

    def put_file(self, path: str, source: Path, content_type: str = "application/octet-stream") -> None:
        blob = self._blob(path)
        with _unavailable():
            blob.upload_from_filename(str(source), content_type=content_type, **_calls(FILE_DEADLINE, FILE_TIMEOUT))

    def get_file(self, path: str, target: Path) -> None:
        from google.api_core.exceptions import NotFound as GcsNotFound

        blob = self._blob(path)
        try:
            with _unavailable():
                blob.download_to_filename(str(target), **_calls(FILE_DEADLINE, FILE_TIMEOUT))
        except GcsNotFound:
            Path(target).unlink(missing_ok=True)
            raise NotFound("blob not found", code="blob_not_found") from None

    def exists(self, path: str) -> bool:
        blob = self._blob(path)
        with _unavailable():
            return blob.exists(**_calls())

    def move(self, source: str, target: str) -> None:
        from google.api_core.exceptions import NotFound as GcsNotFound

        bucket, blob = self._get_bucket(), self._blob(source)
        check_path(target)
        try:
            with _unavailable():
                # A server-side copy then delete: the bytes never travel through the function.
                bucket.copy_blob(blob, bucket, target, **_calls())
                blob.delete(**_calls())
        except GcsNotFound:
            raise NotFound("blob not found", code="blob_not_found") from None

    def delete(self, path: str) -> bool:
        from google.api_core.exceptions import NotFound as GcsNotFound

        blob = self._blob(path)
        try:
            with _unavailable():
                blob.delete(**_calls())
        except GcsNotFound:
            return False
        return True

    def delete_prefix(self, prefix: str) -> int:
        """Delete in batch requests of 100, then list again: a batch reports failures only loosely."""
        names = self.list(prefix)
        bucket = self._get_bucket()
        with _unavailable():
            for start in range(0, len(names), _BATCH):
                # raise_exception=False: an object someone else deleted meanwhile (404) is not a failure.
                with bucket.client.batch(raise_exception=False):
                    for name in names[start:start + _BATCH]:
                        bucket.delete_blob(name, timeout=TIMEOUT)  # a batch is one request: no per-call retry
            left = set(self.list(prefix)) & set(names)
        if left:
            raise ServiceUnavailable(f"{len(left)} of {len(names)} blobs were not deleted", code="gcs_unavailable")
        return len(names)

    def list(self, prefix: str) -> list[str]:
        base = check_path(prefix.rstrip("/"))
        bucket = self._get_bucket()
        with _unavailable():
            names = [b.name for b in bucket.client.list_blobs(bucket, prefix=base + "/", **_calls())]
            if bucket.blob(base).exists(**_calls()):
                names.append(base)
        return sorted(names)

    def engine_location(self, path: str) -> dict:
        """Where the SQL engine's workers read this object with ranged requests (see sql/gcs_source.py)."""
        import os

        return {"bucket": self.bucket_name, "object": check_path(path), "project": self.project or "",
                "endpoint": os.environ.get("STORAGE_EMULATOR_HOST", "")}

    def local_path(self, path: str) -> Path | None:
        return None

    def signed_upload_url(self, path: str, content_type: str, expires_seconds: int) -> dict:
        """A V4 signed PUT URL; the client must send exactly the ``headers`` returned.

        On Cloud Functions there is no private key: the URL is signed through the
        IAM ``signBlob`` API with the function's own service account, which
        therefore needs ``roles/iam.serviceAccountTokenCreator`` on itself.
        With ``signing_credentials`` (a service-account key; tests) it is signed
        locally; those credentials are never given to the storage client, which
        would then try to reach the token server on every call.
        """
        url, expires_at = self._signed(path, expires_seconds, method="PUT", content_type=content_type)
        return {"url": url, "method": "PUT", "headers": {"Content-Type": content_type}, "expires_at": expires_at}

    def signed_download_url(self, path: str, expires_seconds: int, *, filename: str | None = None) -> dict | None:
        """A V4 signed GET URL of an existing object (a chart's image): ``{"url", "expires_at"}``.

        With ``filename`` the download is named (``response-content-disposition``). Signed as upload URLs are.
        """
        extra = {"response_disposition": f'inline; filename="{filename}"'} if filename else {}
        url, expires_at = self._signed(path, expires_seconds, method="GET", **extra)
        return {"url": url, "expires_at": expires_at}

    def _signed(self, path: str, expires_seconds: int, **how) -> tuple[str, str]:
        if not 1 <= int(expires_seconds) <= MAX_SIGNED_URL_SECONDS:
            raise ValueError(f"expires_seconds must be between 1 and {MAX_SIGNED_URL_SECONDS}")
        blob = self._blob(path)
        lifetime = dt.timedelta(seconds=int(expires_seconds))
        # Taken before signing, so the reported expiry is never later than the URL's own.
        expires_at = dt.datetime.now(dt.UTC).replace(microsecond=0) + lifetime
        common = {"version": "v4", "expiration": lifetime, **how}
        with _unavailable():
            if self.signing_credentials is not None:
                url = blob.generate_signed_url(**common, credentials=self.signing_credentials,
                                               api_access_endpoint=self.api_access_endpoint)
            else:
                creds = self._fresh_default_credentials()
                url = blob.generate_signed_url(**common, service_account_email=creds.service_account_email,
                                               access_token=creds.token,
                                               api_access_endpoint=self.api_access_endpoint)
        return url, expires_at.isoformat().replace("+00:00", "Z")

    def _fresh_default_credentials(self):
        # The metadata server's credentials learn their service account email on refresh; reuse the token
        # until it expires rather than asking for a new one per URL.
        import google.auth
        from google.auth.transport.requests import Request

        with self._lock:
            if self._default_credentials is None:
                self._default_credentials, _ = google.auth.default(scopes=_SCOPES)
            creds = self._default_credentials
            if not creds.valid or getattr(creds, "service_account_email", "default") == "default":
                creds.refresh(Request())
        if getattr(creds, "service_account_email", "default") == "default":
            raise ConfigError("signed URLs need service-account credentials (user credentials cannot sign)")
        return creds

    def ping(self) -> None:
        from google.api_core.exceptions import NotFound as GcsNotFound

        bucket = self._get_bucket()
        try:
            with _unavailable():
                # Listing needs only object permissions (buckets.get is not part of objectAdmin).
                probe = bucket.client.list_blobs(bucket, prefix="health/", max_results=1,
                                                 **_calls(PING_TIMEOUT, PING_TIMEOUT))
                list(probe)
        except GcsNotFound:
            raise ServiceUnavailable(f"bucket {self.bucket_name!r} does not exist", code="gcs_unavailable") from None

    def close(self) -> None:
        """Close the client this store created (tests; a function keeps its client for the process)."""
        with self._lock:
            if self._owns_client and self._client is not None:
                self._client.close()
                self._client = None
                self._bucket = None
