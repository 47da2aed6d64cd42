"""Blobs in a local folder (local mode). Writes are atomic: temp file then rename."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

from convoinsight.errors import NotFound
from convoinsight.storage.blobs import check_path
from convoinsight.storage.local_signing import sign, signing_key


class LocalBlobStore:
    def __init__(self, root: Path, *, upload_url: str = "", key_dir: Path | None = None):
        self.root = Path(root).resolve()
        # Where the local emulator accepts signed PUTs (it then emits the finalize event, as GCS would).
        self.upload_url = upload_url
        self.key_dir = Path(key_dir) if key_dir else self.root

    def _file(self, path: str) -> Path:
        return self.root / check_path(path)

    def put(self, path: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        target = self._file(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, path: str) -> bytes:
        try:
            return self._file(path).read_bytes()
        except FileNotFoundError:
            raise NotFound("blob not found", code="blob_not_found") from None

    def put_file(self, path: str, source: Path, content_type: str = "application/octet-stream") -> None:
        target = self._file(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        os.close(fd)
        try:
            shutil.copyfile(source, tmp)  # chunked (or a kernel copy): never the whole file in memory
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get_file(self, path: str, target: Path) -> None:
        try:
            shutil.copyfile(self._file(path), target)
        except FileNotFoundError:
            raise NotFound("blob not found", code="blob_not_found") from None

    def move(self, source: str, target: str) -> None:
        src, dst = self._file(source), self._file(target)
        if not src.is_file():
            raise NotFound("blob not found", code="blob_not_found")
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, dst)  # a rename: atomic, and no copy of a large file

    def exists(self, path: str) -> bool:
        return self._file(path).is_file()

    def delete(self, path: str) -> bool:
        target = self._file(path)
        existed = target.is_file()
        target.unlink(missing_ok=True)
        return existed

    def delete_prefix(self, prefix: str) -> int:
        names = self.list(prefix)
        for name in names:
            self.delete(name)
        return len(names)

    def list(self, prefix: str) -> list[str]:
        base = self._file(prefix.rstrip("/"))
        if base.is_file():
            return [prefix.rstrip("/")]
        if not base.is_dir():
            return []
        return sorted(
            p.relative_to(self.root).as_posix()
            for p in base.rglob("*")
            if p.is_file() and not p.name.startswith(".tmp-")
        )

    def signed_upload_url(self, path: str, content_type: str, expires_seconds: int) -> dict:
        check_path(path)
        expires = int(time.time()) + expires_seconds
        signature = sign(signing_key(self.key_dir), path, content_type, expires)
        query = urlencode({"path": path, "expires": expires, "signature": signature})
        return {
            "url": f"{self.upload_url}?{query}",
            "method": "PUT",
            "headers": {"Content-Type": content_type},
            "expires_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expires)),
        }

    def signed_download_url(self, path: str, expires_seconds: int, *, filename: str | None = None) -> dict | None:
        """None: the local store serves no downloads of its own; the API's signed link routes serve them."""
        return None

    def local_path(self, path: str) -> Path | None:
        return self._file(path)

    def engine_location(self, path: str) -> dict:
        raise NotImplementedError("local blobs are read by path (local_path)")

    def ping(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
