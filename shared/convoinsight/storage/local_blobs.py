"""Blobs in a local folder (local mode). Writes are atomic: temp file then rename."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from convoinsight.errors import NotFound
from convoinsight.storage.blobs import check_path


class LocalBlobStore:
    def __init__(self, root: Path):
        self.root = Path(root).resolve()

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

    def local_path(self, path: str) -> Path | None:
        return self._file(path)

    def ping(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
