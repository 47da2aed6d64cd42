"""The blob store interface: bytes addressed by slash paths that start with the tenant."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol


class BlobStore(Protocol):
    def put(self, path: str, data: bytes, content_type: str = "application/octet-stream") -> None: ...

    def get(self, path: str) -> bytes:
        """Return the bytes; raise ``NotFound`` when absent."""

    def put_file(self, path: str, source: Path, content_type: str = "application/octet-stream") -> None:
        """Store a local file's content, streaming (a large file is never held in memory)."""

    def get_file(self, path: str, target: Path) -> None:
        """Write the object to a local file, streaming; raise ``NotFound`` when absent."""

    def move(self, source: str, target: str) -> None:
        """Rename within the store (server-side where possible); ``NotFound`` when the source is absent."""

    def exists(self, path: str) -> bool: ...

    def delete(self, path: str) -> bool: ...

    def delete_prefix(self, prefix: str) -> int:
        """Delete every blob under ``prefix``; return how many."""

    def list(self, prefix: str) -> list[str]: ...

    def local_path(self, path: str) -> Path | None:
        """A local file for readers that scan (Polars), or None for remote stores."""

    def engine_location(self, path: str) -> dict:
        """For remote stores: what the SQL engine's workers need to read the object with ranged requests."""

    def signed_upload_url(self, path: str, content_type: str, expires_seconds: int) -> dict:
        """A URL a client can PUT the object to without credentials:
        ``{"url", "method": "PUT", "headers": {...}, "expires_at": iso8601}``."""

    def signed_download_url(self, path: str, expires_seconds: int, *, filename: str | None = None) -> dict | None:
        """A URL a client can GET the object from without credentials, ``{"url", "expires_at": iso8601}``,
        or None when the store has no such URLs (the local store: the API's own signed links serve instead)."""

    def ping(self) -> None: ...


def check_path(path: str) -> str:
    """Refuse paths that could escape their prefix; every path is built from validated names."""
    parts = path.split("/")
    if not path or path.startswith("/") or any(p in ("", ".", "..") or "\x00" in p or "\\" in p for p in parts):
        raise ValueError(f"unsafe blob path: {path!r}")
    return path
