"""Signed upload URLs for local mode: an HMAC over (path, content type, expiry), checked by the emulator.

The key lives in the local state folder (created on first use, mode 0600),
so URLs survive an emulator restart and are useless to anyone without it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from pathlib import Path


def signing_key(state_dir: Path) -> bytes:
    path = Path(state_dir) / "signing.key"
    try:
        return path.read_bytes()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_bytes(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(key)
        return key


def sign(key: bytes, path: str, content_type: str, expires: int) -> str:
    message = f"PUT\n{path}\n{content_type}\n{expires}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def verify(key: bytes, path: str, content_type: str, expires: int, signature: str) -> bool:
    if expires < time.time():
        return False
    return hmac.compare_digest(sign(key, path, content_type, expires), signature)
