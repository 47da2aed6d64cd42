"""Cloud Storage Parquet objects for the engine, read with ranged requests (runs in the engine worker).

DuckDB's own ``read_parquet`` does the work (footer, column projection, row-group pruning); the bytes
come from a tiny fsspec filesystem that serves exactly one pinned generation of one object, each read
one ranged GET. So a question reads the footer and the column chunks it needs, never the whole object.
``allowed_paths`` names exactly that object's path, so the sandbox still reads nothing else.

Credentials: the worker's own ``google.cloud.storage.Client`` (Application Default Credentials, the
function's service account in the cloud); against an emulator, the endpoint travels in the task,
because the worker's environment is the one its forkserver started with.
"""

from __future__ import annotations

import datetime as dt
import itertools
import threading
from functools import lru_cache
from typing import Any

from fsspec import AbstractFileSystem

TIMEOUT = (5.0, 60.0)  # (connect, read) seconds per HTTP attempt
RETRY_DEADLINE = 30.0  # seconds for all attempts of one ranged read
_ids = itertools.count(1)


@lru_cache(maxsize=8)
def _client(project: str, endpoint: str):
    from google.cloud import storage

    if endpoint:
        from google.auth.credentials import AnonymousCredentials

        return storage.Client(project=project or "emulator", credentials=AnonymousCredentials(),
                              client_options={"api_endpoint": endpoint})
    return storage.Client(project=project or None)


class GcsObjectFileSystem(AbstractFileSystem):
    """A read-only filesystem serving one object generation of one bucket, under a protocol of its own."""

    cachable = False  # fsspec would otherwise hand out one cached instance per constructor arguments

    def __init__(self, blob, session, protocol: str):
        super().__init__()
        self.protocol = (protocol,)  # DuckDB routes paths starting with "<protocol>://" here
        self.path = f"{protocol}://{blob.bucket.name}/{blob.name}"
        self._session = session
        self._url = blob.media_link  # ...?generation=G&alt=media: every read sees the same version
        self._size = blob.size
        self._modified = blob.updated or dt.datetime.now(dt.UTC)

    def _check(self, path: str) -> None:
        if self.unstrip_protocol(path) != self.path:
            raise FileNotFoundError(path)

    def info(self, path, **kwargs):
        self._check(path)
        return {"name": self.path, "size": self._size, "type": "file"}

    def size(self, path):
        return self.info(path)["size"]

    def modified(self, path):
        self._check(path)
        return self._modified

    def ls(self, path, detail=True, **kwargs):
        return [self.info(path)] if detail else [self.path]

    def glob(self, path, **kwargs):
        return [self.path] if self.unstrip_protocol(path) == self.path else []

    def unstrip_protocol(self, name: str) -> str:
        return name if "://" in name else f"{self.protocol[0]}://{name}"

    def _open(self, path, mode="rb", **kwargs):
        self._check(path)
        if mode != "rb":
            raise PermissionError("read-only")
        return _RangedFile(self)

    def read_range(self, start: int, length: int) -> bytes:
        """Bytes [start, start+length) of the pinned generation: one ``Range: bytes=a-b`` GET, retried."""
        from google.cloud.storage.retry import DEFAULT_RETRY

        if length <= 0 or start >= self._size:
            return b""
        end = min(start + length, self._size) - 1  # inclusive, as HTTP Range is
        return DEFAULT_RETRY.with_timeout(RETRY_DEADLINE)(self._get)(start, end)

    def _get(self, start: int, end: int) -> bytes:
        # The client's authorized session (credentials refreshed by google-auth) on the object's mediaLink.
        # Streaming the body and reading it in one call is about 2x faster than blob.download_as_bytes
        # (8 KiB chunks), and a 200 (Range ignored) is refused before a whole object travels.
        import requests
        import urllib3
        from google.api_core import exceptions

        headers = {"Range": f"bytes={start}-{end}", "Accept-Encoding": "identity"}
        try:
            with self._session.get(self._url, headers=headers, stream=True, timeout=TIMEOUT) as resp:
                if resp.status_code >= 400:
                    raise exceptions.from_http_response(resp)
                if resp.status_code != 206:
                    raise OSError(f"{self.path}: the server ignored the Range header (HTTP {resp.status_code})")
                data = resp.raw.read(end - start + 1, decode_content=False)
        except urllib3.exceptions.HTTPError as exc:  # a truncated or reset body: retried like a connection error
            raise requests.ConnectionError(str(exc)) from exc
        if len(data) != end - start + 1:
            raise requests.ConnectionError(f"{self.path}: short read, {len(data)} bytes for {start}-{end}")
        return data


class _RangedFile:
    """What DuckDB reads through: ``seek`` then ``read``, each read one ranged GET.

    The position is per thread: DuckDB may share one handle between its threads, and a seek and the
    read after it are not atomic across threads.
    """

    def __init__(self, fs: GcsObjectFileSystem):
        self._fs = fs
        self._pos = threading.local()
        self.closed = False

    def seek(self, loc: int, whence: int = 0) -> int:
        base = {0: 0, 1: self.tell(), 2: self._fs._size}[whence]
        self._pos.value = base + loc
        return self._pos.value

    def tell(self) -> int:
        return getattr(self._pos, "value", 0)

    def read(self, length: int = -1) -> bytes:
        pos = self.tell()
        if length is None or length < 0:
            length = self._fs._size - pos
        data = self._fs.read_range(pos, length)
        self._pos.value = pos + len(data)
        return data

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def close(self) -> None:
        self.closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def register(con, source: dict[str, Any]) -> str:
    """Register one ``{"bucket", "object", "project", "endpoint"}`` source on ``con``; returns its path.

    One metadata GET pins the object's generation and size, so a question never mixes two versions.
    Call it before the sandbox settings and ``lock_configuration``.
    """
    client = _client(source.get("project", ""), source.get("endpoint", ""))
    bucket = client.bucket(source["bucket"])
    blob = bucket.get_blob(source["object"], timeout=TIMEOUT)
    if blob is None:
        raise FileNotFoundError(f"gs://{source['bucket']}/{source['object']}")
    # client._http: the AuthorizedSession the client itself sends every request through (private, stable).
    fs = GcsObjectFileSystem(blob, client._http, protocol=f"gcsobj{next(_ids)}")
    con.register_filesystem(fs)
    return fs.path
