"""Secrets at rest (database passwords, model API keys): Fernet tokens under a MultiFernet of FERNET_KEY's keys.

The first key encrypts, every key decrypts: rotate by putting a new key first, re-save (PATCH) or
re-encrypt with :func:`rotate`, then drop the old key. In the cloud FERNET_KEY is a Secret Manager
secret mounted as an environment variable; in local mode an empty FERNET_KEY means a key generated
once into LOCAL_STATE_DIR (0600), so `make dev` restarts can still read what they stored.
"""

from __future__ import annotations

import base64
import os
import threading
from functools import lru_cache
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from convoinsight.errors import ConfigError
from convoinsight.settings import Settings

_LOCAL_KEY_FILE = "fernet.key"
_lock = threading.Lock()


def _local_key(state_dir: Path) -> str:
    path = state_dir / _LOCAL_KEY_FILE
    with _lock:
        if not path.exists():
            state_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(Fernet.generate_key().decode())
        return path.read_text().strip()


@lru_cache(maxsize=8)
def _cipher(keys: tuple[str, ...]) -> MultiFernet:
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except (ValueError, TypeError):
        raise ConfigError("FERNET_KEY must be comma-separated Fernet keys (url-safe base64 of 32 bytes, e.g. from "
                          "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`)"
                          ) from None


def cipher(settings: Settings) -> MultiFernet:
    keys = settings.fernet_keys
    if not keys:
        if settings.deployment_mode != "local":
            raise ConfigError("FERNET_KEY is not set: database passwords and model keys cannot be stored or read")
        keys = (_local_key(settings.local_state_dir),)
    return _cipher(keys)


def key_material(settings: Settings) -> list[bytes]:
    """The raw bytes of FERNET_KEY's keys, first (the signing one) first, for keys derived by purpose
    (security/signed_links.py) so that operators keep one secret."""
    keys = settings.fernet_keys or (() if settings.deployment_mode != "local" else
                                    (_local_key(settings.local_state_dir),))
    if not keys:
        raise ConfigError("FERNET_KEY is not set: signed links cannot be made or checked")
    cipher(settings)  # the same validation, and the same error, for a malformed key
    return [base64.urlsafe_b64decode(key.encode()) for key in keys]


def encrypt(settings: Settings, secret: str) -> str:
    return cipher(settings).encrypt(secret.encode()).decode()


def decrypt(settings: Settings, token: str) -> str:
    try:
        return cipher(settings).decrypt(token.encode()).decode()
    except InvalidToken:
        raise ConfigError("a stored secret cannot be decrypted with the configured FERNET_KEY (was the key that "
                          "encrypted it removed?)", code="secret_undecryptable") from None


def rotate(settings: Settings, token: str) -> str:
    """The token re-encrypted under the first key (unchanged plaintext)."""
    try:
        return cipher(settings).rotate(token.encode()).decode()
    except InvalidToken:
        raise ConfigError("a stored secret cannot be decrypted with the configured FERNET_KEY",
                          code="secret_undecryptable") from None
